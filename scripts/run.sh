#!/usr/bin/env bash
# The main job: set up, then open JupyterLab on the demo notebooks' index (embedded cluster).
# Usage: scripts/run.sh              JupyterLab (no browser opened; prints the URL) on demo-notebooks/README.md
#        scripts/run.sh --headless   execute every demo-notebooks/*.ipynb headless, in order, through the
#                                    strato kernel, and print where each executed copy went
#        STRATO_DEMO_SMALL=1 scripts/run.sh --headless    the same at CI size (seconds per notebook)
# Extra arguments go to `jupyter lab` (e.g. --port 8890) or, with --headless, to the runner
# (e.g. --timeout 1800, --quiet).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
INDEX=README.md
# The "Python 3 (strato)" kernel, into .venv (idempotent: replaces an older copy).
.venv/bin/python -m strato kernel install --sys-prefix >/dev/null

if [ "${1:-}" = "--headless" ]; then
  shift
  mkdir -p build/notebooks
  failed=(); done_=()
  for nb in demo-notebooks/[0-9]*.ipynb; do
    name="$(basename "$nb")"
    echo "== $name"
    if .venv/bin/python -m strato.kernel.headless "$nb" --output "build/notebooks/$name" "$@"; then
      done_+=("$ROOT/build/notebooks/$name")
    else
      failed+=("$name")
      done_+=("$ROOT/build/notebooks/$name (a cell failed)")
    fi
  done
  echo "== The executed notebooks, with their outputs:"
  printf '   %s\n' "${done_[@]}"
  if [ ${#failed[@]} -gt 0 ]; then
    echo "== Failed: ${failed[*]}" >&2
    exit 1
  fi
  exit 0
fi

# Markdown opens rendered (the index is a page to read, not to edit): an app-level settings override.
mkdir -p build/lab-settings
cat > build/lab-settings/overrides.json <<'JSON'
{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}}}
JSON
as_root=(); [ "$(id -u)" = 0 ] && as_root=(--allow-root)
echo "== JupyterLab on demo-notebooks/: open the http://127.0.0.1:.../lab/tree/$INDEX?token=... URL printed"
echo "   below (Ctrl-C stops it). The index lists the demo notebooks; in each, the first cell, %cluster connect,"
echo "   starts the embedded cluster, and the Strato tab on the left lists it (the extension is built and"
echo "   enabled by setup.sh)."
exec .venv/bin/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$ROOT/demo-notebooks" \
  --LabApp.app_settings_dir="$ROOT/build/lab-settings" \
  --LabApp.default_url="/lab/tree/$INDEX" "${as_root[@]}" "$@"
