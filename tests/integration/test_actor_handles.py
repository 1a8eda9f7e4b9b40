"""Actor handles travel: to tasks, to other actors, inside values, and back.

A handle pickles as the actor's id and its method table, so any process of
the cluster that receives one -- as an argument, inside a list or dict, as a
return value -- can call the actor, and all of them reach the same instance.
"""
import pytest

import strato

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(150)]


@strato.remote
class Account:
    def __init__(self, balance=0):
        self.balance = balance

    def deposit(self, amount):
        self.balance += amount
        return self.balance

    def read(self):
        return self.balance


@strato.remote
def deposit_from_task(account, amount):
    return strato.get(account.deposit.remote(amount))


@strato.remote
def deposit_many(accounts, amount):
    return strato.get([a.deposit.remote(amount) for a in accounts])


@strato.remote
class Teller:
    """Holds a handle to another actor, given to its constructor."""

    def __init__(self, account):
        self.account = account

    def pay_in(self, amount):
        return strato.get(self.account.deposit.remote(amount))

    def pay_into(self, other_account, amount):
        return strato.get(other_account.deposit.remote(amount))


def test_a_task_can_call_an_actor_whose_handle_it_was_passed():
    acct = Account.remote(10)
    assert strato.get(deposit_from_task.remote(acct, 5), timeout=60) == 15
    assert strato.get(acct.read.remote(), timeout=30) == 15     # the same instance the driver sees
    strato.kill(acct)


def test_many_tasks_calling_one_actor_all_reach_the_same_instance():
    acct = Account.remote()
    strato.get([deposit_from_task.remote(acct, 1) for _ in range(40)], timeout=120)
    assert strato.get(acct.read.remote(), timeout=30) == 40
    strato.kill(acct)


def test_handles_inside_lists_and_dicts_can_be_called():
    a, b = Account.remote(), Account.remote(100)
    assert strato.get(deposit_many.remote([a, b], 1), timeout=60) == [1, 101]

    @strato.remote
    def by_name(accounts):
        return {name: strato.get(h.read.remote()) for name, h in accounts.items()}

    assert strato.get(by_name.remote({"a": a, "b": b}), timeout=60) == {"a": 1, "b": 101}
    strato.kill(a)
    strato.kill(b)


def test_an_actor_given_a_handle_in_its_constructor_can_call_it():
    acct = Account.remote()
    teller = Teller.remote(acct)
    assert strato.get(teller.pay_in.remote(7), timeout=60) == 7
    assert strato.get(acct.read.remote(), timeout=30) == 7
    strato.kill(teller)
    strato.kill(acct)


def test_an_actor_given_a_handle_in_a_method_call_can_call_it():
    acct, other = Account.remote(), Account.remote(50)
    teller = Teller.remote(acct)
    assert strato.get(teller.pay_into.remote(other, 5), timeout=60) == 55
    assert strato.get([acct.read.remote(), other.read.remote()], timeout=30) == [0, 55]
    for h in (teller, acct, other):
        strato.kill(h)


def test_a_handle_can_be_returned_from_a_task_and_used_by_the_driver():
    acct = Account.remote(3)

    @strato.remote
    def pass_back(handles):
        return handles[0]

    back = strato.get(pass_back.remote([acct]), timeout=60)
    assert back == acct
    assert strato.get(back.deposit.remote(1), timeout=30) == 4
    strato.kill(acct)


def test_a_handle_can_be_stored_with_put_and_fetched_by_a_task():
    acct = Account.remote()
    ref = strato.put(acct)

    @strato.remote
    def use(handle_ref):
        return strato.get(strato.get(handle_ref[0]).deposit.remote(2))

    assert strato.get(use.remote([ref]), timeout=60) == 2
    strato.kill(acct)


def test_an_actor_can_create_another_actor_and_return_its_handle():
    @strato.remote
    class Bank:
        def open_account(self, balance):
            self.account = Account.remote(balance)     # keep it referenced here too
            return self.account

    bank = Bank.remote()
    acct = strato.get(bank.open_account.remote(20), timeout=60)
    assert strato.get(acct.deposit.remote(1), timeout=60) == 21
    strato.kill(acct)
    strato.kill(bank)


def test_a_chain_of_actors_passes_calls_along():
    @strato.remote
    class Relay:
        def __init__(self, nxt):
            self.nxt = nxt

        def send(self, value):
            if self.nxt is None:
                return [value]
            return [value] + strato.get(self.nxt.send.remote(value + 1))

    last = Relay.remote(None)
    middle = Relay.remote(last)
    first = Relay.remote(middle)
    assert strato.get(first.send.remote(0), timeout=90) == [0, 1, 2]
    for h in (first, middle, last):
        strato.kill(h)
