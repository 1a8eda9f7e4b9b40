"""The demo notebooks run headless, top to bottom, as `scripts/run.sh --headless` runs them."""
from pathlib import Path

import nbformat
import pytest

from strato.kernel import headless

DEMOS = sorted((Path(__file__).resolve().parents[2] / "demo-notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", DEMOS, ids=[p.name for p in DEMOS])
def test_demo_notebook_runs_headless(path, tmp_path, capsys):
    out = tmp_path / path.name
    assert headless.run(str(path), str(out), timeout=120) == 0
    printed = capsys.readouterr().out
    assert f"the notebook with its outputs: {out}" in printed
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    unexpected = [c.source for c in code if any(o.output_type == "error" for o in c.outputs)
                  and "raises-exception" not in c.metadata.get("tags", [])]
    assert not unexpected


def test_first_notebook_shows_the_features():
    assert DEMOS and DEMOS[0].name == "01-first-steps.ipynb"
    text = DEMOS[0].read_text()
    for feature in ("%cluster connect", "%%remote --parallel", "%%remote --session", "%cluster status"):
        assert feature in text
