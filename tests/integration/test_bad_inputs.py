"""Bad input through the API and `init`: one clear error, raised before anything starts or is sent.

Each case names what is wrong and what to do; nothing is left running.
Where Ray 2.60 has an answer, the exception type is Ray's.
"""
import asyncio
import math
import subprocess
import time

import psutil
import pytest

import strato
from strato import exceptions
from strato._testing import free_port, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"object_store_memory": 10**13}, ValueError, "more than this machine's memory"),
    ({"object_store_memory": 10}, ValueError, "at least 78643200 bytes"),
    ({"object_store_memory": 1.5e8 + 0.5}, TypeError, "whole number of bytes"),
    ({"num_cpus": math.nan}, ValueError, "finite number"),
    ({"num_cpus": math.inf}, ValueError, "finite number"),
    ({"num_gpus": -1}, ValueError, ">= 0"),
    ({"num_cpus": "2"}, TypeError, "number"),
    ({"resources": {"widget": math.nan}}, TypeError, "number >= 0"),
    ({"address": "nohost.invalid:1"}, exceptions.ClusterConnectionError, "does not resolve"),
    ({"address": "no-port-here"}, ValueError, "host:port"),
    ({"address": "127.0.0.1:99999"}, ValueError, "port 1-65535"),
    ({"bogus_option": 1}, TypeError, "bogus_option"),
])
def test_init_refuses_bad_arguments_before_starting_anything(fresh_strato, kwargs, error, message):
    started = time.monotonic()
    with pytest.raises(error, match=message):
        strato.init(**kwargs)
    assert time.monotonic() - started < 5
    assert not strato.is_initialized()


def test_init_says_it_cannot_reach_an_address_where_nothing_listens(fresh_strato):
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(exceptions.ClusterConnectionError, match=f"Cannot reach {address}"):
        strato.init(address=address, _token="irrelevant")
    assert not strato.is_initialized()


@strato.remote
def one():
    return 1


async def _await(ref):
    return await ref


def test_refs_from_before_shutdown_fail_fast_with_owner_unknown(fresh_strato):
    strato.init(num_cpus=1)
    ref, task_ref = strato.put("old"), one.remote()
    assert strato.get(task_ref, timeout=30) == 1
    strato.shutdown()
    strato.init(num_cpus=1)
    started = time.monotonic()
    for attempt in (lambda: strato.get(ref), lambda: strato.get([task_ref], timeout=None),
                    lambda: strato.wait([ref], timeout=None), lambda: ref.future().result(timeout=30),
                    lambda: asyncio.run(_await(task_ref))):
        with pytest.raises(ValueError, match="owner of ObjectRef.*is unknown.*before strato.shutdown"):
            attempt()
    assert time.monotonic() - started < 2


def test_processes_a_task_started_do_not_outlive_shutdown(fresh_strato):
    strato.init(num_cpus=1)

    @strato.remote
    def start_sleeper():
        return subprocess.Popen(["sleep", "120"]).pid

    pid = strato.get(start_sleeper.remote(), timeout=30)
    assert psutil.pid_exists(pid)
    strato.shutdown()

    def gone():
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    assert wait_for(gone, 10)


def test_rays_other_init_arguments_are_accepted_or_refused_clearly(fresh_strato):
    with pytest.raises(ValueError, match=r"local_mode=True\) is not supported"):
        strato.init(local_mode=True)
    with pytest.raises(TypeError, match="no_such_argument"):
        strato.init(no_such_argument=1, logging_level="INFO")
    strato.init(num_cpus=1, include_dashboard=False, dashboard_port=8265, configure_logging=True,
                logging_level="WARNING", log_to_driver=True, labels={"zone": "a"}, local_mode=False)
    assert strato.is_initialized()
