"""Store copies go when the last reference goes: owned, passed to tasks, returned, nested."""
import time

import numpy as np
import pytest

import strato
from strato._testing import num_objects, settle, wait_for, wait_store_empty

CLUSTER_KWARGS = {"num_cpus": 2, "object_store_memory": 512 << 20}
MiB = 1 << 20


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
    assert wait_store_empty()


def test_values_keep_the_object_mapped_until_they_go(cluster):
    ref = strato.put(np.ones(4 * MiB, dtype=np.uint8))
    value = strato.get(ref)
    del ref
    assert wait_store_empty()                                # freed by its owner ...
    assert value.sum() == 4 * MiB                      # ... but the reader's pages stay valid
    del value


def test_task_arguments_and_returns(cluster):
    ref = strato.put(np.ones(4 * MiB, dtype=np.uint8))
    assert strato.get(total.remote(ref)) == 4 * MiB
    out = make.remote(3 * MiB)
    assert strato.get(total.remote(out)) == 3 * MiB
    assert num_objects() == 2
    del ref, out
    assert wait_store_empty()


def test_many_puts_in_a_loop_do_not_accumulate(cluster):
    for _ in range(30):
        strato.put(np.ones(8 * MiB, dtype=np.uint8))
    assert wait_store_empty()


# --- nested and borrowed refs -------------------------------------------------

def big(value, mib=4):
    return np.full(mib * MiB, value, dtype=np.uint8)


@strato.remote
class Keeper:
    def __init__(self, refs=None):
        self.refs = list(refs or [])

    def keep(self, refs):
        self.refs.extend(refs)
        return len(self.refs)

    def total(self):
        return sum(int(a.sum()) for a in strato.get(self.refs))

    def drop(self):
        self.refs = []
        return 0


@strato.remote
def put_and_return_nested(value):
    return [strato.put(big(value))]


@strato.remote
def echo(x):
    return x


@strato.remote
def hand_to_keeper(keeper, refs):
    return strato.get(keeper.keep.remote(refs))


def test_a_ref_nested_in_a_put_lives_as_long_as_the_outer_object(cluster):
    inner = strato.put(big(1))
    outer = strato.put({"data": inner})
    del inner
    settle()
    assert num_objects() == 1
    assert int(strato.get(strato.get(outer)["data"]).sum()) == 4 * MiB
    del outer
    assert wait_store_empty()


def test_an_actor_that_keeps_a_nested_ref_keeps_the_object(cluster):
    keeper = Keeper.remote()
    ref = strato.put(big(1))
    assert strato.get(keeper.keep.remote([ref])) == 1
    del ref
    settle()
    assert num_objects() == 1
    assert strato.get(keeper.total.remote()) == 4 * MiB
    strato.get(keeper.drop.remote())
    assert wait_store_empty()
    strato.kill(keeper)


def test_refs_nested_in_constructor_arguments_survive_the_creator_dropping_them(cluster):
    ref = strato.put(big(2))
    keeper = Keeper.remote([ref])
    del ref
    settle()
    assert strato.get(keeper.total.remote()) == 2 * 4 * MiB
    strato.get(keeper.drop.remote())
    assert wait_store_empty()
    strato.kill(keeper)


def test_a_worker_owned_ref_returned_in_a_result_lives_while_the_caller_holds_it(cluster):
    outer = put_and_return_nested.remote(3)
    (inner,) = strato.get(outer)
    del outer
    settle()
    assert num_objects() == 1
    assert int(strato.get(inner).sum()) == 3 * 4 * MiB
    del inner
    assert wait_store_empty()


def test_a_returned_result_holds_its_nested_refs_until_it_goes(cluster):
    outer = put_and_return_nested.remote(4)
    strato.wait([outer])
    settle()
    assert num_objects() == 1                 # nobody has looked inside yet; the result holds it
    assert int(strato.get(strato.get(outer)[0]).sum()) == 4 * 4 * MiB
    del outer
    assert wait_store_empty()


