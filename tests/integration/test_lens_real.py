"""The logit lens's pruned argmax on the real offline models (262,144 / 49,152 tokens): identical
to the full float32 matmul on a few hundred real MHSA / MLP updates and residuals, with and
without the final norm, and on constructed ties; the float32 recomputation of a few vocabulary
rows is bit for bit the full matmul's."""

from __future__ import annotations

import math
import os

import pytest
import torch

from interp import capture, lens
from interp.lens import (_MIN_COLS, _MIN_ROWS, _first_pass, _pad_rows, _prunable_unembedding,
                         _pruned_chunk)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        reason="the pruned argmax needs oneDNN's bfloat16 matmul"),
]

THOROUGH = os.environ.get("INTERP_HYPOTHESIS_PROFILE") == "thorough"
PROMPTS = ["The Eiffel Tower is located in the city of", "The native language of Jean Reno is",
           "Toyota Corolla is produced by", "The capital of Italy is",
           "Albert Einstein was born in", "The official language of Brazil is"]


@pytest.fixture(scope="module")
def vectors(offline_model):
    acts = capture(offline_model, PROMPTS, progress=False)
    return torch.cat([acts.attn_out, acts.mlp_out, acts.resid], 1)  # [6, 3L + 1, d]: 222 / 366


@pytest.mark.parametrize("normed", [False, True])
def test_pruned_argmax_identical_to_full_matmul(offline_model, vectors, normed):
    assert _prunable_unembedding(offline_model)[0] is not None
    full = lens.argmax(offline_model, vectors, normed=normed, method="full", chunk_size=128)
    assert torch.equal(lens.argmax(offline_model, vectors, normed=normed, method="pruned"), full)
    assert torch.equal(lens.argmax(offline_model, vectors, normed=normed), full)  # auto: pruned
    few = vectors[:1, :3]  # rows padded in both paths
    assert torch.equal(lens.argmax(offline_model, few, normed=normed, method="pruned"),
                       lens.project(offline_model, few, normed=normed).argmax(-1))


def test_float32_recomputation_is_bitwise(offline_model, vectors):
    """The assumption the exact pass rests on: a float32 matmul's entry does not depend on which
    other rows / vocabulary columns are computed with it (at least _MIN_ROWS x _MIN_COLS)."""
    lin = offline_model.bridge.unembed.original_component
    v = vectors.reshape(-1, offline_model.d_model)[:64]
    with torch.inference_mode():
        ref = lens.project(offline_model, v)
        g = torch.Generator().manual_seed(0)
        for n_cols in (_MIN_COLS, 100, 3000):
            cols = torch.randperm(offline_model.d_vocab, generator=g)[:n_cols].sort().values
            for rows in (torch.arange(_MIN_ROWS), torch.randperm(64, generator=g)[:40]):
                sub = torch.nn.functional.linear(v[rows], lin.weight[cols], lin.bias[cols])
                assert torch.equal(sub, ref[rows][:, cols])


def test_pruned_argmax_ties_on_real_vocabulary(offline_model, vectors):
    """The model's first 32,768 unembedding rows, where the top token of real vectors gets an
    exact duplicate (a tie at the maximum) or a one-ulp neighbour (a near-tie), at a lower or
    higher id: the pruned argmax returns the full matmul's, the first id among tied maxima."""
    lin0 = offline_model.bridge.unembed.original_component
    w = lin0.weight.detach()[:32768].clone()
    x = vectors.reshape(-1, w.shape[1])[:120].float()
    with torch.inference_mode():
        top = torch.nn.functional.linear(x, w).argmax(-1)
    g = torch.Generator().manual_seed(1)
    for k, t in enumerate(top[:40].tolist()):
        j = int(torch.randint(32768, (1,), generator=g))
        if j == t:
            continue
        w[j] = w[t]
        if k % 4 == 3:  # a near-tie instead of a tie
            w[j, k % w.shape[1]] = torch.nextafter(w[t, k % w.shape[1]], torch.tensor(math.inf))
    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=True)
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.zero_()
    with torch.inference_mode():
        ref = torch.nn.functional.linear(_pad_rows(x), lin.weight, lin.bias)[:len(x)]
        res, full = _pruned_chunk(x, lin, _first_pass(lin))
    assert not full.any()
    assert torch.equal(res, ref.argmax(-1))
    ties = sum(int((ref[k] == ref[k].max()).sum() > 1) for k in range(len(x)))
    assert ties >= 15  # the constructed rows really tie at the top


@pytest.mark.parametrize("normed", [False, True])
def test_top_ids_identical_to_full_matmul(offline_model, vectors, normed):
    """The attribute rate's top 500 (and a widened 4,000) of real vectors: the pruned path gives
    the full float32 matmul's ids in its order (highest first, equal logits by lowest id). The
    default tier checks Gemma's 262k vocabulary on 2 of the 6 prompts (and k = 500 with the final
    norm); ``INTERP_HYPOTHESIS_PROFILE=thorough`` checks both models, every prompt and both k."""
    if not THOROUGH and offline_model.hf_model.config.vocab_size < 100_000:
        pytest.skip("the small vocabulary is checked in the thorough tier (CI's time budget)")
    x = vectors if THOROUGH else vectors[:2]
    for k in (500, 4000) if THOROUGH or not normed else (500,):
        full = lens.top_ids(offline_model, x, k, normed=normed, method="full")
        assert torch.equal(lens.top_ids(offline_model, x, k, normed=normed, method="pruned"), full)
        ref = lens.project(offline_model, x[:2], normed=normed)
        assert torch.equal(full[:2], ref.sort(dim=-1, descending=True, stable=True).indices[..., :k])


def test_is_argmax_and_allowed_top_ids_on_real_vectors(offline_model, vectors):
    """The extraction event (``is_argmax``, witnesses from a small probe) equals ``argmax == id``
    for ids that are the argmax, a close runner-up or a random token; the attribute rate's
    ranking among keepable tokens equals the masked full matmul's."""
    from interp.analyses.attributes import keepable_vocabulary

    x = vectors.reshape(-1, offline_model.d_model)
    top2 = lens.top_ids(offline_model, x, 2, method="full")
    g = torch.Generator().manual_seed(0)
    pick = torch.randint(3, (len(x),), generator=g)
    ids = torch.where(pick == 0, top2[:, 0], torch.where(pick == 1, top2[:, 1],
                      torch.randint(offline_model.d_vocab, (len(x),), generator=g)))
    assert torch.equal(lens.is_argmax(offline_model, x, ids, probe=16), top2[:, 0] == ids)
    _, allowed = keepable_vocabulary(offline_model)
    rows = x[:: max(1, len(x) // 8)][:8]
    ref = lens.project(offline_model, rows).masked_fill(~allowed, -math.inf)
    ref = ref.sort(dim=-1, descending=True, stable=True).indices[:, :100]
    assert torch.equal(lens.top_ids(offline_model, rows, 100, allowed=allowed), ref)
