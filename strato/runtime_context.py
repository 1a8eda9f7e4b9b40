"""`strato.get_runtime_context()`: where the calling code runs."""
from __future__ import annotations


class RuntimeContext:
    def __init__(self, core_worker):
        self._cw = core_worker

    def get_job_id(self) -> str:
        return self._cw.job_id.hex()

    def get_node_id(self) -> str:
        return self._cw.node_id.hex()

    def get_worker_id(self) -> str:
        return self._cw.worker_id.hex()

    def get_task_id(self) -> str | None:
        """The running task's id (hex) inside a task; None in a driver."""
        tid = self._cw.current_task_id
        return tid.hex() if tid else None

    def get_actor_id(self) -> str | None:
        """The actor's id (hex) inside an actor; None elsewhere."""
        aid = self._cw.actor_id
        return aid.hex() if aid else None

    def get_task_name(self) -> str | None:
        return self._cw.current_task_name or None

    @property
    def namespace(self) -> str:
        return self._cw.namespace

    @property
    def gcs_address(self) -> str:
        return self._cw.gcs_address

    @property
    def worker_mode(self) -> str:
        return self._cw.mode

    def get(self) -> dict:
        return {"job_id": self.get_job_id(), "node_id": self.get_node_id(), "worker_id": self.get_worker_id(),
                "task_id": self.get_task_id(), "namespace": self.namespace}

    def __repr__(self):
        return f"RuntimeContext({self.get()})"
