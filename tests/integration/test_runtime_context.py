"""strato.get_runtime_context(): who am I, in the driver and inside tasks."""
import re

import pytest

import strato

pytestmark = pytest.mark.usefixtures("cluster")

HEX = re.compile(r"[0-9a-f]+")


@strato.remote
def context_in_task():
    ctx = strato.get_runtime_context()
    return {"job": ctx.get_job_id(), "node": ctx.get_node_id(),
            "task": ctx.get_task_id(), "worker": ctx.get_worker_id()}


def test_the_driver_has_job_node_and_worker_ids_but_no_task_id():
    ctx = strato.get_runtime_context()
    for value in (ctx.get_job_id(), ctx.get_node_id(), ctx.get_worker_id()):
        assert isinstance(value, str) and HEX.fullmatch(value), value
    assert ctx.get_task_id() is None


def test_the_driver_node_id_is_the_node_listed_by_nodes():
    ctx = strato.get_runtime_context()
    assert ctx.get_node_id() in [n["NodeID"] for n in strato.nodes()]


def test_a_task_sees_its_own_task_id_and_the_drivers_job():
    driver = strato.get_runtime_context()
    info = strato.get(context_in_task.remote())
    assert isinstance(info["task"], str) and HEX.fullmatch(info["task"]), info
    assert info["job"] == driver.get_job_id()
    assert info["node"] == driver.get_node_id()  # single-node cluster
    assert HEX.fullmatch(info["worker"]), info
    assert info["worker"] != driver.get_worker_id()


def test_every_task_has_a_different_task_id():
    infos = strato.get([context_in_task.remote() for _ in range(4)])
    task_ids = [i["task"] for i in infos]
    assert len(set(task_ids)) == 4


def test_a_nested_task_has_a_task_id_different_from_its_parent():
    @strato.remote
    def parent():
        own = strato.get_runtime_context().get_task_id()
        child = strato.get(context_in_task.remote())
        return own, child["task"], child["job"]

    own, child_task, child_job = strato.get(parent.remote())
    assert own and child_task and own != child_task
    assert child_job == strato.get_runtime_context().get_job_id()

