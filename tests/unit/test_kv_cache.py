"""Cache reuse is checked: a model whose bridge does not fill the key/value cache (as
TransformerLens 4.3 with transformers 5.24 before the patch) is detected, said once in the log,
and every fast path takes its uncached route with the same numbers."""

from __future__ import annotations

import logging

import pytest
import torch

from interp import kv_cache
from interp.capture import capture
from interp.scoring import naive_score_candidates, score_candidates
from interp.testing import tiny_model

PROMPTS = ["Please finish the sentence. The capital of France is",
           "Please finish the sentence. Rome is the capital of",
           "Please finish the sentence. People in Japan speak"]
CANDIDATES = ["Paris", "Rome", "New York", "Japanese", "Italy"]


def _ignore_cache(module, args, kwargs):
    kwargs = dict(kwargs)
    kwargs.pop("cache", None)
    kwargs.pop("past_key_values", None)
    return args, kwargs


@pytest.fixture
def broken():
    """A tiny model whose bridge attention ignores the cache it is given."""
    from transformer_lens.model_bridge.generalized_components.attention import AttentionBridge

    model = tiny_model("llama", chat=False, seed=3)
    for m in model.bridge.modules():
        if isinstance(m, AttentionBridge):
            m.register_forward_pre_hook(_ignore_cache, with_kwargs=True)
    return model


def test_a_cache_that_stays_empty_raises(broken):
    toks = torch.tensor([broken.tokenize("The capital of France is")])
    with pytest.raises(kv_cache.CacheError, match="holds 0 positions"):
        kv_cache.forward(broken.hf_model, toks)


def test_broken_cache_is_detected_and_logged_once(broken, caplog):
    with caplog.at_level(logging.WARNING, logger="interp.kv_cache"):
        assert kv_cache.cache_works(broken) is False
        assert kv_cache.cache_works(broken) is False
    assert sum("uncached paths" in r.message for r in caplog.records) == 1
    assert kv_cache.SharedPrefix(broken, [broken.tokenize(p) for p in PROMPTS]).length == 0


def test_fast_paths_stay_exact_without_a_working_cache(broken):
    healthy = tiny_model("llama", chat=False, seed=3)  # same weights, cache works
    assert kv_cache.cache_works(healthy)
    a = capture(broken, PROMPTS, batch_size=2, progress=False)
    b = capture(healthy, PROMPTS, batch_size=2, progress=False)
    for kind in ("resid", "attn_out", "mlp_out", "final", "logits"):
        torch.testing.assert_close(getattr(a, kind), getattr(b, kind), atol=1e-5, rtol=1e-5)
    fast = score_candidates(broken, PROMPTS, CANDIDATES, exhaustive=True, batch_size=2)
    ref = naive_score_candidates(healthy, PROMPTS, CANDIDATES)
    assert fast.best == ref.best
    for got, want in zip(fast.scores, ref.scores):
        assert got == pytest.approx(want, abs=1e-4)


def test_cache_argument_follows_the_installed_transformers():
    model = tiny_model("llama", chat=False)
    import transformers
    from packaging.version import Version

    want = "cache" if Version(transformers.__version__) >= Version("5.24") else "past_key_values"
    assert kv_cache.cache_argument(model.hf_model) == want
