"""A worker process: started by its raylet, runs tasks in its main thread.

The raylet writes the cluster token as the first line of our stdin and
keeps the pipe open; when it closes (the raylet exited) the worker exits.
The worker's CoreWorker becomes this process's current worker
(`strato._context`), so tasks can call `strato.get` and `.remote()` themselves.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading


def _exit_when_stdin_closes() -> None:
    def watch():
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os._exit(0)
    threading.Thread(target=watch, name="strato-parent-watch", daemon=True).start()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="strato-worker")
    p.add_argument("--worker-id", required=True)
    p.add_argument("--node-id", required=True)
    p.add_argument("--node-ip", required=True)
    p.add_argument("--raylet", required=True)
    p.add_argument("--gcs", required=True)
    p.add_argument("--session-dir", required=True)
    p.add_argument("--config", default="")
    args = p.parse_args(argv)
    token = b""
    while not token.endswith(b"\n"):
        chunk = os.read(0, 1)
        if not chunk:
            return 1
        token += chunk
    _exit_when_stdin_closes()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s")

    from strato import _context
    from strato.runtime import tls
    from strato.runtime.config import SystemConfig
    from strato.runtime.core_worker.core_worker import CoreWorker
    from strato.runtime.protocol import raylet_pb2
    from strato.runtime.worker.executor import Executor

    tls.install(tls.from_env())          # the raylet's environment names the cluster's certificates, if any
    host, port = None, None
    cw = CoreWorker(worker_id=bytes.fromhex(args.worker_id), node_id=bytes.fromhex(args.node_id),
                    node_ip=args.node_ip, job_id=b"", gcs_address=args.gcs, raylet_address=args.raylet,
                    token=token.decode().strip(), config=SystemConfig.from_json(args.config),
                    session_dir=args.session_dir)
    cw.start()
    from strato.runtime.worker import output as worker_output
    cw.output_streams = worker_output.capture(cw)
    executor = Executor(cw)
    cw.executor = executor
    _context.set_worker(cw)
    host, port = cw.address.rsplit(":", 1)
    cw.run_sync(cw.raylet.call("RegisterWorker", raylet_pb2.RegisterWorkerRequest(
        worker_id=cw.worker_id, pid=os.getpid(), host=host, port=int(port))), timeout=30)
    executor.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
