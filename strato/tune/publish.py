"""A run's summary in the GCS KV (namespace "tune"), for the state API's list_tune_runs and the lab.

    driver (controller, <= once a second and at the end)
        --KVPut(namespace="tune", key=<name>:<uid>, JSON summary)--> GCS
    strato.util.state.list_tune_runs() --GET /api/strato/tune_runs--> the GCS reads namespace "tune"

Each trial's row carries its metric curve thinned to a budget (HISTORY_POINTS over the run, at most
TRIAL_POINTS per trial) and its config's scalar values, so a view outside the driver (the lab's Tune
tab) draws the same curves and parallel coordinates as the notebook's TuneView.
"""
from __future__ import annotations

import json
import logging
import math

from strato import _context

KV_NAMESPACE = "tune"
logger = logging.getLogger(__name__)
HISTORY_POINTS = 20_000       # curve points in one published summary, over all its trials
TRIAL_POINTS = 200            # and per trial
CONFIG_TEXT = 40              # a string config value is cut to this many characters


def points_per_trial(num_trials: int) -> int:
    return max(2, min(TRIAL_POINTS, HISTORY_POINTS // max(num_trials, 1)))


def thin_history(history, points: int) -> list[list[float]]:
    """At most `points` finite (iteration, value) pairs, evenly spread, keeping the first and the last."""
    pts = [[it, v] for it, v in history if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(pts) <= points:
        return pts
    step = (len(pts) - 1) / (points - 1)
    return [pts[round(i * step)] for i in range(points)]


def scalar_config(config) -> dict:
    """A trial config's numbers, booleans and (cut) strings, nested keys joined with "/" as Tune's
    dataframe names them; other values (lists, objects) are left out."""
    from strato.tune.search.variant_generator import flatten
    out: dict = {}
    for k, v in flatten(config if isinstance(config, dict) else {}).items():
        if isinstance(v, bool) or isinstance(v, (int, float)) and math.isfinite(v):
            out[k] = v
        elif isinstance(v, str):
            out[k] = v[:CONFIG_TEXT]
    return out


def publish(key: str, summary: dict) -> bool:
    cw = _context.worker()
    if cw is None:
        return False
    try:
        from strato.runtime.protocol import gcs_pb2
        cw.run_sync(cw.gcs.call("KVPut", gcs_pb2.KVPutRequest(
            namespace=KV_NAMESPACE, key=key.encode(), value=json.dumps(summary, default=repr).encode(),
            overwrite=True)), timeout=5)
        return True
    except Exception as exc:           # the run goes on without its summary
        logger.debug("publishing the tune run summary failed: %s", exc)
        return False
