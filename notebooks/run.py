#!/usr/bin/env python3
"""Execute every notebook in this folder headless, as CI or an analyst would.

    python run.py [--parquet-dir DIR] [--out DIR] [--timeout SECONDS]
    python run.py --clear-outputs      # strip outputs saved from Jupyter before committing

Run it with the Python of the virtual environment that has requirements.txt installed: the
kernel is always that same interpreter (sys.executable), whatever kernels Jupyter has
registered elsewhere. TOKENAUDIT_PARQUET_DIR (or --parquet-dir), TOKENAUDIT_AGENT and
TOKENAUDIT_FIGDIR pass through to the notebooks. Executing never modifies the notebooks here:
executed copies, with their outputs, go to --out (a new temporary folder by default). Exits 1
naming the failing cell and its error if any notebook fails, 2 on bad arguments.
"""

import argparse
import atexit
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets import default

HERE = Path(__file__).resolve().parent
KERNEL_NAME = "python3"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ThisPythonKernelSpecs(KernelSpecManager):
    """Resolves "python3" to this interpreter's ipykernel and nothing else.

    A python3 kernel.json in ~/.local/share/jupyter (left by `ipykernel install --user`) would
    otherwise win and could start another Python, without this environment's packages.
    """

    def find_kernel_specs(self):
        return {KERNEL_NAME: str(HERE)}

    def get_kernel_spec(self, kernel_name):
        if kernel_name != KERNEL_NAME:
            raise NoSuchKernel(kernel_name)
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python 3 ({sys.prefix})",
            language="python",
            resource_dir=str(HERE),
        )


class ThisPythonKernelManager(AsyncKernelManager):
    """Starts ThisPythonKernelSpecs' kernel; on POSIX over Unix sockets in a private temporary
    folder rather than plain-text TCP on localhost (which ipykernel 7 warns about)."""

    @default("kernel_spec_manager")
    def _default_kernel_spec_manager(self):
        return ThisPythonKernelSpecs(data_dir=self.data_dir)

    @default("transport")
    def _default_transport(self):
        return "ipc" if os.name == "posix" else "tcp"

    def _ip_default(self):
        if self.transport == "ipc":
            folder = tempfile.mkdtemp(prefix="tokenaudit-kernel-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            return str(Path(folder) / "ipc")
        return super()._ip_default()


def saved_outputs(nb):
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    )


def run_notebook(path, out_dir, timeout):
    nb = nbformat.read(path, as_version=4)
    if saved_outputs(nb):
        print(f"warning: {path.name} was saved with outputs; clear them before committing", file=sys.stderr)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        kernel_manager_class=ThisPythonKernelManager,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},  # the kernel's working directory
    )
    started = time.monotonic()
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        failing = next(
            (i for i, cell in enumerate(nb.cells)
             if any(o.get("output_type") == "error" for o in cell.get("outputs", []))),
            None,
        )
        where = f"cell {failing} (0-based, markdown cells counted)" if failing is not None else "a cell"
        error = f"{ANSI.sub('', str(exc)).rstrip()}\n\n{path.name}: {where} raised {exc.ename}: {exc.evalue}"
    except Exception as exc:  # a cell timeout, a kernel that died or could not start
        error = f"{path.name}: {type(exc).__name__}: {ANSI.sub('', str(exc))}"
    executed = out_dir / path.name
    nbformat.write(nb, executed)
    return error, time.monotonic() - started, executed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parquet-dir", help="sets TOKENAUDIT_PARQUET_DIR (default: the environment's, else ../audit-out)")
    parser.add_argument("--out", help="folder for the executed copies (default: a new temporary folder)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    parser.add_argument("--clear-outputs", action="store_true",
                        help="only strip outputs and execution counts from the notebooks here, in place, and exit")
    args = parser.parse_args()

    if args.clear_outputs:
        for path in sorted(HERE.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            if saved_outputs(nb):
                for cell in nb.cells:
                    if cell.cell_type == "code":
                        cell.outputs = []
                        cell.execution_count = None
                nbformat.write(nb, path)
                print(f"cleared {path.name}")
        return 0

    # The kernel runs in this folder, so a relative path must be made absolute here.
    parquet_dir = args.parquet_dir or os.environ.get("TOKENAUDIT_PARQUET_DIR")
    if parquet_dir:
        os.environ["TOKENAUDIT_PARQUET_DIR"] = str(Path(parquet_dir).expanduser().resolve())
    if os.environ.get("TOKENAUDIT_FIGDIR"):
        os.environ["TOKENAUDIT_FIGDIR"] = str(Path(os.environ["TOKENAUDIT_FIGDIR"]).expanduser().resolve())

    notebooks = sorted(HERE.glob("*.ipynb"))
    if not notebooks:
        print(f"no notebooks in {HERE}", file=sys.stderr)
        return 2
    out_dir = Path(args.out).resolve() if args.out else Path(tempfile.mkdtemp(prefix="tokenaudit-notebooks-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    if out_dir == HERE:
        print("--out must not be the notebooks folder: the committed notebooks stay without outputs", file=sys.stderr)
        return 2

    print(f"kernel: {sys.executable}")
    print(f"TOKENAUDIT_PARQUET_DIR={os.environ.get('TOKENAUDIT_PARQUET_DIR', '(unset: ../audit-out)')}")
    failed = []
    for path in notebooks:
        error, seconds, executed = run_notebook(path, out_dir, args.timeout)
        if error is None:
            print(f"ok      {path.name} ({seconds:.1f} s) -> {executed}")
        else:
            failed.append(path.name)
            print(f"FAILED  {path.name} ({seconds:.1f} s) -> {executed}", file=sys.stderr)
            print(error, file=sys.stderr)
    print(f"{len(notebooks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
