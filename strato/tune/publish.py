"""A run's summary in the GCS KV (namespace "tune"), for the state API's list_tune_runs and the lab.

    driver (controller, <= once a second and at the end)
        --KVPut(namespace="tune", key=<name>:<uid>, JSON summary)--> GCS
    strato.util.state.list_tune_runs() --GET /api/strato/tune_runs--> the GCS reads namespace "tune"
"""
from __future__ import annotations

import json
import logging

from strato import _context

KV_NAMESPACE = "tune"
logger = logging.getLogger(__name__)


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
