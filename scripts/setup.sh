#!/usr/bin/env bash
# Create or refresh the project's virtual environment (idempotent; sourced by run.sh and test.sh).
# Installs what the machine lacks: Python venv support via apt-get when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "strato needs Python 3.11+; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  if command -v apt-get >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq python3-venv
  fi
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
# Reinstall only when the packaging metadata changed.
stamp=.venv/.strato-installed
want="$(sha1sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c 'import strato' 2>/dev/null; then
  echo "== installing strato with its test, notebook and library dependencies into .venv"
  .venv/bin/pip install -q -e '.[test,notebook,data,xgboost,tune,redis]'
  echo "$want" > "$stamp"
fi
# The JupyterLab extension: extension/ (TypeScript) -> strato/labextension/ (prebuilt), rebuilt only when
# it is missing or its sources changed (extension/build.py); npm from Debian when the machine has none.
if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -qq npm >/dev/null || echo "could not install npm: the JupyterLab extension is not built" >&2
fi
.venv/bin/python extension/build.py || echo "the JupyterLab extension is not built (see above)" >&2
# The dev venv (editable install) points Jupyter at the built extension and enables the server extension;
# a wheel ships both as data files (pyproject.toml).
labext=.venv/share/jupyter/labextensions/strato-jupyterlab
if [ "$(readlink "$labext" 2>/dev/null)" != "$ROOT/strato/labextension" ]; then
  mkdir -p "$(dirname "$labext")" && rm -rf "$labext" && ln -s "$ROOT/strato/labextension" "$labext"
fi
mkdir -p .venv/etc/jupyter/jupyter_server_config.d
cmp -s etc/jupyter/jupyter_server_config.d/strato.json .venv/etc/jupyter/jupyter_server_config.d/strato.json ||
  cp etc/jupyter/jupyter_server_config.d/strato.json .venv/etc/jupyter/jupyter_server_config.d/strato.json
# Debian's chromium for the browser tests (tests/ui; Playwright drives it, nothing is downloaded).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  echo "== installing chromium (browser tests)"
  $sudo_cmd apt-get install -y -qq chromium >/dev/null || {
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq chromium >/dev/null; } ||
    echo "could not install chromium: the browser tests (tests/ui) will fail" >&2
fi
# Debian's redis-server for the GCS storage tests (tests start their own on a free loopback port).
if ! command -v redis-server >/dev/null && command -v apt-get >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  echo "== installing redis-server (GCS storage tests)"
  $sudo_cmd apt-get install -y -qq redis-server >/dev/null || {
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq redis-server >/dev/null; } ||
    echo "could not install redis-server: the Redis GCS storage tests will fail" >&2
fi
