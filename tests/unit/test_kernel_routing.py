"""Output routing: records go under the cell that submitted the work (strato.kernel.routing)."""
import io
import sys

from strato.runtime.worker.cell_runner import OUTPUT_MARKER
from strato.kernel.routing import OutputRouter, cell_tag, execution_count_of, label_for, remote_cell_task_name


class FakeShell:
    """Records which parent each write happened under, as ipykernel's set_thread_parent would."""

    def __init__(self):
        self.parent = None
        self.writes = []

    def set_thread_parent(self, parent):
        old, self.parent = self.parent, parent
        return (old,)

    def reset_thread_parent(self, tokens):
        self.parent = tokens[0]


def record(text, tag="cell:3:abcd", name="f", stream="stdout", task_id="01", ip="127.0.0.1"):
    return {"tag": tag, "task_id": task_id, "task_name": name, "pid": 42, "node_ip": ip, "stream": stream,
            "text": text}


def capture(router, rec, monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    shell = router.shell
    seen = []

    class Spy(io.StringIO):
        def __init__(self, target):
            super().__init__()
            self.target = target

        def write(self, text):
            seen.append((shell.parent, self.target, text))
            return len(text)

    monkeypatch.setattr(sys, "stdout", Spy("stdout"))
    monkeypatch.setattr(sys, "stderr", Spy("stderr"))
    router.handle(rec)
    return seen


def test_tags_name_the_cell():
    tag = cell_tag(7, "0123456789abcdef")
    assert tag == "cell:7:01234567"
    assert execution_count_of(tag) == 7
    assert execution_count_of(None) is None and execution_count_of("other") is None


def test_output_goes_under_the_submitting_cell(monkeypatch):
    router = OutputRouter(FakeShell(), local_ip="127.0.0.1")
    router.remember("cell:3:abcd", {"header": {"msg_id": "abcd"}})
    router.remember("cell:4:ef01", {"header": {"msg_id": "ef01"}})
    seen = capture(router, record("hello\n"), monkeypatch)
    assert seen == [({"header": {"msg_id": "abcd"}}, "stdout", "(f pid=42) hello\n")]
    assert router.shell.parent is None            # restored afterwards
    seen = capture(router, record("oops\n", tag="cell:4:ef01", stream="stderr"), monkeypatch)
    assert seen == [({"header": {"msg_id": "ef01"}}, "stderr", "(f pid=42) oops\n")]


def test_unknown_tag_writes_without_a_parent(monkeypatch):
    router = OutputRouter(FakeShell())
    seen = capture(router, record("x\n", tag=None), monkeypatch)
    assert seen == [(None, "stdout", "(f pid=42, ip=127.0.0.1) x\n")]


def test_labels():
    assert label_for(record("", name=remote_cell_task_name(5)), "127.0.0.1") == ""
    assert label_for(record("", name=remote_cell_task_name(5, rank=2)), "127.0.0.1") == "[rank 2] "
    assert label_for(record("", ip="10.0.0.9"), "127.0.0.1") == "(f pid=42, ip=10.0.0.9) "


def test_partial_lines_are_labeled_once(monkeypatch):
    router = OutputRouter(FakeShell(), local_ip="127.0.0.1")
    a = capture(router, record("abc"), monkeypatch)
    b = capture(router, record("def\nghi\n"), monkeypatch)
    assert a[0][2] + b[0][2] == "(f pid=42) abcdef\n(f pid=42) ghi\n"


def test_markers_are_swallowed_and_signal_the_end_of_a_cells_output(monkeypatch):
    router = OutputRouter(FakeShell())
    event = router.expect_marker("m1")
    seen = capture(router, record(f"last line\n{OUTPUT_MARKER}m1\n", name=remote_cell_task_name(3)), monkeypatch)
    assert event.is_set()
    assert [text for _, _, text in seen] == ["last line\n"]
    assert capture(router, record(f"{OUTPUT_MARKER}m2\n"), monkeypatch) == []


def test_logs_filter_by_task_and_actor(monkeypatch):
    router = OutputRouter(FakeShell())
    capture(router, record("one\n", task_id="aa11", name="f"), monkeypatch)
    capture(router, record("two\n", task_id="bb22", name="Counter.incr"), monkeypatch)
    assert [r["text"] for r in router.logs(task="aa")] == ["one\n"]
    assert [r["text"] for r in router.logs(task="f")] == ["one\n"]
    assert [r["text"] for r in router.logs(actor="Counter")] == ["two\n"]
    assert len(router.logs(tail=1)) == 1
