"""A driver's core worker: the same as a worker's, plus joining the cluster as a job.

A driver is told only the GCS's address. At start it checks the token, finds
the raylet of its machine (or the head's), and registers a job; at shutdown
it marks the job finished. Its own namespace is the job's.
"""
from __future__ import annotations

import os
import sys

from strato import exceptions
from strato.runtime.core_worker.core_worker import CoreWorker
from strato.runtime.protocol import gcs_pb2
from strato.runtime.rpc import wait_ready


class DriverCoreWorker(CoreWorker):
    mode = "driver"
    runs_tasks = False

    async def _join_cluster(self):
        """Check the token, find this machine's raylet, register the job."""
        await wait_ready(self.gcs, "GetClusterInfo", gcs_pb2.Empty(), 10)
        if not self.raylet_address:
            nodes = (await self.gcs.call("GetAllNodes", gcs_pb2.Empty())).nodes
            alive = [n for n in nodes if n.alive]
            local = [n for n in alive if n.address == self.node_ip] or [n for n in alive if n.is_head]
            if not local:
                raise exceptions.ClusterConnectionError(
                    f"The cluster at {self.gcs_address} has no live node on this machine ({self.node_ip}); "
                    f"start one with `strato start --address {self.gcs_address}`.")
            node = local[0]
            self.raylet_address = f"{node.address}:{node.raylet_port}"
            self.node_id = self.task_events.node_id = node.node_id
        reply = await self.gcs.call("AddJob", gcs_pb2.AddJobRequest(job=gcs_pb2.JobInfo(
            driver_address=self.address, driver_pid=os.getpid(), driver_worker_id=self.worker_id,
            namespace=self.namespace,
            entrypoint=" ".join(sys.argv)[:500])))
        self.job_id = reply.job_id

    async def _leave_cluster(self) -> None:
        if self.job_id:
            try:
                await self.gcs.call("MarkJobFinished", gcs_pb2.MarkJobFinishedRequest(job_id=self.job_id), timeout=2,
                                    retry=False)     # a GCS that is away sees the driver's connection close
            except Exception:
                pass

    def job_namespace(self) -> str:
        return self.namespace
