"""Misuse of the API on a running cluster: one clear error naming what is wrong and what to do,
raised before anything is submitted. Where Ray 2.60 has an answer, the exception type is Ray's."""
import math

import pytest

import strato

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.timeout(60)]


@strato.remote
def one():
    return 1


@pytest.mark.parametrize("call,error,message", [
    (lambda: strato.remote(42), TypeError, "takes a function or a class.*got int"),
    (lambda: strato.remote(1, 2), TypeError, "2 positional arguments"),
    (lambda: strato.remote(num_cpus=1)(42), TypeError, "decorates a function or a class, got int"),
    (lambda: strato.wait(42), TypeError, "takes a list of ObjectRefs, got int"),
    (lambda: strato.wait([42]), TypeError, "a list containing int"),
    (lambda: strato.get(42), ValueError, "takes an ObjectRef or a list of ObjectRefs, got int"),
    (lambda: strato.get([one.remote(), "x"]), ValueError, "a list containing str"),
    (lambda: strato.get(one.remote(), timeout=math.nan), ValueError, "timeout must be"),
    (lambda: strato.get(one.remote(), timeout=-1), ValueError, "timeout must be"),
    (lambda: strato.wait([one.remote()], timeout=math.nan), ValueError, "timeout must be"),
    (lambda: strato.wait([one.remote()], num_returns=0), ValueError, "num_returns"),
    (lambda: strato.put(strato.put(1)), TypeError, "already in the cluster"),
    (lambda: one(), TypeError, r"one.remote\(\)"),
    (lambda: strato.kill(one.remote()), TypeError, "actor handle"),
    (lambda: strato.cancel("ref"), TypeError, "ObjectRef"),
    (lambda: one.options(num_cpus=-1), ValueError, "num_cpus"),
    (lambda: one.options(bogus=1), ValueError, "Invalid option keyword 'bogus'"),
])
def test_api_misuse_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_get_with_an_infinite_timeout_waits_as_none():
    assert strato.get(one.remote(), timeout=math.inf) == 1
