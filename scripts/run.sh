#!/usr/bin/env bash
# The main job: set up, then run the demo on an embedded local cluster.
# Usage: scripts/run.sh [--headless]
#   (until the notebook layer lands, both forms run the task demo in the terminal)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec .venv/bin/python scripts/demo_tasks.py "$@"
