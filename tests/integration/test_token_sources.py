"""A client's token from --token-file or STRATO_TOKEN; --token still works but warns; never in a URL.

The clients here run with a temp dir of their own (``elsewhere``), as on another machine: the head's
token file is out of their reach unless the test hands it over.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import strato
from strato import _context
from strato.exceptions import AuthenticationError
from strato.util import state

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def head(cli_cluster):
    address = cli_cluster.start_head(num_cpus=1)
    [token_file] = Path(cli_cluster.temp_dir).glob("session_*/token")
    return cli_cluster, address, token_file.read_text().strip()


@pytest.fixture
def elsewhere():
    path = tempfile.mkdtemp(prefix="st-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def strato_cli(cli, *args, env=None):
    """`python -m strato ARGS` with the cli's environment (and its marker), without its --temp-dir."""
    return subprocess.run([sys.executable, "-m", "strato", *args], env=dict(cli.env, **(env or {})),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90)


def private_copy(token: str, folder: str, mode: int = 0o600) -> str:
    path = os.path.join(folder, "cluster-token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, mode)
    return path


def test_status_without_any_token_says_where_to_get_one(head, elsewhere):
    cli, address, _ = head
    result = strato_cli(cli, "status", "--address", address, "--temp-dir", elsewhere)
    assert result.returncode != 0
    assert "--token-file" in result.stderr and "STRATO_TOKEN" in result.stderr, result.stderr


def test_status_reads_the_token_from_a_token_file(head, elsewhere):
    cli, address, token = head
    path = private_copy(token, elsewhere)
    result = strato_cli(cli, "status", "--address", address, "--token-file", path, "--temp-dir", elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CPU" in result.stdout and "1 node(s) alive" in result.stdout
    assert "warning" not in result.stderr


def test_a_token_file_others_can_read_works_but_warns(head, elsewhere):
    cli, address, token = head
    path = private_copy(token, elsewhere, 0o644)
    result = strato_cli(cli, "status", "--address", address, "--token-file", path, "--temp-dir", elsewhere)
    assert result.returncode == 0, result.stderr
    assert "0644" in result.stderr and f"chmod 600 {path}" in result.stderr


def test_status_reads_the_token_from_the_environment(head, elsewhere):
    cli, address, token = head
    result = strato_cli(cli, "status", "--address", address, "--temp-dir", elsewhere, env={"STRATO_TOKEN": token})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CPU" in result.stdout and "warning" not in result.stderr
    wrong = strato_cli(cli, "status", "--address", address, "--temp-dir", elsewhere,
                       env={"STRATO_TOKEN": token[::-1] + "x"})
    assert wrong.returncode != 0 and "token" in (wrong.stdout + wrong.stderr).lower()


def test_a_token_on_the_command_line_works_but_warns_that_ps_shows_it(head, elsewhere):
    cli, address, token = head
    result = strato_cli(cli, "status", "--address", address, "--token", token, "--temp-dir", elsewhere)
    assert result.returncode == 0, result.stderr
    assert "CPU" in result.stdout
    assert "warning: --token" in result.stderr and "ps" in result.stderr
    assert "--token-file" in result.stderr and "STRATO_TOKEN" in result.stderr
    assert token not in result.stderr


def test_a_node_joins_with_a_token_file(head, elsewhere, poll):
    cli, address, token = head
    path = private_copy(token, elsewhere)
    node_root = os.path.join(elsewhere, "root")
    joined = strato_cli(cli, "start", "--address", address, "--num-cpus", "1", "--token-file", path,
                        "--temp-dir", node_root)
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert "joined the cluster" in joined.stdout and "warning" not in joined.stderr
    assert poll(lambda: "2 node(s) alive" in cli.run("status").stdout, 30)
    stopped = strato_cli(cli, "stop", "--temp-dir", node_root)      # the joined node's daemons only
    assert "Stopped 1 strato daemon(s)" in stopped.stdout, stopped.stdout
    assert poll(lambda: "1 node(s) alive" in cli.run("status").stdout, 60)


def test_init_takes_the_token_from_the_environment(head, elsewhere, monkeypatch):
    _, address, token = head
    monkeypatch.setenv("STRATO_TOKEN", token[::-1] + "x")
    with pytest.raises(AuthenticationError, match="STRATO_TOKEN"):
        strato.init(address=address, _temp_dir=elsewhere)
    assert not strato.is_initialized()
    monkeypatch.setenv("STRATO_TOKEN", token)
    strato.init(address=address, _temp_dir=elsewhere)
    try:
        assert strato.get(strato.put("via STRATO_TOKEN")) == "via STRATO_TOKEN"
    finally:
        strato.shutdown()


def _get(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def test_the_state_api_refuses_a_token_in_the_query_string(head):
    _, address, token = head
    strato.init(address=address, _token=token)
    try:
        url = state.dashboard_url(_context.worker()) + "/api/v0/nodes"    # the port the GCS put in its KV
    finally:
        strato.shutdown()
    status, body = _get(url, {"Authorization": f"Bearer {token}"})
    assert status == 200 and body["result"] is True
    for query in (f"?token={token}", "?token=wrong", "?limit=5&token="):
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(url + query, {"Authorization": f"Bearer {token}"} if query.startswith("?limit") else None)
        assert err.value.code == 401
        message = json.loads(err.value.read())["msg"]
        assert "Authorization: Bearer" in message and "URL" in message, message
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(url, {"X-Strato-Token": token})          # only the standard header
    assert err.value.code == 401
