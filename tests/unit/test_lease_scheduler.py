"""The raylet's lease scheduler: events in, instructions out, no processes."""
from strato.runtime.raylet.lease_scheduler import (
    Grant, Infeasible, KillWorker, LeaseRequest, LeaseScheduler, Reject, Spillback, StartWorkers, WorkerState)
from strato.runtime.raylet.policy import NodeView

LOCAL, OTHER = b"L" * 16, b"O" * 16


def sched(cpus=2, **kw):
    return LeaseScheduler(LOCAL, {"CPU": float(cpus)}, pool_size=cpus, **kw)


def req(i, **resources):
    return LeaseRequest(request_id=bytes([i]), resources=resources or {"CPU": 1.0}, name="f")


def ready_worker(s, wid, now=0.0):
    s.worker_starting(wid, pid=100 + wid[0])
    return s.worker_registered(wid, "127.0.0.1", 9000 + wid[0], now)


def test_request_without_workers_asks_for_one():
    s = sched()
    assert s.request_lease(req(1)) == [StartWorkers(1)]
    out = ready_worker(s, b"\x01")
    assert len(out) == 1 and isinstance(out[0], Grant) and out[0].worker.worker_id == b"\x01"
    assert s.available["CPU"] == 1.0


def test_grants_take_resources_and_queue_beyond_capacity():
    s = sched(cpus=1)
    ready_worker(s, b"\x01")
    ready_worker(s, b"\x02")
    g = s.request_lease(req(1))
    assert isinstance(g[0], Grant)
    assert s.request_lease(req(2)) == []          # no CPU left: waits, no new worker
    assert len(s.queue) == 1
    out = s.return_worker(g[0].worker.worker_id, g[0].lease_id, now=1.0)
    assert isinstance(out[0], Grant) and out[0].request.request_id == bytes([2])


def test_workers_started_only_for_requests_that_fit():
    s = sched(cpus=2)
    out = []
    for i in range(5):
        out += s.request_lease(req(i))
    assert sum(i.count for i in out if isinstance(i, StartWorkers)) == 2


def test_stale_lease_return_is_ignored():
    s = sched()
    ready_worker(s, b"\x01")
    g = s.request_lease(req(1))[0]
    assert s.return_worker(b"\x01", b"bogus", now=0) == []
    assert s.workers[b"\x01"].state is WorkerState.LEASED


def test_worker_exit_frees_its_lease():
    s = sched(cpus=1)
    ready_worker(s, b"\x01")
    s.request_lease(req(1))
    assert s.available["CPU"] == 0
    s.worker_exited(b"\x01")
    assert s.available["CPU"] == 1.0 and b"\x01" not in s.workers


def test_blocked_worker_lends_its_cpu():
    s = sched(cpus=1)
    ready_worker(s, b"\x01")
    ready_worker(s, b"\x02")
    first = s.request_lease(req(1))[0].worker.worker_id
    assert s.request_lease(req(2)) == []
    out = s.worker_blocked(first, True)
    assert isinstance(out[0], Grant) and out[0].worker.worker_id != first
    s.worker_blocked(first, False)
    assert s.available["CPU"] == -1.0                # oversubscribed until one finishes


def test_blocked_worker_exit_does_not_return_cpu_twice():
    s = sched(cpus=1)
    ready_worker(s, b"\x01")
    s.request_lease(req(1))
    s.worker_blocked(b"\x01", True)
    assert s.available["CPU"] == 1.0
    s.worker_exited(b"\x01")
    assert s.available["CPU"] == 1.0


def test_spillback_to_node_with_room():
    s = sched(cpus=1)
    ready_worker(s, b"\x01")
    s.request_lease(req(1))
    s.update_view({OTHER: NodeView(OTHER, {"CPU": 2.0}, {"CPU": 2.0})})
    out = s.request_lease(req(2))
    assert out == [Spillback(req(2), OTHER)]


def test_grant_or_reject_rejects_instead_of_waiting():
    s = sched(cpus=1)
    ready_worker(s, b"\x01")
    s.request_lease(req(1))
    r = req(2)
    r.grant_or_reject = True
    assert s.request_lease(r) == [Reject(r)]


def test_infeasible_request_is_reported_with_the_missing_resource():
    s = sched()
    out = s.request_lease(req(1, CPU=1.0, tpu=1.0))
    assert len(out) == 1 and isinstance(out[0], Infeasible)
    assert "tpu" in out[0].message and not s.queue


