"""`get` of more large objects than the object store holds returns them all, as Ray's does.

Ray falls back to memory outside its store; here a spilled object that
cannot be restored (the store is full of values the caller is still holding)
is mapped straight from its spill file. A `get` does not fail while the
machine has room.
"""
import numpy as np
import pytest

import strato

CLUSTER_KWARGS = {"num_cpus": 1, "object_store_memory": 100 * 2**20}
pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(90)]


def test_get_of_more_than_the_store_holds_returns_every_value():
    n = 4 * 2**20                                           # 32 MiB each, 128 MiB in all, store 100 MiB
    refs = [strato.put(np.full(n, i, dtype=np.int64)) for i in range(4)]
    values = strato.get(refs, timeout=60)                 # all of them alive at once
    assert [int(v[0]) for v in values] == [0, 1, 2, 3] and [int(v[-1]) for v in values] == [0, 1, 2, 3]
    assert all(v.shape == (n,) and not v.flags.writeable for v in values)     # read-only, as in the store
    del values

    @strato.remote
    def total(*arrays):
        return int(sum(int(a.sum()) for a in arrays))

    assert strato.get(total.remote(*refs), timeout=60) == n * (0 + 1 + 2 + 3)
