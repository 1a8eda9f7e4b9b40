"""The client side of the lease protocol, one routine for every asker (owners' task submitters and
the GCS's actor manager).

    ask the home raylet  --GRANTED-->     done: push to the leased worker
          |  ^            --SPILLBACK-->   ask the raylet named, grant_or_reject (no second spill)
          |  |            --REJECTED-->    it filled up meanwhile: home again, after 10 ms
          |  +------------ INFEASIBLE -->  no node can ever fit it: say so, home again after 1 s
          |               UNSCHEDULABLE --> it can never run as asked (dead affinity node, removed
          |                                 placement group): done, the caller fails it
          +-- a failed call: home again after 0.5 s

`after_reply` is the pure decision (unit-tested); `follow` is the loop around
the gRPC calls, and stops when `wanted()` turns false.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, NamedTuple

from strato.runtime.protocol import raylet_pb2

logger = logging.getLogger(__name__)
Reply = raylet_pb2.RequestWorkerLeaseReply
INFEASIBLE_RETRY_S = 1.0
REJECTED_RETRY_S = 0.01
FAILED_CALL_RETRY_S = 0.5


class LeaseStep(NamedTuple):
    granted: bool                   # done: granted, or UNSCHEDULABLE (the caller reads reply.status)
    go_to: str = ""                 # a raylet address to ask next; "" = the home raylet
    delay_s: float = 0.0
    grant_or_reject: bool = False   # the next raylet must not spill back again


def after_reply(reply) -> LeaseStep:
    """What to do after a RequestWorkerLease reply."""
    if reply.status in (Reply.GRANTED, Reply.UNSCHEDULABLE):
        return LeaseStep(True)
    if reply.status == Reply.SPILLBACK:
        return LeaseStep(False, f"{reply.spill_host}:{reply.spill_port}", 0.0, True)
    if reply.status == Reply.INFEASIBLE:
        return LeaseStep(False, "", INFEASIBLE_RETRY_S)
    return LeaseStep(False, "", REJECTED_RETRY_S)       # REJECTED


async def follow(req, *, home: Callable[[], object], raylet_at: Callable[[str], object],
                 wanted: Callable[[], bool], on_infeasible: Callable[[str], None], what: str,
                 sleep: Callable[[float], Awaitable] = asyncio.sleep):
    """Ask raylets for a worker lease until one is granted: (reply, raylet client), or None once not
    `wanted()`. `home()` gives the raylet to start from (None: not known yet, wait). A reply with
    status UNSCHEDULABLE also ends the loop: the caller fails what it asked for, with reply.message."""
    raylet = home()
    failures = 0
    while wanted():
        if raylet is None:
            await sleep(FAILED_CALL_RETRY_S)
            raylet = home()
            continue
        try:
            reply = await raylet.call("RequestWorkerLease", req, timeout=None)
        except Exception as exc:
            if not wanted():
                return None
            failures += 1       # warn once: a dead node keeps failing until the GCS declares it dead
            (logger.warning if failures == 1 else logger.debug)(
                "%s: lease request to %s failed: %s", what, getattr(raylet, "address", raylet), exc)
            was_home = raylet is home()
            raylet, req.grant_or_reject = home(), False
            if was_home:
                await sleep(FAILED_CALL_RETRY_S)
            continue
        step = after_reply(reply)
        if step.granted:
            return reply, raylet
        if reply.status == Reply.INFEASIBLE:
            on_infeasible(reply.message)
        if step.delay_s:
            await sleep(step.delay_s)
        raylet = raylet_at(step.go_to) if step.go_to else home()
        req.grant_or_reject = step.grant_or_reject
    return None
