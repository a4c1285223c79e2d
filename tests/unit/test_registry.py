"""The analysis registry: what it derives (config names, plan, needs, provenance), and that an
analysis added by one module and one registration (CONTRIBUTING.md's example, run as written)
goes through config, sweep, store and report."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from interp import registry
from interp.analysis import SWEEP, Needs
from interp.config import ConfigError, load_config
from interp.results import ResultStore, UnitKey
from interp.sweep import plan, run

ROOT = Path(__file__).resolve().parents[2]


def test_registry_lists_the_paper_analyses_in_order() -> None:
    assert registry.names_by_dataset() == {
        "pararel": ("consistency", "gap", "layer_gap", "relations", "attributes", "extraction", "knockout"),
        "mrpc": ("gap",), "tapaco": ("gap",), "mmlu": ("spread",), "becel": ("consistency",)}
    assert set(registry.summaries()) == {"base_vs_ift", "consistency_classes", "examples", "relations_across_models",
                                            "sanity", "table7", "knockout_base_vs_ift"}
    assert registry.analysis("pararel", "extraction").requires == ("consistency",)
    with pytest.raises(KeyError, match="no analysis 'nope' on dataset 'mrpc'"):
        registry.analysis("mrpc", "nope")


def test_needs_merge_is_a_union_in_order() -> None:
    a = Needs({"last": ("resid",)}, logits=("last",))
    b = Needs({"last": ("mlp_out", "resid"), "subject": ("resid",)})
    assert a.merge(b) == Needs({"last": ("resid", "mlp_out"), "subject": ("resid",)}, logits=("last",))


def _example_block() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    block = re.search(r"```python\n(# interp/analyses/final_norm\.py\n.*?)```", text, re.S)
    assert block, "CONTRIBUTING.md lost its example analysis"
    return block.group(1)


@pytest.fixture
def final_norm():
    """CONTRIBUTING.md's example module, imported as written; unregistered afterwards."""
    mod = types.ModuleType("final_norm_example")
    sys.modules[mod.__name__] = mod  # dataclasses resolve the module's annotations through it
    exec(compile(_example_block(), "CONTRIBUTING.md", "exec"), mod.__dict__)  # noqa: S102
    yield mod
    del sys.modules[mod.__name__]
    for ds in ("mrpc", "tapaco"):
        registry.unregister(ds, "final_norm")


CONFIG = """
[sweep]
output = "{out}"
seed = 0
batch_size = 3
prompts = [0, 1]
analyses = ["final_norm"]

[[models]]
label = "tiny"
spec = "tiny:gemma3"

[datasets]
mrpc = "{data}/mrpc"

[limits]
mrpc_max_pairs = 4
n_boot = 30
"""


def test_an_analysis_added_in_one_module_runs_end_to_end(tmp_path, demo_data, final_norm) -> None:
    p = tmp_path / "c.toml"
    p.write_text(CONFIG.format(out=tmp_path / "out", data=demo_data))
    cfg = load_config(p)  # "final_norm" is a valid analysis name once registered
    assert [(j.prompt, [u.analysis for u in j.units]) for j in plan(cfg)] == [
        (0, ["final_norm"]), (1, ["final_norm"]), ("all", ["final_norm"]), ("all", ["sanity"])]
    rep = run(cfg, progress=False)
    assert rep.failed == [] and len(rep.computed) == 4, rep.summary()  # + the sanity flags over every unit

    store = ResultStore(cfg.output)
    per = [store.result(UnitKey("tiny", "mrpc", "final_norm", q)) for q in (0, 1)]
    pooled = store.result(UnitKey("tiny", "mrpc", "final_norm", "all"))
    assert isinstance(pooled, final_norm.FinalNorm)
    # oracle: the norms from a plain capture, one prompt at a time and no shared prefix
    from interp.analyses.paraphrase_gap import mrpc_inputs
    from interp.capture import capture
    from interp.data import mrpc
    from interp.models import load_model

    model = load_model("tiny:gemma3", dtype="float32")
    inputs = mrpc_inputs(mrpc.load(str(demo_data / "mrpc"), split="dev")[:4])
    for q, r in zip((0, 1), per):
        acts = capture(model, inputs.prompts(model, q), keep=(), logits=False, batch_size=1,
                       share_prefix=False)
        want = acts.final.float().norm(dim=-1).numpy()
        np.testing.assert_allclose(r.norms, want, rtol=1e-5)
        assert r.norm.estimate == pytest.approx(float(np.mean(want)), rel=1e-5)
    assert pooled.norms == per[0].norms + per[1].norms
    assert pooled.norm.low <= pooled.norm.estimate <= pooled.norm.high

    # changing n_boot makes the example's units stale (it declares a bootstrap)
    from dataclasses import replace

    from interp.provenance import Provenance

    cfg2 = replace(cfg, limits=replace(cfg.limits, n_boot=31))
    state = Provenance(cfg2).state(store, UnitKey("tiny", "mrpc", "final_norm", 0))
    assert state.status == "stale" and "limits.n_boot 30 -> 31" in state.reason

    # the report renders it (it has no section of its own) and computes nothing
    from interp.report import build_report

    html = build_report(store, tmp_path / "r.html").read_text()
    assert "final_norm" in html


def test_unknown_analysis_name_is_refused_with_the_registered_ones(tmp_path, demo_data) -> None:
    p = tmp_path / "c.toml"
    p.write_text(CONFIG.format(out=tmp_path / "out", data=demo_data).replace("final_norm", "final_nrom"))
    with pytest.raises(ConfigError, match="final_nrom"):
        load_config(p)


def test_model_labels_may_not_take_the_summaries_name(tmp_path, demo_data) -> None:
    p = tmp_path / "c.toml"
    text = CONFIG.format(out=tmp_path / "out", data=demo_data).replace('"final_norm"', '"gap"')
    p.write_text(text.replace('"tiny"', f'"{SWEEP}"', 1))
    with pytest.raises(ConfigError, match="reserved"):
        load_config(p)


def test_declared_sections_exist_in_the_report() -> None:
    from interp.report import SECTIONS

    declared = {s for a in registry.analyses() for s in a.sections}
    declared |= {s for x in registry.summaries().values() for s in x.sections}
    assert declared and declared <= {s.id for s in SECTIONS}, declared - {s.id for s in SECTIONS}