def test_a_ref_sent_out_and_returned_comes_back_to_its_owner(cluster):
    ref = strato.put(big(5))
    back = echo.remote([ref])
    del ref
    (again,) = strato.get(back)
    del back
    settle()
    assert int(strato.get(again).sum()) == 5 * 4 * MiB
    del again
    assert wait_store_empty()


def test_a_borrower_passes_the_ref_on_to_another_borrower(cluster):
    keeper = Keeper.remote()
    ref = strato.put(big(6))
    assert strato.get(hand_to_keeper.remote(keeper, [ref])) == 1
    del ref
    settle()
    assert num_objects() == 1
    assert strato.get(keeper.total.remote()) == 6 * 4 * MiB
    strato.get(keeper.drop.remote())
    assert wait_store_empty()
    strato.kill(keeper)


def test_a_dead_borrower_releases_what_it_held(cluster):
    keeper = Keeper.remote()
    ref = strato.put(big(7))
    strato.get(keeper.keep.remote([ref]))
    del ref
    settle()
    assert num_objects() == 1
    strato.kill(keeper)
    assert wait_store_empty()


def test_nested_puts_in_a_loop_do_not_accumulate(cluster):
    for i in range(20):
        inner = strato.put(big(i % 200))
        outer = strato.put([inner, [inner]])
        first, (second,) = strato.get(echo.remote(outer))
        assert first == second == inner
        assert int(strato.get(second)[0]) == i % 200
        del inner, outer, first, second
    assert wait_store_empty()


@strato.remote
class Maker:
    def make(self, value):
        return [strato.put(big(value))]


def test_get_of_a_ref_whose_owner_died_raises_owner_died_error(cluster):
    maker = Maker.remote()
    (inner,) = strato.get(maker.make.remote(8))
    assert int(strato.get(inner)[0]) == 8
    strato.kill(maker)
    time.sleep(0.5)
    again = strato.get(strato.put([inner]))[0]     # a fresh copy of the ref, nothing cached for it
    del inner
    with pytest.raises(strato.exceptions.OwnerDiedError, match="owner"):
        strato.get(again, timeout=30)
    del again
    assert wait_store_empty()                             # the dead owner's store copy went with it


def test_a_restartable_actor_keeps_its_constructor_arguments_for_a_restart(cluster):
    import os
    import signal

    @strato.remote(max_restarts=1)
    class Restartable:
        def __init__(self, refs):
            self.total = int(strato.get(refs[0]).sum())   # only the value is kept, not the ref

        def read(self):
            return self.total, os.getpid()

    ref = strato.put(big(9))
    actor = Restartable.remote([ref])
    total, pid = strato.get(actor.read.remote())
    del ref
    settle()
    assert num_objects() == 1                          # held for the constructor's next run
    os.kill(pid, signal.SIGKILL)

    def read_once_restarted():
        try:
            return strato.get(actor.read.remote(), timeout=30)
        except strato.exceptions.RayActorError:      # not back yet
            return None

    read = wait_for(read_once_restarted, 30, interval=0.2)
    assert read, "the actor did not come back after its process was killed"
    again, new_pid = read
    assert again == total == 9 * 4 * MiB and new_pid != pid
    strato.kill(actor)
    assert wait_store_empty()


def test_a_ref_pickled_and_unpickled_by_user_code_works_and_keeps_its_object(cluster):
    import pickle

    @strato.remote
    def roundtrip(blob):
        ref = pickle.loads(blob)                    # user code, not strato, unpickles it
        return int(strato.get(ref).sum())

    ref = strato.put(big(11))
    blob = pickle.dumps(ref)
    copy = pickle.loads(blob)
    del ref
    settle()
    assert int(strato.get(copy).sum()) == 11 * 4 * MiB
    assert strato.get(roundtrip.remote(pickle.dumps(copy))) == 11 * 4 * MiB
    del copy
    assert wait_store_empty()
