"""Placement groups on a real three-node cluster (1 CPU per node): strategies, tasks and actors in
bundles, capture of child tasks, removal, a group pending until a node joins.

The module-scoped ``cluster`` has three 1-CPU nodes; every test removes the groups it makes, so
each starts with all three CPUs free. The pending-group test adds a fourth node and removes it.
"""
import importlib
import subprocess
import sys
import time

import pytest

import strato
from strato import exceptions
from strato._testing import wait_for
from strato.cluster_utils import Cluster
from strato.util.placement_group import (
    PlacementGroup, get_current_placement_group, get_placement_group, placement_group, placement_group_table,
    remove_placement_group)
from strato.util.scheduling_strategies import PlacementGroupSchedulingStrategy

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1)
        c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()
            yield c
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


@pytest.fixture
def groups(cluster):
    """Groups a test makes; removed afterwards, and the cluster's CPUs seen free again."""
    made = []
    yield made
    for pg in made:
        remove_placement_group(pg)
    assert wait_for(lambda: strato.available_resources().get("CPU", 0) == 3, 10), strato.available_resources()


def make(groups, bundles, strategy, **kw):
    pg = placement_group(bundles, strategy=strategy, **kw)
    groups.append(pg)
    return pg


def nodes_of(pg):
    table = placement_group_table(pg)
    return [table["bundles_to_node_id"][i] for i in range(len(table["bundles"]))]


@strato.remote(num_cpus=1)
def where():
    group = get_current_placement_group()
    return strato.get_runtime_context().get_node_id(), (group.id.hex() if group else None)


@strato.remote
class Where:
    def where(self):
        group = get_current_placement_group()
        return strato.get_runtime_context().get_node_id(), (group.id.hex() if group else None)


def test_each_strategy_places_its_bundles(groups):
    # SPREAD first, while the cluster's view is settled: it goes by the free resources it sees
    soft_spread = make(groups, [{"CPU": 0.5}] * 3, "SPREAD")
    assert soft_spread.wait(15)
    assert len(set(nodes_of(soft_spread))) == 3
    row = placement_group_table(soft_spread)
    assert row["strategy"] == "SPREAD" and row["state"] == "CREATED"
    assert row["bundles"] == {0: {"CPU": 0.5}, 1: {"CPU": 0.5}, 2: {"CPU": 0.5}}
    remove_placement_group(soft_spread)

    spread = make(groups, [{"CPU": 1}] * 3, "STRICT_SPREAD")
    assert strato.get(spread.ready(), timeout=15) == spread
    assert len(set(nodes_of(spread))) == 3
    remove_placement_group(spread)

    pack = make(groups, [{"CPU": 0.5}] * 2, "STRICT_PACK")
    assert pack.wait(15)
    assert len(set(nodes_of(pack))) == 1
    packed = make(groups, [{"CPU": 0.25}] * 2, "PACK")
    assert packed.wait(15)
    assert len(set(nodes_of(packed))) == 1
    remove_placement_group(pack)
    remove_placement_group(packed)
    too_big_for_one = make(groups, [{"CPU": 1}] * 2, "PACK")   # no 1-CPU node holds both: two nodes
    assert too_big_for_one.wait(15)
    assert len(set(nodes_of(too_big_for_one))) == 2


def test_tasks_and_actors_run_in_their_bundles(groups):
    pg = make(groups, [{"CPU": 1}] * 3, "STRICT_SPREAD")
    assert pg.wait(15)
    placed = nodes_of(pg)
    for i in range(3):
        node, group = strato.get(where.options(scheduling_strategy=PlacementGroupSchedulingStrategy(
            pg, placement_group_bundle_index=i)).remote(), timeout=20)
        assert (node, group) == (placed[i], pg.id.hex())
    actor = Where.options(num_cpus=1, scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 2)).remote()
    assert strato.get(actor.where.remote(), timeout=20) == (placed[2], pg.id.hex())
    # the deprecated options say the same
    with pytest.warns(DeprecationWarning):
        ref = where.options(placement_group=pg, placement_group_bundle_index=1).remote()
    assert strato.get(ref, timeout=20)[0] == placed[1]
    # nothing outside the group: its bundles hold every CPU
    ready, _ = strato.wait([where.remote()], timeout=1.0)
    assert ready == []
    assert strato.get(where.options(num_cpus=0).remote(), timeout=20)[1] is None


def test_child_tasks_follow_the_group_only_when_captured(groups):
    pg = make(groups, [{"CPU": 1}, {"CPU": 1}], "STRICT_SPREAD")
    assert pg.wait(15)

    @strato.remote(num_cpus=1)
    def parent():
        return where.remote()          # a ref: the parent's CPU is free again when the child runs

    for capture, expected in ((True, pg.id.hex()), (False, None)):
        strategy = PlacementGroupSchedulingStrategy(pg, 0, placement_group_capture_child_tasks=capture)
        child = strato.get(parent.options(scheduling_strategy=strategy).remote(), timeout=20)
        node, group = strato.get(child, timeout=20)
        assert group == expected
        if capture:
            assert node in nodes_of(pg)

    @strato.remote(num_cpus=0)
    class Parent:
        def start_child(self):
            return where.remote()

    strategy = PlacementGroupSchedulingStrategy(pg, 1, placement_group_capture_child_tasks=True)
    parent = Parent.options(scheduling_strategy=strategy).remote()        # an actor captures too
    node, group = strato.get(strato.get(parent.start_child.remote(), timeout=20), timeout=20)
    assert group == pg.id.hex() and node in nodes_of(pg)


