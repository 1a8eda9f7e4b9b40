"""The core worker: the library in every driver and worker process.

    user thread                          event-loop thread (asyncio, uvloop: loop_thread.py)
    -----------                          -----------------------------------
    f.remote() -> serialize args,        resolve argument refs, lease a worker per scheduling
      make return refs, post  ------->     class (submitter.py, leasing.py), push tasks in
    strato.get() -> wait on the            frames, store results, retry on worker death
      memory store (getter.py)   <----   framed server: one dispatch table of typed messages
    strato.put() -> memory store           (protocol/messages.py) for results, object
                                           requests, borrowing (borrowing.py) and, in a
                                           worker, tasks (worker/executor.py)

The process that calls `.remote()` or `put` owns the result: its value
(memory_store.py), its reference count (reference_table.py) and its task's
lifecycle (task_state.py). `get` of a ref owned elsewhere asks the owner.
A process that holds a ref it does not own registers with the owner as a
borrower and releases it when its last copy goes (borrowing.py, ack_gate.py).
Functions and classes are exported once (function_table.py); task events
are buffered for the GCS (task_events.py). This class is a worker's core
worker; a driver's (driver.py) also joins the cluster as a job.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import threading
import warnings

import cloudpickle

from strato import exceptions
from strato.runtime import ids, serialization, transport
from strato.runtime.config import SystemConfig
from strato.runtime.core_worker.borrowing import Borrowing
from strato.runtime.core_worker.function_table import FunctionTable
from strato.runtime.core_worker.generators import GeneratorTable
from strato.runtime.core_worker.getter import Getter
from strato.runtime.core_worker.loop_thread import EventLoopThread
from strato.runtime.core_worker.memory_store import MemoryStore, StoredObject
from strato.runtime.core_worker.object_ref import ObjectRef
from strato.runtime.core_worker.lineage import Lineage
from strato.runtime.core_worker.node_watch import NodeWatch
from strato.runtime.core_worker.reference_table import ReferenceTable
from strato.runtime.core_worker.actor_submitter import ActorCall, ActorSubmitter
from strato.runtime.core_worker.submitter import TaskEntry, TaskSubmitter, resolve_dependencies
from strato.runtime.core_worker.task_events import TaskEventBuffer, batch_columns
from strato.runtime.object_store.client.node_store import NodeStore
from strato.runtime.protocol import gcs_pb2
from strato.runtime.protocol import messages as m
from strato.util import output
from strato.runtime.rpc import GcsClient, RayletClient

logger = logging.getLogger(__name__)

class CoreWorker:
    """A worker process's core worker; `DriverCoreWorker` (driver.py) is a driver's."""

    mode = "worker"                           # what the state API reports ("driver" in driver.py)
    runs_tasks = True                         # blocks in `get` are told to the raylet; RUNNING events held

    def __init__(self, *, worker_id: bytes, node_id: bytes, node_ip: str, job_id: bytes,
                 gcs_address: str, raylet_address: str, token: str, config: SystemConfig,
                 namespace: str = "", session_dir: str = ""):
        self.worker_id = worker_id
        self.node_id = node_id
        self.node_ip = node_ip
        self.job_id = job_id
        self.namespace = namespace
        self.session_dir = session_dir
        self.gcs_address = gcs_address
        self.raylet_address = raylet_address
        self.token = token
        self.config = config
        self.io = EventLoopThread(f"strato-{self.mode}-io")
        self.loop = self.io.loop
        self.address = ""                     # host:port of this process's framed server
        self._lock = threading.RLock()
        self.store = MemoryStore(self._lock)
        self.refs: ReferenceTable | None = None
        self.ids = ids.IdGenerator()
        self._inbox: collections.deque = collections.deque()
        self._inbox_scheduled = False
        self.functions = FunctionTable(self)
        self._conns: dict[str, asyncio.Future] = {}
        self.getter = Getter(self, blocking_notice=self.runs_tasks)
        self.get, self.wait_objects, self.on_ready = self.getter.get, self.getter.wait_objects, self.getter.on_ready
        self.get_one = self.getter.get_one
        self.borrowing = Borrowing(self)
        self.generators = GeneratorTable(self)        # the items of this process's generator tasks
        self.task_events = TaskEventBuffer(config.task_events_buffer, node_id, worker_id, self.runs_tasks)
        self.record_event = self.task_events.record     # called for every task: no wrapper in between
        self._server = None
        self._closed = False
        self._executor = None                 # set in worker processes (worker/executor.py)
        self._dispatch_table: dict = {}       # message class -> handler: _handlers(), set in _start
        self.current_task_id: bytes | None = None
        self.current_task_name = ""
        self.current_tag = None               # inherited by tasks this task submits
        self.current_placement_group = None   # (group id, capture child tasks) of the running task
        self.current_log_sink = ""            # driver that receives this task's output
        self.output_streams = ()              # worker: (stdout, stderr) TaskOutputStreams
        self._blocked_depth = 0
        self.gcs: GcsClient | None = None
        self.raylet: RayletClient | None = None
        self.submitter: TaskSubmitter | None = None
        self.node_store: NodeStore | None = None   # the node's shared-memory store (object_store/client/)
        self.actor_submitter: ActorSubmitter | None = None
        self.actor_id: bytes | None = None    # set in an actor's worker
        self._actor_seq: dict[bytes, int] = {}
        self._job_namespaces: dict[bytes, str] = {}
        self._warned_infeasible: set = set()

    # ------------------------------------------------------------------ life
    def start(self):
        self.io.run(self._start(), timeout=30)

    async def _start(self):
        self._dispatch_table = self._handlers()
        self._server = await transport.serve(
            self.node_ip, 0, self.token, {"worker_id": self.worker_id}, self._on_message, self._on_close,
            max_frame=self.config.max_frame_bytes)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"{self.node_ip}:{port}"
        self.refs = ReferenceTable(self.address)
        self.node_watch = NodeWatch(self)           # dead nodes: give up connections to their workers
        self.lineage = Lineage(self.config.max_lineage_bytes)     # specs of finished tasks, to rebuild lost outputs
        self.gcs = GcsClient(self.gcs_address, self.token)
        self.gcs.reached = self.mode != "driver"   # a raylet started this worker: its GCS exists (rpc.py: retries)
        await self._join_cluster()
        self.raylet = RayletClient(self.raylet_address, self.token)
        self.submitter = TaskSubmitter(self)
        self.actor_submitter = ActorSubmitter(self)
        self._dispatch_table = self._handlers()
        self.node_store = await NodeStore.from_raylet(
            self.raylet, node_id=self.node_id, raylet_address=self.raylet_address, owner_address=self.address,
            token=self.token, max_inline_bytes=self.config.max_inline_bytes)
        if self.node_store.client is not None:  # what lineage pins stays within a quarter of the node's store
            self.lineage.max_bytes = min(self.lineage.max_bytes, self.node_store.client.capacity // 4)
        self.loop.create_task(self._flush_events_forever())

    async def _join_cluster(self) -> None:
        """A worker's raylet and node are given at start; a driver finds them (driver.py)."""

    async def _leave_cluster(self) -> None:
        """A driver marks its job finished (driver.py)."""

    def shutdown(self):
        if self._closed:
            return
        self._closed = True
        try:
            self.io.run(self._shutdown(), timeout=10)
        except Exception as exc:
            logger.debug("core worker shutdown: %s", exc)
        self.io.stop()

    async def _shutdown(self):
        self.node_watch.stop()
        try:
            await self.submitter.return_all_leases()
        except Exception:
            pass
        await self._leave_cluster()
        try:
            await asyncio.wait_for(self._flush_events(), 2)
        except Exception:
            pass
        if self._server is not None:
            self._server.close()
        for fut in list(self._conns.values()):
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                fut.result().close()
        for client in (self.gcs, self.raylet):
            if client is not None:
                await client.close()
        if self.node_store is not None:
            self.node_store.close()
        self.submitter.close()

    # -------------------------------------------------------- thread hand-off
    def post(self, fn, *args) -> None:
        """Run fn(*args) on the loop thread, soon; batches wake-ups from other threads."""
        self._inbox.append((fn, args))
        if not self._inbox_scheduled:
            self._inbox_scheduled = True
            self.loop.call_soon_threadsafe(self._drain_inbox)

    def _drain_inbox(self):
        self._inbox_scheduled = False
        inbox = self._inbox
        while inbox:
            fn, args = inbox.popleft()
            try:
                fn(*args)
            except Exception:
                logger.exception("error in core worker callback %s", fn)

    def run_sync(self, coro, timeout: float | None = None):
        if threading.get_ident() == self.io.ident:
            raise RuntimeError("run_sync called from the event-loop thread")
        return self.io.run(coro, timeout)

    # ------------------------------------------------------------ references
    def add_local_ref(self, oid: bytes, owner_address: str) -> None:
        with self._lock:
            self.refs.add_local(oid, owner_address)
            if self.refs.adds:
                self.borrowing.refs_changed()

    def add_deserialized_ref(self, oid: bytes, owner_address: str) -> None:
        """A ref rebuilt from bytes: borrowed ones are registered with their owner (deferred to
        the task's end when they come from a running task's arguments)."""
        with self._lock:
            mode = serialization.ref_mode()
            self.refs.add_local(oid, owner_address, defer=mode == "defer", register=mode != "held elsewhere")
            if self.refs.adds:
                self.borrowing.refs_changed()

    def remove_local_ref(self, oid: bytes) -> None:
        if self._closed:
            return
        with self._lock:
            freed = self.refs.remove_local(oid)
            if freed:
                self._free(freed)

    def release_submitted(self, oids) -> None:
        with self._lock:
            freed = self.refs.remove_submitted(oids)
            if freed:
                self._free(freed)

    def _free(self, freed: list) -> None:
        """Under self._lock: [(id, owned)] went out of scope here. Drop the values; owned ones that
        live in a store are freed there too; releases owed to other owners go out."""
        if self.node_store is not None:
            self.node_store.free([(oid, obj.data) for oid, owned in freed
                                  if owned and (obj := self.store.get(oid)) is not None and not obj.is_error])
        for oid, owned in freed:
            if owned and ids.is_actor_handle_id(oid):
                self.post(self._actor_out_of_scope, oid[:ids.TASK_ID_LEN])
        self.store.delete([oid for oid, _ in freed])
        if self.lineage.records or self.lineage.gone:
            args = self.lineage.release([oid for oid, owned in freed if owned])
            more = self.refs.remove_submitted(args) if args else None
            if more:
                self._free(more)
        if self.refs.removes or self.refs.adds:
            self.borrowing.refs_changed()

    def keep_lineage(self, entry, size: int) -> None:
        """Loop thread, a task finished with outputs in a node's store: keep its spec to rebuild them
        (lineage.py); its argument refs stay held until then."""
        with self._lock:
            args = self.lineage.keep(entry, [oid for oid in entry.return_ids if oid in self.refs], size)
            freed = self.refs.remove_submitted(args) if args else None
            if freed:
                self._free(freed)

    def _actor_out_of_scope(self, actor_id: bytes) -> None:
        """Loop thread: no handle of this actor is left anywhere; it ends, like Ray's."""
        self.actor_submitter.forget_actor(actor_id)
        req = gcs_pb2.KillActorRequest(actor_id=actor_id, no_restart=True,
                                       cause="all references to it went out of scope")
        self.loop.create_task(self._quiet(self.gcs.call("KillActor", req, timeout=10), "kill out-of-scope actor"))

    async def _quiet(self, coro, what: str) -> None:
        try:
            await coro
        except Exception as exc:
            logger.debug("%s: %s", what, exc)

    def pending_ref(self) -> ObjectRef:
        """A new object this process owns, with no value yet (as a task's return before it ran): gets
        wait until store_result(ref.binary(), ..., owned=True) gives it one. PlacementGroup.ready uses it."""
        oid = ids.object_id(self.ids.task_id(), 0)
        with self._lock:
            return self._hold_args_and_own_returns((), [oid])[0]

    def store_result(self, oid: bytes, obj: StoredObject, owned: bool = False) -> None:
        """Keep a value only if someone still refers to it. `owned`: a return of this process's
        task -- when nobody refers to it any more, its copy in a node's store is freed too (the
        worker wrote it there for us)."""
        with self._lock:
            known = oid in self.refs
        if known:
            self.store.put(oid, obj)
            with self._lock:
                known = oid in self.refs      # dropped meanwhile: _free may have found nothing yet
            if known:
                return
            self.store.delete([oid])
        if owned and not obj.is_error and self.node_store is not None:
            self.node_store.free([(oid, obj.data)])

    # ----------------------------------------------------------- functions
    def export_function(self, fn, pickled: bytes | None = None) -> bytes:
        """Export a function or class through the GCS KV once; returns its id (function_table.py)."""
        return self.functions.export(fn, pickled)

    def load_function(self, fid: bytes):
        return self.functions.load(fid)

    # ------------------------------------------------------------- submit
    def _serialize_args(self, args: tuple, kwargs: dict, what: str) -> tuple[bytes, list, list]:
        """(bytes, every ref inside, ids of the top-level ref arguments -- resolved before the call)."""
        data, contained = serialization.serialize((args, kwargs), what)
        deps = [a._id for a in args if isinstance(a, ObjectRef)]
        deps += [v._id for v in kwargs.values() if isinstance(v, ObjectRef)]
        return data, contained, deps

    def _hold_args_and_own_returns(self, contained: list, return_ids: list) -> list[ObjectRef]:
        """Under self._lock: every ref in the arguments (top-level or nested) is held while the
        call is pending, and the call's returns become refs this process owns."""
        if contained:
            self.refs.add_submitted([r._id for r in contained])
        for oid in return_ids:
            self.refs.add_owned(oid)
        return [ObjectRef(oid, self.address, self) for oid in return_ids]

    def submit_task(self, fid: bytes, name: str, args: tuple, kwargs: dict, *, num_returns: int,
                    resources: dict, max_retries: int, retry_exceptions, strategy: str = "DEFAULT",
                    affinity: tuple | None = None, captured: list = ()) -> list[ObjectRef]:
        """`captured`: refs pickled with the function, held like arguments while the task is pending."""
        data, contained, deps = self._serialize_args(args, kwargs, f"arguments of {name}()")
        if captured:
            contained = contained + list(captured)
        task_id = self.ids.task_id()
        return_ids = [ids.object_id(task_id, i) for i in range(num_returns if num_returns >= 0 else 1)]
        entry = TaskEntry(task_id, fid, name, data, deps, return_ids, num_returns, resources,
                          max_retries, retry_exceptions, self.current_task_id, strategy, affinity)
        entry.tag, entry.log_sink = self._tag_and_sink()
        entry.arg_refs = contained     # keeps the argument refs (owned or borrowed) alive while pending
        with self._lock:
            refs = self._hold_args_and_own_returns(contained, return_ids)
        self.post(self.submitter.submit, entry)
        return refs

    def put(self, value) -> ObjectRef:
        if isinstance(value, ObjectRef):
            raise TypeError("Calling put on an ObjectRef is not allowed: it is already in the cluster. "
                            "Pass the ref itself, or put([ref]) to nest it in a new object.")
        oid = ids.object_id(self.ids.task_id(), 0)
        data, contained = self.node_store.serialize(value, "value passed to put", oid)
        with self._lock:
            self.refs.add_owned(oid, [(r._id, r._owner) for r in contained])
            ref = ObjectRef(oid, self.address, self)
        self.store.put(oid, StoredObject(data))
        return ref

    # ------------------------------------------------------------- actors
    def _tag_and_sink(self):
        if self.current_task_id is not None or self.actor_id is not None:
            return self.current_tag, self.current_log_sink or self.address
        return output.current_tag(), self.address

    def create_actor(self, cls_fid: bytes, class_name: str, args: tuple, kwargs: dict, *, name: str,
                     namespace: str, detached: bool, get_if_exists: bool, resources: dict, placement: dict,
                     max_restarts: int, max_concurrency: int, is_async: bool, handle_state: dict,
                     captured: list = (), scheduling: dict | None = None):
        """Register an actor with the GCS and have it created once its arguments are ready.

        Returns (actor_id, handle_state, handle_ref); with get_if_exists and a live actor of that
        name, the existing actor's id and state. handle_ref (unnamed, non-detached actors only)
        counts the actor's handles: when it goes out of scope everywhere, the actor is killed.
        `scheduling`: the fields of its gcs_pb2.SchedulingStrategy (strategy, node affinity, placement group).
        """
        data, contained, deps = self._serialize_args(args, kwargs, f"arguments of {class_name}()")
        if captured:     # refs pickled with the class: the actor may use them as long as it lives
            contained = contained + list(captured)
        tag, sink = self._tag_and_sink()
        actor_id = ids.random_id(16)
        info = gcs_pb2.ActorInfo(
            actor_id=actor_id, name=name, namespace=namespace, class_name=class_name, job_id=self.job_id,
            detached=detached, resources=resources, placement_resources=placement, max_restarts=max_restarts,
            owner_address=self.address, owner_node_id=self.node_id, tag="" if tag is None else str(tag),
            scheduling=scheduling)
        reply = self.run_sync(self.gcs.call("RegisterActor", gcs_pb2.RegisterActorRequest(
            info=info, get_if_exists=get_if_exists)))
        if reply.error:
            raise ValueError(reply.error)
        if reply.existed:
            return reply.info.actor_id, self.actor_handle_state(reply.info.actor_id), None
        self.run_sync(self.gcs.call("KVPut", gcs_pb2.KVPutRequest(
            namespace="actor", key=actor_id, value=cloudpickle.dumps(handle_state), overwrite=True)))
        with self._lock:
            handle_refs = self._hold_args_and_own_returns(
                contained, [] if (name or detached) else [ids.actor_handle_id(actor_id)])

        def send(inlined, error):
            spec = (cls_fid, data, inlined or {}, error.data if error is not None else None, class_name,
                    max_concurrency, is_async, tag, sink)
            self.loop.create_task(self._create_actor(actor_id, cloudpickle.dumps(spec), contained,
                                                     until_dead=max_restarts != 0 or bool(captured)))

        self.post(resolve_dependencies, self, deps, contained, send)
        return actor_id, handle_state, (handle_refs[0] if handle_refs else None)

    async def _create_actor(self, actor_id: bytes, spec: bytes, contained: list, until_dead: bool) -> None:
        """Hand the creation to the GCS; the argument refs are held until the constructor has run
        (by then the actor registered as borrower of any nested ref it kept) -- or, for an actor
        that may restart (its constructor runs again with the same arguments), until it is dead."""
        try:
            await self.gcs.call("CreateActor", gcs_pb2.CreateActorRequest(actor_id=actor_id, creation_spec=spec))
            version = 0
            while contained and not self._closed:
                reply = await self.gcs.call("GetActorInfo", gcs_pb2.GetActorInfoRequest(
                    actor_id=actor_id, wait_newer_than=version, timeout_s=20), timeout=40)
                if not reply.found or reply.info.state == "DEAD" or (
                        reply.info.state == "ALIVE" and not until_dead):
                    break
                version = reply.info.version
        except Exception as exc:
            logger.debug("actor %s creation: %s", actor_id.hex(), exc)
        finally:
            if contained:
                self.release_submitted([r._id for r in contained])

    def actor_handle_state(self, actor_id: bytes) -> dict:
        reply = self.run_sync(self.gcs.call("KVGet", gcs_pb2.KVGetRequest(namespace="actor", key=actor_id)))
        if not reply.found:
            raise ValueError(f"No metadata for actor {actor_id.hex()}: it was not created through strato.")
        return cloudpickle.loads(reply.value)

    def lookup_actor(self, name: str, namespace: str):
        reply = self.run_sync(self.gcs.call("GetActorInfo", gcs_pb2.GetActorInfoRequest(
            name=name, namespace=namespace)))
        if not reply.found or reply.info.state == "DEAD":
            return None
        return reply.info

    def submit_actor_call(self, actor_id: bytes, method: str, name: str, args: tuple, kwargs: dict, *,
                          num_returns: int, max_task_retries: int, max_pending_calls: int,
                          handle_ref: ObjectRef | None = None) -> list[ObjectRef]:
        data, contained, deps = self._serialize_args(args, kwargs, f"arguments of {name}()")
        if handle_ref is not None:
            contained = contained + [handle_ref]     # a pending call keeps its actor alive
        task_id = self.ids.task_id()
        return_ids = [ids.object_id(task_id, i) for i in range(num_returns if num_returns >= 0 else 1)]
        tag, sink = self._tag_and_sink()
        with self._lock:
            counts = self.actor_submitter.pending_counts
            if max_pending_calls > 0 and counts[actor_id] >= max_pending_calls:
                raise exceptions.PendingCallsLimitExceeded(
                    f"Actor {actor_id.hex()[:12]} already has {counts[actor_id]} pending calls from this "
                    f"process (max_pending_calls={max_pending_calls}). Wait for some results first.")
            counts[actor_id] += 1
            seq = self._actor_seq.get(actor_id, 0)
            self._actor_seq[actor_id] = seq + 1
            refs = self._hold_args_and_own_returns(contained, return_ids)
        call = ActorCall(task_id, actor_id, method, name, data, deps, contained, return_ids, num_returns,
                         max_task_retries, seq, tag, sink)
        self.post(self.actor_submitter.submit, call)
        return refs

    def job_namespace(self) -> str:
        """The namespace of the job this code runs for (a worker: its task's job; drivers: driver.py)."""
        if not self.job_id:
            return self.namespace
        cached = self._job_namespaces.get(self.job_id)
        if cached is None:
            jobs = self.run_sync(self.gcs.call("GetAllJobs", gcs_pb2.Empty())).jobs
            self._job_namespaces.update({j.job_id: j.namespace for j in jobs})
            cached = self._job_namespaces.get(self.job_id, "")
        return cached

    def kill_actor(self, actor_id: bytes, no_restart: bool) -> None:
        self.run_sync(self.gcs.call("KillActor", gcs_pb2.KillActorRequest(actor_id=actor_id, no_restart=no_restart)))
        self.post(self.actor_submitter.forget_connection, actor_id)

    # ---------------------------------------------------------------- get
    # get(refs, timeout), wait_objects(refs, num_ready, timeout, raise_timeout) and on_ready(ref, fut) are
    # the getter's methods themselves (getter.py), bound in __init__: `get` runs for every strato.get.

    async def connect(self, address: str) -> transport.Connection:
        """A cached framed connection to another core worker."""
        fut = self._conns.get(address)
        if fut is None or (fut.done() and (fut.cancelled() or fut.exception() is not None or fut.result().closed)):
            fut = self.loop.create_future()
            self._conns[address] = fut
            host, port = address.rsplit(":", 1)
            try:
                conn = await transport.connect(host, int(port), self.token,
                                               {"worker_id": self.worker_id, "address": self.address},
                                               self._on_message, self._on_close,
                                               max_frame=self.config.max_frame_bytes)
                fut.set_result(conn)
            except BaseException as exc:
                fut.set_exception(exc)
                fut.exception()
                self._conns.pop(address, None)
                raise
        return await asyncio.shield(fut)

    def cached_connection(self, address: str):
        """The open connection to `address` if there is one (loop thread), else None."""
        fut = self._conns.get(address)
        if fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None \
                and not fut.result().closed:
            return fut.result()
        return None

    # ---------------------------------------------------- framed messages
    def _handlers(self) -> dict:
        """The dispatch table of framed messages (protocol/messages.py) this process handles now:
        results once its submitters exist, tasks and actor calls once it has an executor."""
        table = {
            m.PeerHello: self._on_peer_hello,
            m.TaskOutput: _on_task_output,
            m.GetObject: self.getter.serve,
            **self.borrowing.handlers(),
        }
        if self.submitter is not None:
            table[m.TaskDone] = self.submitter.on_task_done
            table[m.ObjectLost] = self.submitter.reconstruct
        if self.actor_submitter is not None:
            table[m.ActorDone] = self.actor_submitter.on_done
            table[m.GeneratorItem] = self.generators.on_item     # generator tasks' items (generators.py)
        if self.executor is not None:       # a worker: tasks, actor calls and creation come here
            table.update(self.executor.handlers())
        return table

    def _on_message(self, conn: transport.Connection, msg) -> None:
        handler = self._dispatch_table.get(type(msg))
        if handler is None:
            logger.error("%s is not handled by a %s; ignored", type(msg).__name__, self.mode)
            return
        handler(conn, msg)

    def _on_peer_hello(self, conn, msg: m.PeerHello) -> None:
        # Talk back to a core worker over the connection it opened to us: one connection per
        # pair keeps a task's output ahead of its result.
        peer = msg.info.get("address")
        if peer and peer not in self._conns:
            fut = self.loop.create_future()
            fut.set_result(conn)
            self._conns[peer] = fut

    def _on_close(self, conn: transport.Connection, exc) -> None:
        self.borrowing.connection_closed(conn)
        if self.submitter is not None:
            self.submitter.on_connection_lost(conn)
        if self.actor_submitter is not None:
            self.actor_submitter.on_connection_lost(conn)
        if self.executor is not None:
            self.executor.on_connection_lost(conn)

    @property
    def executor(self):
        return self._executor

    @executor.setter
    def executor(self, executor) -> None:
        self._executor = executor
        self._dispatch_table = self._handlers()

    # --------------------------------------------------------- task events
    # record_event(task_id, name, state, ...): this process's TaskEventBuffer.record (task_events.py), bound
    # in __init__; batched to the GCS every second, never waited for.

    def end_running_event(self, task_id: bytes) -> None:
        """Worker: the task ended before its RUNNING event went out; the owner's event says it all."""
        self.task_events.end_running(task_id)

    async def _flush_events_forever(self):
        while True:
            await asyncio.sleep(1.0)
            try:
                await self._flush_events()
            except Exception as exc:
                logger.debug("task events flush failed: %s", exc)

    async def _flush_events(self):
        if not self.task_events.pending():
            return
        events, dropped = self.task_events.drain()
        batch = gcs_pb2.TaskEventBatch(job_id=self.job_id or b"", **batch_columns(events))
        await self.gcs.call("AddTaskEvents", gcs_pb2.AddTaskEventsRequest(dropped=dropped, batch=batch), timeout=5)

    # ------------------------------------------------------------ cancel
    def cancel(self, ref: ObjectRef, force: bool) -> None:
        if not self.refs.owned(ref._id):
            raise ValueError(f"Only the owner of {ref} (the process that called .remote()) can cancel it; "
                             f"this process only borrows it.")
        self.post(self.submitter.cancel, ids.task_of(ref._id), force)

    def warn_infeasible(self, key, message: str) -> None:
        if key in self._warned_infeasible:
            return
        self._warned_infeasible.add(key)
        warnings.warn(message, exceptions.InfeasibleTaskWarning, stacklevel=2)


def _on_task_output(conn, msg: m.TaskOutput) -> None:
    for record in msg.records:
        output.emit(record)
