"""`Cluster`: several nodes on one machine, for tests and teaching (as ray.cluster_utils).

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    node = c.add_node(num_cpus=1, resources={"b": 1})
    strato.init(address=c.address)
    ...
    c.remove_node(node); c.shutdown()

    c = Cluster(gcs_storage="sqlite")      # or "redis://127.0.0.1:6379" (password: STRATO_REDIS_PASSWORD)
    c.restart_gcs()                        # kill the GCS and start it again: the cluster carries on

Every process is a child of the caller (stdin pipe), so nothing outlives it.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import time

from strato.runtime import node as node_mod
from strato.runtime.config import SystemConfig


@dataclasses.dataclass
class NodeHandle:
    node_id: str            # hex, as strato.nodes() shows it
    raylet_pid: int
    daemon: node_mod.Daemon
    is_head: bool = False

    def kill(self) -> None:
        """Kill the raylet abruptly (SIGKILL): the GCS notices by the missing heartbeats."""
        try:
            os.kill(self.raylet_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.daemon.proc.wait()
        from strato.runtime.object_store.server import files
        files.remove_stale()   # what the next raylet start would do: its arena has no owner now


#: Ray's add_node arguments that have nothing to switch here (no dashboard process; lineage
#: reconstruction is always on).
_RAY_NODE_ARGS_WITHOUT_EFFECT = frozenset({"include_dashboard", "dashboard_port", "dashboard_host",
                                           "enable_object_reconstruction"})


class Cluster:
    def __init__(self, initialize_head: bool = True, head_node_args: dict | None = None,
                 system_config: dict | None = None, temp_dir: str | None = None, tls: bool = False,
                 gcs_storage: str = "memory"):
        """`tls=True`: every link uses TLS with a self-signed CA made for this cluster (tls.generate).
        `gcs_storage`: where the GCS keeps its tables (gcs/storage.py); "sqlite" or a redis:// URL lets
        restart_gcs() bring the GCS back without losing the cluster."""
        self._system_config = dict(system_config or {})
        self.config = SystemConfig.from_dict(system_config)
        self.gcs_storage = gcs_storage
        self.temp_dir = temp_dir
        self.tls = tls
        self.head = None
        self.nodes: list[NodeHandle] = []
        self._head_info = None
        if initialize_head:
            self.add_node(**(head_node_args or {}))

    @property
    def address(self) -> str:
        return self._head_info["address"]

    @property
    def token(self) -> str:
        return self._head_info["token"]

    def add_node(self, *, num_cpus=None, num_gpus=None, resources: dict | None = None,
                 object_store_memory: int | None = None, node_ip_address: str = "127.0.0.1",
                 _system_config: dict | None = None, wait: bool = True, **ray_args) -> NodeHandle:
        """Start a node (the head first); `node_ip_address` may be any 127.x.y.z to model another host.

        Ray's node arguments are accepted: `_system_config` (the head's sets the cluster's config, merged
        over `Cluster(system_config=)`; a later node's must agree with it), `wait` (a node is always
        registered with the GCS when this returns, so both values behave alike), and the dashboard and
        reconstruction switches of `_RAY_NODE_ARGS_WITHOUT_EFFECT`."""
        unknown = sorted(set(ray_args) - set(_RAY_NODE_ARGS_WITHOUT_EFFECT))
        if unknown:
            raise TypeError(f"Cluster.add_node() got unknown argument(s) {unknown}; it takes num_cpus, num_gpus, "
                            f"resources, object_store_memory, node_ip_address, _system_config, wait, and "
                            f"{sorted(_RAY_NODE_ARGS_WITHOUT_EFFECT)}")
        if not isinstance(wait, bool):
            raise TypeError(f"Cluster.add_node(wait=) takes True or False, got {wait!r}")
        if _system_config is not None:
            if not isinstance(_system_config, dict):
                raise TypeError(f"_system_config must be a dict, got {type(_system_config).__name__}")
            if self._head_info is None:
                self.config = SystemConfig.from_dict({**self._system_config, **_system_config})
            elif SystemConfig.from_dict({**self._system_config, **_system_config}) != self.config:
                raise ValueError("a node's _system_config must agree with the head's: every process of a cluster "
                                 "runs with the same settings. Pass it in head_node_args instead.")
        if self._head_info is None:
            info = node_mod.start_head(temp_root=self.temp_dir, host=node_ip_address, num_cpus=num_cpus,
                                       num_gpus=num_gpus, resources=resources, config=self.config, detached=False,
                                       object_store_memory=object_store_memory, tls_generate=self.tls,
                                       gcs_storage=self.gcs_storage)
            self._head_info = info
            handle = NodeHandle(info["node_id"].hex(), info["raylet"].proc.pid, info["raylet"], True)
            self.head = handle
        else:
            info = self._head_info
            node_mod.check_bind(node_ip_address, info["tls"] is not None)
            daemon = node_mod.start_raylet(info["session_dir"], info["token"], info["address"], node_ip_address,
                                           num_cpus=num_cpus, num_gpus=num_gpus, resources=resources,
                                           config=self.config, head=False, detached=False,
                                           object_store_memory=object_store_memory, tls=info["tls"])
            node_mod.finish_raylet(daemon)
            handle = NodeHandle(daemon.node_id.hex(), daemon.proc.pid, daemon)
        self.nodes.append(handle)
        return handle

    def remove_node(self, node: NodeHandle, allow_graceful: bool = True) -> None:
        if allow_graceful:
            node.daemon.stop()
        else:
            node.kill()
        if node in self.nodes:
            self.nodes.remove(node)

    def wait_for_nodes(self, timeout: float = 30.0) -> None:
        """Wait until every added node is registered and alive in the GCS."""
        import strato
        want = {n.node_id for n in self.nodes}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = {n["NodeID"] for n in strato.nodes() if n["Alive"]}
            if want <= alive:
                return
            time.sleep(0.1)
        raise TimeoutError(f"nodes {sorted(want)} did not all come up within {timeout} s")

    def kill_gcs(self) -> None:
        """Kill the GCS process abruptly (SIGKILL); raylets and drivers keep retrying until restart_gcs()."""
        node_mod.kill_gcs(self._head_info)

    def restart_gcs(self) -> None:
        """Start the GCS again on the same address and storage (killing it first if it runs). Needs
        durable storage (gcs_storage="sqlite" or redis://...)."""
        node_mod.restart_gcs(self._head_info)

    def shutdown(self) -> None:
        for node in reversed(self.nodes):
            node.daemon.stop()
        self.nodes.clear()
        if self._head_info is not None:
            self._head_info["gcs"].stop()
            self._head_info = None