def test_idle_extra_workers_are_reaped_after_timeout():
    s = sched(cpus=1, idle_timeout_s=5)
    ready_worker(s, b"\x01", now=0)
    ready_worker(s, b"\x02", now=0)
    assert s.tick(now=1) == []
    out = s.tick(now=10)
    assert len(out) == 1 and isinstance(out[0], KillWorker)
    assert len(s.workers) == 1


def test_owner_death_kills_its_leased_workers():
    s = sched()
    ready_worker(s, b"\x01")
    r = req(1)
    r.owner_pid, r.owner_host = 4242, "127.0.0.1"
    s.request_lease(r)
    out = s.owner_died(4242, "127.0.0.1")
    assert [k.worker_id for k in out] == [b"\x01"]


def test_an_owner_gone_on_any_node_ends_the_workers_it_leased_here_and_only_those():
    from strato.runtime.raylet.lease_scheduler import ACTOR_OWNER
    s = sched(cpus=3)
    for w in (b"\x01", b"\x02", b"\x03", b"\x04"):
        ready_worker(s, w)
    for i, owner in ((1, b"dead-owner"), (2, b"live-owner"), (3, ACTOR_OWNER)):
        r = req(i)
        r.owner_id = owner
        assert isinstance(s.request_lease(r)[0], Grant)
    leased_by = {w.owner_id: w.worker_id for w in s.workers.values() if w.state is WorkerState.LEASED}
    out = s.owner_gone(b"dead-owner")
    assert out == [KillWorker(leased_by[b"dead-owner"], out[0].reason)] and "is gone" in out[0].reason
    assert s.owner_gone(b"live-owner-2") == [] and s.owner_gone(b"") == []
    assert s.owner_gone(ACTOR_OWNER) == []          # the GCS's actor leases end with their actors, not so
    # The killed worker's exit is what frees its CPU (as for any exit), and the next request runs.
    s.worker_exited(leased_by[b"dead-owner"])
    assert s.available["CPU"] == 1.0


def test_a_dead_node_ends_the_leases_its_owners_held_here():
    from strato.runtime.raylet.lease_scheduler import ACTOR_OWNER
    s = sched(cpus=3)
    for w in (b"\x01", b"\x02", b"\x03"):
        ready_worker(s, w)
    for i, (owner, node) in enumerate(((b"w1", OTHER), (b"w2", b"N" * 16), (ACTOR_OWNER, OTHER)), start=1):
        r = req(i)
        r.owner_id, r.owner_node = owner, node
        assert isinstance(s.request_lease(r)[0], Grant)
    by_owner = {w.owner_id: w.worker_id for w in s.workers.values() if w.state is WorkerState.LEASED}
    assert [k.worker_id for k in s.node_gone(OTHER)] == [by_owner[b"w1"]]     # not the GCS's actor lease
    assert s.node_gone(LOCAL) == [] and s.node_gone(b"") == []                  # never this node's own


def test_placement_resources_must_fit_but_only_resources_are_held():
    s = sched(cpus=1)
    ready_worker(s, b"\x01")
    ready_worker(s, b"\x02")
    r = LeaseRequest(request_id=b"a", resources={}, placement={"CPU": 1.0})
    out = s.request_lease(r)
    assert isinstance(out[0], Grant) and s.available["CPU"] == 1.0
    t = LeaseRequest(request_id=b"b", resources={"CPU": 1.0})
    assert isinstance(s.request_lease(t)[0], Grant) and s.available["CPU"] == 0.0
    # Nothing is free now: an actor needing one CPU to place must wait.
    assert s.request_lease(LeaseRequest(request_id=b"c", resources={}, placement={"CPU": 1.0})) == []


def test_a_worker_returned_as_faulty_is_never_granted_again():
    s = sched(cpus=1)
    ready_worker(s, b"\x01")
    g = s.request_lease(req(1))[0]
    out = s.return_worker(b"\x01", g.lease_id, now=1.0, disconnect=True)
    assert KillWorker(b"\x01", "returned as faulty") in out
    assert b"\x01" not in s.workers and s.available["CPU"] == 1.0
    out = s.request_lease(req(2))
    assert not any(isinstance(i, Grant) for i in out) and StartWorkers(1) in out


