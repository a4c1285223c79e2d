"""Attention knockout (interp.knockout, interp.analyses.knockout, the knockout summary): known
answers on tiny random models, the two forward paths against each other, the analysis end to end
on demo PARAREL queries, storage, pooling, the paired summary and the figure."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from interp.analyses.knockout import (
    SETS, Knockouts, _unit, drop_curve, knockout_from_drops, pool_knockouts, relative_drop, select_items,
    token_sets, window_plan,
)
from interp.capture import Span, capture
from interp.knockout import Knockout, KnockoutUnsupported, check_reachable, knockout_probs, window_size, windows

PROMPTS = ["The capital of France is", "Rome is the capital of", "People in Japan speak", "Paris"]


def _ids(model):
    return [model.tokenize(p) for p in PROMPTS]


def test_windows_and_sizes():
    assert window_size(32) == window_size(48) == 9 and window_size(18) == 5 and window_size(1) == 1
    ws = windows(32, 9)
    assert len(ws) == 32 and ws[16] == tuple(range(12, 21)) and ws[0] == tuple(range(5)) and ws[31] == tuple(range(27, 32))
    assert all(len(w) == 9 for w in ws[4:28])
    k, wins, centres = window_plan(18, None)
    assert k == 5 and centres == list(range(18)) and wins[0] == (0, 1, 2)
    assert window_plan(18, 3)[2] == [0, 8, 17]


def test_relative_drop_and_curve():
    d = relative_drop(np.array([0.5, 0.2]), np.array([[0.5, 0.0], [0.1, 0.4]]))
    np.testing.assert_allclose(d, [[0.0, 1.0], [0.5, -1.0]])
    c = drop_curve(d, ["a", "b"], n_boot=200, seed=0)
    assert c.mean == (0.25, 0.0) and c.n == 2 and c.n_items == 2
    assert c.low[0] <= 0.25 <= c.high[0]
    # an item's queries are one cluster: the mean is over queries
    assert drop_curve(np.array([[1.0], [0.0], [0.0]]), ["a", "a", "b"], n_boot=50, seed=0).mean == (1 / 3,)


def test_select_items_whole_items_round_robin():
    qs = [SimpleNamespace(relation=r, fact_index=f) for r in ("P1", "P2", "P3") for f in range(4) for _ in range(3)]
    keep = select_items(qs, 10, seed=0)
    assert len(keep) == 9  # three whole items of 3 queries, one per relation
    assert sorted({qs[i].relation for i in keep}) == ["P1", "P2", "P3"]
    assert select_items(qs, 10, seed=0) == keep and select_items(qs, None) == list(range(len(qs)))
    assert len(select_items(qs, 1)) == 3  # at least one item


def test_token_sets(tiny_llama):
    prompt = PROMPTS[0]
    ids, sets = token_sets(tiny_llama, prompt, Span.of(prompt, "France"))
    n = len(ids)
    assert ids == tiny_llama.tokenize(prompt) and sets["last"] == (n - 1,)
    assert 0 not in sets["non_subject"] and n - 1 not in sets["subject"] + sets["non_subject"]
    assert sorted(sets["subject"] + sets["non_subject"]) == list(range(1, n - 1))
    pieces = "".join(tiny_llama.tokenizer.decode([ids[t]]) for t in sets["subject"])
    assert "France" in pieces


def test_masking_nothing_changes_nothing(tiny):
    ids = _ids(tiny)
    conds = [[Knockout(), Knockout(tuple(range(tiny.n_layers)), ()), Knockout((), (1,))] for _ in ids]
    out = knockout_probs(tiny, ids, conds)
    ref = torch.softmax(capture(tiny, PROMPTS, progress=False).logits, -1)
    assert torch.equal(out.target, ref.argmax(-1))
    torch.testing.assert_close(out.clean, ref.gather(1, out.target[:, None])[:, 0], atol=1e-6, rtol=1e-5)
    for c in range(3):
        torch.testing.assert_close(out.probs[:, c], out.clean, atol=0, rtol=0)


def test_cached_path_equals_whole_sequences(tiny):
    ids = _ids(tiny)
    L = tiny.n_layers
    conds = [[Knockout((l,), tuple(range(1, len(x) - 1))) for l in range(L)] + [Knockout((0,), (len(x) - 1,))]
             for x in ids]
    a = knockout_probs(tiny, ids, conds, use_cache=True, batch_size=3, rows_per_forward=5)
    b = knockout_probs(tiny, ids, conds, use_cache=False)
    torch.testing.assert_close(a.probs, b.probs, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(a.probs[:, 0], a.clean)  # the knockouts change something


def test_full_block_equals_a_one_token_forward(tiny):
    """Blocked from every other token in every layer, the last position attends to itself alone
    (softmax over one key = 1 whatever its position): the model on the last token alone."""
    ids = _ids(tiny)[:3]
    every = [[Knockout(tuple(range(tiny.n_layers)), tuple(range(len(x) - 1)))] for x in ids]
    with torch.no_grad():
        alone = torch.softmax(torch.stack([capture(tiny, [[x[-1]]], progress=False).logits[0] for x in ids]), -1)
    for pick in (alone.argmax(-1), alone.argmin(-1)):
        out = knockout_probs(tiny, ids, every, targets=pick.tolist())
        torch.testing.assert_close(out.probs[:, 0], alone.gather(1, pick[:, None])[:, 0], atol=1e-6, rtol=1e-4)


def test_full_block_equals_a_hand_computed_llama_forward(tiny_llama):
    """The same, computed by hand from the LLaMA weights: attention over one key is o_proj(v)."""
    hf = tiny_llama.hf_model
    ids = tiny_llama.tokenize(PROMPTS[0])
    with torch.no_grad():
        x = hf.model.embed_tokens.weight[ids[-1]][None]
        for layer in hf.model.layers:
            a = layer.self_attn
            v = a.v_proj(layer.input_layernorm(x)).view(1, -1, a.head_dim)
            v = v.repeat_interleave(a.num_key_value_groups, dim=1).reshape(1, -1)  # one value per query head
            x = x + a.o_proj(v)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        p = torch.softmax(hf.lm_head(hf.model.norm(x))[0].float(), -1)
    every = Knockout(tuple(range(tiny_llama.n_layers)), tuple(range(len(ids) - 1)))
    out = knockout_probs(tiny_llama, [ids], [[every]], targets=[int(p.argmax())])
    torch.testing.assert_close(out.probs[0, 0], p.max(), atol=1e-6, rtol=1e-4)


def test_bad_input(tiny_llama, monkeypatch):
    with pytest.raises(ValueError, match="at least 2 tokens"):
        knockout_probs(tiny_llama, [[5]], [[Knockout()]])
    with pytest.raises(ValueError, match="outside a query"):
        knockout_probs(tiny_llama, [[5, 6, 7]], [[Knockout((0,), (9,))]])
    check_reachable(tiny_llama)
    # a bridge that fires the hook after a fused kernel: edits do nothing -> a clear error, by architecture
    import interp.knockout as ko

    monkeypatch.setattr(tiny_llama, "_knockout_ok", None, raising=False)
    monkeypatch.setattr(ko, "knockout_probs", lambda *a, **k: SimpleNamespace(probs=torch.ones(1, 1), clean=torch.ones(1)))
    with pytest.raises(KnockoutUnsupported, match="LlamaForCausalLM.*does not change the forward"):
        check_reachable(tiny_llama)


def test_encoder_decoder_is_not_applicable():
    from interp.seq2seq import NotApplicable

    model = SimpleNamespace(is_encoder_decoder=True, name="t5")
    with pytest.raises(NotApplicable, match="encoder-decoder"):
        check_reachable(model)


def _result(n=6, w=3, seed=0, **kw):
    rng = np.random.default_rng(seed)
    drops = rng.uniform(-0.2, 1.0, size=(n, len(SETS), w))
    clusters = [f"P{i % 2}|{i // 2}" for i in range(n)]
    return knockout_from_drops("m", 6, 2, [(0, 1), (2, 3), (4, 5)][:w], [0, 2, 4][:w], drops, clusters,
                               [c.split("|")[0] for c in clusters], correct=[i % 3 == 0 for i in range(n)],
                               consistent=[i < 4 for i in range(n)], clean=rng.uniform(size=n),
                               token=np.arange(n), n_boot=100, **kw)


def test_result_splits_storage_and_pool():
    r = _result()
    assert set(r.curves) == {"all", "correct", "incorrect", "consistent", "inconsistent"}
    assert set(r.relations) == {"P0", "P1"}
    np.testing.assert_allclose(r.curve("subject").mean, r.drops[:, 0].mean(0))
    np.testing.assert_allclose(r.curve("last", "consistent").mean, r.drops[:4, 2].mean(0))
    payload, arrays = r.to_stored()
    import json

    json.dumps(payload)
    assert "drops" not in payload and arrays["drops"].shape == (6, 3, 3)
    back = Knockouts.from_stored(payload, arrays)
    assert back.curves == Knockouts.from_dict(payload).curves and np.allclose(back.drops, r.drops)
    pooled = pool_knockouts([r, back], n_boot=100)
    assert pooled.curve().n == 12 and pooled.curve().n_items == r.curve().n_items  # same items: same clusters
    np.testing.assert_allclose(pooled.curve().mean, r.curve().mean, atol=1e-6)


def test_unit_on_demo_queries(tiny_llama, demo_data):
    """The registered compute on real (demo) PARAREL queries: limits, splits, o* = the top-1 token."""
    from interp.analyses.consistency import query_consistent
    from interp.data import pararel
    from interp.queries import pararel_queries

    qs = pararel_queries(tiny_llama, pararel.load(demo_data / "pararel", relations=["P17", "P36"]), 0, max_facts=2)
    preds = [q.object if i % 3 else "x" for i, q in enumerate(qs)]
    cons = SimpleNamespace(predictions=tuple(preds), correct=tuple(p == q.object for p, q in zip(preds, qs)))
    limits = SimpleNamespace(knockout_max_queries=8, knockout_max_windows=None)
    job = SimpleNamespace(model=tiny_llama, limits=limits, items=qs, result=lambda name: cons, seed=0, prompt=0,
                          n_boot=100, cfg=SimpleNamespace(batch_size=4), timed=lambda name, fn: fn())
    r = _unit(job)
    keep = select_items(qs, 8, 0, consistent=query_consistent(qs, preds))
    assert r.n_available == len(qs) and r.curve().n == len(keep) <= 8 and r.centres == (0, 1)
    assert r.masks["consistent"] == tuple(query_consistent(qs, preds)[i] for i in keep)
    top = capture(tiny_llama, [qs[i].prompt for i in keep], progress=False).logits.argmax(-1)
    assert r.token.tolist() == top.tolist()
    assert np.isfinite(r.drops).all() and (r.drops <= 1).all()


def test_summary_pairs_windows_and_writes_a_finding():
    from interp import summaries
    from interp.results import UnitKey

    def unit(r):
        payload, arrays = r.to_stored()
        return SimpleNamespace(key=None, payload=payload, arrays=arrays)
    a, b = _result(seed=0), _result(seed=1)
    cfg = SimpleNamespace(models=[SimpleNamespace(label="b", kind="base", base=None),
                                  SimpleNamespace(label="i", kind="ift", base="b")],
                          seed=0, limits=SimpleNamespace(n_boot=200), datasets={"pararel": "x"},
                          wanted=lambda ds: ("consistency", "knockout"))
    cfg.model = lambda label: next(m for m in cfg.models if m.label == label)
    units = {UnitKey("b", "pararel", "knockout", "all"): unit(a), UnitKey("i", "pararel", "knockout", "all"): unit(b)}
    for k, u in units.items():
        u.key = k
    assert set(summaries._knockout_inputs(cfg)) == set(units)
    res = summaries._knockout(cfg, units)
    assert len(res.rows) == 3 * 3 and res.alignment == {"b → i": "by layer"} and len(res.findings) == 1
    row = res.rows[0]
    items_a = summaries.knockout_item_drops(units[UnitKey("b", "pararel", "knockout", "all")].payload, a.drops)
    assert row.n == 6 and row.base_value == pytest.approx(np.mean([v[0, 0] for v in items_a.values()]))
    assert "blocking subject → last" in res.findings[0]
    assert summaries.match_windows([0.0, 1.0], [0.0, 0.4, 1.0]) == [(0, 0, 0.0), (1, 2, 1.0)]


def test_figure():
    from interp.figures.paper import knockout_curves

    fig = knockout_curves([_result().to_dict()], model="m")
    names = {t.name for t in fig.data if t.name and "interval" not in t.name}
    assert len(names) == 6 and any("subject → last (consistent" in n for n in names)
