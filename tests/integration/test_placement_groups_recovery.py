"""Placement groups through faults: a GCS restart on durable storage keeps them (created and pending),
and the bundles of a node that dies are placed again on another node."""
import asyncio

import pytest

import strato
from strato._testing import wait_for
from strato.cluster_utils import Cluster
from strato.util.placement_group import get_placement_group, placement_group, placement_group_table, \
    remove_placement_group
from strato.runtime.protocol import raylet_pb2
from strato.runtime.rpc import RayletClient
from strato.util.scheduling_strategies import PlacementGroupSchedulingStrategy

pytestmark = pytest.mark.timeout(120)

FAST_HEALTH_CHECKS = {"health_check_period_s": 0.2, "health_check_timeout_s": 2}


@strato.remote(num_cpus=1)
def node_id():
    return strato.get_runtime_context().get_node_id()


def bundle_nodes(pg):
    row = placement_group_table(pg)
    return row["state"], [row["bundles_to_node_id"].get(i) for i in range(len(row["bundles"]))]


def raylet_call(cluster, node_id: str, method: str, request):
    node = next(n for n in strato.nodes() if n["NodeID"] == node_id)

    async def call():
        client = RayletClient(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}", cluster.token)
        try:
            return await client.call(method, request, timeout=10)
        finally:
            await client.close()
    return asyncio.run(call())


def held_groups(cluster, node_id: str) -> set:
    stats = raylet_call(cluster, node_id, "GetNodeStats", raylet_pb2.GetNodeStatsRequest())
    return {b.placement_group_id for b in stats.bundles}


def test_groups_survive_a_gcs_restart_on_sqlite():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, gcs_storage="sqlite")
    try:
        c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()
            pg = placement_group([{"CPU": 1}] * 2, strategy="STRICT_SPREAD", name="kept")
            assert pg.wait(15)
            before = bundle_nodes(pg)
            waiting = placement_group([{"CPU": 1}] * 3, strategy="STRICT_SPREAD")
            # a reservation the GCS's table does not account for (as a GCS dying between prepare and
            # commit leaves behind): the node returns it when it registers with the restarted GCS
            orphan = b"\x07" * 16
            reply = raylet_call(c, c.head.node_id, "PrepareBundles", raylet_pb2.PrepareBundlesRequest(bundles=[
                raylet_pb2.BundleSpec(placement_group_id=orphan, bundle_index=0, resources={"memory": 1e6})]))
            assert reply.ok and orphan in held_groups(c, c.head.node_id)
            c.restart_gcs()
            assert wait_for(lambda: bundle_nodes(pg) == before, 20), bundle_nodes(pg)
            assert wait_for(lambda: orphan not in held_groups(c, c.head.node_id), 20)
            assert pg.id in held_groups(c, c.head.node_id)          # its own bundle stays
            assert get_placement_group("kept") == pg
            assert placement_group_table(waiting)["state"] == "PENDING"
            strategy = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=1)
            assert strato.get(node_id.options(scheduling_strategy=strategy).remote(), timeout=30) == before[1][1]
            remove_placement_group(pg)                      # frees two CPUs: still one node short for `waiting`
            c.add_node(num_cpus=1)
            assert waiting.wait(20)
            assert len(set(bundle_nodes(waiting)[1])) == 3
        finally:
            strato.shutdown()
    finally:
        c.shutdown()


def test_bundles_of_a_dead_node_are_placed_again():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, system_config=FAST_HEALTH_CHECKS)
    try:
        doomed = c.add_node(num_cpus=1)
        strato.init(address=c.address)
        try:
            c.wait_for_nodes()
            pg = placement_group([{"CPU": 1}] * 2, strategy="STRICT_SPREAD")
            assert pg.wait(15)
            state, nodes = bundle_nodes(pg)
            lost = nodes.index(doomed.node_id)
            spare = c.add_node(num_cpus=1)
            doomed.kill()
            c.nodes.remove(doomed)

            def moved():
                state, now = bundle_nodes(pg)
                return state == "CREATED" and now[lost] == spare.node_id and now[1 - lost] == nodes[1 - lost]
            assert wait_for(moved, 20), bundle_nodes(pg)
            strategy = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=lost)
            assert strato.get(node_id.options(scheduling_strategy=strategy).remote(), timeout=30) == spare.node_id
        finally:
            strato.shutdown()
    finally:
        c.shutdown()