def test_an_actor_taking_an_idle_worker_starts_a_replacement_up_to_the_pool_size():
    from strato.runtime.raylet.lease_scheduler import ACTOR_OWNER
    s = sched(cpus=2)
    ready_worker(s, b"\x01")
    ready_worker(s, b"\x02")
    actor = LeaseRequest(request_id=b"a", resources={"CPU": 1.0}, owner_id=ACTOR_OWNER, name="Trial")
    out = s.request_lease(actor)
    assert isinstance(out[0], Grant) and StartWorkers(1) in out      # the actor keeps its worker: refill
    task = LeaseRequest(request_id=b"t", resources={"CPU": 1.0}, owner_id=b"w" * 16, name="f")
    out = s.request_lease(task)
    assert isinstance(out[0], Grant) and not any(isinstance(i, StartWorkers) for i in out)   # a task gives it back
    # the pool is full with one idle-or-starting worker per CPU: no refill beyond it
    s2 = sched(cpus=1)
    ready_worker(s2, b"\x01")
    ready_worker(s2, b"\x02")
    out = s2.request_lease(LeaseRequest(request_id=b"b", resources={"CPU": 1.0}, owner_id=ACTOR_OWNER))
    assert isinstance(out[0], Grant) and not any(isinstance(i, StartWorkers) for i in out)


def test_no_warm_workers_for_cpus_that_actors_hold_but_one_for_a_cpu_less_actor():
    """Two training actors take both CPUs: the one idle worker left is enough (another process starting
    would only take CPU from them); a CPU-less actor taking that one gets a replacement."""
    from strato.runtime.raylet.lease_scheduler import ACTOR_OWNER
    s = sched(cpus=2)
    for wid in (b"\x01", b"\x02", b"\x03"):
        ready_worker(s, wid)
    for rid in (b"a", b"b"):
        out = s.request_lease(LeaseRequest(request_id=rid, resources={"CPU": 1.0}, owner_id=ACTOR_OWNER))
        assert isinstance(out[0], Grant)
    assert not any(isinstance(i, StartWorkers) for i in out)           # no CPU free: one idle worker is enough
    out = s.request_lease(LeaseRequest(request_id=b"q", resources={}, owner_id=ACTOR_OWNER, name="Queue"))
    assert isinstance(out[0], Grant) and StartWorkers(1) in out          # the last idle one taken: refill one
    # with CPUs free again (a trial's actor ended), a dedication refills up to one per free CPU plus one
    s2 = sched(cpus=4)
    ready_worker(s2, b"\x01")
    out = s2.request_lease(LeaseRequest(request_id=b"a", resources={"CPU": 1.0}, owner_id=ACTOR_OWNER))
    assert isinstance(out[0], Grant) and StartWorkers(1) in out          # one per dedicated worker at most


def test_an_actor_worker_that_goes_away_is_replaced_while_its_cpu_is_free():
    """Two trial actors hold both CPUs with one idle worker left; when both actors end, the pool tops up
    again to one warm worker per free CPU (not beyond pool_size), so the next two trials start warm."""
    from strato.runtime.raylet.lease_scheduler import ACTOR_OWNER
    s = sched(cpus=2)
    for wid in (b"\x01", b"\x02", b"\x03"):
        ready_worker(s, wid)
    grants = [s.request_lease(LeaseRequest(request_id=rid, resources={"CPU": 1.0}, owner_id=ACTOR_OWNER))[0]
              for rid in (b"a", b"b")]
    first, second = (g.worker.worker_id for g in grants)
    out = s.worker_exited(first)                    # the first trial's actor is killed
    assert out == [StartWorkers(1)] and s.available["CPU"] == 1.0
    s.worker_starting(b"\x04", pid=104)
    out = s.return_worker(second, grants[1].lease_id, now=1.0, disconnect=True)
    assert KillWorker(second, "returned as faulty") in out
    assert not any(isinstance(i, StartWorkers) for i in out)      # idle + starting already fill pool_size=2
    # a task's worker that exits is not an actor's: the pool refills only on demand
    t = sched(cpus=2)
    ready_worker(t, b"\x01")
    g = t.request_lease(LeaseRequest(request_id=b"t", resources={"CPU": 1.0}, owner_id=b"w" * 16))[0]
    assert t.worker_exited(g.worker.worker_id) == []
