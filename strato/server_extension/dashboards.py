"""Dashboards as JupyterLab tabs: Bokeh server documents inside the Jupyter server, drawn by strato.widgets.

    lab tab (iframe) --GET /strato/dashboards/ID/VIEW--> DashboardHandler  (@web.authenticated: Jupyter login)
        checks the cluster, signs a Bokeh session token carrying ID (expires in 5 min), redirects to
    /strato/bokeh/VIEW?bokeh-token=...  --> a BokehTornado app routed inside Jupyter's tornado app
        (sign_sessions: no page or websocket without a token signed by this server's random key;
        generate_session_ids off: nothing is served to a request without one)
    document per tab: one strato.widgets view (TaskGraph, Timeline, ObjectStoreView, ActorsView,
        TuneView) built with `bokeh_root()` -- the same figure code the notebook widgets use -- and
        a Feed whose client is the manager's StateClient for that cluster (token kept server-side;
        TuneView's own feed reads the runs the head lists, PublishedRuns);
        every REFRESH_MS the feed fetches in a worker thread and the view applies the snapshot on
        the server's loop, which Bokeh sends to the tab as patches over its websocket.

No kernel is involved. Two checks guard a tab's websocket: the signed, short-lived token, which
only a logged-in request can obtain, and its Origin, which must be the page's own host (or one
that Jupyter's `allow_origin` / `allow_origin_pat` settings admit), as Jupyter checks its own
websockets. Bokeh's allowlist holds fixed host names, which a server reached by several names
cannot list; `SameOriginGate` checks each upgrade against its request's Host before Bokeh sees it.
"""
from __future__ import annotations

import asyncio
import logging
import re
import secrets
from urllib.parse import urlparse

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import routing, web

from strato.server_extension.manager import ClusterManager, ManagerError

logger = logging.getLogger("strato.dashboards")

REFRESH_MS = 1000
TOKEN_EXPIRATION_S = 300
TITLES = {"tasks": "Task graph", "timeline": "Timeline", "store": "Object store", "actors": "Actors",
          "tune": "Tuning trials"}


def tune_snapshot(runs, now: float) -> dict | None:
    """The latest published Tune run (strato.tune.publish: the head's /api/strato/tune_runs) in the shape
    TuneView draws from (pure). Configs are the published scalars and curves the thinned histories;
    fields a summary does not publish (errors, failures, run time) are empty."""
    runs = [r for r in runs or [] if isinstance(r, dict)]
    if not runs:
        return None
    run = max(runs, key=lambda r: (r.get("update_time") or 0, r.get("start_time") or 0))
    trials = [{"trial_id": t.get("trial_id", "?"), "name": t.get("trial_id", "?"), "status": t.get("status", ""),
               "config": _published_config(t.get("config")), "iter": t.get("iter", 0), "last": t.get("last"),
               "best": t.get("best"), "stop_reason": t.get("stop_reason", ""), "error": "", "failures": 0,
               "history": _published_history(t.get("history")),
               "time_total_s": 0.0} for t in run.get("trials") or []]
    return {"name": run.get("name", ""), "metric": run.get("metric"), "mode": run.get("mode"),
            "status": run.get("status", ""), "version": run.get("update_time"), "trials": trials,
            "elapsed": max(0.0, (run.get("update_time") or now) - (run.get("start_time") or now))}


def _published_config(config) -> dict:
    if not isinstance(config, dict):
        return {}
    return {str(k): v for k, v in config.items() if isinstance(v, (bool, int, float, str))}


def _published_history(history) -> list:
    """(iteration, value) pairs of numbers; anything else in a published curve is dropped."""
    if not isinstance(history, list):
        return []
    return [[p[0], p[1]] for p in history if isinstance(p, (list, tuple)) and len(p) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in p)]


class PublishedRuns:
    """TuneView's source for a cluster seen from outside its driver: the runs its head lists."""

    def __init__(self, client):
        self.client = client

    def snapshot(self) -> dict | None:
        import time
        return tune_snapshot(self.client.get("/api/strato/tune_runs"), time.time())


def make_view(name: str, client):
    """The strato.widgets view a dashboard tab shows (one implementation for notebook and lab), and
    the feed that fetches its snapshots through `client` (the cluster's state API)."""
    from strato import widgets
    from strato.widgets._feed import Feed
    from strato.widgets.actor_view import ActorsView
    from strato.widgets.timeline import Timeline
    from strato.widgets.tune_view import TuneView
    if name == "tune":
        view = TuneView(PublishedRuns(client), interval=REFRESH_MS / 1000)
        return view, view.feed
    feed = Feed(REFRESH_MS / 1000, client=client)
    factories = {"tasks": lambda: widgets.TaskGraph(feed=feed), "timeline": lambda: Timeline(feed=feed),
                 "store": lambda: widgets.ObjectStoreView(feed=feed), "actors": lambda: ActorsView(feed=feed)}
    return factories[name](), feed


def origin_allowed(origin: str | None, host: str, allow_origin: str = "", allow_origin_pat: str = "") -> bool:
    """Whether a websocket upgrade from `origin` may reach a dashboard served as `host` (pure).

    Jupyter's rule for its own websockets: a request without an Origin header is not from a browser
    page and is let through (the signed token still has to be right); otherwise the origin's host
    must be the request's Host, or be admitted by Jupyter's `allow_origin` ("*" admits all) or
    `allow_origin_pat` (a regular expression matched against the whole origin)."""
    if origin is None:
        return True
    if allow_origin == "*":
        return True
    if allow_origin and origin == allow_origin:
        return True
    if allow_origin_pat and re.match(allow_origin_pat, origin):
        return True
    return urlparse(origin.lower()).netloc == host.lower() != ""


