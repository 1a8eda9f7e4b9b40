"""Build the JupyterLab extension (extension/ -> strato/labextension/) when it is missing or stale.

    python extension/build.py          # from scripts/setup.sh, and from setup.py before a wheel is made

Stale means: the sha1 of the sources (package.json, package-lock.json, tsconfig.json, src/, style/,
schema/) differs from the one recorded in strato/labextension/.source-hash by the last build. The
build is `npm ci` (once: node_modules/ is kept) and `npm run build` (tsc, then jupyter-builder, found
next to this Python or on PATH). Exit status 1, with npm's output, when the build fails.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "strato" / "labextension"
STAMP = OUTPUT / ".source-hash"
SOURCES = ("package.json", "package-lock.json", "tsconfig.json", "src", "style", "schema")


def source_hash() -> str:
    h = hashlib.sha1()
    for name in SOURCES:
        path = HERE / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(HERE)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def up_to_date() -> bool:
    return (OUTPUT / "package.json").is_file() and STAMP.is_file() and STAMP.read_text().strip() == source_hash()


def build() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("building the JupyterLab extension needs npm (Debian: apt-get install npm; or Node.js 20 "
                         "from nodejs.org)")
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    steps = ([] if (HERE / "node_modules").is_dir() else [[npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]])
    steps.append([npm, "run", "--silent", "build"])
    for cmd in steps:
        proc = subprocess.run(cmd, cwd=HERE, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"building the JupyterLab extension failed at `{' '.join(cmd[1:])}` (output above)")
    STAMP.write_text(source_hash() + "\n")


def main() -> int:
    if up_to_date():
        return 0
    print("== building the JupyterLab extension (extension/ -> strato/labextension/)", flush=True)
    build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
