"""Run a notebook headless on the "Python 3 (strato)" kernel and save the executed copy.

    python -m strato.kernel.headless NOTEBOOK [--output PATH] [--timeout S]

The kernel runs on this Python with the extension loaded (the kernelspec is
written to a private folder, so another "strato" kernelspec on the machine
does not get in the way), in the notebook's folder. Each cell's text output
is echoed; the executed notebook is written to PATH (default
build/notebooks/NAME next to the current directory). Exit status 1 when a
cell raised without the "raises-exception" tag.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def _echo(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        first = (cell.source.splitlines() or [""])[0]
        print(f"In [{cell.execution_count}]: {first}")
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text = out.text
            elif out.output_type in ("execute_result", "display_data"):
                text = out.get("data", {}).get("text/plain", "")
            elif out.output_type == "error":
                text = "\n".join(out.traceback)
            else:
                continue
            for line in text.rstrip("\n").splitlines():
                print(f"    {line}")


def run(path: str, output: str, timeout: int = 600, echo: bool = True) -> int:
    import nbformat
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from strato.kernel.kernelspec import KERNEL_NAME, write_spec

    nb = nbformat.read(path, as_version=4)
    status = 0
    with tempfile.TemporaryDirectory(prefix="strato-kernels-") as kernels:
        write_spec(os.path.join(kernels, KERNEL_NAME), python=sys.executable)
        km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels]))
        client = NotebookClient(nb, km=km, timeout=timeout,
                                resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
        t0 = time.monotonic()
        try:
            client.execute()
        except CellExecutionError as exc:
            print(f"A cell failed: {str(exc).splitlines()[0] if str(exc) else exc}", file=sys.stderr)
            status = 1
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=False)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    nbformat.write(nb, output)
    if echo:
        _echo(nb)
    print(f"Executed {path} in {time.monotonic() - t0:.1f} s; the notebook with its outputs: "
          f"{os.path.abspath(output)}")
    return status


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m strato.kernel.headless", description=__doc__.splitlines()[0])
    p.add_argument("notebook")
    p.add_argument("--output", default=None, help="where to write the executed notebook")
    p.add_argument("--timeout", type=int, default=600, help="seconds one cell may take")
    p.add_argument("--quiet", action="store_true", help="do not echo the cells' output")
    a = p.parse_args(argv)
    output = a.output or os.path.join("build", "notebooks", os.path.basename(a.notebook))
    return run(a.notebook, output, a.timeout, echo=not a.quiet)


if __name__ == "__main__":
    sys.exit(main())
