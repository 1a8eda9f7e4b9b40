"""`get_runtime_context()` as Ray documents it (ray.runtime_context.RuntimeContext).

`get()` is a dict of ID objects: job_id, node_id and namespace everywhere,
task_id inside a task or actor method, actor_id inside an actor. The `get_*`
methods give hex strings. Task- and actor-only members raise RuntimeError
elsewhere. Asking for the context connects first, like other entry points.
"""
import pytest

import strato
from strato.runtime_context import ActorID, JobID, NodeID, TaskID

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def cluster_via_context():
    assert not strato.is_initialized()
    ctx = strato.get_runtime_context()          # auto-init, as Ray's does
    assert strato.is_initialized()
    try:
        yield ctx
    finally:
        strato.shutdown()


@strato.remote
def task_context():
    ctx = strato.get_runtime_context()
    return ctx.get(), ctx.get_task_function_name(), ctx.get_task_name(), ctx.is_canceled(), ctx.get_task_id()


@strato.remote
class Probe:
    def context(self):
        ctx = strato.get_runtime_context()
        return (ctx.get(), ctx.get_task_function_name(), ctx.was_current_actor_reconstructed,
                ctx.current_actor, ctx.get_actor_id(), ctx.get_actor_name())

    def ping(self):
        return "pong"


def test_the_driver_context_is_a_dict_of_ids_without_task_or_actor(cluster_via_context):
    ctx = cluster_via_context
    info = ctx.get()
    assert set(info) == {"job_id", "node_id", "namespace"}
    assert isinstance(info["job_id"], JobID) and isinstance(info["node_id"], NodeID)
    assert info["node_id"].hex() == ctx.get_node_id() == ctx.node_id.hex()
    assert info["job_id"] == ctx.job_id and repr(info["node_id"]).startswith("NodeID(")
    assert ctx.get_node_id() in [n["NodeID"] for n in strato.nodes()]
    assert ctx.get_task_id() is None and ctx.get_actor_id() is None and ctx.get_task_function_name() is None


def test_task_and_actor_only_members_raise_in_a_driver(cluster_via_context):
    ctx = cluster_via_context
    with pytest.raises(RuntimeError, match="only available in an actor"):
        ctx.current_actor
    with pytest.raises(RuntimeError, match="only available in an actor"):
        ctx.was_current_actor_reconstructed
    with pytest.raises(RuntimeError, match="inside a task or an actor"):
        ctx.is_canceled()


def test_a_task_sees_its_task_id_and_function_name(cluster_via_context):
    info, function_name, name, cancelled, task_hex = strato.get(task_context.remote(), timeout=30)
    assert set(info) == {"job_id", "node_id", "namespace", "task_id"}
    assert isinstance(info["task_id"], TaskID) and info["task_id"].hex() == task_hex
    assert info["job_id"] == cluster_via_context.job_id
    assert info["namespace"] == cluster_via_context.namespace
    assert function_name == f"{__name__}.task_context" and name == "task_context"
    assert cancelled is False
    named = strato.get(task_context.options(name="renamed").remote(), timeout=30)
    assert named[2] == "renamed" and named[1].endswith("task_context")


def test_an_actor_sees_its_actor_id_and_its_own_handle(cluster_via_context):
    probe = Probe.options(name="probe-ctx").remote()
    info, function_name, reconstructed, handle, actor_hex, actor_name = strato.get(probe.context.remote(),
                                                                                  timeout=30)
    assert set(info) == {"job_id", "node_id", "namespace", "task_id", "actor_id"}
    assert isinstance(info["actor_id"], ActorID) and info["actor_id"].hex() == actor_hex == probe.actor_id
    assert function_name == f"{__name__}.Probe.context"
    assert reconstructed is False and actor_name == "probe-ctx"
    assert handle == probe and strato.get(handle.ping.remote(), timeout=30) == "pong"
    strato.kill(probe)
