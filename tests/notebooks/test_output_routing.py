"""Output of remote work lands under the cell that submitted it, even after that cell ended.

nbclient drops messages whose parent is not the running cell, so these tests
read iopub with jupyter_client and check each message's parent_header.
"""
import re
import time


def test_late_output_goes_to_its_own_cell_not_the_running_one(kernel):
    kernel.execute("%cluster connect --num-cpus 2")
    kernel.execute("import strato, time\n"
                   "@strato.remote\n"
                   "def slow_print(tag, delay):\n"
                   "    time.sleep(delay)\n"
                   "    print('late output from', tag, flush=True)\n"
                   "    return tag")
    first = kernel.execute("ref = slow_print.remote('first', 1.5)")         # returns at once
    assert first["content"]["status"] == "ok"
    # While the next cell runs, the first cell's task prints.
    second = kernel.execute("time.sleep(4)\nprint('second cell itself')")
    kernel.drain(quiet=1.0)
    first_text = kernel.streams_of(first["msg_id"])
    second_text = kernel.streams_of(second["msg_id"])
    assert re.search(r"\(slow_print pid=\d+\) late output from first", first_text), first_text
    assert "late output" not in second_text
    assert second_text == "second cell itself\n"


def test_nested_tasks_and_remote_cells_route_to_their_cell(kernel):
    kernel.execute("%cluster connect --num-cpus 2")
    kernel.execute("import strato, time\n"
                   "@strato.remote\n"
                   "def child():\n"
                   "    time.sleep(1.0)\n"
                   "    print('child speaks', flush=True)\n"
                   "@strato.remote\n"
                   "def parent():\n"
                   "    return strato.get(child.remote())")
    first = kernel.execute("r = parent.remote()")
    second = kernel.execute("%%remote\nimport time\nprint('remote cell output')\ntime.sleep(2.5)")
    kernel.drain(quiet=1.0)
    assert "child speaks" in kernel.streams_of(first["msg_id"])
    assert "child speaks" not in kernel.streams_of(second["msg_id"])
    assert kernel.streams_of(second["msg_id"]) == "remote cell output\n"


def test_interrupt_cancels_the_remote_cell(kernel):
    kernel.execute("%cluster connect --num-cpus 1")
    msg_id = kernel.kc.execute("%%remote\nimport time\ntime.sleep(60)\nfinished = True")
    time.sleep(2.0)
    kernel.km.interrupt_kernel()
    t0 = time.monotonic()
    while True:
        reply = kernel.kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - t0 < 10
    # The only CPU is free again: the sleeping cell was cancelled, not left running.
    follow = kernel.execute("%%remote\nafter = 'ran'\nafter", timeout=30)
    if follow["content"]["status"] == "aborted":
        # ipykernel aborts requests that reach it just after an error (stop_on_error): send again.
        follow = kernel.execute("%%remote\nafter = 'ran'\nafter", timeout=30)
    assert follow["content"]["status"] == "ok"
    assert kernel.execute("'finished' in dir()")["content"]["status"] == "ok"


def test_plain_strato_init_in_a_cell_is_routed_too(kernel):
    kernel.execute("import strato, time\nstrato.init(num_cpus=1)\n"
                   "@strato.remote\ndef later():\n    time.sleep(1.0)\n    print('from plain init', flush=True)")
    first = kernel.execute("ref = later.remote()")
    second = kernel.execute("time.sleep(3)")
    kernel.drain(quiet=1.0)
    assert "from plain init" in kernel.streams_of(first["msg_id"])
    assert kernel.streams_of(second["msg_id"]) == ""
    kernel.execute("strato.shutdown()")
