"""Starting and stopping clusters through the server extension; embedded and added clusters.

* POST /strato/api/clusters starts a detached cluster (`strato start --head`); DELETE stops exactly
  its daemons and workers, and it leaves the list.
* A kernel's embedded cluster (here: this test process's `strato.init`) is listed, but the
  extension refuses to stop it (409: it belongs to its process).
* A cluster of another temp root (as good as another machine) is added by address and token file,
  listed as "added" with its numbers, and forgotten by DELETE (it keeps running).
"""
import json
import os
import shutil
import tempfile

import pytest
from tornado.httpclient import HTTPClientError

from strato._testing import wait_for
from strato.runtime import temp_root

pytestmark = pytest.mark.timeout(90)


async def call(jp_fetch, *parts, method="GET", body=None, **kw):
    resp = await jp_fetch("strato", "api", "clusters", *parts, method=method,
                          body=None if body is None else json.dumps(body), **kw)
    return resp.code, json.loads(resp.body)


async def error(jp_fetch, *parts, method="GET", body=None) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as err:
        await call(jp_fetch, *parts, method=method, body=body)
    return err.value.code, json.loads(err.value.response.body)["message"]


async def test_start_then_stop_a_detached_cluster(jp_fetch, strato_root, cli):
    code, started = await call(jp_fetch, method="POST", body={"num_cpus": 1})
    assert code == 201 and started["kind"] == "detached" and started["can_stop"]
    assert cli.daemons_under(strato_root), "strato start --head left no daemons running"
    _, listed = await call(jp_fetch)
    [entry] = [c for c in listed["clusters"] if c["id"] == started["id"]]
    assert entry["summary"]["cluster"]["nodes"][0]["resources_total"]["CPU"] == 1.0

    code, stopped = await call(jp_fetch, started["id"], method="DELETE")
    assert code == 200 and stopped["stopped"] and stopped["processes"] >= 2
    assert wait_for(lambda: not cli.daemons_under(strato_root), 10)
    _, listed = await call(jp_fetch, params={"summary": "0"})
    assert started["id"] not in [c["id"] for c in listed["clusters"]]
    code, msg = await error(jp_fetch, started["id"], method="DELETE")
    assert code == 404 and "no cluster" in msg


async def test_bad_requests_say_what_is_wrong(jp_fetch):
    assert (await error(jp_fetch, method="POST", body={"num_cpus": -1}))[0] == 400
    code, msg = await error(jp_fetch, method="POST", body={"cpus": 2})
    assert code == 400 and "num_cpus" in msg
    code, msg = await error(jp_fetch, "connect", method="POST", body={"address": "no port"})
    assert code == 400 and "HOST:PORT" in msg
    code, msg = await error(jp_fetch, "connect", method="POST", body={"address": "127.0.0.1:9"})
    assert code == 400 and "token_file" in msg


async def test_embedded_cluster_is_listed_but_not_stopped(jp_fetch, strato_root, fresh_strato):
    info = fresh_strato.init(num_cpus=1, _temp_dir=strato_root)
    address = info.address
    _, listed = await call(jp_fetch)
    [entry] = [c for c in listed["clusters"] if c["address"] == address]
    assert entry["kind"] == "embedded" and not entry["can_stop"] and entry["pid"] != os.getpid()
    code, msg = await error(jp_fetch, entry["id"], method="DELETE")
    assert code == 409 and "strato.shutdown()" in msg
    assert fresh_strato.is_initialized() and fresh_strato.cluster_resources()["CPU"] == 1.0


@pytest.fixture
def other_root(cli):
    root = tempfile.mkdtemp(prefix="st-", dir="/tmp")
    try:
        yield root
    finally:
        cli.stop_root(root)
        shutil.rmtree(root, ignore_errors=True)


async def test_cluster_added_by_address_and_token_file(jp_fetch, other_root, tmp_path, cli):
    proc = cli.run("start", "--head", "--num-cpus", "1", "--temp-dir", other_root)
    assert proc.returncode == 0, proc.stderr
    [record] = temp_root.live_clusters(other_root)
    token_file = tmp_path / "token"
    token_file.write_text(temp_root.read_token(record["session_dir"]))
    wrong = tmp_path / "wrong"
    wrong.write_text("0" * 48)
    code, msg = await error(jp_fetch, "connect", method="POST",
                            body={"address": record["address"], "token_file": str(wrong)})
    assert code == 403 and "refused the token" in msg

    code, added = await call(jp_fetch, "connect", method="POST",
                             body={"address": record["address"], "token_file": str(token_file)})
    assert code == 201 and added["kind"] == "added" and added["can_remove"] and not added["can_stop"]
    _, listed = await call(jp_fetch)
    [entry] = [c for c in listed["clusters"] if c["id"] == added["id"]]
    assert entry["summary"]["cluster"]["nodes"][0]["resources_total"]["CPU"] == 1.0
    assert token_file.read_text().encode() not in json.dumps(listed).encode()

    code, removed = await call(jp_fetch, added["id"], method="DELETE")
    assert code == 200 and removed["removed"]
    _, listed = await call(jp_fetch, params={"summary": "0"})
    assert added["id"] not in [c["id"] for c in listed["clusters"]]
    assert cli.daemons_under(other_root), "forgetting an added cluster must not stop it"


async def test_tls_cluster_is_read_over_https(jp_fetch, strato_root, cli):
    """A head started with --tls-generate serves its state API over HTTPS with client certificates:
    the manager reads the session's tls.json and talks to it with the cluster's CA and key."""
    proc = cli.run("start", "--head", "--num-cpus", "1", "--tls-generate", "--temp-dir", strato_root)
    assert proc.returncode == 0, proc.stderr
    address = proc.stdout.split("cluster started at ", 1)[1].split()[0]
    _, listed = await call(jp_fetch)
    [entry] = [c for c in listed["clusters"] if c["address"] == address]
    assert entry["tls"] and entry["status"] == "running", entry
    assert entry["summary"]["cluster"]["nodes"][0]["resources_total"]["CPU"] == 1.0
    code, stopped = await call(jp_fetch, entry["id"], method="DELETE")
    assert code == 200 and stopped["stopped"]
