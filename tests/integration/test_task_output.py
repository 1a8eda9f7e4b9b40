"""What tasks print reaches the driver that submitted them, labeled with the submitter's tag."""
import logging
import sys
import time

import strato
from strato._testing import wait_for
from strato.util import output


def collect(seconds_until, records, n):
    """Wait until `records` holds at least `n` entries, or `seconds_until` pass."""
    wait_for(lambda: len(records) >= n, seconds_until, interval=0.05)


def test_prints_logging_and_nested_output_arrive_with_the_tag(cluster):
    @strato.remote
    def child():
        print("child line")
        return 1

    @strato.remote
    def parent(x):
        print("hello", x)
        logging.getLogger("user").warning("careful %s", x)
        print("to stderr", file=sys.stderr)
        print("unterminated", end="")
        return strato.get(child.remote())

    records = []
    output.set_output_handler(records.append)
    try:
        with output.submission_tag("cell-7"):
            assert strato.get(parent.remote(2)) == 1
        collect(10, records, 5)
    finally:
        output.set_output_handler(None)
    got = {(r["task_name"], r["stream"], r["text"]) for r in records}
    assert ("parent", "stdout", "hello 2\n") in got
    assert ("parent", "stderr", "to stderr\n") in got
    assert ("parent", "stdout", "unterminated") in got
    assert ("child", "stdout", "child line\n") in got
    assert any("careful 2" in r["text"] and r["stream"] == "stderr" for r in records)
    assert {r["tag"] for r in records} == {"cell-7"}
    assert all(r["pid"] > 0 and r["node_ip"] and len(r["task_id"]) == 32 for r in records)


def test_without_a_handler_lines_are_printed_with_a_prefix(cluster, capfd):
    @strato.remote
    def speak():
        print("plain words")

    strato.get(speak.remote())
    deadline = time.monotonic() + 10
    seen = ""
    while time.monotonic() < deadline and "plain words" not in seen:
        time.sleep(0.05)
        seen += capfd.readouterr().out
    assert "(speak pid=" in seen and "plain words" in seen


def test_tag_is_per_context_and_untagged_tasks_have_none(cluster):
    @strato.remote
    def say(word):
        print(word)

    records = []
    output.set_output_handler(records.append)
    try:
        strato.get(say.remote("untagged"))
        with output.submission_tag({"cell": 3}):
            strato.get(say.remote("tagged"))
        collect(10, records, 2)
    finally:
        output.set_output_handler(None)
    by_text = {r["text"]: r["tag"] for r in records}
    assert by_text == {"untagged\n": None, "tagged\n": {"cell": 3}}
