"""The exported surface is explicit and pinned."""
import strato

EXPECTED = {
    "ActorClass", "ActorHandle", "get_actor", "kill", "method", "ObjectRef", "available_resources", "cancel", "cluster_resources", "exceptions", "get",
    "get_runtime_context", "init", "is_initialized", "nodes", "put", "remote", "shutdown", "timeline", "wait",
    "ObjectRefGenerator", "DynamicObjectRefGenerator",
}


def test_exported_names_are_pinned():
    assert set(strato.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(strato, name), name


def test_ray_exception_names_exist():
    from strato import exceptions as e
    for name in ("RayError", "RayTaskError", "RayActorError", "GetTimeoutError", "TaskCancelledError",
                 "WorkerCrashedError", "ObjectLostError", "OwnerDiedError", "ObjectStoreFullError",
                 "NodeDiedError", "ActorDiedError"):
        assert issubclass(getattr(e, name), e.StratoError), name
