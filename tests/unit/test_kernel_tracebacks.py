"""Remote tracebacks rendered against the notebook's cells (strato.kernel.tracebacks)."""
import os

import strato
from strato.kernel.tracebacks import render, split_frames

RUNTIME = os.path.join(os.path.dirname(strato.__file__), "runtime", "worker", "cell_runner.py")

REMOTE_CELL_TB = f'''Traceback (most recent call last):
  File "{RUNTIME}", line 50, in execute
    exec(compile(tree, filename, "exec"), namespace)
  File "<strato-cell In[12]>", line 4, in <module>
    divide(1, 0)
  File "<strato-cell In[12]>", line 3, in divide
    return a / b
           ~~^~~
ZeroDivisionError: division by zero
'''


def test_remote_cell_frames_point_at_the_cell_and_hide_the_runtime():
    lines = render(REMOTE_CELL_TB, header="raised on the cluster by %%remote In[12]")
    assert lines == [
        "Traceback (most recent call last):",
        "  -- raised on the cluster by %%remote In[12] --",
        "  Cell In[12], line 4",
        "    divide(1, 0)",
        "  Cell In[12], line 3, in divide",
        "    return a / b",
        "           ~~^~~",
        "ZeroDivisionError: division by zero",
    ]


def test_functions_shipped_by_cloudpickle_are_found_in_their_cell():
    text = ('Traceback (most recent call last):\n  File "<dynamic-code>", line 3, in div\n'
            'ValueError: bad\n')

    def locate(filename, lineno, func):
        assert (filename, lineno, func) == ("<dynamic-code>", 3, "div")
        return "Cell In[4]", "    return a / b\n"

    lines = render(text, locate=locate, local_frames=["  Cell In[5], line 1", "    strato.get(ref)"],
                   header="raised on the cluster by div (pid=1, ip=127.0.0.1)")
    assert lines == [
        "Traceback (most recent call last):",
        "  Cell In[5], line 1",
        "    strato.get(ref)",
        "  -- raised on the cluster by div (pid=1, ip=127.0.0.1) --",
        "  Cell In[4], line 3, in div",
        "    return a / b",
        "ValueError: bad",
    ]


def test_library_frames_are_kept_as_they_are():
    text = ('Traceback (most recent call last):\n  File "/usr/lib/python3/json/decoder.py", line 355, in raw_decode\n'
            '    raise JSONDecodeError("Expecting value", s, err.value) from None\nJSONDecodeError: x\n')
    lines = render(text)
    assert lines[1].startswith('  File "/usr/lib/python3/json/decoder.py"')
    assert lines[2].strip().startswith("raise JSONDecodeError")


def test_chained_exceptions_get_the_header_on_the_last_traceback():
    text = ('Traceback (most recent call last):\n  File "<strato-cell In[3]>", line 2, in <module>\n    {}["k"]\n'
            'KeyError: \'k\'\n\nDuring handling of the above exception, another exception occurred:\n\n'
            'Traceback (most recent call last):\n  File "<strato-cell In[3]>", line 4, in <module>\n'
            '    raise ValueError("missing")\nValueError: missing\n')
    lines = render(text, header="H")
    assert lines.count("  -- H --") == 1
    assert lines.index("  -- H --") > lines.index("During handling of the above exception, another exception occurred:")
    assert lines[-1] == "ValueError: missing"


def test_split_frames():
    blocks = split_frames(REMOTE_CELL_TB)
    kinds = [k for k, _ in blocks]
    assert kinds == ["text", "frame", "frame", "frame", "text"]
    assert blocks[3][1][-1].strip() == "~~^~~"
