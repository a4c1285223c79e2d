from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, strategies as st

from interp import capture, lens
from interp.lens import _first_pass, _pad_rows, _prunable_unembedding, _pruned_chunk


def test_project_and_topk_agree(tiny):
    acts = capture(tiny, ["The capital of France is", "Rome is"])
    logits = lens.project(tiny, acts.attn_out)
    assert logits.shape == (2, tiny.n_layers, tiny.d_vocab)
    top = lens.top_k(tiny, acts.attn_out, k=3)
    assert top.ids.shape == (2, tiny.n_layers, 3)
    torch.testing.assert_close(top.ids[..., 0], logits.argmax(-1))
    torch.testing.assert_close(lens.argmax(tiny, acts.attn_out), logits.argmax(-1))
    probs = torch.softmax(logits, -1).topk(3, -1).values
    torch.testing.assert_close(top.probs, probs, atol=1e-5, rtol=1e-4)
    assert len(top.strings) == 2 and len(top.strings[0]) == tiny.n_layers
    assert top.strings[0][0][0] == tiny.tokenizer.decode([int(top.ids[0, 0, 0])])


def test_normed_last_resid_is_model_logits(tiny):
    acts = capture(tiny, ["It is widely known that water is"])
    torch.testing.assert_close(lens.project(tiny, acts.resid[:, -1], normed=True), acts.logits,
                               atol=1e-4, rtol=1e-4)
    # final (already normed) projected without norm gives the same logits
    torch.testing.assert_close(lens.project(tiny, acts.final), acts.logits, atol=1e-4, rtol=1e-4)


def test_known_answer_unembedding(tiny_llama):
    """project(x) = W_U x: with a one-hot x the logits are a column of W_U."""
    w_u = tiny_llama.hf_model.get_output_embeddings().weight  # [vocab, d]
    x = torch.zeros(1, tiny_llama.d_model)
    x[0, 3] = 2.0
    torch.testing.assert_close(lens.project(tiny_llama, x)[0], 2.0 * w_u[:, 3].detach())


# --- argmax: the pruned (bf16 first pass + exact float32 check) path equals the full matmul ---

needs_bf16 = pytest.mark.skipif(
    not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    reason="the pruned argmax needs oneDNN's bfloat16 matmul")


