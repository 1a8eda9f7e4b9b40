"""A raylet's placement-group bundles (raylet/bundles.py) and the lease scheduler's use of them, no processes."""
from strato.runtime.raylet import bundles as bd
from strato.runtime.raylet.lease_scheduler import (
    Grant, Infeasible, KillWorker, LeaseRequest, LeaseScheduler, LookUp, Spillback, Unschedulable)
from strato.runtime.raylet.policy import NodeView

LOCAL, OTHER, GONE = b"L" * 16, b"O" * 16, b"G" * 16
PG = b"\x01" * 16
H = PG.hex()


def sched(cpus=2):
    return LeaseScheduler(LOCAL, {"CPU": float(cpus)}, pool_size=cpus)


def ready_worker(s, wid):
    s.worker_starting(wid, pid=100 + wid[0])
    return s.worker_registered(wid, "127.0.0.1", 9000 + wid[0], 0.0)


def pg_req(i, index=-1, cpus=1.0, **kw):
    return LeaseRequest(request_id=bytes([i]), resources=bd.bundle_request({"CPU": cpus}, PG, index), name="f",
                        placement_group=PG, bundle_index=index, **kw)


# ------------------------------------------------------------ names
def test_bundle_request_names_the_bundle_and_the_group():
    assert bd.bundle_request({"CPU": 1}, PG, 0) == {
        f"CPU_group_{H}": 1.0, f"CPU_group_0_{H}": 1.0, f"bundle_group_{H}": 0.001, f"bundle_group_0_{H}": 0.001}
    assert bd.bundle_request({"CPU": 0}, PG, -1) == {f"bundle_group_{H}": 0.001}


def test_is_cpu_covers_bundle_cpus():
    assert bd.is_cpu("CPU") and bd.is_cpu(f"CPU_group_0_{H}") and not bd.is_cpu("GPU")


# ---------------------------------------------------- prepare/commit
def test_prepare_is_all_or_nothing():
    table, avail = bd.BundleTable(), {"CPU": 2.0}
    why = table.prepare([(PG, 0, {"CPU": 1}), (PG, 1, {"CPU": 2})], avail)
    assert "cannot reserve {'CPU': 3.0}" in why
    assert avail == {"CPU": 2.0} and not table.bundles
    assert table.prepare([(PG, 0, {"CPU": 1}), (PG, 1, {"CPU": 1})], avail) == ""
    assert avail == {"CPU": 0.0}
    assert table.prepare([(PG, 0, {"CPU": 1})], avail) == ""     # a retried prepare takes nothing twice


def test_commit_adds_the_bundle_resources_and_return_gives_everything_back():
    table, total, avail = bd.BundleTable(), {"CPU": 2.0}, {"CPU": 2.0}
    table.prepare([(PG, 0, {"CPU": 1}), (PG, 1, {"CPU": 1})], avail)
    assert table.commit(PG, [0, 1], total, avail)
    assert total[f"CPU_group_{H}"] == 2.0 and total[f"CPU_group_1_{H}"] == 1.0
    assert avail[f"bundle_group_{H}"] == 2000.0
    assert table.give_back(PG, None, total, avail) == [0, 1]
    assert total == {"CPU": 2.0} and avail == {"CPU": 2.0}


def test_commit_of_an_unprepared_bundle_says_so():
    assert not bd.BundleTable().commit(PG, [0], {}, {})


# ------------------------------------------------------ the scheduler
def test_a_lease_in_a_bundle_runs_on_its_resources_and_removal_kills_its_worker():
    s = sched(cpus=2)
    assert s.prepare_bundles([(PG, 0, {"CPU": 1})]) == ""
    s.commit_bundles(PG, [0])
    ready_worker(s, b"\x01")
    out = s.request_lease(pg_req(1, index=0))
    assert isinstance(out[0], Grant)
    assert s.available["CPU"] == 1.0 and s.available[f"CPU_group_0_{H}"] == 0.0
    out = s.return_bundles(PG, None)
    assert KillWorker(b"\x01", f"its placement group {H[:12]} was removed") in out
    assert s.available["CPU"] == 2.0 and not any("_group_" in k for k in s.total)
    s.worker_exited(b"\x01")                            # its lease's bundle share does not come back
    assert s.available == {"CPU": 2.0}


def test_a_blocked_worker_gives_back_its_bundle_cpu():
    s = sched(cpus=1)
    s.prepare_bundles([(PG, 0, {"CPU": 1})])
    s.commit_bundles(PG, [0])
    ready_worker(s, b"\x01")
    s.request_lease(pg_req(1, index=0))
    s.worker_blocked(b"\x01", True)
    assert s.available[f"CPU_group_0_{H}"] == 1.0
    s.worker_blocked(b"\x01", False)
    assert s.available[f"CPU_group_0_{H}"] == 0.0


def test_a_group_not_in_the_view_is_looked_up_then_spilled_to_its_node():
    s = sched()
    s.update_view({OTHER: NodeView(OTHER, {"CPU": 1}, {"CPU": 1})})
    out = s.request_lease(pg_req(1))
    assert out == [LookUp(s.queue[0])]
    assert s.request_lease(pg_req(2))[0] == LookUp(s.queue[1])
    assert s.looked_up(bytes([1]), OTHER)[0] == Spillback(pg_req(1, looked_up=True), OTHER)
    out = s.looked_up(bytes([2]), None, "its placement group was removed")
    assert out[0] == Unschedulable(pg_req(2, looked_up=True), "its placement group was removed")
    assert not s.queue


