"""What the side-by-side benchmark scripts share: running one measurement in a child process, and
replacing a script's own marked section of bench/RESULTS.md. Standard library only (the scripts run
with either library's interpreter)."""
from __future__ import annotations

import json
import os
import subprocess

BENCH = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCH, "RESULTS.md")


def run_json_child(cmd: list, env: dict, timeout: float, error_tail: int = 3000) -> dict:
    """Run cmd; its result is the last stdout line that is a JSON object. {"error": ...} when it timed
    out, failed or printed none (the end of its stderr, else stdout)."""
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr or out.stdout)[-error_tail:]}
    return json.loads(lines[-1])


def replace_section(start: str, end: str, text: str, heading: str = "") -> None:
    """Put `start`, text, `end` into RESULTS.md in place of what stands between those markers; a file
    without them gets the block appended (after `heading`, when given)."""
    doc = open(RESULTS).read() if os.path.exists(RESULTS) else ""
    block = f"{start}\n{text}\n{end}"
    if start in doc and end in doc:
        doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + (f"{heading}\n\n" if heading else "") + block + "\n"
    with open(RESULTS, "w") as f:
        f.write(doc)
