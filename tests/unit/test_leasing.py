"""The lease-following routine (runtime/leasing.py) shared by task submitters and the GCS's actor manager."""
import asyncio

import pytest

from strato.exceptions import ClusterConnectionError
from strato.runtime import leasing
from strato.runtime.protocol import raylet_pb2

Reply = raylet_pb2.RequestWorkerLeaseReply


def reply(status, host="", port=0, message=""):
    return Reply(status=status, spill_host=host, spill_port=port, message=message)


def test_decisions_for_each_reply():
    assert leasing.after_reply(reply(Reply.GRANTED)).granted
    assert leasing.after_reply(reply(Reply.SPILLBACK, "10.0.0.2", 7000)) == \
        leasing.LeaseStep(False, "10.0.0.2:7000", 0.0, True)
    assert leasing.after_reply(reply(Reply.INFEASIBLE)) == leasing.LeaseStep(False, "", leasing.INFEASIBLE_RETRY_S)
    assert leasing.after_reply(reply(Reply.REJECTED)) == leasing.LeaseStep(False, "", leasing.REJECTED_RETRY_S)


class Raylet:
    """Answers lease requests from a script; records what it was asked."""

    def __init__(self, address, answers):
        self.address, self.answers, self.asked = address, list(answers), []

    async def call(self, method, req, timeout=None):
        self.asked.append(req.grant_or_reject)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def run(req, home, others, wanted=lambda: True):
    slept, infeasible = [], []

    async def sleep(s):
        slept.append(s)

    result = asyncio.run(leasing.follow(req, home=lambda: home, raylet_at=others.__getitem__, wanted=wanted,
                                        on_infeasible=infeasible.append, what="test", sleep=sleep))
    return result, slept, infeasible


def test_a_spillback_is_followed_with_grant_or_reject_and_a_rejection_goes_home():
    far = Raylet("far", [reply(Reply.REJECTED)])
    home = Raylet("home", [reply(Reply.SPILLBACK, "far", 1), reply(Reply.GRANTED)])
    req = raylet_pb2.RequestWorkerLeaseRequest()
    (granted, raylet), slept, _ = run(req, home, {"far:1": far})
    assert raylet is home and granted.status == Reply.GRANTED
    assert far.asked == [True] and home.asked == [False, False]
    assert slept == [leasing.REJECTED_RETRY_S]


def test_infeasible_is_reported_and_retried_after_a_second():
    home = Raylet("home", [reply(Reply.INFEASIBLE, message="needs 64 CPUs"), reply(Reply.GRANTED)])
    (granted, _), slept, infeasible = run(raylet_pb2.RequestWorkerLeaseRequest(), home, {})
    assert infeasible == ["needs 64 CPUs"] and slept == [leasing.INFEASIBLE_RETRY_S]


def test_a_failed_call_goes_home_and_waits_only_if_home_failed():
    far = Raylet("far", [ClusterConnectionError("gone")])
    home = Raylet("home", [reply(Reply.SPILLBACK, "far", 1), ClusterConnectionError("busy"), reply(Reply.GRANTED)])
    (granted, raylet), slept, _ = run(raylet_pb2.RequestWorkerLeaseRequest(), home, {"far:1": far})
    assert raylet is home and slept == [leasing.FAILED_CALL_RETRY_S]


def test_it_stops_when_no_longer_wanted():
    home = Raylet("home", [reply(Reply.REJECTED)] * 3)
    calls = iter([True, True, False])
    result, _, _ = run(raylet_pb2.RequestWorkerLeaseRequest(), home, {}, wanted=lambda: next(calls))
    assert result is None and len(home.asked) == 2
