"""The server extension against a running detached cluster: discovery, the state proxy, login, no token out.

A real `strato start --head` cluster (1 CPU) in a private temp root; pytest-jupyter's in-process
Jupyter server with the extension enabled, reached with `jp_fetch` (its token in the header).
"""
import json
import os
import time

import pytest
from tornado.httpclient import HTTPClientError

from strato.runtime import temp_root

pytestmark = pytest.mark.timeout(60)


def token_of(root: str, address: str) -> str:
    token = temp_root.lookup_token(root, address)
    assert token and len(token) >= 32
    return token


async def get_json(jp_fetch, *parts, **kw):
    resp = await jp_fetch(*parts, **kw)
    assert resp.code == 200
    return json.loads(resp.body)


async def test_running_cluster_is_listed_with_its_nodes(jp_fetch, head):
    data = await get_json(jp_fetch, "strato", "api", "clusters")
    [c] = data["clusters"]
    assert c["address"] == head and c["kind"] == "detached" and c["status"] == "running"
    assert c["can_stop"] and not c["can_remove"]
    [node] = c["summary"]["cluster"]["nodes"]
    assert node["resources_total"]["CPU"] == 1.0 and node["state"] == "ALIVE"
    assert node["object_store"]["capacity"] > 0
    assert c["summary"]["actors"] == []
    # Tune is not in this head's state API: an empty section, not an error.
    assert c["summary"]["tune_runs"] in (None, [])


async def test_record_of_a_stopped_cluster_is_skipped(jp_fetch, head, strato_root):
    # A record as a head leaves it, for a GCS that is gone (the pid of a finished process).
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],  # noqa: ASYNC221
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    session = os.path.join(strato_root, "session_2000-01-01_00-00-00_1_dead")
    os.mkdir(session, 0o700)
    record = os.path.join(strato_root, "clusters", "127.0.0.1_1.json")
    temp_root.write_private_file(record, json.dumps({"address": "127.0.0.1:1", "session_dir": session,
                                                     "pid": pid, "started": time.time()}).encode())
    data = await get_json(jp_fetch, "strato", "api", "clusters", params={"summary": "0"})
    assert [c["address"] for c in data["clusters"]] == [head]
    assert not os.path.exists(record), "the dead cluster's record should have been deleted"
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("strato", "api", "clusters", "127.0.0.1_1")
    assert err.value.code == 404


async def test_state_api_through_the_proxy(jp_fetch, head):
    from strato.server_extension.manager import cluster_id
    cid = cluster_id(head)
    nodes = await get_json(jp_fetch, "strato", "api", "clusters", cid, "state", "api", "v0", "nodes")
    assert nodes["result"]["total"] == 1 and nodes["result"]["result"][0]["resources_total"]["CPU"] == 1.0
    summary = await get_json(jp_fetch, "strato", "api", "clusters", cid, "state", "api", "v0", "tasks",
                             "summarize")
    assert "cluster" in summary["result"]
    with pytest.raises(HTTPClientError) as err:      # only the state API's own paths
        await jp_fetch("strato", "api", "clusters", cid, "state", "api", "v0", "secrets")
    assert err.value.code == 404
    with pytest.raises(HTTPClientError) as err:      # a bad filter is the caller's error, said plainly
        await jp_fetch("strato", "api", "clusters", cid, "state", "api", "v0", "tasks",
                       params={"filter_keys": "state"})
    assert err.value.code == 400 and b"threes" in err.value.response.body


ROUTES = [("GET", ("strato", "api", "clusters")), ("POST", ("strato", "api", "clusters")),
          ("POST", ("strato", "api", "clusters", "connect")), ("GET", ("strato", "api", "clusters", "ID")),
          ("DELETE", ("strato", "api", "clusters", "ID")),
          ("GET", ("strato", "api", "clusters", "ID", "state", "api", "v0", "nodes")),
          ("GET", ("strato", "dashboards", "ID", "tasks"))]


async def test_every_route_needs_jupyter_login(jp_fetch, head):
    from strato.server_extension.manager import cluster_id
    for method, parts in ROUTES:
        parts = tuple(cluster_id(head) if p == "ID" else p for p in parts)
        kw = {"body": "{}"} if method == "POST" else {}
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(*parts, method=method, headers={"Authorization": "token wrong"}, follow_redirects=False,
                           **kw)
        assert err.value.code in (302, 403), (method, parts, err.value.code)
    # The cluster is still there: nothing was stopped by the refused DELETE.
    data = await get_json(jp_fetch, "strato", "api", "clusters", params={"summary": "0"})
    assert [c["address"] for c in data["clusters"]] == [head]


