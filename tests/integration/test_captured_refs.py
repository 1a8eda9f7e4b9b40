"""Refs captured in a remote function's closure stay valid while the function can run.

A notebook defines `data = strato.put(frame)` and a remote function that reads
`data`; re-running the put cell rebinds the name while tasks of the function
may still be pending or run later. The refs pickled with a function are kept
alive by its definition in the driver and by every pending task of it (an
actor class's: by each actor made from it, while the actor lives).
"""
import gc
import time

import numpy as np

import strato
from strato._testing import num_objects, wait_collected

CLUSTER_KWARGS = {"num_cpus": 2, "object_store_memory": 256 << 20}
MiB = 1 << 20


def test_a_ref_captured_in_a_closure_outlives_the_name_that_held_it(cluster):
    captured = strato.put(np.full(4 * MiB, 3, dtype=np.uint8))

    @strato.remote
    def read_captured(delay):
        time.sleep(delay)
        return int(strato.get(captured).sum())

    first = read_captured.remote(0.0)
    pending = read_captured.remote(1.0)
    del captured                        # like re-running the cell that made it
    gc.collect()
    assert strato.get([first, pending]) == [12 * MiB, 12 * MiB]
    assert strato.get(read_captured.remote(0.0)) == 12 * MiB
    assert num_objects() == 1
    del read_captured, first, pending
    assert wait_collected(lambda: num_objects() == 0), num_objects()


def test_a_pending_task_keeps_what_its_function_captured_after_a_redefinition(cluster):
    captured = strato.put(np.full(4 * MiB, 5, dtype=np.uint8))

    @strato.remote
    def slow_read():
        time.sleep(1.0)
        return int(strato.get(captured).sum())

    ref = slow_read.remote()
    del captured, slow_read             # the cell is re-run: new put, new definition
    gc.collect()
    assert strato.get(ref) == 20 * MiB
    del ref
    assert wait_collected(lambda: num_objects() == 0), num_objects()


def test_an_actor_keeps_what_its_class_captured_while_it_lives(cluster):
    captured = strato.put(np.full(4 * MiB, 7, dtype=np.uint8))

    @strato.remote
    class Reader:
        def read(self):
            return int(strato.get(captured).sum())

    actor = Reader.remote()
    del captured, Reader
    gc.collect()
    time.sleep(0.5)
    assert strato.get(actor.read.remote()) == 28 * MiB
    del actor                            # the actor goes out of scope and ends
    assert wait_collected(lambda: num_objects() == 0), num_objects()
