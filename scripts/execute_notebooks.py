#!/usr/bin/env python3
"""Execute the notebooks of ``notebooks/`` and write their outputs into the committed ``.ipynb``
files, so that they read on GitHub without running them.

Each notebook is read from its ``.py`` (the source, ``jupytext.read``), executed with ``nbclient``
in a fresh kernel of this Python (as ``tests/integration/test_notebooks.py`` does), from the
``notebooks/`` directory, and written to its paired ``.ipynb`` with the ``.py``'s cells, metadata
and pairing, and the existing cell ids (so a rerun changes only the outputs).

Figures: plotly's renderer is ``plotly_mimetype+notebook_connected`` (``PLOTLY_RENDERER``): the
figure's JSON (JupyterLab, VS Code) and an HTML div that loads plotly.js from its CDN (nbviewer),
instead of the default, which inlines ~4 MB of plotly.js into the first figure's output. Cell
timings are not recorded.

Usage (from the repository root, with the notebooks' dependencies: ``scripts/install.sh test``)::

    python scripts/execute_notebooks.py                  # all three
    python scripts/execute_notebooks.py 01_quickstart    # one
    INTERP_NB_RESULTS=results/demo python scripts/execute_notebooks.py 03_explore_results

The notebooks run on the offline models (01: SmolLM2-135M-Instruct; 03: the results directory
``results/demo`` of ``interp demo`` when present, else a tiny sweep) and never run the paper's
GPU sweep (``INTERP_NB_RUN_PAPER=0``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("01_quickstart", "02_reproduce_the_paper", "03_explore_results")
KERNEL = "interp-nb-execute"
#: the environment the kernels run in (the caller's values win)
ENV = {"OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false", "INTERP_NB_RUN_PAPER": "0",
       "PLOTLY_RENDERER": "plotly_mimetype+notebook_connected"}
#: an .ipynb above this size is reported (an inlined plotly.js or a huge output)
MAX_BYTES = 1_000_000
#: stderr lines of the environment, not of the notebook (left out of the outputs)
NOISE = ("TqdmWarning: IProgress not found", "from .autonotebook import tqdm as notebook_tqdm")


def strip_noise(nb: Any) -> None:
    """Drop :data:`NOISE` lines from the stderr outputs (and an output left empty)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                text = "".join(ln for ln in o["text"].splitlines(keepends=True) if not any(n in ln for n in NOISE))
                if not text.strip():
                    continue
                o["text"] = text
            kept.append(o)
        cell["outputs"] = kept


def install_kernel(prefix: Path) -> None:
    """A kernelspec for this Python, first on JUPYTER_PATH (never a stale user kernel)."""
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL, prefix=str(prefix))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(prefix / "share" / "jupyter")] + ([os.environ["JUPYTER_PATH"]] if os.environ.get("JUPYTER_PATH") else []))


def execute(name: str, timeout: int) -> tuple[int, float]:
    """Run ``notebooks/NAME.py`` and write ``notebooks/NAME.ipynb`` with its outputs; (bytes, seconds)."""
    import jupytext
    import nbclient
    import nbformat

    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    ipynb = NOTEBOOKS / f"{name}.ipynb"
    old = nbformat.read(ipynb, as_version=4) if ipynb.is_file() else None
    if old is not None and [c.source for c in old.cells] == [c.source for c in nb.cells]:
        for new, prev in zip(nb.cells, old.cells):  # keep the committed cell ids
            if "id" in prev:
                new["id"] = prev["id"]
    kernelspec = nb.metadata.get("kernelspec")
    t0 = time.perf_counter()
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, record_timing=False,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    seconds = time.perf_counter() - t0
    strip_noise(nb)
    if kernelspec is not None:
        nb.metadata["kernelspec"] = kernelspec  # the .py's, not this script's kernel
    else:
        nb.metadata.pop("kernelspec", None)
    nbformat.validate(nb)
    tmp = ipynb.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, ipynb)
    return ipynb.stat().st_size, seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help=f"notebooks to execute (default: all of {', '.join(NAMES)})")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per cell (default 1200)")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        ap.error(f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    for k, v in ENV.items():
        os.environ.setdefault(k, v)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    with tempfile.TemporaryDirectory(prefix="interp-kernel-") as prefix:
        install_kernel(Path(prefix))
        for name in args.names or NAMES:
            size, seconds = execute(name, args.timeout)
            warn = f"  (over {MAX_BYTES / 1e6:.0f} MB: check its outputs)" if size > MAX_BYTES else ""
            print(f"{name}: executed in {seconds:.0f} s, notebooks/{name}.ipynb {size / 1e3:.0f} kB{warn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