def _reference(w: torch.Tensor, b: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
    """argmax of the full float32 matmul (rows padded as the library pads them)."""
    return torch.nn.functional.linear(_pad_rows(v), w, b)[:v.shape[0]].argmax(-1)


def _pruned(lin: torch.nn.Linear, v: torch.Tensor) -> torch.Tensor:
    """The pruned argmax of ``lin(v)``; rows it hands back are filled from the full matmul."""
    with torch.inference_mode():
        res, full = _pruned_chunk(v, lin, _first_pass(lin))
        ref = _reference(lin.weight, lin.bias, v)
    return torch.where(full, ref, res), full


def _tiny_vectors(model):
    acts = capture(model, ["The capital of France is", "Rome is", "a b c d e f", "water is"])
    return torch.cat([acts.attn_out, acts.mlp_out, acts.resid], 1)  # [4, 3L + 1, d]


@needs_bf16
@pytest.mark.parametrize("normed", [False, True])
def test_pruned_argmax_equals_full_on_tiny_models(tiny, normed):
    x = _tiny_vectors(tiny)
    ref = lens.project(tiny, x, normed=normed).argmax(-1)
    assert torch.equal(lens.argmax(tiny, x, normed=normed, method="pruned"), ref)
    assert torch.equal(lens.argmax(tiny, x, normed=normed, method="full"), ref)
    assert torch.equal(lens.argmax(tiny, x, normed=normed), ref)  # auto: full (small vocabulary)
    for chunk in (1, 3, 7):  # results do not depend on the chunking
        for method in ("pruned", "full"):
            got = lens.argmax(tiny, x, normed=normed, method=method, chunk_size=chunk)
            assert torch.equal(got, ref)


def test_argmax_arguments(tiny_llama):
    x = torch.zeros(2, tiny_llama.d_model)
    with pytest.raises(ValueError, match="method"):
        lens.argmax(tiny_llama, x, method="fast")
    with pytest.raises(ValueError, match="chunk_size"):
        lens.argmax(tiny_llama, x, chunk_size=0)
    assert lens.argmax(tiny_llama, torch.zeros(0, 3, tiny_llama.d_model)).shape == (0, 3)


@needs_bf16
@pytest.mark.parametrize("normed", [False, True])
def test_pruned_argmax_ties_and_near_ties(normed):
    """Tied maxima go to the first token id, as torch.argmax on the full logits; near-ties (rows
    one ulp apart) and rows that are all ties (x = 0) too; non-finite rows as the full matmul."""
    from interp.testing import tiny_model

    model = tiny_model("llama", chat=False, seed=3)  # its own copy: the weights are edited
    lin = model.bridge.unembed.original_component
    assert _prunable_unembedding(model)[0] is lin
    w = lin.weight
    with torch.no_grad():
        w[250] = w[40]
        w[399] = w[40]  # three identical rows: 40 < 250 < 399
        w[41] = w[7]
        w[41, 0] = torch.nextafter(w[7, 0], torch.tensor(math.inf))  # one ulp above row 7
        w[300] = w[7]
    x = torch.stack([w[40].detach() * 3.0, w[7].detach() * 2.0, w[41].detach() * 5.0,
                     torch.zeros(model.d_model), -w[250].detach(),
                     torch.full((model.d_model,), math.nan), w[7].detach() * math.inf])
    x = torch.cat([x, _tiny_vectors(model).reshape(-1, model.d_model)])
    ref = lens.project(model, x, normed=normed).argmax(-1)
    if not normed:
        logits = lens.project(model, x[:2])
        assert ref[0] == 40 and logits[0, 40] == logits[0, 250] == logits[0, 399]  # a real tie
        assert ref[1] in (7, 41) and logits[1, 7] == logits[1, 300]
    assert ref[3] == 0  # all logits equal
    assert torch.equal(lens.argmax(model, x, normed=normed, method="pruned"), ref)
    for chunk in (1, 2, 5):
        got = lens.argmax(model, x, normed=normed, method="pruned", chunk_size=chunk)
        assert torch.equal(got, ref)


@needs_bf16
def test_pruned_argmax_bias_and_weight_changes():
    """A nonzero unembedding bias (an extra bf16 column) and an edited weight (cache rebuilt)."""
    from interp.testing import tiny_model

    model = tiny_model("gemma3", chat=False, seed=5)
    lin = model.bridge.unembed.original_component
    x = _tiny_vectors(model)
    with torch.no_grad():
        lin.bias.normal_(0.0, 2.0)
        lin.bias[17] = lin.bias[3] = 50.0  # a tie carried by the bias alone
    ref = lens.project(model, x).argmax(-1)
    assert torch.equal(lens.argmax(model, x, method="pruned"), ref)
    assert _first_pass(lin).with_bias
    zero = torch.zeros(1, model.d_model)
    assert lens.argmax(model, zero, method="pruned").item() == 3
    with torch.no_grad():
        lin.weight.mul_(-1.0)
        lin.bias.zero_()
    ref = lens.project(model, x).argmax(-1)
    assert torch.equal(lens.argmax(model, x, method="pruned"), ref)
    assert not _first_pass(lin).with_bias


def test_pruned_argmax_refuses_where_it_does_not_apply(tiny_llama):
    unembed = tiny_llama.bridge.unembed
    handle = unembed.register_forward_hook(lambda *a: None)
    try:
        assert _prunable_unembedding(tiny_llama)[0] is None
        with pytest.raises(ValueError, match="hooks"):
            lens.argmax(tiny_llama, torch.zeros(1, tiny_llama.d_model), method="pruned")
        x = _tiny_vectors(tiny_llama)
        assert torch.equal(lens.argmax(tiny_llama, x), lens.project(tiny_llama, x).argmax(-1))
    finally:
        handle.remove()


@st.composite
def _argmax_problems(draw):
    """A random unembedding (with exact duplicate rows, one-ulp neighbours, outlier columns, any
    scale) and random rows (with zero rows, outlier dimensions, multiples of vocabulary rows)."""
    vocab = draw(st.integers(1, 700))
    d = draw(st.integers(1, 40))
    n = draw(st.integers(1, 24))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31 - 1)))
    w_scale = 2.0 ** draw(st.integers(-40, 40))
    x_scale = 2.0 ** draw(st.integers(-60, 60))
    w = torch.randn(vocab, d, generator=g) * w_scale
    if draw(st.booleans()):
        w[:, torch.randint(d, (1,), generator=g)] *= 1e3  # an outlier column
    for _ in range(draw(st.integers(0, 6))):  # duplicate rows: exact ties
        i, j = torch.randint(vocab, (2,), generator=g).tolist()
        w[j] = w[i]
    for _ in range(draw(st.integers(0, 3))):  # rows one ulp apart: near-ties
        i, j = torch.randint(vocab, (2,), generator=g).tolist()
        w[j] = w[i]
        k = int(torch.randint(d, (1,), generator=g))
        direction = torch.tensor(draw(st.sampled_from([math.inf, -math.inf])))
        w[j, k] = torch.nextafter(w[i, k], direction)
    bias_kind = draw(st.sampled_from(["none", "zero", "random"]))
    b = None if bias_kind == "none" else torch.zeros(vocab)
    if bias_kind == "random":
        size = w_scale * x_scale * draw(st.sampled_from([0.01, 1.0, 100.0]))
        b = torch.randn(vocab, generator=g) * size
    x = torch.randn(n, d, generator=g) * x_scale
    kinds = draw(st.lists(st.sampled_from(["plain", "zero", "outlier", "token", "tokens"]),
                          min_size=n, max_size=n))
    for r, kind in enumerate(kinds):
        if kind == "zero":
            x[r] = 0.0
        elif kind == "outlier":
            x[r, torch.randint(d, (1,), generator=g)] *= 1e4
        elif kind == "token":  # along a (possibly duplicated) vocabulary row: ties at the top
            x[r] = w[torch.randint(vocab, (1,), generator=g)] * (x_scale / w_scale)
        elif kind == "tokens":
            i, j = torch.randint(vocab, (2,), generator=g).tolist()
            x[r] = (w[i] + w[j]) * (x_scale / w_scale)
    return w, b, x


