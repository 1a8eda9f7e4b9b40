"""Borrowing, the caller's and the borrower's side of Ray's ownership protocol (loop thread).

    a ref this process does not own arrives (argument, return, nested)  -> AddBorrower to
        its owner (a request); the owner counts this process among the ref's borrowers
    its last copy here goes                                             -> RemoveBorrower
    a task's returns nest refs: the worker holds them "in transit"      -> the caller adopts
        them (ReleaseTransit), or they are released when the caller's connection closes

reference_table.py decides *what* to send, this module sends it in order:
releases and task results wait for every registration sent before them
(ack_gate.py), so an owner never frees an object a borrower has just taken.
"""
from __future__ import annotations

import asyncio
import logging

from strato.runtime.core_worker.ack_gate import AckGate
from strato.runtime.protocol import messages as m

logger = logging.getLogger(__name__)


class Borrowing:
    def __init__(self, cw):
        self.cw = cw
        self._acks = AckGate()                # releases and results wait for earlier registrations
        self._borrower_conns: dict = {}       # connection -> address of the borrower using it
        self._transit: dict = {}              # worker: connection -> ids held for that caller

    def handlers(self) -> dict:
        return {m.AddBorrower: self.on_add_borrower, m.RemoveBorrower: self.on_remove_borrower,
                m.ReleaseTransit: self.on_release_transit}

    def refs_changed(self) -> None:
        """Under self.cw._lock: hand the table's registrations and releases to the loop, in order."""
        adds, removes = self.cw.refs.take_messages()
        self.cw.post(self._send_borrow_messages, adds, removes)

    def _send_borrow_messages(self, adds: list, removes: list) -> None:
        """Loop thread. Registrations go out now; releases wait until every registration sent
        before them is acknowledged (so no owner frees what a borrower has just taken)."""
        if adds:
            for owner, oids in _group(adds).items():
                self.cw.loop.create_task(self._register_borrows(owner, oids, self._acks.sent()))
        if removes:
            self.send_gated(self._send_releases, removes)

    def send_gated(self, fn, *args) -> None:
        """Loop thread: run fn(*args) once every borrower registration sent before now is
        acknowledged (later ones do not hold it up)."""
        if not self._acks.waiting():        # the common case, every task result: nothing to hold it behind
            fn(*args)
        else:
            self._acks.gate((fn, args))

    def _borrower_id(self) -> str:
        """Names this process to owners: its address plus its worker id, so that a later process
        that happens to get the same port is never mistaken for it."""
        return f"{self.cw.address}/{self.cw.worker_id.hex()}"

    async def _register_borrows(self, owner: str, oids: list, seq: int) -> None:
        try:
            conn = await self.cw.connect(owner)
            unknown = await asyncio.wait_for(conn.request(m.AddBorrower, self._borrower_id(), oids), 30)
            if unknown:
                logger.debug("owner %s had already freed %d borrowed object(s)", owner, len(unknown))
        except Exception as exc:   # the owner is gone: a get of these reports OwnerDiedError
            logger.debug("could not register borrowed refs with %s: %s", owner, exc)
        finally:
            for fn, args in self._acks.acked(seq):
                fn(*args)

    def _send_releases(self, removes: list) -> None:
        for owner, oids in _group(removes).items():
            self.cw.loop.create_task(self._release_borrows(owner, oids))

    async def _release_borrows(self, owner: str, oids: list) -> None:
        try:
            conn = await self.cw.connect(owner)
            conn.send(m.RemoveBorrower(self._borrower_id(), oids))
        except Exception as exc:
            logger.debug("could not release borrowed refs at %s: %s", owner, exc)

    def register_task_borrows(self) -> None:
        """Worker, a task ended: register the borrowed refs from its arguments it still holds."""
        if not self.cw.refs.deferred:      # the common case, every task: no lock needed to see it
            return
        with self.cw._lock:
            if self.cw.refs.deferred:
                self.cw.refs.register_deferred()
                self.refs_changed()

    def hold_in_transit(self, nested: list) -> None:
        """Worker: refs nested in a task's returns stay alive until the caller took them over."""
        with self.cw._lock:
            self.cw.refs.add_transit([oid for inner in nested if inner for oid, _ in inner])

    def send_done(self, conn, msg: m.TaskDone | m.ActorDone) -> None:
        """Loop thread: a task's result goes to its caller after this worker's registrations
        (the caller may release the task's arguments as soon as it has the result)."""
        nested = msg.nested
        if nested is not None:
            oids = [oid for inner in nested if inner for oid, _ in inner]
            if conn.closed:
                self._release_transit(oids)
                return
            self._transit.setdefault(conn, []).extend(oids)
        if self._acks.waiting():
            self._acks.gate((_send_if_open, (conn, msg)))
        elif not conn.closed:               # the common case, every task result: nothing to hold it behind
            conn.send(msg)

    def _release_transit(self, oids: list) -> None:
        with self.cw._lock:
            freed = self.cw.refs.remove_transit(oids)
            if freed:
                self.cw._free(freed)

    def adopt_nested(self, conn, return_ids: list, nested: list | None) -> None:
        """Loop thread, caller side of a finished task whose returns nest refs: each return this
        process still refers to holds its nested refs (registering as their borrower); then the
        worker may drop its transit holds."""
        if nested is None:
            return
        oids = [oid for inner in nested if inner for oid, _ in inner]
        with self.cw._lock:
            for outer, inner in zip(return_ids, nested):
                if inner:
                    self.cw.refs.add_contained(outer, inner)
            if self.cw.refs.adds:
                self.refs_changed()
        self.cw.post(self.send_gated, _send_if_open, conn, m.ReleaseTransit(oids))

    def on_add_borrower(self, conn, msg: m.AddBorrower) -> None:
        with self.cw._lock:
            unknown = [oid for oid in msg.oids if not self.cw.refs.add_borrower(oid, msg.borrower)]
        self._borrower_conns[conn] = msg.borrower
        conn.reply(msg.req_id, unknown)

    def on_remove_borrower(self, conn, msg: m.RemoveBorrower) -> None:
        with self.cw._lock:
            freed = []
            for oid in msg.oids:
                freed += self.cw.refs.remove_borrower(oid, msg.borrower)
            if freed:
                self.cw._free(freed)

    def on_release_transit(self, conn, msg: m.ReleaseTransit) -> None:
        oids = msg.oids
        held = self._transit.get(conn)
        if held is not None:
            for oid in oids:
                try:
                    held.remove(oid)
                except ValueError:
                    pass
            if not held:
                del self._transit[conn]
        self._release_transit(oids)

    def connection_closed(self, conn) -> None:
        """A connection closed: a borrower on it released everything; a caller that never took
        over its task's nested returns releases them too."""
        who = self._borrower_conns.pop(conn, None)
        if who is not None and who not in self._borrower_conns.values():
            with self.cw._lock:
                freed = self.cw.refs.drop_borrower(who)
                if freed:
                    self.cw._free(freed)
        held = self._transit.pop(conn, None)
        if held:
            self._release_transit(held)


def _group(pairs) -> dict:
    """[(owner, id)] -> {owner: [ids]}"""
    out: dict = {}
    for owner, oid in pairs:
        out.setdefault(owner, []).append(oid)
    return out


def _send_if_open(conn, msg) -> None:
    if not conn.closed:
        conn.send(msg)
