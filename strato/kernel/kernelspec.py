"""The "Python 3 (strato)" kernelspec: ipykernel with `%load_ext strato` done at start.

    strato kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME] [--display-name TEXT]

Without a location flag it installs into this Python's prefix when that is a
virtual environment (where `jupyter lab` from the same environment finds it),
else for the current user.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

KERNEL_NAME = "strato"
DISPLAY_NAME = "Python 3 (strato)"


def kernel_dict(python: str | None = None, display_name: str = DISPLAY_NAME) -> dict:
    return {
        "argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--InteractiveShellApp.extra_extensions=strato"],
        "display_name": display_name,
        "language": "python",
        "metadata": {"debugger": True},
    }


def write_spec(directory: str, display_name: str = DISPLAY_NAME, python: str | None = None) -> str:
    """Write kernel.json (and ipykernel's logos) into `directory`; return it."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "kernel.json"), "w") as f:
        json.dump(kernel_dict(python, display_name), f, indent=1)
    try:
        from ipykernel.kernelspec import RESOURCES
        for logo in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
            src = os.path.join(RESOURCES, logo)
            if os.path.exists(src):
                shutil.copy(src, directory)
    except ImportError:
        pass
    return directory


def in_virtualenv() -> bool:
    return sys.prefix != getattr(sys, "base_prefix", sys.prefix)


def install(user: bool = False, prefix: str | None = None, name: str = KERNEL_NAME,
            display_name: str = DISPLAY_NAME) -> str:
    """Install the kernelspec; return the directory it went to."""
    from jupyter_client.kernelspec import KernelSpecManager

    if not user and prefix is None:
        if in_virtualenv():
            prefix = sys.prefix
        else:
            user = True
    with tempfile.TemporaryDirectory() as tmp:
        src = write_spec(os.path.join(tmp, name), display_name)
        return KernelSpecManager().install_kernel_spec(src, kernel_name=name, user=user, prefix=prefix)


def main(args) -> int:
    """`strato kernel install` (args from strato.cli's parser)."""
    if sum(bool(x) for x in (args.user, args.sys_prefix, args.prefix)) > 1:
        raise SystemExit("strato kernel install: give at most one of --user, --sys-prefix, --prefix")
    try:
        import ipykernel  # noqa: F401
    except ImportError:
        raise SystemExit("strato kernel install: ipykernel is not installed; pip install 'strato[notebook]'")
    prefix = sys.prefix if args.sys_prefix else args.prefix
    where = install(user=args.user, prefix=prefix, name=args.name, display_name=args.display_name)
    print(f"Installed kernelspec {args.name!r} ({args.display_name}) in {where}")
    return 0
