"""The offline demo: the whole sweep on the two offline models, then the report.

The demo models are real but small and NOT a matched base/IFT pair: Gemma-3-270M (base) and
SmolLM2-135M-Instruct (IFT) differ in size, architecture, tokenizer and pre-training data, so a
difference between them is not an effect of instruction tuning. The demo shows every analysis and
figure end to end; the paper's comparison needs a base model and its own IFT versions (see
``configs/paper.toml``). The demo's settings live in one file, ``interp/configs/demo.toml``
(package data); this module only fills in its paths.

Example:
    >>> run_demo(output=Path("report.html"))  # doctest: +SKIP
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from interp.config import SweepConfig, from_dict

#: the demo's config, shipped as package data (paths relative to the demo data directory)
DEMO_CONFIG = "configs/demo.toml"


def demo_toml() -> dict[str, Any]:
    """The packaged demo config (``interp/configs/demo.toml``), parsed, paths as written."""
    return tomllib.loads(resources.files("interp").joinpath(DEMO_CONFIG).read_text(encoding="utf-8"))


def demo_dict(data_dir: Path, results: Path, real_data: Path | None = None) -> dict[str, Any]:
    """The demo sweep as a config dict: :func:`demo_toml` with its paths filled in (datasets and
    Wikipedia snippets under ``data_dir``, the output ``results``); with ``real_data``, its
    ``[real_data]`` table applied (datasets under ``real_data``, limits, the data note)."""
    d = demo_toml()
    real = d.pop("real_data")
    d["sweep"]["output"] = str(results)
    d["sweep"]["wikipedia"] = str(Path(data_dir) / d["sweep"]["wikipedia"])
    d["datasets"] = _under(data_dir, d["datasets"])
    if real_data is not None:
        d["datasets"].update(_under(real_data, real["datasets"]))
        d["limits"].update(real["limits"])
        d["sweep"]["notes"][1] = real["data_note"].format(real_data=Path(real_data))
    return d


def _under(root: Path, paths: dict[str, str]) -> dict[str, str]:
    return {name: str(Path(root) / rel) for name, rel in paths.items()}


def demo_config(results: Path, real_data: Path | None = None,
                data_dir: Path | None = None) -> SweepConfig:
    """The validated demo config (:func:`demo_dict`; ``data_dir`` defaults to the demo data)."""
    from interp.data import demo_path

    data_dir = Path(data_dir) if data_dir else demo_path()
    return from_dict(demo_dict(data_dir, Path(results).resolve(), real_data), source="interp demo")


def run_demo(output: Path = Path("report.html"), results: Path = Path("results/demo"),
             real_data: str | Path | None = None, executor: str = "local") -> tuple[Path, Any]:
    """Run the demo sweep (resumable: a second run only builds the report) and write the report.
    ``executor="processes"`` (what ``interp demo`` uses) runs each model in a worker process of
    its own (:func:`interp.sweep.run`); from a script, that needs the usual
    ``if __name__ == "__main__":`` guard of spawned processes.

    Returns ``(report path, the sweep's report)``: its ``failed`` lists units that could not be
    computed (e.g. a model that failed its self-check)."""
    from interp.report import build_report
    from interp.results import ResultStore
    from interp.sweep import format_plan, plan, run

    cfg = demo_config(Path(results), Path(real_data) if real_data else None)
    print(format_plan(plan(cfg), ResultStore(cfg.output), cfg))
    rep = run(cfg, executor=executor)
    print(rep.summary())
    path = build_report(cfg.output, output, title="interp demo: does instruction tuning make a "
                        "model more consistent?", notes=cfg.notes)
    return path, rep
