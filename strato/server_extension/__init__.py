"""Strato's Jupyter server extension: this user's clusters, their state and dashboards, for JupyterLab.

    browser (extension/: sidebar, status bar, dashboard tabs)
        |  fetch /strato/api/...  (Jupyter's login: token or cookie, _xsrf on POST/DELETE)
        v
    handlers.py     HTTP shells, every one @tornado.web.authenticated
        |  in a worker thread
        v
    manager.py      discovery (the temp root's cluster registry + clusters added by address and token
                    file), the state API proxy (token added here, never sent to the browser),
                    start (`strato start --head`) and stop of detached clusters
    dashboards.py   Bokeh server documents mounted at /strato/bokeh/, drawn by strato.widgets' own
                    figure code; reached only through /strato/dashboards/ID/VIEW, which hands out a
                    signed, short-lived session token

Enabled by etc/jupyter/jupyter_server_config.d/strato.json (installed with the
package). Settings, on the command line (`jupyter lab --StratoServer.temp_dir=DIR`) or in a
Jupyter config file: StratoServer.temp_dir (whose clusters are listed), StratoServer.http_timeout.
"""
from __future__ import annotations

from traitlets import Float, Unicode
from traitlets.config import Configurable


class StratoServer(Configurable):
    """Settings of the Strato server extension."""

    temp_dir = Unicode(None, allow_none=True, config=True,
                       help="The Strato temp root whose clusters are listed (default: $TMPDIR/strato-<uid>, "
                            "as `strato start` uses)")
    http_timeout = Float(10.0, config=True, help="Seconds to wait for a cluster's state API")


def _jupyter_server_extension_points():
    return [{"module": "strato.server_extension"}]


def _load_jupyter_server_extension(serverapp):
    from strato.server_extension.handlers import setup_handlers
    from strato.server_extension.manager import ClusterManager

    settings = StratoServer(parent=serverapp)
    manager = ClusterManager(settings.temp_dir or None, http_timeout=settings.http_timeout)
    setup_handlers(serverapp.web_app, manager)
    try:
        from strato.server_extension import dashboards
    except ImportError as exc:              # bokeh is an extra (strato[notebook])
        serverapp.log.warning("Strato dashboards are off: %s (pip install 'strato[notebook]')", exc)
    else:
        dashboards.setup(serverapp, manager)
    serverapp.log.info("Strato server extension loaded (clusters of temp root %s)",
                       settings.temp_dir or "$TMPDIR/strato-<uid>")


# Jupyter server < 2 looked for this name.
load_jupyter_server_extension = _load_jupyter_server_extension
