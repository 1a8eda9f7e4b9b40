"""Generator tasks: their items stream to the owner while the task runs (Ray's ObjectRefGenerator).

    worker (executor.py)                         owner (this module, in the owner's core worker)
    for i, item in enumerate(gen):
        store item as object (task, i+1) --GeneratorItem(task, i, bytes)-->  GeneratorTable.on_item:
                                                                           own it, hold it, wake readers
    end: TaskDone, return 0 = item count  ----TaskDone---------------->   the task's completion ref
         (or the error the generator raised)                               (submitter.py, as any task)

On the wire the task's num_returns is STREAMING (-1) or DYNAMIC (-2); it has
one return, index 0, its completion: the number of items. An exception the
generator raises travels as its last item (an error), so the completion
counts it. Items may come on another connection than the TaskDone: the
stream ends when the completion is there and that many items are, or when
the completion is an error (the worker died, the task was cancelled).

* `num_returns="streaming"` (the default for a generator function):
  `.remote()` returns an ObjectRefGenerator; `next()` blocks until the next
  item arrives (or the task ends: StopIteration; or it failed: a ref that
  raises the error, then StopIteration). `async for` works the same way.
* `num_returns="dynamic"`: `.remote()` returns the completion ref; its value
  is a DynamicObjectRefGenerator of every item's ref.

An item is held here (one local reference) from its arrival until the user
takes its ref (or the generator is dropped), so nothing is freed unseen. A
retried generator task sends its items again; those already here are
ignored.
"""
from __future__ import annotations

import asyncio
import threading

from strato import exceptions
from strato.runtime import ids, serialization
from strato.runtime.core_worker.memory_store import StoredObject
from strato.runtime.core_worker.object_ref import ObjectRef

STREAMING = -1          # num_returns on the wire: stream the items, the completion is their count
DYNAMIC = -2            # the same, the completion is a DynamicObjectRefGenerator of the items


def wire_num_returns(num_returns) -> int:
    """The option value ("streaming", "dynamic" or an int) as PushTask/ActorCall carry it."""
    if num_returns == "streaming":
        return STREAMING
    if num_returns == "dynamic":
        return DYNAMIC
    return num_returns


class _Stream:
    """What the owner knows of one generator task's items."""
    __slots__ = ("task_id", "received", "cond", "completed", "count", "held", "waiters", "on_completion")

    def __init__(self, task_id: bytes):
        self.task_id = task_id
        self.received = 0               # items 0..received-1 are here
        self.cond = threading.Condition(threading.Lock())
        self.completed = False          # the task's completion (return 0) is here ...
        self.count: int | None = None   # ... with the number of items (None: it is an error)
        self.held: set[int] = set()     # indexes still held for the reader
        self.waiters: list = []         # callables to run (once) at the next arrival: async readers
        self.on_completion = None       # (completion id, store waiter) registered by open()

    def has(self, index: int) -> bool:
        """Under cond: item `index` is here, or it never will be (the stream ended before it)."""
        return self.received > index or (self.completed and (self.count is None or self.received >= self.count))

    def wake(self) -> None:
        """Under cond: something arrived."""
        self.cond.notify_all()
        waiters, self.waiters = self.waiters, []
        for wake in waiters:
            wake()


