"""strato._testing: the shared test helpers import anywhere Strato does, and wait as documented."""
import gc
import os
import subprocess
import sys
import weakref

from strato._testing import digest, process_gone, wait_collected, wait_for


def test_importing_the_helpers_pulls_in_neither_pytest_nor_a_conftest():
    # Workers import test modules, which import these helpers: they must load without pytest.
    code = ("import sys, strato._testing; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest', 'conftest')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_wait_for_returns_the_first_truthy_value():
    calls = []

    def third_time():
        calls.append(1)
        return len(calls) >= 3 and "ready"

    assert wait_for(third_time, 5, interval=0.01) == "ready"
    assert len(calls) == 3


def test_wait_for_gives_up_with_the_last_falsy_value_after_trying_past_the_deadline():
    calls = []

    def never():
        calls.append(1)
        return len(calls) * 0          # 0, a falsy value that is not False

    assert wait_for(never, 0.05, interval=0.01) == 0
    assert len(calls) >= 2


def test_wait_collected_collects_garbage_before_each_try():
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a            # a cycle: only the garbage collector frees it
    gone = weakref.ref(a)
    del a, b
    gc.disable()
    try:
        assert not wait_for(lambda: gone() is None, 0.05, interval=0.01)
        assert wait_collected(lambda: gone() is None, 5, interval=0.01)
    finally:
        gc.enable()


def test_process_gone_and_digest():
    assert not process_gone(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_gone(child.pid)
    assert digest(b"abc") == digest(memoryview(b"abc")) != digest(b"abd")
