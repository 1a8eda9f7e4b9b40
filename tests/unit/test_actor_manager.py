"""The GCS actor manager's decisions (gcs/actor_state.py: where to create, restart or not, what dies with a
node or a job), and the manager (gcs/actor_manager.py) applying them to its table. No processes: the manager's
creation coroutine is replaced by a recorder, and no worker or raylet is reached."""
import asyncio
from types import SimpleNamespace

import pytest

from strato.runtime.gcs.actor_manager import ActorManager
from strato.runtime.gcs.actor_state import (
    ActorState, AfterDeath, after_creation, after_death, creation_node, dies_with_job, dies_with_node,
    lost_worker_cause)
from strato.runtime.protocol import gcs_pb2

N1, N2, N3 = b"\x01" * 16, b"\x02" * 16, b"\x03" * 16
JOB, OTHER_JOB = b"\0\0\0\1", b"\0\0\0\2"
S = ActorState


def node(node_id, alive=True):
    return SimpleNamespace(node_id=node_id, alive=alive)


# ------------------------------------------------------------------ where to create
def test_the_owners_node_is_asked_first_while_it_is_alive():
    assert creation_node([node(N1), node(N2), node(N3)], N2).node_id == N2


def test_without_the_owners_node_the_first_alive_node_is_asked():
    assert creation_node([node(N1, alive=False), node(N2), node(N3)], N1).node_id == N2    # owner's node dead
    assert creation_node([node(N3), node(N2)], b"\x09" * 16).node_id == N3                # owner's node unknown
    assert creation_node([node(N1, alive=False), node(N2, alive=False)], N1) is None
    assert creation_node([], N1) is None


# ------------------------------------------------------------------ after the constructor
def test_the_constructors_reply_decides_alive_or_dead():
    assert after_creation(("ok",)) == (S.ALIVE, "")
    assert after_creation(("error", b"blob", "ValueError: bad seed")) == \
        (S.DEAD, "the constructor raised: ValueError: bad seed")


# ------------------------------------------------------------------ after a death
def death(state=S.ALIVE, current=True, killed=False, num_restarts=0, max_restarts=0, no_restart=False):
    return after_death(state, current=current, killed=killed, num_restarts=num_restarts,
                       max_restarts=max_restarts, no_restart=no_restart, cause="it crashed")


@pytest.mark.parametrize("kw,expected", [
    ({"max_restarts": 1}, (AfterDeath.RESTART, "it crashed")),
    ({"max_restarts": 3, "num_restarts": 2}, (AfterDeath.RESTART, "it crashed")),
    ({"max_restarts": -1, "num_restarts": 1000}, (AfterDeath.RESTART, "it crashed")),          # unlimited
    ({"state": S.PENDING_CREATION, "max_restarts": 1}, (AfterDeath.RESTART, "it crashed")),   # died being made
    ({"max_restarts": 0}, (AfterDeath.DEAD, "it crashed")),                                   # never restarts
    ({"max_restarts": 1, "num_restarts": 1},
     (AfterDeath.DEAD, "it crashed (restarted 1 time(s), max_restarts=1)")),                  # budget spent
    ({"max_restarts": 5, "killed": True}, (AfterDeath.DEAD, "it crashed")),                   # kill(no_restart=True)
    ({"max_restarts": 5, "num_restarts": 2, "no_restart": True},
     (AfterDeath.DEAD, "it crashed (restarted 2 time(s), max_restarts=5)")),
    ({"max_restarts": 5, "current": False}, (AfterDeath.IGNORE, "")),                        # an older incarnation
    ({"max_restarts": 5, "state": S.RESTARTING}, (AfterDeath.IGNORE, "")),
    ({"max_restarts": 5, "state": S.DEAD}, (AfterDeath.IGNORE, "")),
    ({"max_restarts": 5, "state": S.DEPENDENCIES_UNREADY}, (AfterDeath.IGNORE, "")),
])
def test_a_death_restarts_the_actor_while_its_budget_allows(kw, expected):
    assert death(**kw) == expected


# ------------------------------------------------------------------ what dies along
@pytest.mark.parametrize("state,on,expected", [
    (S.ALIVE, N1, True), (S.PENDING_CREATION, N1, True),
    (S.ALIVE, N2, False),                                                     # elsewhere
    (S.RESTARTING, N1, False), (S.DEAD, N1, False), (S.DEPENDENCIES_UNREADY, N1, False),
])
def test_a_dead_node_takes_the_actors_alive_or_being_created_there(state, on, expected):
    assert dies_with_node(state, on, N1) is expected


@pytest.mark.parametrize("state,job,detached,expected", [
    (S.ALIVE, JOB, False, True), (S.DEPENDENCIES_UNREADY, JOB, False, True), (S.RESTARTING, JOB, False, True),
    (S.ALIVE, JOB, True, False),                                              # detached outlives its job
    (S.ALIVE, OTHER_JOB, False, False),
    (S.DEAD, JOB, False, False),
])
def test_a_finished_job_takes_its_own_non_detached_actors(state, job, detached, expected):
    assert dies_with_job(state, job, detached, JOB) is expected


