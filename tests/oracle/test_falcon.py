"""Falcon (as Falcon-7B: parallel attention/MLP block, rotary positions, multi-query attention)
with the real Falcon tokenizer: the residual decomposition and the a_l / f_l of the extraction
analysis are the parallel branches Hugging Face adds, and a tiny Falcon base/IFT pair runs
through a whole sweep (every dataset and analysis) and appears in the report. (``interp check``
on Falcon: ``test_check_families.py``.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import families
import oracle

pytestmark = pytest.mark.skipif(not families.TOKENIZERS.is_dir(),
                                reason=f"real tokenizers not found at {families.TOKENIZERS}")

PROMPTS = ["The capital of France is", "Rome is the capital of the country called",
           "People in Japan speak", "Microsoft was founded by"]


@pytest.fixture(scope="module")
def falcon():
    pytest.importorskip("gguf")
    return families.family("falcon")


def test_parallel_block_decomposition(falcon):
    from interp.capture import capture

    cfg = falcon.oracle.config
    assert cfg.parallel_attn and not cfg.new_decoder_architecture and not cfg.alibi
    assert type(falcon.model.bridge.blocks[0]).__name__ == "ParallelBlockBridge"
    acts = capture(falcon.model, PROMPTS, batch_size=3, progress=False)
    r = acts.resid
    torch.testing.assert_close(r[:, 1:], r[:, :-1] + acts.attn_out + acts.mlp_out,
                               atol=1e-6, rtol=0)
    # a_l and f_l are the outputs of self_attention and mlp, which the parallel block adds at once
    for i, p in enumerate(PROMPTS):
        ids = oracle.encode(falcon.model.tokenizer, p)
        want = oracle.vectors(falcon.oracle, falcon.layers(falcon.oracle), falcon.added, ids,
                              len(ids) - 1)
        for kind in ("resid", "attn_out", "mlp_out", "final", "logits"):
            torch.testing.assert_close(getattr(acts, kind)[i], want[kind], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("normed", [False, True])
def test_extraction_projects_the_parallel_branches(falcon, normed: bool):
    """The extraction events are those of the oracle's own self_attention / mlp outputs."""
    from interp.analyses.extraction import extraction_events
    from interp.capture import capture

    acts = capture(falcon.model, PROMPTS, batch_size=2, progress=False)
    events = extraction_events(falcon.model, acts, normed=normed)
    hf = falcon.oracle
    for i, p in enumerate(PROMPTS):
        ids = oracle.encode(falcon.model.tokenizer, p)
        want = oracle.vectors(hf, falcon.layers(hf), falcon.added, ids, len(ids) - 1)
        with torch.no_grad():
            for block, kind in (("mhsa", "attn_out"), ("mlp", "mlp_out")):
                v = want[kind]
                top = hf.lm_head(hf.transformer.ln_f(v) if normed else v).argmax(-1)
                assert events[block][i].tolist() == (top == want["logits"].argmax()).tolist()
                got = falcon.model.bridge.unembed(
                    falcon.model.bridge.ln_final(getattr(acts, kind)[i]) if normed
                    else getattr(acts, kind)[i]).argmax(-1)
                assert got.tolist() == top.tolist()


SWEEP = """
[sweep]
output = "{out}"
seed = 0
batch_size = 4
wikipedia = "{data}/wikipedia"

[[models]]
label = "falcon-base"
spec = "{model}"
kind = "base"

[[models]]
label = "falcon-ift"
spec = "{model}"
kind = "ift"
base = "falcon-base"

[datasets]
pararel = "{data}/pararel"
mrpc = "{data}/mrpc"
tapaco = "{data}/tapaco"
mmlu = "{data}/mmlu"
becel = "{data}/becel"

[limits]
pararel_relations = ["P36", "P37"]
pararel_max_facts = 3
mrpc_max_pairs = 6
tapaco_max_sets = 3
mmlu_subjects = ["astronomy"]
mmlu_limit = 2
becel_tasks = ["snli", "mrpc"]
becel_max_train = 16
becel_max_eval = 8
n_boot = 20
"""


def test_falcon_sweep_and_report(falcon, tmp_path: Path, demo_data: Path):
    """A local Falcon checkpoint (as a user brings one) through every analysis, as a base model
    and as an IFT model (its tokenizer has no chat template: the open-instruct format)."""
    from interp.config import analyses_by_dataset, load_config
    from interp.report import build_report
    from interp.results import ResultStore
    from interp.sweep import run

    model_dir = families.save(falcon, tmp_path / "tiny-falcon")
    cfg_path = tmp_path / "falcon.toml"
    cfg_path.write_text(SWEEP.format(out=tmp_path / "res", data=demo_data, model=model_dir))
    cfg = load_config(cfg_path)
    rep = run(cfg, progress=False)
    assert rep.failed == [], rep.summary()
    store = ResultStore(cfg.output)
    keys = list(store.keys())
    for label in ("falcon-base", "falcon-ift"):
        got = {(k.dataset, k.analysis) for k in keys if k.model == label}
        assert got == {(d, a) for d, names in analyses_by_dataset().items() for a in names}, label
    ift = next(k for k in keys if k.model == "falcon-ift" and k.prompt == 0)
    assert store.load(ift).meta["self_check"]["passed"]
    html = build_report(cfg.output, tmp_path / "report.html").read_text()
    assert "falcon-base" in html and "falcon-ift" in html