@needs_bf16
@given(_argmax_problems())
def test_pruned_argmax_property(problem):
    w, b, x = problem
    assume(torch.isfinite(w).all() and (b is None or torch.isfinite(b).all()))
    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    with torch.no_grad():
        lin.weight.copy_(w)
        if b is not None:
            lin.bias.copy_(b)
    got, full = _pruned(lin, x)
    assert torch.equal(got, _reference(lin.weight, lin.bias, x))
    # rows are only handed back when not finite or near bf16's range (||x'|| max ||w'|| >= 2^120)
    wb = w.double() if b is None else torch.cat([w.double(), b.double()[:, None]], 1)
    xb = x.double() if b is None else torch.cat([x.double(), torch.ones(len(x), 1)], 1)
    small = torch.isfinite(x).all(1) & (xb.norm(dim=1) * wb.norm(dim=1).max() < 2.0 ** 110)
    assert not full[small].any()


# --- top_ids: the k highest logits, highest first, equal logits by lowest id ---------------


def _ordered_reference(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Plain reference: a stable sort of every row by descending logit (lowest id first on ties)."""
    return logits.sort(dim=-1, descending=True, stable=True).indices[..., :k]


@needs_bf16
@pytest.mark.parametrize("normed", [False, True])
def test_top_ids_equal_the_full_matmul_with_ties(normed):
    """Exact ties at the top and at the k-th place, near ties, all-tied and non-finite rows: the
    pruned and full paths give the stable-sorted reference, whatever the chunking."""
    model, x = _tie_model()
    logits = lens.project(model, x, normed=normed)
    finite = torch.isfinite(logits).all(-1)
    for k in (1, 2, 3, 10, 40):
        ref = _ordered_reference(logits[finite], k)
        for method in ("pruned", "full"):
            for chunk in (1, 5, 512):
                got = lens.top_ids(model, x, k, normed=normed, method=method, chunk_size=chunk)
                assert got.shape == (len(x), k)
                assert torch.equal(got[finite], ref), (k, method, chunk)
                if k == 1:
                    assert torch.equal(got[:, 0], lens.argmax(model, x, normed=normed))


def test_top_ids_arguments(tiny_llama):
    x = torch.zeros(2, tiny_llama.d_model)
    with pytest.raises(ValueError, match="method"):
        lens.top_ids(tiny_llama, x, 3, method="fast")
    with pytest.raises(ValueError, match="k must be"):
        lens.top_ids(tiny_llama, x, 0)
    assert lens.top_ids(tiny_llama, torch.zeros(0, 3, tiny_llama.d_model), 4).shape == (0, 3, 4)


# --- top_ids among allowed tokens; is_argmax (the extraction event) ---------------------------


def _tie_model():
    """A tiny LLaMA whose unembedding has exact ties (40 = 250 = 399) and a near tie (7 / 41)."""
    from interp.testing import tiny_model

    model = tiny_model("llama", chat=False, seed=3)  # its own copy: the weights are edited
    w = model.bridge.unembed.original_component.weight
    with torch.no_grad():
        w[250] = w[40]
        w[399] = w[40]
        w[41] = w[7]
        w[41, 0] = torch.nextafter(w[7, 0], torch.tensor(math.inf))
        w[300] = w[7]
    x = torch.stack([w[40].detach() * 3.0, w[7].detach() * 2.0, w[41].detach() * 5.0,
                     torch.zeros(model.d_model), -w[250].detach(),
                     torch.full((model.d_model,), math.nan)])
    return model, torch.cat([x, _tiny_vectors(model).reshape(-1, model.d_model)])


@needs_bf16
@pytest.mark.parametrize("normed", [False, True])
def test_top_ids_among_allowed_tokens(normed):
    """``allowed`` removes tokens from the ranking and nothing else: the first k allowed ids of
    the full matmul's stable descending sort, ties included (40 left out, its twin 250 kept)."""
    model, x = _tie_model()
    g = torch.Generator().manual_seed(0)
    allowed = torch.rand(model.d_vocab, generator=g) < 0.6
    allowed[40], allowed[250], allowed[399], allowed[7], allowed[300] = False, True, True, True, False
    logits = lens.project(model, x, normed=normed)
    finite = torch.isfinite(logits).all(-1)
    ref_all = logits.masked_fill(~allowed, -math.inf).sort(dim=-1, descending=True, stable=True).indices
    for k in (1, 2, 10, 40):
        for method in ("pruned", "full"):
            for chunk in (1, 512):
                got = lens.top_ids(model, x, k, normed=normed, method=method, chunk_size=chunk,
                                   allowed=allowed)
                assert torch.equal(got[finite], ref_all[finite, :k]), (k, method, chunk)
                assert allowed[got[finite]].all()
    if not normed:
        assert lens.top_ids(model, x[:1], 2, allowed=allowed)[0].tolist() == [250, 399]
    with pytest.raises(ValueError, match="allowed tokens"):
        lens.top_ids(model, x, int(allowed.sum()) + 1, allowed=allowed)
    with pytest.raises(ValueError, match="bool mask"):
        lens.top_ids(model, x, 3, allowed=allowed[:-1])


@pytest.mark.parametrize("normed", [False, True])
def test_is_argmax_equals_argmax_comparison(normed, monkeypatch):
    """``is_argmax(x, ids)`` is ``argmax(x) == ids`` on ties (a tied twin at a higher id is not the
    argmax, the lowest is), near ties, non-finite and all-equal rows, whatever the probe size;
    the witnesses decide most rows, so only the others reach the argmax."""
    model, x = _tie_model()
    ref_top = lens.argmax(model, x, normed=normed)
    g = torch.Generator().manual_seed(1)
    ids = torch.where(torch.rand(len(x), generator=g) < 0.5, ref_top,
                      torch.randint(model.d_vocab, (len(x),), generator=g))
    ids[0], ids[1] = (250, 300) if not normed else (ids[0], ids[1])  # tied twins above the argmax
    ref = ref_top == ids
    ranked = []
    real_top = lens._top
    monkeypatch.setattr(lens, "_top", lambda m, v, *a, **k: ranked.append(len(v)) or real_top(m, v, *a, **k))
    for probe in (1, 3, 8, 1024):
        ranked.clear()
        got = lens.is_argmax(model, x, ids, normed=normed, probe=probe)
        assert torch.equal(got, ref), probe
        if probe == 3:
            assert sum(ranked) < len(x)  # the witnesses decided rows the argmax never ranked
    # broadcasting: one id per prompt for every layer, as the extraction analysis asks
    x3 = x[:24].reshape(4, 6, -1)
    preds = ids[:4]
    assert torch.equal(lens.is_argmax(model, x3, preds[:, None], normed=normed, probe=2),
                       lens.argmax(model, x3, normed=normed) == preds[:, None])
    with pytest.raises(ValueError, match="token ids"):
        lens.is_argmax(model, x, torch.full((len(x),), model.d_vocab))
