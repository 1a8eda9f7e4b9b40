"""The server extension's HTTP handlers: thin shells over manager.ClusterManager, all behind Jupyter's login.

    GET    /strato/api/clusters                    this user's clusters, each with its summary (or error)
    POST   /strato/api/clusters                    {"num_cpus"?, "num_gpus"?}: start a detached local cluster
    POST   /strato/api/clusters/connect            {"address", "token_file"?, "tls_ca"?, "tls_cert"?, "tls_key"?}
    GET    /strato/api/clusters/ID                 one cluster and its summary
    DELETE /strato/api/clusters/ID                 stop it (started with `strato start`) or forget it (added)
    GET    /strato/api/clusters/ID/state/PATH      the cluster's state API (PATH in manager.STATE_PATHS)
    GET    /strato/dashboards/ID/VIEW              a dashboard tab (dashboards.py: a Bokeh server document)

Every handler is a Jupyter APIHandler/JupyterHandler method wrapped in
`tornado.web.authenticated` (Jupyter's token or login cookie; POST and DELETE
also need the _xsrf check Jupyter applies). The manager's blocking work (gRPC,
HTTP to the head, starting daemons) runs in a worker thread, never on the
server's event loop. Replies carry addresses, states and numbers, never a
token or a token file's path.
"""
from __future__ import annotations

import asyncio
import json

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from strato.server_extension.manager import ClusterManager, ManagerError

_ID = r"(?P<cid>[A-Za-z0-9._-]+)"


class _Handler(APIHandler):
    @property
    def manager(self) -> ClusterManager:
        return self.settings["strato_manager"]

    async def run(self, fn, *args, **kwargs):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ManagerError as exc:
            raise web.HTTPError(exc.status, str(exc).replace("%", "%%")) from None

    def body(self) -> dict:
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except ValueError:
            raise web.HTTPError(400, "the request body must be JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the request body must be a JSON object")
        return data

    def reply(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(data))

    async def described(self, cluster) -> dict:
        entry = dict(cluster.public(), status="running")
        try:
            entry["summary"] = await self.run(self.manager.summary, cluster.id)
            entry["kernels"] = self.kernels_of(set(entry["summary"].pop("drivers", ())))
        except web.HTTPError as exc:
            entry["status"] = "unreachable"
            entry["error"] = exc.log_message.replace("%%", "%")
        return entry


    def kernels_of(self, pids: set) -> list[str]:
        """Ids of this server's kernels whose process is one of `pids` (drivers of a cluster)."""
        km = self.settings.get("kernel_manager")
        out = []
        for kid in list(km.list_kernel_ids()) if km is not None else []:
            try:
                pid = getattr(km.get_kernel(kid).provisioner, "pid", None)
            except (KeyError, AttributeError):
                continue
            if pid in pids:
                out.append(kid)
        return out


class ClustersHandler(_Handler):
    @web.authenticated
    async def get(self):
        clusters = await self.run(self.manager.clusters)
        with_summary = self.get_argument("summary", "1") not in ("0", "false")
        if with_summary:
            entries = await asyncio.gather(*(self.described(c) for c in clusters))
        else:
            entries = [dict(c.public(), status="running") for c in clusters]
        self.reply({"clusters": list(entries)})

    @web.authenticated
    async def post(self):
        args = self.body()
        unknown = set(args) - {"num_cpus", "num_gpus"}
        if unknown:
            raise web.HTTPError(400, f"unknown fields {sorted(unknown)}: a new cluster takes num_cpus and num_gpus")
        cluster = await self.run(self.manager.start, args.get("num_cpus"), args.get("num_gpus"))
        self.reply(dict(cluster.public(), status="running"), 201)


class ConnectHandler(_Handler):
    @web.authenticated
    async def post(self):
        args = self.body()
        allowed = {"address", "token_file", "tls_ca", "tls_cert", "tls_key"}
        if set(args) - allowed:
            raise web.HTTPError(400, f"unknown fields {sorted(set(args) - allowed)}; allowed: {sorted(allowed)}")
        if "token" in args:
            raise web.HTTPError(400, "send token_file (a path on the server), not the token itself")
        cluster = await self.run(self.manager.add, args.get("address"), args.get("token_file"),
                                 args.get("tls_ca"), args.get("tls_cert"), args.get("tls_key"))
        self.reply(dict(cluster.public(), status="running"), 201)


class ClusterHandler(_Handler):
    @web.authenticated
    async def get(self, cid):
        cluster = await self.run(self.manager.get, cid)
        self.reply(await self.described(cluster))

    @web.authenticated
    async def delete(self, cid):
        cluster = await self.run(self.manager.get, cid)
        if cluster.kind == "added":
            await self.run(self.manager.remove, cid)
            self.reply({"id": cid, "removed": True})
        else:
            stopped = await self.run(self.manager.stop, cid)
            self.reply({"id": cid, "stopped": True, "processes": stopped})


class StateHandler(_Handler):
    @web.authenticated
    async def get(self, cid, path):
        params = [(k, v.decode()) for k, values in self.request.query_arguments.items() for v in values]
        if any(k == "token" for k, _ in params):
            raise web.HTTPError(400, "no token in the URL: the server adds the cluster's token itself")
        result = await self.run(self.manager.state, cid, path, params)
        self.reply({"result": result})


def setup_handlers(web_app, manager: ClusterManager) -> None:
    base = web_app.settings["base_url"]
    web_app.settings["strato_manager"] = manager
    api = url_path_join(base, "strato", "api", "clusters")
    web_app.add_handlers(".*$", [
        (api, ClustersHandler),
        (url_path_join(api, "connect"), ConnectHandler),
        (url_path_join(api, _ID), ClusterHandler),
        (url_path_join(api, _ID, "state", r"(?P<path>[A-Za-z0-9_/]+)"), StateHandler),
    ])