def test_a_request_bigger_than_its_local_bundle_is_unschedulable():
    s = sched(cpus=4)
    s.prepare_bundles([(PG, 0, {"CPU": 1})])
    s.commit_bundles(PG, [0])
    out = s.request_lease(pg_req(1, index=0, cpus=2.0))
    assert isinstance(out[0], LookUp)
    out = s.looked_up(bytes([1]), LOCAL)
    assert isinstance(out[0], Unschedulable) and "more than its placement group's bundle holds" in out[0].message


def test_hard_affinity_to_a_dead_node_is_unschedulable_and_unknown_is_looked_up_first():
    s = sched()
    s.update_view({OTHER: NodeView(OTHER, {"CPU": 1}, {"CPU": 1}, alive=False)})
    out = s.request_lease(LeaseRequest(bytes([1]), {"CPU": 1.0}, affinity=OTHER, name="f"))
    assert isinstance(out[0], Unschedulable) and "is dead" in out[0].message
    out = s.request_lease(LeaseRequest(bytes([2]), {"CPU": 1.0}, affinity=GONE, name="f"))
    assert isinstance(out[0], LookUp)
    out = s.looked_up(bytes([2]), None)                   # the refreshed view still lacks it
    assert isinstance(out[0], Unschedulable) and "unknown to the cluster" in out[0].message


def test_soft_affinity_to_a_dead_node_runs_elsewhere_and_a_too_big_request_stays_infeasible():
    s = sched()
    s.update_view({OTHER: NodeView(OTHER, {"CPU": 1}, {"CPU": 1}, alive=False)})
    ready_worker(s, b"\x01")
    out = s.request_lease(LeaseRequest(bytes([1]), {"CPU": 1.0}, affinity=OTHER, affinity_soft=True, name="f"))
    assert isinstance(out[0], Grant)
    out = s.request_lease(LeaseRequest(bytes([2]), {"CPU": 8.0}, name="f"))
    assert isinstance(out[0], Infeasible)


# ------------------------------------------------- SPREAD actors' first node
def test_spread_actors_take_turns_over_the_alive_nodes():
    from types import SimpleNamespace as N

    from strato.runtime.gcs.actor_state import creation_node
    nodes = [N(node_id=b"a", alive=True), N(node_id=b"b", alive=False), N(node_id=b"c", alive=True)]
    assert [creation_node(nodes, b"a", turn).node_id for turn in range(4)] == [b"a", b"c", b"a", b"c"]
    assert creation_node(nodes, b"c").node_id == b"c"           # DEFAULT: the owner's node
    assert creation_node([N(node_id=b"b", alive=False)], b"b", 0) is None


# ------------------------------------------------- the GCS's table of groups
def test_the_gcs_keeps_a_bounded_number_of_removed_groups(monkeypatch):
    import asyncio
    from types import SimpleNamespace as N

    from strato.runtime.gcs import placement_group_manager as pgm
    from strato.runtime.gcs.storage import InMemoryStoreClient
    from strato.runtime.protocol import gcs_pb2

    monkeypatch.setattr(pgm, "MAX_REMOVED_KEPT", 2)

    async def removed_ones():
        gcs = N(store=InMemoryStoreClient(), nodes={}, actors=N(placement_group_removed=_no_actors))
        manager = pgm.PlacementGroupManager(gcs, "token")
        for i in range(4):
            manager.create(gcs_pb2.PlacementGroupInfo(placement_group_id=bytes([i]) * 16, strategy="PACK",
                                                      bundles=[gcs_pb2.Bundle(resources={"CPU": 1})]))
            await manager.remove(bytes([i]) * 16)
        await asyncio.sleep(0)
        return sorted(k[0] for k in manager.groups), sorted(k[0] for k, _ in gcs.store.items(pgm.TABLE))
    assert asyncio.run(removed_ones()) == ([2, 3], [2, 3])


async def _no_actors(pg_id):
    return None


def test_hard_affinity_to_a_node_too_small_for_the_request_is_unschedulable():
    s = sched(cpus=1)
    s.update_view({OTHER: NodeView(OTHER, {"CPU": 1}, {"CPU": 1})})
    out = s.request_lease(LeaseRequest(bytes([1]), {"CPU": 2.0}, affinity=OTHER, name="f"))
    assert isinstance(out[0], Unschedulable) and "can never fit {'CPU': 2.0}" in out[0].message


def test_a_lease_in_a_bundle_shows_its_resources_under_their_own_names():
    from strato.runtime.raylet.bundles import bundle_request, plain_resources
    pg = bytes(range(16))
    assert plain_resources(bundle_request({"CPU": 1.0, "memory": 2.0}, pg, 0)) == {"CPU": 1.0, "memory": 2.0}
    assert plain_resources(bundle_request({"CPU": 2.0}, pg, -1)) == {"CPU": 2.0}
    assert plain_resources({"CPU": 0.5, "GPU": 1.0}) == {"CPU": 0.5, "GPU": 1.0}
