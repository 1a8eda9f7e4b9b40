"""Packaging hook (the rest is pyproject.toml): build the JupyterLab extension before setuptools
collects the wheel's data files, when it is missing or its sources changed (extension/build.py).

A failed build warns and leaves the wheel without the lab extension (scripts/setup.sh reports the
same failure); `jupyter labextension list` then shows no strato-jupyterlab.
"""
import os
import subprocess
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "extension", "build.py")
if os.path.isfile(BUILD) and subprocess.run([sys.executable, BUILD], cwd=HERE, check=False).returncode != 0:
    print("WARNING: the JupyterLab extension was not built; the wheel will not carry it", file=sys.stderr)

setup()
