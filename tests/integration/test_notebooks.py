"""The notebooks of ``notebooks/`` execute end to end (tiny models, demo data); their jupytext
percent-format ``.py`` files are the source, and the paired ``.ipynb`` files are committed in step
with them, with the outputs ``scripts/execute_notebooks.py`` wrote (light: no inlined plotly.js).

Each notebook is read from its ``.py`` (``jupytext.read``) and runs in a fresh kernel of *this*
Python (a kernelspec pointing at ``sys.executable`` is installed into a temporary directory), from
the ``notebooks/`` directory as Jupyter would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
NAMES = ("01_quickstart", "02_reproduce_the_paper", "03_explore_results")  # .py (source) + .ipynb
PAIRING = "ipynb,py:percent"
KERNEL = "interp-nb-test"


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory) -> str:
    """A kernelspec for ``sys.executable``, found first on JUPYTER_PATH (never a stale user kernel)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL, prefix=str(prefix))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(prefix / "share" / "jupyter")] + ([old] if old else []))
    yield KERNEL
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


def execute(name: str, kernel: str, env: dict[str, str]) -> object:
    import nbclient

    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=300,
                                         resources={"metadata": {"path": str(NOTEBOOKS)}})
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as e:
            pytest.fail(f"{name}: a cell failed:\n{e}")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def errors(nb) -> list[str]:
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]


def text_of(nb) -> str:
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
            elif "data" in o:
                out.append(str(o["data"].get("text/plain", "")))
    return "\n".join(out)


def has_plotly_output(nb) -> bool:
    return any("application/vnd.plotly.v1+json" in o.get("data", {}) or "text/html" in o.get("data", {})
               for c in nb.cells for o in c.get("outputs", []))


# TMPDIR: the notebooks' temporary results and reports go to pytest's tmp_path
BASE_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
            "INTERP_NB_RUN_PAPER": "0"}


def test_quickstart_runs_on_a_tiny_model(kernel_name, tmp_path):
    nb = execute(NAMES[0], kernel_name, {**BASE_ENV, "TMPDIR": str(tmp_path),
                                                  "INTERP_NB_MODEL": "tiny:llama-chat"})
    assert errors(nb) == []
    text = text_of(nb)
    assert "tiny:llama-chat" in text and "max |resid_post" in text
    assert has_plotly_output(nb)


def test_reproduce_runs_the_scaled_down_config(kernel_name, tmp_path):
    nb = execute(NAMES[1], kernel_name, {**BASE_ENV, "TMPDIR": str(tmp_path)})
    assert errors(nb) == []
    text = text_of(nb)
    assert "llama-7b" in text and "plan:" in text  # the paper's config was planned
    assert "skipped:" in text or "units computed" in text
    assert "0 failed" in text and "wrote " in text


def test_explore_runs_a_tiny_sweep_when_results_are_absent(kernel_name, tmp_path):
    nb = execute(NAMES[2], kernel_name, {**BASE_ENV, "TMPDIR": str(tmp_path),
                                            "INTERP_NB_RESULTS": str(tmp_path / "absent")})
    assert errors(nb) == []
    text = text_of(nb)
    assert "running a tiny sweep" in text and "PARAREL prompt 0" in text and "wrote " in text
    assert has_plotly_output(nb)


def test_notebooks_are_the_paired_py_and_ipynb_files():
    assert sorted(p.name for p in NOTEBOOKS.iterdir() if p.suffix in (".py", ".ipynb")) == sorted(
        f"{n}{ext}" for n in NAMES for ext in (".py", ".ipynb"))


#: the most a committed .ipynb may weigh with its outputs (an inlined plotly.js alone is ~4.6 MB)
MAX_IPYNB_BYTES = 1_000_000


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_have_light_outputs_without_errors(name):
    """The committed ``.ipynb`` carries the outputs of ``scripts/execute_notebooks.py`` (so it reads
    on GitHub): every code cell ran, in order, none failed, and no output inlines plotly.js."""
    import json

    path = NOTEBOOKS / f"{name}.ipynb"
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{name} has no code cells"
    fix = f"run: python scripts/execute_notebooks.py {name}"
    assert [c.get("execution_count") for c in code] == list(range(1, len(code) + 1)), f"{name}: not executed in order; {fix}"
    failed = [i for i, c in enumerate(code) for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert failed == [], f"{name}: code cell(s) {failed} failed; {fix}"
    assert any(c.get("outputs") for c in code), f"{name}: no outputs; {fix}"
    assert path.stat().st_size < MAX_IPYNB_BYTES, f"{name}.ipynb is {path.stat().st_size / 1e6:.1f} MB"
    assert "plotly.js v" not in path.read_text(), f"{name}: plotly.js inlined (set PLOTLY_RENDERER; {fix})"


@pytest.mark.parametrize("name", NAMES)
def test_ipynb_is_in_sync_with_its_py(name):
    """The ``.py`` is the source: its paired ``.ipynb`` has the same cells and the same pairing."""
    jupytext = pytest.importorskip("jupytext")
    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    ipynb = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    fix = f"run: jupytext --sync notebooks/{name}.py"
    assert py.metadata["jupytext"]["formats"] == PAIRING, fix
    assert py.metadata["jupytext"]["text_representation"]["format_name"] == "percent", fix
    assert ipynb.metadata.get("jupytext", {}).get("formats") == PAIRING, fix
    assert py.metadata.get("kernelspec") == ipynb.metadata.get("kernelspec"), fix
    assert [(c.cell_type, c.source) for c in ipynb.cells] == [(c.cell_type, c.source) for c in py.cells], (
        f"notebooks/{name}.ipynb differs from notebooks/{name}.py: {fix}")
