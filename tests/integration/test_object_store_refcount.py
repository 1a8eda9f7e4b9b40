"""Store copies go when the last reference goes: owned, passed to tasks, returned, nested."""
import gc
import time

import numpy as np

import strato
from strato import api
from strato.runtime.object_store.stats import cluster_store_stats




CLUSTER_KWARGS = {"num_cpus": 2, "object_store_memory": 512 << 20}
MiB = 1 << 20


def num_objects():
    (st,) = cluster_store_stats(api._worker).values()
    return st["num_objects"]


def wait_empty(timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        gc.collect()
        if num_objects() == 0:
            return True
        time.sleep(0.1)
    return num_objects() == 0


@strato.remote
def total(a):
    return int(a.sum())


@strato.remote
def make(n):
    return np.ones(n, dtype=np.uint8)


def test_put_freed_when_ref_goes(cluster):
    ref = strato.put(np.ones(4 * MiB, dtype=np.uint8))
    assert num_objects() == 1
    del ref
    assert wait_empty()


def test_values_keep_the_object_mapped_until_they_go(cluster):
    ref = strato.put(np.ones(4 * MiB, dtype=np.uint8))
    value = strato.get(ref)
    del ref
    assert wait_empty()                                # freed by its owner ...
    assert value.sum() == 4 * MiB                      # ... but the reader's pages stay valid
    del value


def test_task_arguments_and_returns(cluster):
    ref = strato.put(np.ones(4 * MiB, dtype=np.uint8))
    assert strato.get(total.remote(ref)) == 4 * MiB
    out = make.remote(3 * MiB)
    assert strato.get(total.remote(out)) == 3 * MiB
    assert num_objects() == 2
    del ref, out
    assert wait_empty()


def test_many_puts_in_a_loop_do_not_accumulate(cluster):
    for _ in range(30):
        strato.put(np.ones(8 * MiB, dtype=np.uint8))
    assert wait_empty()
