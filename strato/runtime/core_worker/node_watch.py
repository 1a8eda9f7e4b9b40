"""The core worker hears of dead nodes: connections to workers and actors there are given up.

A node that is cut off (a network partition) leaves its TCP connections open and
silent: nothing would ever fail the tasks in flight on it. The GCS decides when a
node is dead (missed heartbeats) and publishes it; every core worker that leases
workers or calls actors subscribes (lazily, on its first lease or actor call), and
closes its connections to that node's workers. Closing runs the usual lost-connection
paths: tasks are retried elsewhere (max_retries), actor calls wait for the restart
(max_task_retries) or fail with ActorDiedError.
"""
from __future__ import annotations

import asyncio
import logging

from strato.runtime.protocol import gcs_pb2

logger = logging.getLogger(__name__)
RESUBSCRIBE_S = 1.0


class NodeWatch:
    def __init__(self, cw):
        self.cw = cw
        self.dead: set[bytes] = set()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Loop thread; idempotent."""
        if self._task is None and not self.cw._closed:
            self._task = self.cw.loop.create_task(self._forever())

    async def _forever(self) -> None:
        while not self.cw._closed:
            try:
                async for change in self.cw.gcs.stream("SubscribeNodeChanges", gcs_pb2.Empty()):
                    node = change.node
                    if not node.alive and node.node_id not in self.dead:
                        self.dead.add(node.node_id)
                        self.node_died(node.node_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.cw._closed:
                    return
                logger.debug("node change stream ended (%s); subscribing again", exc)
            await asyncio.sleep(RESUBSCRIBE_S)

    def node_died(self, node_id: bytes) -> None:
        conns = self.cw.submitter.conns_on_node(node_id) if self.cw.submitter is not None else []
        if self.cw.actor_submitter is not None:
            conns += self.cw.actor_submitter.conns_on_node(node_id)
        if conns:
            logger.info("node %s died: giving up %d connection(s) to its workers", node_id.hex()[:12], len(conns))
        for conn in conns:
            conn.close()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