def test_removal_frees_the_bundles_and_kills_the_groups_actors_and_tasks(groups):
    pg = make(groups, [{"CPU": 1}] * 3, "STRICT_SPREAD")
    assert pg.wait(15)
    actor = Where.options(num_cpus=1, scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 0)).remote()
    strato.get(actor.where.remote(), timeout=20)

    @strato.remote(num_cpus=1, max_retries=0)
    def sleeper():
        time.sleep(60)

    running = sleeper.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 1)).remote()
    assert wait_for(lambda: strato.available_resources().get(f"CPU_group_1_{pg.id.hex()}", 0) == 0, 10), strato.available_resources()   # it runs
    remove_placement_group(pg)
    assert placement_group_table(pg)["state"] == "REMOVED"
    with pytest.raises(exceptions.ActorDiedError, match="placement group .* was removed"):
        strato.get(actor.where.remote(), timeout=20)
    with pytest.raises(exceptions.WorkerCrashedError):
        strato.get(running, timeout=20)
    assert wait_for(lambda: strato.available_resources().get("CPU", 0) == 3, 10), strato.available_resources()
    assert wait_for(lambda: not any("_group_" in k for k in strato.cluster_resources()), 5), strato.cluster_resources()
    with pytest.raises(exceptions.TaskUnschedulableError, match="was removed"):
        strato.get(where.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg)).remote(), timeout=20)
    with pytest.raises(ValueError, match="removed before it was placed"):
        strato.get(pg.ready(), timeout=20)


def test_a_group_that_cannot_be_placed_waits_for_a_node_to_join(cluster, groups):
    pg = make(groups, [{"CPU": 1}] * 4, "STRICT_SPREAD")
    ready = pg.ready()
    assert not pg.wait(1.0)
    row = placement_group_table(pg)
    assert row["state"] == "PENDING" and "needs 4 nodes" in row["stats"]["pending_reason"]
    assert strato.available_resources().get("CPU", 0) == 3      # nothing reserved while pending
    node = cluster.add_node(num_cpus=1)
    try:
        assert strato.get(ready, timeout=20) == pg
        assert len(set(nodes_of(pg))) == 4
    finally:
        remove_placement_group(pg)
        groups.remove(pg)
        cluster.remove_node(node)
        assert wait_for(lambda: sum(n["Alive"] for n in strato.nodes()) == 3, 15)


def test_names_table_and_bad_input(groups):
    pg = make(groups, [{"CPU": 0.5}], "PACK", name="trainers")
    assert pg.wait(15)
    found = get_placement_group("trainers")
    assert found == pg and found.bundle_specs == [{"CPU": 0.5}]
    assert pg.id.hex() in placement_group_table()
    with pytest.raises(ValueError, match="already exists"):
        placement_group([{"CPU": 0.5}], name="trainers")
    with pytest.raises(ValueError, match="Failed to look up placement group with name: nobody"):
        get_placement_group("nobody")
    with pytest.raises(ValueError, match="Invalid placement group strategy 'PACKED'"):
        placement_group([{"CPU": 1}], strategy="PACKED")
    with pytest.raises(ValueError, match="non-empty list"):
        placement_group([])
    with pytest.raises(ValueError, match="cannot be empty or hold only zeros"):
        placement_group([{"CPU": 0}])
    with pytest.raises(ValueError, match="bundle index 3 is invalid"):
        where.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 3)).remote()
    with pytest.raises(ValueError, match="fits none of the bundles"):
        where.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, 0)).remote()   # 1 CPU > 0.5
    assert get_current_placement_group() is None                  # a driver is in no group
    assert isinstance(strato.util.placement_group, type(placement_group))   # the function, as in Ray
    module = importlib.import_module("strato.util.placement_group")     # the module stays importable
    assert module.PlacementGroup is PlacementGroup and module.placement_group is placement_group


JOB = """
import strato
from strato.util.placement_group import placement_group
strato.init(address={address!r})
scoped = placement_group([{{"CPU": 0.1}}], name="job-scoped")
kept = placement_group([{{"CPU": 0.1}}], name="kept-after-job", lifetime="detached")
assert scoped.wait(15) and kept.wait(15)
print("PLACED", flush=True)
# the driver exits without removing either
"""


def test_a_jobs_groups_end_with_it_unless_detached(cluster, groups):
    out = subprocess.run([sys.executable, "-c", JOB.format(address=cluster.address)], capture_output=True,
                         text=True, timeout=60)
    assert "PLACED" in out.stdout, out.stderr[-2000:]

    def state(name):
        return {row["name"]: row["state"] for row in placement_group_table().values()}.get(name)
    assert wait_for(lambda: state("job-scoped") == "REMOVED", 15), placement_group_table()
    assert state("kept-after-job") == "CREATED"
    kept = next(row for row in placement_group_table().values() if row["name"] == "kept-after-job")
    groups.append(PlacementGroup(bytes.fromhex(kept["placement_group_id"])))     # removed by the fixture