def test_a_lost_connection_blames_the_node_only_when_its_raylet_is_silent():
    assert lost_worker_cause(True, N1) == "its worker process died unexpectedly"
    assert lost_worker_cause(False, N1) == f"its node {N1.hex()} died (its raylet stopped answering)"


# ------------------------------------------------------------------ the manager applies them
class Manager(ActorManager):
    """The real table and transitions; creation only recorded."""

    def __init__(self):
        super().__init__(SimpleNamespace(nodes={}), "token", "127.0.0.1")
        self.created = []

    async def _create(self, entry):
        entry.incarnation += 1
        self.created.append(entry.info.actor_id)


def alive_actor(am, actor_id, *, max_restarts=0, node_id=N1, job_id=JOB, detached=False, name=""):
    reply = am.register(gcs_pb2.RegisterActorRequest(info=gcs_pb2.ActorInfo(
        actor_id=actor_id, class_name="Counter", name=name, namespace="ns", max_restarts=max_restarts,
        job_id=job_id, detached=detached)))
    assert not reply.error
    entry = am.actors[actor_id]
    entry.info.node_id = node_id
    am._set_state(entry, S.PENDING_CREATION)
    am._set_state(entry, S.ALIVE)
    return entry


def run(coro):
    async def main():
        result = await coro()
        await asyncio.sleep(0)         # let scheduled creations run
        return result
    return asyncio.run(main())


def test_a_node_death_restarts_actors_with_budget_and_buries_the_others():
    async def main():
        am = Manager()
        a = alive_actor(am, b"a" * 16, max_restarts=1, name="a")
        b = alive_actor(am, b"b" * 16, max_restarts=0, name="b")
        c = alive_actor(am, b"c" * 16, max_restarts=1, node_id=N2)
        am.node_died(N1)
        return am, a, b, c
    am, a, b, c = run(main)
    assert a.state is S.PENDING_CREATION and a.info.num_restarts == 1 and am.created == [a.info.actor_id]
    assert a.info.death_cause == f"its node {N1.hex()[:12]} died"
    assert b.state is S.DEAD and b.info.death_cause == f"its node {N1.hex()[:12]} died"
    assert ("ns", "b") not in am.named and ("ns", "a") in am.named          # a dead actor's name is free again
    assert c.state is S.ALIVE


def test_a_report_about_an_earlier_incarnation_is_ignored():
    async def main():
        am = Manager()
        a = alive_actor(am, b"a" * 16, max_restarts=5)
        a.incarnation = 2
        am._on_death(a.info.actor_id, 1, "old news")
        return a
    a = run(main)
    assert a.state is S.ALIVE and a.info.num_restarts == 0


def test_out_of_restarts_the_cause_says_how_many_there_were():
    async def main():
        am = Manager()
        a = alive_actor(am, b"a" * 16, max_restarts=1)
        am._on_death(a.info.actor_id, a.incarnation, "it crashed")
        await asyncio.sleep(0)
        am._set_state(a, S.ALIVE)
        am._on_death(a.info.actor_id, a.incarnation, "it crashed again")
        return a
    a = run(main)
    assert a.state is S.DEAD and a.info.death_cause == "it crashed again (restarted 1 time(s), max_restarts=1)"


def test_kill_with_no_restart_is_final_and_kill_without_restarts_it():
    async def main():
        am = Manager()
        a = alive_actor(am, b"a" * 16, max_restarts=3)
        b = alive_actor(am, b"b" * 16, max_restarts=3)
        await am.kill(a.info.actor_id, no_restart=True)
        await am.kill(b.info.actor_id, no_restart=False)
        return am, a, b
    am, a, b = run(main)
    assert a.state is S.DEAD and a.info.death_cause == "it was killed with strato.kill()"
    assert b.state is S.PENDING_CREATION and b.info.num_restarts == 1 and am.created == [b.info.actor_id]


def test_a_finished_job_kills_its_actors_but_not_detached_ones_or_other_jobs():
    async def main():
        am = Manager()
        mine = alive_actor(am, b"a" * 16, max_restarts=-1)
        detached = alive_actor(am, b"b" * 16, detached=True)
        other = alive_actor(am, b"c" * 16, job_id=OTHER_JOB)
        await am.job_finished(JOB)
        return mine, detached, other
    mine, detached, other = run(main)
    assert mine.state is S.DEAD and "its driver (the job that created it) exited" in mine.info.death_cause
    assert detached.state is S.ALIVE and other.state is S.ALIVE


def test_a_taken_name_is_refused_unless_get_if_exists():
    am = Manager()
    first = alive_actor(am, b"a" * 16, name="counter")
    info = gcs_pb2.ActorInfo(actor_id=b"b" * 16, name="counter", namespace="ns")
    refused = am.register(gcs_pb2.RegisterActorRequest(info=info))
    assert "already taken in namespace 'ns'" in refused.error and b"b" * 16 not in am.actors
    reused = am.register(gcs_pb2.RegisterActorRequest(info=info, get_if_exists=True))
    assert reused.existed and reused.info.actor_id == first.info.actor_id