class GeneratorTable:
    """The owner's side of its generator tasks (loop thread: on_item; any thread: the readers).

    A stream is made by whichever comes first, the reader (`open`, right after the submission) or
    the first item; a stream whose reader went before the task ended is remembered in `closed`
    until the task ends, so that its late items are dropped."""

    def __init__(self, cw):
        self.cw = cw
        self.streams: dict[bytes, _Stream] = {}
        self.closed: set[bytes] = set()
        self._lock = threading.Lock()

    def _stream(self, task_id: bytes) -> _Stream | None:
        with self._lock:
            if task_id in self.closed:
                return None
            stream = self.streams.get(task_id)
            if stream is None:
                stream = self.streams[task_id] = _Stream(task_id)
            return stream

    def open(self, task_id: bytes, completion: ObjectRef, dynamic: bool = False) -> _Stream:
        stream = self._stream(task_id)
        oid = completion._id

        def completed(_oid, obj):
            count = None
            if not obj.is_error and not dynamic:    # (a dynamic one's value is read by the user's get)
                try:
                    count = int(serialization.deserialize(obj.data, self.cw))
                except Exception:
                    count = None
            with stream.cond:
                stream.completed, stream.count = True, count
                stream.wake()
            with self._lock:
                self.closed.discard(task_id)
        stream.on_completion = (oid, completed)
        obj = self.cw.store.get_or_wait(oid, completed)
        if obj is not None:
            completed(oid, obj)
        return stream

    def on_item(self, conn, msg) -> None:
        """Loop thread: item `index` of generator task `task_id` arrived."""
        task_id, index, data, is_error, nested = msg
        cw = self.cw
        oid = ids.object_id(task_id, index + 1)
        stream = self._stream(task_id)
        if stream is None or index != stream.received:
            # Nobody reads this generator any more, or one past a gap (items come in order; the retry
            # that fills the gap sends it again): dropped, with its copy in the node's store, which the
            # worker wrote for us. A retry's repeat of an item already here changes nothing (its store
            # copy replaced the first one under the same id).
            if stream is None or index > stream.received:
                cw.store_result(oid, StoredObject(data, is_error), owned=True)
            if nested is not None:
                cw.borrowing.adopt_nested(conn, [], nested)
            return
        with cw._lock:
            cw.refs.add_owned(oid)
            cw.refs.add_local(oid, cw.address)          # the generator's hold, until the reader takes it
        cw.store_result(oid, StoredObject(data, is_error), owned=True)
        if nested is not None:
            cw.borrowing.adopt_nested(conn, [oid], nested)
        with stream.cond:
            stream.held.add(index)
            stream.received = index + 1
            stream.wake()

    def take(self, stream: _Stream, index: int) -> ObjectRef:
        """A ref of item `index` (which has arrived) for the reader; the generator's hold goes."""
        oid = ids.object_id(stream.task_id, index + 1)
        ref = ObjectRef(oid, self.cw.address, self.cw)
        with stream.cond:
            held = index in stream.held
            stream.held.discard(index)
        if held:
            self.cw.remove_local_ref(oid)
        return ref

    def close(self, stream: _Stream) -> None:
        """The reader is gone: items not taken are released; later ones are dropped on arrival."""
        with self._lock:
            if self.streams.get(stream.task_id) is stream:
                del self.streams[stream.task_id]
            with stream.cond:
                if not stream.completed:
                    self.closed.add(stream.task_id)
                held, stream.held = list(stream.held), set()
        cw = self.cw
        if stream.on_completion is not None:      # the completion ref is gone too: it will not be kept
            cw.store.remove_waiter(*stream.on_completion)
        if cw._closed:
            return
        for index in held:
            cw.remove_local_ref(ids.object_id(stream.task_id, index + 1))


