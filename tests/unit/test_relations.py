"""Known-answer tests for interp.analyses.relations (Fig. 3)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from interp.analyses import relations as rl
from interp.capture import Span, capture
from interp.queries import ParaRelQuery


def _q(rel: str, pi: int, subject: str, obj: str, pattern: str | None = None) -> ParaRelQuery:
    pattern = pattern or f"{rel} pattern {pi} [X] word{pi} [Y]"
    prompt = pattern.replace("[X]", subject).split(" [Y]")[0]
    return ParaRelQuery(rel, pi, pattern, 0, subject, obj, 0, prompt, Span.of(prompt, subject))


def _json(obj):
    return json.loads(json.dumps(obj.to_dict(), allow_nan=False))


def _two_relations() -> list[ParaRelQuery]:
    # P1 and P2 share subject A; P2's (C, X) shares object X with P1's (A, X)
    return [_q("P1", 0, "A", "X"), _q("P1", 1, "A", "X"), _q("P1", 0, "B", "Y"), _q("P1", 1, "B", "Y"),
            _q("P2", 0, "A", "Z"), _q("P2", 1, "A", "Z"), _q("P2", 0, "C", "X"), _q("P2", 1, "C", "X")]


def _resid(queries: list[ParaRelQuery]) -> torch.Tensor:
    """Layer 0: all parallel. Layer 1: one axis per relation. Layer 2: P1 axis 0 / P2 axis 0 + 1."""
    rows = []
    for q in queries:
        r = 0 if q.relation == "P1" else 1
        l2 = [1.0, 0.0, 0.0] if r == 0 else [1.0, 1.0, 0.0]
        rows.append([[0.0, 0.0, 1.0], [1.0 - r, float(r), 0.0], l2])
    return torch.tensor(rows)


# --- relation layers ---------------------------------------------------------------------------

def test_relation_layers_hand_made_curves():
    same = [1.0, 0.9, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    diff = [1.0, 0.9, 0.6, 0.5, 0.4, 0.3, 0.3, 0.3]  # drops faster at layers 3, 4, 5
    assert rl.relation_layers(diff, same) == (3, 5)
    assert rl.relation_layers(same, same) is None
    assert rl.relation_layers(same, diff) is None  # the gap only shrinks
    # two runs: (1, 1) gains 0.05, (4, 5) gains 0.3 -> the larger total wins
    g = [0.0, 0.05, 0.05, 0.0, 0.1, 0.3]
    assert rl.relation_layers([-v for v in g], [0.0] * 6) == (4, 5)
    # equal totals -> the earliest; tol drops the small steps
    assert rl.relation_layers([0, -0.1, -0.1, 0, -0.1], [0] * 5) == (1, 1)
    assert rl.relation_layers(diff, same, tol=0.15) is None
    with pytest.raises(ValueError, match="equal length"):
        rl.relation_layers([1.0, 2.0], [1.0])


# --- pair selection and cosines ---------------------------------------------------------------

def test_relation_curves_known_answer():
    qs = _two_relations()
    last = [10, 11, 10, 11, 10, 11, 10, 11]  # patterns 0 and 1 end in different tokens
    c = rl.relation_curves_from_resid(_resid(qs), qs, last, n_boot=200, model="m")
    # setting 2: (P1 p0 A, P1 p1 B) and (P1 p1 A, P1 p0 B); same for P2 with C
    assert c.n_pairs_same == (2, 2)
    # setting 1 for P1: only (B, Y) pairs with P2's 4 queries; for P2: A and C pair with (B, Y)
    assert c.n_pairs_different == (8, 8)
    assert c.relations == ("P1", "P2") and c.excluded == ()
    assert c.curve("same") == pytest.approx([1.0, 1.0, 1.0])
    s2 = 1 / math.sqrt(2)
    assert c.curve("different") == pytest.approx([1.0, 0.0, s2])
    np.testing.assert_allclose(c.per_relation_different, [[1.0, 0.0, s2], [1.0, 0.0, s2]])
    assert c.relation_layers == (1, 1)
    assert c.n_layers == 3 and c.model == "m" and c.last_token == "token_id"
    # both relations have the same curve: resampling relations gives zero-width intervals
    assert all(i.low == pytest.approx(i.high) for i in c.different + c.same)
    assert c.different[1].n == 2  # the unit resampled: relations


def test_interval_resamples_relations_by_hand():
    """Two relations with per-relation curves 0 and 1 at a layer: resampling 2 relations gives
    means 0, 1/2 or 1 (probabilities 1/4, 1/2, 1/4), so the 95% interval is [0, 1]."""
    iv = rl._relation_intervals(np.array([[0.0], [1.0]]), 2000, 0.95, np.random.default_rng(0))[0]
    assert (iv.estimate, iv.low, iv.high, iv.n) == (0.5, 0.0, 1.0, 2)


def test_footnote6_same_last_token_excludes_pairs():
    qs = _two_relations()
    last = [10, 11, 10, 11, 12, 12, 12, 12]  # P2's two patterns end in the same token
    c = rl.relation_curves_from_resid(_resid(qs), qs, last, n_boot=20)
    assert c.relations == ("P1",) and c.excluded == ("P2",)
    # without token ids, the last word before [Y] decides ("word0" vs "word1": different)
    c = rl.relation_curves_from_resid(_resid(qs), qs, None, n_boot=20)
    assert c.relations == ("P1", "P2") and c.last_token == "word"


def test_macro_average_over_relations():
    # P1: 2 same-relation pairs with cosine 1, P3 (three facts): 6 pairs with cosine 0 or 1
    qs = _two_relations()[:4] + [_q("P3", p, s, o) for s, o in (("D", "U"), ("E", "V"), ("F", "W"))
                                 for p in (0, 1)]
    rows = [[[1.0, 0.0] if q.relation == "P1" or q.pattern_index == 1 else [0.0, 1.0]] for q in qs]
    c = rl.relation_curves_from_resid(torch.tensor(rows), qs, None, n_boot=50)
    # P3 setting 2 pairs: different subject and pattern -> orthogonal (cos 0), 6 of them
    assert c.n_pairs_same == (2, 6)
    np.testing.assert_allclose(c.per_relation_same, [[1.0], [0.0]], atol=1e-12)
    assert c.curve("same") == pytest.approx([0.5])  # macro, not the pair-weighted 2/8


def test_cap_and_rejection_sampling(monkeypatch):
    rng = np.random.default_rng(0)
    qs = [_q(f"P{r}", p, f"s{r}_{f}", f"o{f % 5}") for r in range(3) for f in range(12) for p in range(3)]
    resid = torch.tensor(rng.normal(size=(len(qs), 2, 4)), dtype=torch.float32)
    last = [q.pattern_index for q in qs]
    full = rl.relation_curves_from_resid(resid, qs, last, max_pairs=7, n_boot=20, seed=1)
    assert full.n_pairs_same == (7, 7, 7) and full.n_pairs_different == (7, 7, 7)
    again = rl.relation_curves_from_resid(resid, qs, last, max_pairs=7, n_boot=20, seed=1)
    assert _json(full) == _json(again)
    monkeypatch.setattr(rl, "_ENUMERATE_MAX", 0)
    sampled = rl.relation_curves_from_resid(resid, qs, last, max_pairs=7, n_boot=20, seed=1)
    assert sampled.n_pairs_same == (7, 7, 7) and sampled.n_pairs_different == (7, 7, 7)
    # the sampled pairs obey the constraints
    subj = np.array([q.subject for q in qs])
    obj = np.array([q.object for q in qs])
    pat = np.array([q.pattern_index for q in qs])
    rows = np.arange(len(qs))
    inside = rows[:36]
    a, b = rl._sample_pairs(inside, inside, lambda a, b: (subj[a] != subj[b]) & (obj[a] != obj[b])
                            & (pat[a] != pat[b]), 50, np.random.default_rng(0), unordered=True)
    assert len(a) == 50 and len(set(zip(a.tolist(), b.tolist()))) == 50
    assert np.all(a < b) and np.all(subj[a] != subj[b]) and np.all(pat[a] != pat[b])


def test_bad_inputs():
    qs = _two_relations()
    resid = _resid(qs)
    with pytest.raises(ValueError, match="queries: 7 queries for 8"):
        rl.relation_curves_from_resid(resid, qs[:7])
    with pytest.raises(ValueError, match="last_tokens: 3 tokens"):
        rl.relation_curves_from_resid(resid, qs, [1, 2, 3])
    with pytest.raises(ValueError, match="no relation has pairs in both settings"):
        rl.relation_curves_from_resid(resid[:4], qs[:4])  # a single relation: no setting 1
    with pytest.raises(ValueError, match="max_pairs"):
        rl.relation_curves_from_resid(resid, qs, max_pairs=0)


def test_combine_prompts_averages_relation_curves():
    qs = _two_relations()
    last = [10, 11] * 4
    base = _resid(qs)
    p0 = rl.relation_curves_from_resid(base, qs, last, n_boot=50)
    flipped = base.clone()
    flipped[:, 1] = torch.tensor([1.0, 0.0, 0.0])  # layer 1: everything parallel in this prompt
    p1 = rl.relation_curves_from_resid(flipped, qs, last, n_boot=50)
    avg = rl.combine_prompts([p0, p1], n_boot=100)
    assert avg.curve("different") == pytest.approx([1.0, 0.5, 1 / math.sqrt(2)])
    assert avg.curve("same") == pytest.approx([1.0, 1.0, 1.0])
    assert avg.n_prompts == 2 and avg.per_prompt == (p0, p1)
    assert avg.n_pairs_same == (4, 4) and avg.relation_layers == (1, 1)
    assert _json(rl.RelationCurves.from_dict(_json(avg))) == _json(avg)
    with pytest.raises(ValueError, match="differ in relations"):
        rl.combine_prompts([p0, rl.relation_curves_from_resid(base[:, :2], qs, last, n_boot=10)])


# --- across models, serialisation ----------------------------------------------------------------

def _curves(diff: list[float], same: list[float], name: str) -> rl.RelationCurves:
    from interp.stats import Interval

    iv = lambda v: tuple(Interval(x, x, x, 1) for x in v)  # noqa: E731
    return rl.RelationCurves(iv(diff), iv(same), ("P1",), (), (1,), (1,),
                             rl.relation_layers(diff, same), name)


def test_combine_models_by_layer_and_relative_depth():
    a = _curves([1.0, 0.8, 0.4], [1.0, 0.8, 0.8], "a")
    b = _curves([1.0, 0.6, 0.6, 0.2, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0], "b")
    by_layer = rl.combine_models([a, b], align="layer")
    assert by_layer.x == (0.0, 1.0, 2.0, 3.0, 4.0)
    assert by_layer.different_mean == pytest.approx([1.0, 0.7, 0.5, 0.2, 0.0])
    assert by_layer.different_std == pytest.approx([0.0, 0.1, 0.1, 0.0, 0.0])
    assert by_layer.n_models == (2, 2, 2, 1, 1)
    rel = rl.combine_models([a, b])  # relative depth, 5 points
    assert rel.x == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    # model a at relative depths 0, .25, .5, .75, 1 -> 1, .9, .8, .6, .4
    assert rel.different_mean == pytest.approx([1.0, (0.9 + 0.6) / 2, (0.8 + 0.6) / 2, (0.6 + 0.2) / 2,
                                                (0.4 + 0.0) / 2])
    assert rel.same_std[-1] == pytest.approx(0.1)
    assert rel.models == ("a", "b") and rel.n_models == (2,) * 5
    first, last = rl.relation_layers(rel.different_mean, rel.same_mean)
    assert rel.relation_layers == (rel.x[first], rel.x[last])
    assert rl.ModelsCurves.from_dict(_json(rel)) == rel
    with pytest.raises(ValueError, match="align"):
        rl.combine_models([a], align="depth")
    with pytest.raises(ValueError, match="no models"):
        rl.combine_models([])


def test_roundtrip_and_tiny_model_capture(tiny_llama):
    from interp.data import demo_path, pararel
    from interp.queries import pararel_queries

    model = tiny_llama
    rels = pararel.load(demo_path("pararel"), relations=["P36", "P103", "P176"])
    queries = pararel_queries(model, rels, prompt_index=1, max_facts=4)
    acts = capture(model, [q.prompt for q in queries], keep=("resid",), logits=False)
    c = rl.relation_curves(acts, queries, model=model.name, n_boot=50)
    assert c.n_layers == model.n_layers and c.last_token == "token_id"
    assert set(c.relations) | set(c.excluded) == {"P36", "P103", "P176"}
    back = rl.RelationCurves.from_dict(_json(c))
    assert _json(back) == _json(c)
    assert rl.relation_curves(acts, queries, n_boot=20, embeddings=True).n_layers == model.n_layers + 1
