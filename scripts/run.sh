#!/usr/bin/env bash
# The main job: set up, then open JupyterLab on the first notebook (embedded cluster).
# Usage: scripts/run.sh              JupyterLab (no browser opened; prints the URL) on demo-notebooks/
#        scripts/run.sh --headless   execute demo-notebooks/01-first-steps.ipynb headless instead and
#                                    print where the executed notebook went
# Extra arguments go to `jupyter lab` (e.g. --port 8890) or, with --headless, to the runner.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
NOTEBOOK=01-first-steps.ipynb
# The "Python 3 (strato)" kernel, into .venv (idempotent: replaces an older copy).
.venv/bin/python -m strato kernel install --sys-prefix >/dev/null

if [ "${1:-}" = "--headless" ]; then
  shift
  exec .venv/bin/python -m strato.kernel.headless "demo-notebooks/$NOTEBOOK" \
    --output "build/notebooks/$NOTEBOOK" "$@"
fi

as_root=(); [ "$(id -u)" = 0 ] && as_root=(--allow-root)
echo "== JupyterLab on demo-notebooks/: open the http://127.0.0.1:.../lab/tree/$NOTEBOOK?token=... URL printed"
echo "   below (Ctrl-C stops it). The notebook's first cell, %cluster connect, starts the embedded cluster;"
echo "   the Strato tab on the left lists your clusters (the extension is built and enabled by setup.sh)."
exec .venv/bin/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$ROOT/demo-notebooks" \
  --LabApp.default_url="/lab/tree/$NOTEBOOK" "${as_root[@]}" "$@"