class ObjectRefGenerator:
    """The refs a streaming generator task yields, in order, as they are produced (Ray's class).

    `for ref in gen:` blocks until the next item is there; `async for` awaits it. When the task
    raised, the ref after the last item raises that error when got, then the iteration ends.
    """

    def __init__(self, completion: ObjectRef, table: GeneratorTable):
        self._completion = completion
        self._table = table
        self._stream = table.open(ids.task_of(completion._id), completion)
        self._next = 0
        self._error_given = False

    # ------------------------------------------------------------- sync
    def __iter__(self):
        return self

    def __next__(self) -> ObjectRef:
        ref = self._next_ref(None)
        if ref is None:
            raise StopIteration
        return ref

    def _next_ref(self, timeout: float | None):
        """The next ref; None at the end; raises GetTimeoutError after `timeout` seconds."""
        stream = self._stream
        with stream.cond:
            if not stream.cond.wait_for(lambda: stream.has(self._next), timeout):
                raise exceptions.GetTimeoutError(f"The generator's next item was not ready within {timeout} s.")
            has_item = stream.received > self._next
        if has_item:
            ref = self._table.take(stream, self._next)
            self._next += 1
            return ref
        obj = self._table.cw.store.get(self._completion._id)
        if obj is not None and obj.is_error and not self._error_given:
            self._error_given = True        # the task raised after its last item: that error, once
            return self._completion
        return None

    # ------------------------------------------------------------ async
    def __aiter__(self):
        return self

    async def __anext__(self) -> ObjectRef:
        while not self._ready_now():
            await self._wait_async()
        ref = self._next_ref(None)
        if ref is None:
            raise StopAsyncIteration
        return ref

    def _ready_now(self) -> bool:
        stream = self._stream
        with stream.cond:
            return stream.has(self._next)

    async def _wait_async(self) -> None:
        """Wake this coroutine when the next item or the end arrives, without blocking its loop."""
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        stream = self._stream

        def wake():
            loop.call_soon_threadsafe(lambda: woken.done() or woken.set_result(None))
        with stream.cond:
            if stream.has(self._next):
                return
            stream.waiters.append(wake)
        await woken

    # ------------------------------------------------------------- misc
    @property
    def _generator_ref(self) -> ObjectRef:
        """Ray's name for the ref of the task itself (the completion here)."""
        return self._completion

    def completed(self) -> ObjectRef:
        """A ref that is ready when the task has ended (its value: the number of items; or its error)."""
        return self._completion

    def is_finished(self) -> bool:
        """True once the task has ended and every item was taken."""
        stream = self._stream
        with stream.cond:
            done = stream.has(self._next) and stream.received <= self._next
        if not done:
            return False
        obj = self._table.cw.store.get(self._completion._id)
        return not (obj is not None and obj.is_error and not self._error_given)

    def next_ready(self) -> bool:
        """Whether next() would return at once."""
        return self._ready_now()

    def __reduce__(self):
        raise TypeError("An ObjectRefGenerator cannot be sent to another task or actor; iterate it here and "
                        "pass the refs it yields (or a list of them).")

    def __del__(self):
        try:
            self._table.close(self._stream)
        except Exception:    # interpreter shutdown
            pass

    def __repr__(self):
        return f"ObjectRefGenerator({self._completion.task_id()})"


class DynamicObjectRefGenerator:
    """The value of a `num_returns="dynamic"` task's ref: its items' refs, iterated once (Ray's class)."""

    def __init__(self, refs: list):
        self._refs = list(refs)
        self._it = iter(self._refs)

    def __iter__(self):
        return self

    def __next__(self) -> ObjectRef:
        return next(self._it)

    def __len__(self) -> int:
        return len(self._refs)

    def __reduce__(self):
        return (DynamicObjectRefGenerator, (self._refs,))

    def __repr__(self):
        return f"DynamicObjectRefGenerator({len(self._refs)} refs)"


class DynamicItems:
    """What a dynamic generator task returns: rebuilt as a DynamicObjectRefGenerator of the refs of its
    items, which its owner (the caller) holds."""

    def __init__(self, task_id: bytes, count: int, owner: str):
        self.task_id, self.count, self.owner = task_id, count, owner

    def __reduce__(self):
        return (_rebuild_dynamic, (self.task_id, self.count, self.owner))


def _rebuild_dynamic(task_id: bytes, count: int, owner: str) -> DynamicObjectRefGenerator:
    from strato.runtime.core_worker.object_ref import _rebuild_ref
    return DynamicObjectRefGenerator([_rebuild_ref(ids.object_id(task_id, i + 1), owner) for i in range(count)])


def dynamic_result(completion: ObjectRef, table: GeneratorTable) -> ObjectRef:
    """Owner, num_returns="dynamic": the items are held for as long as the completion ref lives here."""
    import weakref
    stream = table.open(ids.task_of(completion._id), completion, dynamic=True)
    weakref.finalize(completion, table.close, stream)
    return completion
