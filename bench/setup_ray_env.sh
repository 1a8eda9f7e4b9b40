#!/usr/bin/env bash
# Create (or reuse) the benchmark-only virtualenv holding Ray.
# Ray is used ONLY as a comparison baseline; it is never a dependency of strato.
# Safe to run repeatedly: it does nothing when the venv already has the right versions.
set -euo pipefail

RAY_VERSION="${RAY_VERSION:-2.60.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.ray-venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup_ray_env] creating $VENV"
    "$PY" -m venv "$VENV"
fi

have_ray="$("$VENV/bin/python" -c 'import ray; print(ray.__version__)' 2>/dev/null || true)"
# The library benchmarks compare against Ray Tune, Ray Data and Ray Train's XGBoostTrainer.
have_libs="$("$VENV/bin/python" -c 'import ray.tune, ray.data, ray.train.xgboost, xgboost, pandas, optuna, hyperopt; print("ok")' 2>/dev/null || true)"

if [ "$have_ray" = "$RAY_VERSION" ] && [ "$have_libs" = "ok" ]; then
    echo "[setup_ray_env] ray $have_ray with tune, data, train and xgboost already installed in $VENV"
    exit 0
fi

echo "[setup_ray_env] installing ray[tune,data,train]==$RAY_VERSION, xgboost, optuna and hyperopt into $VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "ray[tune,data,train]==$RAY_VERSION" numpy pandas pyarrow \
    "xgboost>=3.0" scikit-learn optuna hyperopt
"$VENV/bin/python" -c 'import ray, numpy, xgboost; print("[setup_ray_env] ok: ray", ray.__version__, "numpy", numpy.__version__, "xgboost", xgboost.__version__)'
