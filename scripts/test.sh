#!/usr/bin/env bash
# The whole test suite: set up, then run everything under tests/.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
if [ "$#" -eq 0 ]; then set -- tests; fi
exec .venv/bin/python -m pytest "$@"