class _CrossOrigin(web.RequestHandler):
    def prepare(self):
        logger.warning("refused a dashboard websocket from origin %r (served as %r)",
                       self.request.headers.get("Origin"), self.request.host)
        raise web.HTTPError(403, "cross-origin websocket refused")


class _AnyOrigin(set):
    """Bokeh's own allowlist, open: SameOriginGate has checked the Origin (with the Host it came to)."""

    def __contains__(self, item) -> bool:
        return True


class SameOriginGate(routing.Router):
    """Routes requests to the Bokeh application; a websocket upgrade from another origin gets a 403."""

    def __init__(self, bokeh_app, allow_origin: str = "", allow_origin_pat: str = ""):
        self.bokeh_app = bokeh_app
        self.allow_origin = allow_origin
        self.allow_origin_pat = allow_origin_pat

    def find_handler(self, request, **kwargs):
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade and not origin_allowed(request.headers.get("Origin"), request.host or "",
                                          self.allow_origin, self.allow_origin_pat):
            return self.bokeh_app.get_handler_delegate(request, _CrossOrigin)
        return self.bokeh_app.find_handler(request, **kwargs)


def document_factory(manager: ClusterManager, view_name: str):
    def make_document(doc) -> None:
        from bokeh.layouts import column
        from bokeh.models import Div

        cid = doc.session_context.token_payload.get("strato_cluster", "")
        header = Div(text="", sizing_mode="stretch_width")
        try:
            cluster = manager.get(cid)
            view, feed = make_view(view_name, manager.client(cid))
        except ManagerError as exc:
            doc.add_root(Div(text=f"<b>Strato</b>: {exc}"))
            return
        feed.subscribe(view)
        header.text = f"<b>{TITLES[view_name]}</b> &middot; cluster <code>{cluster.address}</code>"
        doc.title = f"Strato {TITLES[view_name]} {cluster.address}"
        doc.add_root(column(header, view.bokeh_root(), sizing_mode="stretch_width"))

        async def tick():
            try:
                snapshot = await asyncio.to_thread(feed.fetch)
            except Exception as exc:  # noqa: BLE001  (whatever a head that went away causes: shown, retried)
                header.text = (f"<b>{TITLES[view_name]}</b> &middot; cluster <code>{cluster.address}</code> "
                               f"&middot; <span style='color:#e53935'>{type(exc).__name__}: {exc}</span>")
                return
            view.apply(snapshot)

        doc.add_next_tick_callback(tick)
        doc.add_periodic_callback(tick, REFRESH_MS)
        doc.on_session_destroyed(lambda ctx: feed.unsubscribe(view))

    return make_document


class DashboardHandler(JupyterHandler):
    """GET /strato/dashboards/ID/VIEW: a logged-in user gets a signed Bokeh session for that view."""

    @web.authenticated
    async def get(self, cid: str, view: str):
        from bokeh.util.token import generate_jwt_token, generate_session_id
        if view not in TITLES:
            raise web.HTTPError(404, f"no dashboard {view!r}; one of {', '.join(TITLES)}")
        manager: ClusterManager = self.settings["strato_manager"]
        try:
            cluster = await asyncio.to_thread(manager.get, cid)
            await asyncio.to_thread(manager.state_url, cluster)     # reachable (and its URL cached)
        except ManagerError as exc:
            raise web.HTTPError(exc.status, str(exc).replace("%", "%%")) from None
        key = self.settings["strato_bokeh_key"]
        session_id = generate_session_id(secret_key=key, signed=True)
        token = generate_jwt_token(session_id, secret_key=key, signed=True, expiration=TOKEN_EXPIRATION_S,
                                   extra_payload={"strato_cluster": cid})
        self.set_header("Cache-Control", "no-store")
        self.redirect(url_path_join(self.settings["strato_bokeh_prefix"], view) + f"?bokeh-token={token}")


def setup(serverapp, manager: ClusterManager) -> None:
    """Mount the dashboards' Bokeh applications and their authenticated entry handler."""
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.server.tornado import BokehTornado
    from tornado.ioloop import IOLoop

    web_app = serverapp.web_app
    base = web_app.settings["base_url"]
    prefix = url_path_join(base, "strato", "bokeh")
    key = secrets.token_bytes(32)
    apps = {f"/{name}": Application(FunctionHandler(document_factory(manager, name))) for name in TITLES}
    bokeh_app = BokehTornado(apps, prefix=prefix, secret_key=key, sign_sessions=True, generate_session_ids=False,
                             session_token_expiration=TOKEN_EXPIRATION_S, use_index=False, redirect_root=False)
    bokeh_app._websocket_origins = _AnyOrigin()
    bokeh_app.initialize(IOLoop.current())
    bokeh_app.start()
    web_app.settings.update(strato_bokeh_key=key, strato_bokeh_prefix=prefix, strato_bokeh_app=bokeh_app)
    web_app.add_handlers(".*$", [
        (url_path_join(base, "strato", "dashboards", r"(?P<cid>[A-Za-z0-9._-]+)", r"(?P<view>[a-z]+)"),
         DashboardHandler)])
    # The Bokeh application is a tornado Application routed as a whole: Jupyter's add_handlers checks
    # RequestHandler classes for @authenticated, so it is added with tornado's own method; its pages
    # and websocket each check the signed session token instead, and the gate checks websockets' origin.
    gate = SameOriginGate(bokeh_app, getattr(serverapp, "allow_origin", "") or "",
                          getattr(serverapp, "allow_origin_pat", "") or "")
    web.Application.add_handlers(web_app, ".*$", [(prefix + "/.*", gate)])
