"""Calling conventions as Ray 2.60 has them.

* a remote function, actor constructor or actor method called with the wrong
  arguments raises TypeError at `.remote()`, naming the signature -- nothing
  is submitted;
* `@remote` on an `async def` function is refused (ValueError);
* `wait([])` is `([], [])`;
* `@method` takes Ray's options (enable_task_events, concurrency_group, ...),
  and `max_task_retries` per method;
* an actor that runs one call at a time and waits on a call to itself is
  told at once instead of waiting forever.
"""
import pytest

import strato
from strato.actor import METHOD_OPTIONS

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(60)]


@strato.remote
def add(a, b, *, scale=1):
    return (a + b) * scale


@strato.remote
def anything(*args, **kwargs):
    return len(args), sorted(kwargs)


@strato.remote
class Account:
    def __init__(self, owner, balance=0):
        self.owner, self.balance = owner, balance

    def deposit(self, amount):
        self.balance += amount
        return self.balance

    @strato.method(enable_task_events=False, concurrency_group=None, max_task_retries=2, num_returns=2,
                   retry_exceptions=False, _generator_backpressure_num_objects=2)
    def both(self):
        return self.owner, self.balance

    @staticmethod
    def rate(years):
        return 1.01 ** years

    def me(self):
        self.handle = strato.get_runtime_context().current_actor
        return True

    def wait_on_myself(self):
        return strato.get(self.handle.deposit.remote(1), timeout=20)

    def submit_to_myself(self):
        self.handle.deposit.remote(1)       # fine: not waited on
        return "submitted"


@pytest.mark.parametrize("args,kwargs,message", [
    ((1,), {}, "missing a required argument: 'b'"),
    ((1, 2, 3), {}, "too many positional arguments"),
    ((1, 2), {"bogus": 1}, "unexpected keyword argument 'bogus'"),
    ((1,), {"scale": 2}, "missing a required argument: 'b'"),
])
def test_wrong_arguments_fail_at_remote_with_the_signature(args, kwargs, message):
    with pytest.raises(TypeError, match=message) as info:
        add.remote(*args, **kwargs)
    assert "add(a, b, *, scale=...)" in str(info.value)


def test_right_arguments_in_every_form_are_accepted():
    refs = [add.remote(1, 2), add.remote(1, b=2), add.remote(a=1, b=2, scale=3), add.options(name="x").remote(2, 2)]
    assert strato.get(refs, timeout=30) == [3, 3, 9, 4]
    assert strato.get(anything.remote(1, 2, k=3), timeout=30) == (2, ["k"])


def test_actor_constructor_and_methods_check_their_arguments():
    with pytest.raises(TypeError, match=r"Account.__init__\(\) was called with the wrong arguments"):
        Account.remote()
    with pytest.raises(TypeError, match="too many positional"):
        Account.remote("ann", 1, 2)
    acct = Account.remote("ann", balance=5)
    with pytest.raises(TypeError, match=r"Account.deposit\(amount\)"):
        acct.deposit.remote()
    with pytest.raises(TypeError):
        acct.rate.remote()
    assert strato.get(acct.deposit.remote(10), timeout=30) == 15
    assert strato.get(acct.rate.remote(0), timeout=30) == 1.0          # a staticmethod takes no self
    assert strato.get(list(acct.both.remote()), timeout=30) == ["ann", 15]
    strato.kill(acct)


def test_async_def_is_refused_as_a_task():
    async def fetch():
        return 1
    with pytest.raises(ValueError, match="'async def' cannot be a remote task.*asyncio.run"):
        strato.remote(fetch)
    with pytest.raises(ValueError, match="async def"):
        strato.remote(num_cpus=1)(fetch)


def test_wait_on_an_empty_list_returns_two_empty_lists():
    assert strato.wait([]) == ([], [])
    assert strato.wait([], num_returns=1, timeout=0) == ([], [])


def test_method_takes_rays_options_and_names_the_valid_ones():
    assert set(METHOD_OPTIONS) >= {"num_returns", "concurrency_group", "max_task_retries", "retry_exceptions",
                                   "enable_task_events", "tensor_transport"}
    with pytest.raises(ValueError, match="'bogus'.*num_returns, concurrency_group"):
        strato.method(bogus=True)
    with pytest.raises(TypeError, match="num_returns"):
        strato.method(num_returns=-1)

    def plain(self):
        return 1
    assert strato.method(plain) is plain       # bare @strato.method, as in Ray


def test_an_actor_waiting_on_a_call_to_itself_is_told_instead_of_hanging():
    acct = Account.remote("bob")
    assert strato.get(acct.me.remote(), timeout=30) is True
    with pytest.raises(RuntimeError, match="call it made to itself.*wait forever"):
        strato.get(acct.wait_on_myself.remote(), timeout=30)
    assert strato.get(acct.submit_to_myself.remote(), timeout=30) == "submitted"
    strato.kill(acct)


@strato.remote
class Leaving:
    def leave(self):
        from strato.actor import exit_actor
        exit_actor()
        return "still here"

    def ping(self):
        return "pong"


def test_exit_actor_ends_the_actor_from_inside():
    from strato.actor import exit_actor
    actor = Leaving.remote()
    assert strato.get(actor.ping.remote(), timeout=30) == "pong"
    with pytest.raises(strato.exceptions.RayActorError):
        strato.get(actor.leave.remote(), timeout=30)
    with pytest.raises(strato.exceptions.ActorDiedError):
        strato.get(actor.ping.remote(), timeout=30)
    with pytest.raises(TypeError, match="outside an actor"):
        exit_actor()
