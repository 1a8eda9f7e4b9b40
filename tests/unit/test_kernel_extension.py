"""`%load_ext strato` wiring, in an in-process IPython shell (no kernel, no cluster)."""
import pytest

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from strato import exceptions


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    try:
        yield shell
    finally:
        if "strato" in shell.extension_manager.loaded:
            shell.run_line_magic("unload_ext", "strato")
        InteractiveShell.clear_instance()


def test_load_registers_magics_hooks_and_the_traceback_renderer(ip):
    ip.run_line_magic("load_ext", "strato")
    assert "cluster" in ip.magics_manager.magics["line"]
    assert "remote" in ip.magics_manager.magics["cell"]
    assert ip.custom_exceptions == (exceptions.TaskError,)
    ip.run_line_magic("unload_ext", "strato")
    assert "cluster" not in ip.magics_manager.magics["line"]
    assert ip.custom_exceptions == ()


def test_bad_arguments_fail_before_touching_a_cluster(ip):
    ip.run_line_magic("load_ext", "strato")
    with pytest.raises(UsageError, match="unknown command 'launch'"):
        ip.run_line_magic("cluster", "launch")
    with pytest.raises(UsageError, match="unknown option --bogus"):
        ip.run_cell_magic("remote", "--bogus", "x = 1")
    with pytest.raises(UsageError, match="syntax error in the cell, line 2"):
        ip.run_cell_magic("remote", "", "x = (")
    with pytest.raises(UsageError, match="not connected"):
        ip.run_line_magic("cluster", "status")


def test_cells_are_tagged_with_their_execution_count(ip):
    from strato.kernel.routing import execution_count_of
    from strato.util import output

    ip.run_line_magic("load_ext", "strato")
    ip.run_cell("import strato.util.output as _o\nseen = _o.current_tag()", store_history=True)
    assert execution_count_of(ip.user_ns["seen"]) == ip.execution_count - 1
    assert output.current_tag() is None          # cleared after the cell


def test_dashboard_names_the_missing_notebook_packages_instead_of_failing(ip, monkeypatch, capsys):
    import importlib.util

    import strato
    from strato import widgets

    ip.run_line_magic("load_ext", "strato")
    monkeypatch.setattr(strato, "is_initialized", lambda: True)          # no cluster needed to decide
    monkeypatch.setattr(widgets, "in_notebook", lambda: True)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jupyter_bokeh" else real_find_spec(name, *a))
    assert ip.run_line_magic("cluster", "dashboard") is None
    err = capsys.readouterr().err
    assert "needs jupyter_bokeh" in err and "pip install 'strato[notebook]'" in err

    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    assert isinstance(ip.run_line_magic("cluster", "dashboard"), widgets.Dashboard)
