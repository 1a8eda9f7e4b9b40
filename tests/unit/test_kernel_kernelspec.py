"""The "Python 3 (strato)" kernelspec and `strato kernel install`."""
import json

import pytest

from strato.cli import build_parser
from strato.kernel import kernelspec


def test_spec_loads_the_extension_on_this_python(tmp_path):
    kernelspec.write_spec(str(tmp_path / "strato"), python="/opt/py/bin/python")
    spec = json.loads((tmp_path / "strato" / "kernel.json").read_text())
    assert spec["display_name"] == "Python 3 (strato)"
    assert spec["argv"][:3] == ["/opt/py/bin/python", "-m", "ipykernel_launcher"]
    assert "{connection_file}" in spec["argv"]
    assert "--InteractiveShellApp.extra_extensions=strato" in spec["argv"]


def test_cli_installs_into_a_prefix(tmp_path, capsys):
    import ipykernel  # noqa: F401  (a dependency of the notebook extra)
    args = build_parser().parse_args(["kernel", "install", "--prefix", str(tmp_path), "--name", "strato-x"])
    assert args.fn(args) == 0
    installed = tmp_path / "share" / "jupyter" / "kernels" / "strato-x" / "kernel.json"
    assert json.loads(installed.read_text())["display_name"] == "Python 3 (strato)"
    assert "strato-x" in capsys.readouterr().out


def test_cli_rejects_two_locations(tmp_path):
    args = build_parser().parse_args(["kernel", "install", "--user", "--prefix", str(tmp_path)])
    with pytest.raises(SystemExit, match="at most one"):
        args.fn(args)
