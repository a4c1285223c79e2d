"""The run-time self-check: it passes on a healthy model, names the check, sample and versions
when a fast path is wrong, and a sweep then stores nothing for that model."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp import selfcheck
from interp.results import ResultStore
from interp.testing import tiny_model

PROMPTS = {"pararel": ["Please finish the sentence. The capital of France is",
                       "Please finish the sentence. Rome is the capital of"]}
CANDIDATES = {"pararel": ["Paris", "Italy", "New York", "Rome"]}
LETTERS = ["Question one?\nA. x\nB. y\nC. z\nD. w\nAnswer:"]


def test_passes_on_a_healthy_model_and_round_trips(tiny_llama):
    r = selfcheck.verify(tiny_llama, PROMPTS, candidates=CANDIDATES, letters=LETTERS)
    assert r.passed, r.checks
    assert [c.name for c in r.checks] == ["bos_once", "capture", "answer_tokens", "letters"]
    assert r.n_prompts == 3 and r.cache_reused and r.versions["transformers"]
    assert selfcheck.SelfCheck.from_dict(r.to_dict()) == r


def _silently_broken():
    """A tiny model whose bridge ignores the cache while the probe was told it works: the
    situation of transformers 5.24 without interp's patch and without the probe."""
    from transformer_lens.model_bridge.generalized_components.attention import AttentionBridge

    def ignore(module, args, kwargs):
        return args, {k: v for k, v in kwargs.items() if k not in ("cache", "past_key_values")}

    model = tiny_model("llama", chat=False, seed=5)
    for m in model.bridge.modules():
        if isinstance(m, AttentionBridge):
            m.register_forward_pre_hook(ignore, with_kwargs=True)
    model._cache_works = True
    return model


def test_a_wrong_fast_path_is_named_with_sample_and_versions():
    model = _silently_broken()
    prompts = {"demo": ["Please finish the sentence. The capital of France is",
                        "Please finish the sentence. People in Japan speak"]}
    with pytest.raises(selfcheck.SelfCheckError) as e:
        selfcheck.verify(model, prompts).raise_if_failed()
    msg = str(e.value)  # the cached forward itself notices the empty cache
    assert "'capture'" in msg and "holds 0 positions" in msg and "transformers" in msg


def test_failed_check_message(tiny_llama):
    r = selfcheck.SelfCheck("m", [selfcheck.Check("capture", False, "max |d| = 0.5", "'x'")],
                            {"transformers": "9.9"}, 0.1)
    with pytest.raises(selfcheck.SelfCheckError) as e:
        r.raise_if_failed()
    msg = str(e.value)
    assert "'m'" in msg and "'capture'" in msg and "'x'" in msg and "transformers 9.9" in msg


def test_a_sweep_stores_nothing_for_a_model_that_fails(tmp_path: Path, demo_data: Path,
                                                       monkeypatch):
    from interp.config import load_config
    from interp.sweep import plan, run
    from test_sweep import write_config

    real = selfcheck.verify

    def verify(model, *a, **kw):
        r = real(model, *a, **kw)
        if model.name == "tiny-ift":
            return selfcheck.SelfCheck(model.name, [selfcheck.Check("capture", False, "forced",
                                                                   "'sample'")], r.versions, 0.0)
        return r

    monkeypatch.setattr(selfcheck, "verify", verify)
    cfg_path = write_config(tmp_path, "out", demo_data)  # tiny-base (Gemma-3) + tiny-ift (LLaMA)
    cfg = load_config(cfg_path)
    per_prompt = [u for j in plan(cfg) if j.model == "tiny-ift" and not j.pooled for u in j.units]
    report = run(cfg)
    store = ResultStore(tmp_path / "out")
    models = {k.model for k in store.keys()} - {"_sweep"}  # _sweep: the cross-model summaries
    assert models == {"tiny-base"}
    failed = [reason for unit, reason in report.failed if "tiny-ift" in unit]
    assert sum("self-check 'capture'" in r and "'sample'" in r for r in failed) == len(per_prompt)
    assert all("self-check" in r or "needs the per-prompt units" in r for r in failed)
    for k in store.keys():
        if k.prompt != "all":
            assert store.load(k).meta["self_check"]["passed"] is True
