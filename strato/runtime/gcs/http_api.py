"""The head's HTTP JSON endpoint: the state API over the GCS's own tables (runs in the GCS process).

    GET /api/v0/tasks | actors | nodes | workers | objects | jobs
            ?limit=N&detail=1&filter_keys=K&filter_predicates==&filter_values=V (repeatable)
    GET /api/v0/tasks/summarize
    GET /api/strato/task_changes?since=VERSION[&cell=N][&max=M]  task records changed after VERSION
    GET /api/strato/task_graph?since=VERSION[&cell=N][&max_tasks=M]  the same up to M tasks, then
                                                  grouped by function (state counts, edge counts)
    GET /api/strato/cluster                                       nodes, resources, store stats, counts
    GET /api/strato/tune_runs                                     Tune runs the drivers published (KV "tune")
    every reply: {"result": true|false, "msg": "...", "data": {"result": ...}}

Every request carries the cluster token in `Authorization: Bearer T`;
anything else gets 401, and so does a token in the query string (`?token=`),
right or wrong: URLs end up in logs, proxies and browser history. The server is a
small HTTP/1.1 loop on the GCS's asyncio loop (keep-alive, GET only), so
handlers read the GCS tables directly, between RPCs, without locks. Task
records are folded lazily from the GCS event buffer at each request
(task_table.TaskTable.catch_up): a cluster nobody watches pays nothing.
Workers and store statistics come from each raylet's GetNodeStats, cached
for half a second so that several widgets polling do not multiply the calls.
"""
from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
import time
import urllib.parse

from strato.runtime import tls
from strato.runtime.protocol import gcs_pb2, raylet_pb2
from strato.runtime.gcs import state_rows as rows
from strato.runtime.gcs.task_table import TaskTable, cell_of

logger = logging.getLogger("strato.gcs.http")

NODE_STATS_TTL_S = 0.5
MAX_REQUEST_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 30.0


class HttpError(Exception):
    def __init__(self, status: int, msg: str):
        super().__init__(msg)
        self.status = status
        self.msg = msg


