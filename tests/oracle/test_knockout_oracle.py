"""Attention knockout against an independent knockout: a plain, unpadded, uncached Hugging Face
forward of an untouched copy of the model, the blocked ``(last, j)`` entries set to -inf in a 4-D
float attention mask handed to the attention modules of the window's layers only (a forward
pre-hook per layer replaces their ``attention_mask``; the other layers keep Hugging Face's own).
The probabilities of o* (the oracle's unablated top-1) must agree within 1e-4 *relative* (float32;
a tiny random model's probabilities are ~1e-3, so an absolute 1e-4 would let a knockout that
does nothing pass). 6 examples per family in the quick profile, the profile's count otherwise.

Families: LLaMA and Gemma-3 in the quick profile; Qwen2, Phi-3 and Falcon too under
``INTERP_HYPOTHESIS_PROFILE=thorough``."""

from __future__ import annotations

import copy
import os

import pytest
import torch
from hypothesis import given, settings, strategies as st

import families
from strategies import sentences

pytestmark = pytest.mark.skipif(not families.TOKENIZERS.is_dir(),
                                reason=f"real tokenizers not found at {families.TOKENIZERS}")

THOROUGH = os.environ.get("INTERP_HYPOTHESIS_PROFILE") == "thorough"
FAMILIES = ["llama", "gemma3"] + (["qwen2", "phi3", "falcon"] if THOROUGH else [])
ATOL = 1e-4


@pytest.fixture(scope="module", params=FAMILIES)
def fam(request):
    pytest.importorskip("gguf")
    f = families.family(request.param)
    oracle = copy.deepcopy(f.oracle)
    oracle.set_attn_implementation("eager")  # the additive float mask, exactly as given
    return f, oracle


def _attention(layer):
    return getattr(layer, "self_attn", None) or layer.self_attention


def oracle_probs(oracle, layers, ids: list[int], knocked: list[dict[int, list[int]]]) -> tuple[int, float, list[float]]:
    """(o*, p(o*) unablated, p(o*) per condition: the last position blocked from ``cond[layer]``)."""
    n = len(ids)
    causal = torch.full((n, n), float("-inf")).triu(1)

    def run(blocks: dict[int, list[int]]) -> torch.Tensor:
        handles = []
        for l, cols in blocks.items():
            mask = causal.clone()
            mask[n - 1, cols] = float("-inf")

            def pre(mod, args, kwargs, mask=mask[None, None]):
                assert "attention_mask" in kwargs, "the attention module takes its mask by keyword"
                return args, {**kwargs, "attention_mask": mask}
            handles.append(_attention(layers[l]).register_forward_pre_hook(pre, with_kwargs=True))
        try:
            with torch.no_grad():
                logits = oracle(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1].float()
        finally:
            for h in handles:
                h.remove()
        return torch.softmax(logits, -1)
    clean = run({})
    top = int(clean.argmax())
    return top, float(clean[top]), [float(run(c)[top]) for c in knocked]


@settings(**({} if THOROUGH else {"max_examples": 6}))
@given(data=st.data())
def test_knockout_equals_a_masked_plain_forward(fam, data):
    from interp.analyses.knockout import SETS, token_sets
    from interp.capture import Span
    from interp.knockout import Knockout, knockout_probs, windows

    f, oracle = fam
    model, layers = f.model, f.layers(oracle)
    words = data.draw(st.lists(sentences, min_size=1, max_size=3), label="prompts")
    prompts = [w + " Paris is" for w in words]  # a subject ("Paris") before the last token
    L = model.n_layers
    k = data.draw(st.integers(1, L), label="k")
    ws = windows(L, k)
    ids_all, conds, want = [], [], []
    for p in prompts:
        ids, sets = token_sets(model, p, Span.of(p, "Paris"))
        picks = [(s, data.draw(st.sampled_from(ws), label="window")) for s in SETS]
        ids_all.append(ids)
        conds.append([Knockout(w, sets[s]) for s, w in picks])
        want.append(oracle_probs(oracle, layers, ids, [{l: list(sets[s]) for l in w if sets[s]} for s, w in picks]))
    out = knockout_probs(model, ids_all, conds, use_cache=data.draw(st.booleans(), label="use_cache"),
                         batch_size=data.draw(st.integers(1, 3), label="batch_size"),
                         rows_per_forward=data.draw(st.integers(1, 4), label="rows_per_forward"))
    for q, (top, clean, knocked) in enumerate(want):
        assert int(out.target[q]) == top, f"{f.name}: o* differs from the oracle's top-1 (prompt {q})"
        assert abs(float(out.clean[q]) - clean) <= ATOL * clean
        for c, p in enumerate(knocked):
            assert abs(float(out.probs[q, c]) - p) <= ATOL * p, (f"{f.name} prompt {q} {conds[q][c]}: "
                                                             f"{float(out.probs[q, c])} vs oracle {p}")