async def test_token_is_never_in_a_response(jp_fetch, head, strato_root):
    from strato.server_extension.manager import cluster_id
    token = token_of(strato_root, head)
    cid = cluster_id(head)
    bodies = []
    for parts in [("strato", "api", "clusters"), ("strato", "api", "clusters", cid)] + [
            ("strato", "api", "clusters", cid, "state", *p.split("/"))
            for p in ("api/strato/cluster", "api/v0/nodes", "api/v0/workers", "api/v0/jobs", "api/v0/objects",
                      "api/strato/task_graph")]:
        resp = await jp_fetch(*parts)
        bodies.append(resp.body + str(resp.headers).encode())
    # Errors too: a token file that is not the cluster's, a missing one.
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("strato", "api", "clusters", "connect", method="POST",
                       body=json.dumps({"address": head, "token_file": "/nonexistent/token"}))
    assert err.value.code == 400 and b"cannot read the token file" in err.value.response.body
    bodies.append(err.value.response.body)
    with pytest.raises(HTTPClientError) as err:         # the token itself is refused as input
        await jp_fetch("strato", "api", "clusters", "connect", method="POST",
                       body=json.dumps({"address": head, "token": token}))
    assert err.value.code == 400
    bodies.append(err.value.response.body)
    session = temp_root.live_clusters(strato_root)[0]["session_dir"]
    for blob in bodies:
        assert token.encode() not in blob
        assert os.path.join(session, "token").encode() not in blob     # nor its token file's path


async def test_dashboard_needs_a_signed_session(jp_fetch, head, strato_root):
    from strato.server_extension.manager import cluster_id
    cid = cluster_id(head)
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("strato", "dashboards", cid, "tasks", follow_redirects=False)
    assert err.value.code == 302
    location = err.value.response.headers["Location"]
    assert "/strato/bokeh/tasks?bokeh-token=" in location
    path, query = location.split("?", 1)
    parts = path.split("/strato/", 1)[1].split("/")
    page = await jp_fetch("strato", *parts, params={"bokeh-token": query.split("=", 1)[1]})
    assert page.code == 200 and b"Bokeh" in page.body
    assert token_of(strato_root, head).encode() not in page.body
    from bokeh.util.token import generate_jwt_token, generate_session_id
    other_key = b"k" * 32                                  # signed, but not with this server's key
    forged = generate_jwt_token(generate_session_id(other_key, True), secret_key=other_key, signed=True,
                                extra_payload={"strato_cluster": cid})
    for bad in ({}, {"bokeh-session-id": "made-up"}, {"bokeh-token": forged}):
        with pytest.raises(HTTPClientError) as err:       # no page without a token this server signed
            await jp_fetch("strato", *parts, params=bad)
        assert err.value.code == 403, bad
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("strato", "dashboards", cid, "nosuchview", follow_redirects=False)
    assert err.value.code == 404


async def test_dashboard_websocket_refuses_another_origin(jp_fetch, jp_ws_fetch, jp_http_port, head):
    from strato.server_extension.manager import cluster_id
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("strato", "dashboards", cluster_id(head), "tasks", follow_redirects=False)
    path, query = err.value.response.headers["Location"].split("?", 1)
    token = query.split("=", 1)[1]
    ws_parts = (path.split("/strato/", 1)[1] + "/ws").split("/")
    for origin in ("http://evil.example", f"http://localhost:{jp_http_port + 1}"):
        with pytest.raises(HTTPClientError) as err:        # a valid token, from another page: refused
            await jp_ws_fetch("strato", *ws_parts, headers={"Origin": origin}, subprotocols=["bokeh", token])
        assert err.value.code == 403, origin
    ws = await jp_ws_fetch("strato", *ws_parts, headers={"Origin": f"http://localhost:{jp_http_port}"},
                           subprotocols=["bokeh", token])
    try:
        first = await ws.read_message()                    # Bokeh's ACK: the session is open
        assert first is not None and b"ACK" in (first if isinstance(first, bytes) else first.encode())
    finally:
        ws.close()