class StateService:
    """The endpoint's logic: GCS tables -> Ray-shaped dicts (no HTTP here)."""

    def __init__(self, gcs, token: str):
        self.gcs = gcs
        self.token = token
        self._gc_tuned = False
        self.tasks = TaskTable(gcs.config.task_events_buffer)
        self._raylets: dict[bytes, object] = {}
        self._node_stats: tuple[float, dict] = (0.0, {})
        self._stats_lock = asyncio.Lock()

    # ---------------------------------------------------------------- sources
    def _fold(self) -> None:
        if not self._gc_tuned:
            # Folding makes one long-lived record per task (tens of thousands a second under load):
            # collect the young generation less often in this process (about a fifth less CPU).
            gc.set_threshold(max(gc.get_threshold()[0], 20_000), 20, 20)
            self._gc_tuned = True
        self.tasks.catch_up(self.gcs.events)
        # Actor constructors: only the worker reports them (RUNNING); the actor table says when they ended.
        for task_id in list(self.tasks.open_creations):
            rec = self.tasks.tasks.get(task_id)
            entry = self.gcs.actors.actors.get(task_id)
            if rec is None or rec.done:
                self.tasks.open_creations.discard(task_id)
            elif entry is not None:
                old = rec.event_state
                if rec.creation_done(entry.info.state, entry.info.start_time):
                    self.tasks.touch(rec, old)
                self.tasks.open_creations.discard(task_id)

    async def node_stats(self) -> dict:
        """{node_id: GetNodeStatsReply} of the live nodes, at most NODE_STATS_TTL_S old."""
        async with self._stats_lock:
            at, cached = self._node_stats
            if time.monotonic() - at < NODE_STATS_TTL_S:
                return cached
            from strato.runtime.rpc import RayletClient
            out = {}
            alive = [n for n in self.gcs.nodes.values() if n.alive]
            for node_id in list(self._raylets):
                if node_id not in {n.node_id for n in alive}:
                    await self._raylets.pop(node_id).close()

            async def one(n):
                client = self._raylets.get(n.node_id)
                if client is None:
                    client = self._raylets[n.node_id] = RayletClient(f"{n.address}:{n.raylet_port}", self.token)
                try:
                    out[n.node_id] = await client.call("GetNodeStats", raylet_pb2.GetNodeStatsRequest(), timeout=5)
                except Exception as exc:
                    logger.debug("GetNodeStats of %s failed: %s", n.node_id.hex()[:12], exc)

            await asyncio.gather(*(one(n) for n in alive))
            self._node_stats = (time.monotonic(), out)
            return out

    async def close(self) -> None:
        for client in self._raylets.values():
            await client.close()
        self._raylets.clear()

    # ---------------------------------------------------------------- tables
    async def tasks_list(self, detail: bool) -> list[dict]:
        self._fold()
        return [rows.task_dict(r, detail) for r in self.tasks.records()]

    async def summarize(self) -> dict:
        return rows.summarize(await self.tasks_list(False))

    async def nodes_list(self, detail: bool) -> list[dict]:
        stats = await self.node_stats() if detail else {}
        out = []
        for n in self.gcs.nodes.values():
            st = stats.get(n.node_id)
            out.append(rows.node_dict(n, _store_dict(st) if st is not None else None))
        return out

    async def actors_list(self, detail: bool) -> list[dict]:
        return [rows.actor_dict(e.info) for e in self.gcs.actors.actors.values()]

    async def jobs_list(self, detail: bool) -> list[dict]:
        return [rows.job_dict(gcs_pb2.JobInfo.FromString(v)) for _, v in self.gcs.store.items("jobs")]

    async def workers_list(self, detail: bool) -> list[dict]:
        stats = await self.node_stats()
        out = []
        for node_id, reply in stats.items():
            node = self.gcs.nodes[node_id]
            out += [rows.worker_dict(w, node) for w in reply.workers]
        return out

    async def objects_list(self, detail: bool) -> list[dict]:
        stats = await self.node_stats()
        out = []
        for node_id, reply in stats.items():
            node = self.gcs.nodes[node_id]
            out += rows.store_object_dicts(node_id.hex(), node.address, _store_dict(reply))
        return sorted(out, key=lambda o: -o["object_size"])

    # ---------------------------------------------------------------- widgets
    async def task_changes(self, since: int, cell: int | None, max_items: int) -> dict:
        self._fold()
        changed = self.tasks.changed_since(since)
        if cell is not None:
            changed = [r for r in changed if cell_of(r.tag) == cell]
        truncated = len(changed) > max_items > 0
        if truncated:
            changed = changed[:max_items]
        version = changed[-1].version if truncated else self.tasks.version
        return {"version": version, "more": truncated, "tasks": [rows.graph_dict(r) for r in changed],
                "num_tasks": len(self.tasks.tasks), "evicted": self.tasks.evicted,
                "dropped_events": self.gcs.events_dropped}

    async def task_graph(self, since: int, cell: int | None, max_tasks: int) -> dict:
        """Task by task while there are at most `max_tasks` (of the cell); grouped by function beyond.

        Task by task, only the records changed after `since` come back; grouped, the whole
        (small) picture does. The widget asks with the version it last saw.
        """
        self._fold()
        n = self.tasks.num_tasks(cell)
        info = {"num_tasks": n, "evicted": self.tasks.evicted, "dropped_events": self.gcs.events_dropped}
        if max_tasks and n > max_tasks:
            return dict(info, grouped=True, version=self.tasks.version, **self.tasks.function_groups(cell))
        return dict(await self.task_changes(since, cell, 0), **info, grouped=False)

    async def cluster(self) -> dict:
        self._fold()
        return {"time": time.time(), "nodes": await self.nodes_list(True), "task_counts": self.tasks.counts(),
                "num_actors": sum(1 for e in self.gcs.actors.actors.values() if e.info.state == "ALIVE"),
                "dropped_events": self.gcs.events_dropped}

    # ---------------------------------------------------------------- routing
    async def handle(self, path: str, query: dict[str, list[str]]) -> object:
        def one(name, default=None):
            values = query.get(name)
            return values[-1] if values else default

        def integer(name, default):
            try:
                return int(one(name, default))
            except (TypeError, ValueError):
                raise HttpError(400, f"{name} must be an integer, got {one(name)!r}") from None

        detail = one("detail", "0") in ("1", "true", "True")
        if path == "/api/v0/tasks/summarize":
            return await self.summarize()
        if path == "/api/strato/task_changes":
            cell = one("cell")
            return await self.task_changes(integer("since", 0), int(cell) if cell not in (None, "") else None,
                                           integer("max", 0))
        if path == "/api/strato/task_graph":
            cell = one("cell")
            return await self.task_graph(integer("since", 0), int(cell) if cell not in (None, "") else None,
                                         integer("max_tasks", 2000))
        if path == "/api/strato/cluster":
            return await self.cluster()
        if path == "/api/strato/tune_runs":
            return rows.tune_run_dicts(self.gcs.store.items("kv:" + rows.TUNE_KV_NAMESPACE))
        lists = {"/api/v0/tasks": self.tasks_list, "/api/v0/nodes": self.nodes_list,
                 "/api/v0/actors": self.actors_list, "/api/v0/jobs": self.jobs_list,
                 "/api/v0/workers": self.workers_list, "/api/v0/objects": self.objects_list}
        fn = lists.get(path)
        if fn is None:
            raise HttpError(404, f"no such endpoint {path}; see strato/runtime/gcs/http_api.py for the list")
        keys, preds, values = (query.get(k, []) for k in ("filter_keys", "filter_predicates", "filter_values"))
        if not len(keys) == len(preds) == len(values):
            raise HttpError(400, "filter_keys, filter_predicates and filter_values must come in threes")
        try:
            return rows.select(await fn(detail), list(zip(keys, preds, values)), integer("limit", 100))
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None

    def auth_problem(self, headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
        """Why the request is refused (401), or None when it carries the cluster token in its header."""
        if "token" in query:
            return ("the cluster token is not accepted in the URL (?token=): URLs end up in logs and browser "
                    "history. Send it in the header 'Authorization: Bearer TOKEN' instead.")
        auth = headers.get("authorization", "")
        offered = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if offered and hmac.compare_digest(offered.encode(), self.token.encode()):
            return None
        return ("wrong or missing cluster token: send 'Authorization: Bearer TOKEN' (the token file in the "
                "head node's session folder)")


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error"}


def _store_dict(reply) -> dict:
    from strato.runtime.object_store.stats import _as_dict
    return _as_dict(reply.object_store)


class HttpServer:
    """GET-only HTTP/1.1 with keep-alive, JSON bodies."""

    def __init__(self, service: StateService):
        self.service = service
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task] = set()

    async def start(self, host: str, port: int = 0) -> int:
        config = tls.current()          # HTTPS with the cluster's certificates when it has them
        self._server = await asyncio.start_server(
            self._serve, host, port, limit=MAX_REQUEST_BYTES, ssl=config.server_context() if config else None,
            ssl_handshake_timeout=5.0 if config else None)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._conns):
            t.cancel()
        await self.service.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                        ConnectionError):
                    return
                keep_alive = await self._respond(head, writer)
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()

    async def _respond(self, head: bytes, writer) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self._write(writer, 400, {"result": False, "msg": "malformed request line", "data": {}}, False)
            return False
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        url = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if method != "GET":
            status, body = 405, {"result": False, "msg": "only GET is served", "data": {}}
        elif (problem := self.service.auth_problem(headers, query)) is not None:
            status, body = 401, {"result": False, "data": {}, "msg": problem}
        else:
            try:
                result = await self.service.handle(url.path.rstrip("/") or "/", query)
                status, body = 200, {"result": True, "msg": "", "data": {"result": result}}
            except HttpError as exc:
                status, body = exc.status, {"result": False, "msg": exc.msg, "data": {}}
            except Exception as exc:
                logger.exception("state API %s failed", url.path)
                status, body = 500, {"result": False, "msg": f"{type(exc).__name__}: {exc}", "data": {}}
        self._write(writer, status, body, keep_alive)
        return keep_alive

    @staticmethod
    def _write(writer, status: int, body: dict, keep_alive: bool) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        writer.write((f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                      f"Cache-Control: no-store\r\n"
                      f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n").encode() + data)


async def start(gcs, token: str, host: str, port: int = 0) -> tuple[HttpServer, int]:
    """Serve the state API for `gcs` on host:port (0: a free one); advertises the port in the GCS KV."""
    server = HttpServer(StateService(gcs, token))
    port = await server.start(host, port)
    gcs.store.put("kv:" + rows.DASHBOARD_KV_NAMESPACE, rows.DASHBOARD_KV_KEY, str(port).encode())
    return server, port
