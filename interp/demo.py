"""The offline demo: the whole sweep on the two offline models, then the report.

The demo models are real but small and NOT a matched base/IFT pair: Gemma-3-270M (base) and
SmolLM2-135M-Instruct (IFT) differ in size, architecture, tokenizer and pre-training data, so a
difference between them is not an effect of instruction tuning. The demo shows every analysis and
figure end to end; the paper's comparison needs a base model and its own IFT versions (see
``configs/paper.toml``).

Example:
    >>> run_demo(output=Path("report.html"))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interp.config import SweepConfig, from_dict

DEMO_NOTES = (
    "Offline demo: Gemma-3-270M (base) and SmolLM2-135M-Instruct (IFT) are NOT a matched "
    "base/IFT pair (different sizes, architectures, tokenizers and pre-training data): "
    "differences between them are not effects of instruction tuning.",
    "Data: small hand-written demo sets (data/), not the real benchmarks, unless --real-data was "
    "given. Wikipedia snippets for the attribute rate are hand-written too.",
    "BECEL classifiers are logistic-regression probes on frozen last-token features, not the "
    "paper's full fine-tuning.",
)


def demo_dict(data_dir: Path, results: Path, real_data: Path | None = None) -> dict:
    """The demo sweep as a config dict (the same as ``configs/demo.toml``)."""
    d = {
        "sweep": {"output": str(results), "seed": 0, "batch_size": 16,
                  "wikipedia": str(data_dir / "wikipedia"), "wikipedia_offline": True,
                  "notes": list(DEMO_NOTES)},
        "models": [
            {"label": "gemma3-270m", "spec": "gemma3-270m", "kind": "base"},
            {"label": "smollm2-135m-instruct", "spec": "smollm2-135m-instruct", "kind": "ift",
             "base": "gemma3-270m"},
        ],
        "datasets": {name: str(data_dir / name)
                     for name in ("pararel", "mrpc", "tapaco", "mmlu", "becel")},
        "limits": {"pararel_max_facts": 12, "becel_tasks": ["snli", "mrpc"], "n_boot": 500},
    }
    if real_data is not None:
        real = Path(real_data)
        d["datasets"].update({name: str(real / name) for name in ("pararel", "mrpc", "mmlu", "becel")})
        d["limits"].update({
            "pararel_relations": ["P17", "P36", "P37", "P103", "P176", "P1376"],
            "pararel_max_facts": 15, "mrpc_max_pairs": 200,
            "mmlu_subjects": ["astronomy", "high_school_geography", "marketing",
                              "world_religions", "us_foreign_policy"],
            "mmlu_limit": 20, "becel_tasks": ["snli", "rte", "mrpc", "wic"],
            "becel_max_train": 400, "becel_max_eval": 200})
        d["sweep"]["notes"] = list(DEMO_NOTES[:1]) + [
            f"Data: small subsets of the real datasets in {real} (PARAREL 6 relations x 15 "
            "facts, MRPC dev 200 pairs, MMLU 5 subjects x 20 questions, BECEL 400 train / 200 "
            "eval pairs per task); TAPACO and the Wikipedia snippets are the hand-written demo "
            "sets.", DEMO_NOTES[2]]
    return d


def demo_config(results: Path, real_data: Path | None = None,
                data_dir: Path | None = None) -> SweepConfig:
    from interp.data import demo_path

    data_dir = Path(data_dir) if data_dir else demo_path()
    return from_dict(demo_dict(data_dir, Path(results).resolve(), real_data), source="interp demo")


def run_demo(output: Path = Path("report.html"), results: Path = Path("results/demo"),
             real_data: str | Path | None = None, executor: str = "local") -> tuple[Path, Any]:
    """Run the demo sweep (resumable: a second run only builds the report) and write the report.

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
