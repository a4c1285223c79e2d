"""Known-answer tests for interp.analyses.paraphrase_gap (Table 1 / 4, Fig. 4, 6, 7)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from interp.analyses import paraphrase_gap as pg
from interp.capture import Activations, Span, capture
from interp.data.mrpc import SentencePair
from interp.data.tapaco import ParaphraseSet
from interp.queries import ParaRelQuery

S2 = 1 / math.sqrt(2)


def _vectors() -> torch.Tensor:
    # set {0, 1}: parallel (cos 1); set {2, 3}: 45 degrees (cos 1/sqrt2); 4 is outside the sets
    return torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 1.0],
                         [1.0, 1.0, 0.0]])


def _query(rel: str, pi: int, fi: int, subject: str, prompt_index: int = 0) -> ParaRelQuery:
    prompt = f"pattern{pi} {subject}"
    return ParaRelQuery(rel, pi, f"p{pi} [X] [Y]", fi, subject, f"o{fi}", prompt_index, prompt,
                        Span.of(prompt, subject))


def _json(obj):
    return json.loads(json.dumps(obj.to_dict(), allow_nan=False))


def _roundtrips(obj) -> bool:
    """from_dict(to_dict()) through strict JSON gives the same result (NaN != NaN: compare dicts)."""
    back = type(obj).from_dict(_json(obj))
    return type(back) is type(obj) and _json(back) == _json(obj)


# --- Eq. 2-4 -------------------------------------------------------------------------------------

def test_cosine_gap_known_answer():
    non = [(0, 4), (2, 4), (3, 4)]  # cosines 1/sqrt2, 1/sqrt2, 1/2
    r = pg.cosine_gap(_vectors(), [[0, 1], [2, 3]], non, n_boot=200)
    para, nonpara = (1 + S2) / 2, (2 * S2 + 0.5) / 3
    assert r.cos_para.estimate == pytest.approx(para, abs=1e-12)
    assert r.cos_nonpara.estimate == pytest.approx(nonpara, abs=1e-12)
    assert r.gap.estimate == pytest.approx(para - nonpara, abs=1e-12)
    assert (r.n_sets, r.n_pairs, r.n_nonpairs, r.n_excluded) == (2, 2, 3, 0)
    assert r.set_cos == pytest.approx((1.0, S2))
    assert r.nonpair_cos == pytest.approx((S2, S2, 0.5))
    for iv in (r.cos_para, r.cos_nonpara, r.gap):
        assert iv.low <= iv.estimate <= iv.high
    # the bootstrap can only produce means of the observed values
    assert S2 - 1e-9 <= r.cos_para.low and r.cos_para.high <= 1 + 1e-9


def test_eq2_is_the_mean_over_pairs_not_divided_by_m():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [-1.0, 0.0]])
    r = pg.cosine_gap(x, [[0, 1, 2], [3, 4]], [(0, 3)], n_boot=50)
    # set 0: pairs (0,1)=0, (0,2)=(1,2)=1/sqrt2 -> mean 2/(3 sqrt2); the printed Eq. 2 would give 2x
    assert r.set_cos[0] == pytest.approx(2 * S2 / 3)
    assert r.cos_para.estimate == pytest.approx((2 * S2 / 3 + 1) / 2)
    assert r.n_pairs == 4


def test_singleton_sets_are_excluded_and_counted():
    r = pg.cosine_gap(_vectors(), [[0, 1], [4], [2, 3]], [(0, 2)], n_boot=50)
    assert r.n_excluded == 1 and r.n_sets == 2
    assert math.isnan(r.set_cos[1])
    assert r.cos_para.estimate == pytest.approx((1 + S2) / 2)


def test_zero_width_interval_when_all_cosines_equal():
    x = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 2)
    r = pg.cosine_gap(x, [[0, 1], [2, 3]], [(0, 4), (1, 5)], n_boot=100)
    assert (r.gap.low, r.gap.estimate, r.gap.high) == (1.0, 1.0, 1.0)


def test_random_non_pairs_cross_sets_and_default_k():
    sets = [[0, 1, 2], [3, 4], [5, 6]]
    pairs = pg.sample_non_pairs(sets, k=500, seed=1)
    owner = {i: s for s, m in enumerate(sets) for i in m}
    assert len(pairs) == 500 and all(owner[a] != owner[b] for a, b in pairs)
    assert {owner[a] for a, _ in pairs} == {0, 1, 2}  # every set gets drawn
    assert pairs == pg.sample_non_pairs(sets, k=500, seed=1)
    assert pairs != pg.sample_non_pairs(sets, k=500, seed=2)
    x = torch.randn(7, 4, generator=torch.Generator().manual_seed(0))
    r = pg.cosine_gap(x, sets, seed=3, n_boot=50)
    assert r.n_nonpairs == r.n_pairs == 5  # K defaults to the number of paraphrase pairs
    expected = pg.pair_cosines(x, *zip(*pg.sample_non_pairs(sets, 5, seed=3))).mean().item()
    assert r.cos_nonpara.estimate == pytest.approx(expected)
    assert pg.cosine_gap(x, sets, k=40, seed=3, n_boot=50).n_nonpairs == 40


def test_zero_vector_has_cosine_zero():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert pg.pair_cosines(x, [0], [1]).tolist() == [0.0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(sets=[[0, 9]], non_pairs=[(0, 1)]), "out of range"),
    (dict(sets=[[0, 1], [1, 2]], non_pairs=[(0, 3)]), "disjoint"),
    (dict(sets=[[0], [1]], non_pairs=[(0, 1)]), "2 or more members"),
    (dict(sets=[[0, 1]], non_pairs=[]), "non_pairs: empty"),
    (dict(sets=[[0, 1]], non_pairs=[(2, 2)]), "with itself"),
    (dict(sets=[[0, 1]], non_pairs=[(0, 2)], k=3), "not both"),
    (dict(sets=[[0, 1]], non_pairs=None), "2 or more sets"),
    (dict(sets=[[0, 1], [2, 3]], non_pairs=None, k=0), "k: must be"),
])
def test_bad_input_raises_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pg.cosine_gap(_vectors(), **kwargs, n_boot=10)


def test_nan_vectors_and_wrong_shapes_are_rejected():
    x = _vectors()
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"vectors: NaN or infinite values in rows \[3\]"):
        pg.cosine_gap(x, [[0, 1]], [(0, 2)])
    with pytest.raises(ValueError, match="expected a 2-D tensor"):
        pg.cosine_gap(torch.zeros(2, 3, 4), [[0, 1]], [(0, 1)])


# --- per layer -----------------------------------------------------------------------------------

def test_gap_by_layer_matches_cosine_gap_at_every_layer():
    g = torch.Generator().manual_seed(0)
    resid = torch.randn(9, 4, 6, generator=g)
    sets, non = [[0, 1, 2], [3, 4], [5, 6, 7], [8]], [(0, 3), (4, 5), (1, 8), (2, 6)]
    lg = pg.gap_by_layer(resid, sets, non, n_boot=200, seed=4)
    assert lg.n_layers == 4 and lg.n_excluded == 1 and lg.split == "all"
    for layer in range(4):
        r = pg.cosine_gap(resid[:, layer], sets, non, n_boot=200, seed=4)
        assert lg.gap[layer].estimate == pytest.approx(r.gap.estimate, abs=1e-12)
        assert lg.cos_para[layer].estimate == pytest.approx(r.cos_para.estimate, abs=1e-12)
        assert lg.cos_nonpara[layer].estimate == pytest.approx(r.cos_nonpara.estimate, abs=1e-12)
        assert lg.gap[layer].low <= lg.gap[layer].estimate <= lg.gap[layer].high


def test_gap_by_layer_hand_made_curve():
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    # layer 0: everything parallel (gap 0); layer 1: sets parallel inside, orthogonal across (gap 1)
    resid = torch.tensor([[e1, e1], [e1, e1], [e1, e2], [e1, e2]])
    est, _, _ = pg.gap_by_layer(resid, [[0, 1], [2, 3]], [(0, 2), (1, 3)], n_boot=50).curve("gap")
    assert est == pytest.approx([0.0, 1.0])


def _split_acts(resid: torch.Tensor) -> Activations:
    n = resid.shape[0]
    return Activations(resid=resid, attn_out=None, mlp_out=None, final=resid[:, -1], logits=None,
                       token_index=torch.zeros(n, dtype=torch.long), tokens=[[1]] * n)


def test_consistent_inconsistent_split_known_answer():
    e1, e2, e3 = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]
    d = [1.0, 1.0, 0.0]  # cos(e1, d) = cos(e2, d) = 1/sqrt2
    queries = [_query("P1", 0, 0, "A"), _query("P1", 1, 0, "A"), _query("P1", 2, 0, "A"),
               _query("P1", 0, 1, "B"), _query("P1", 1, 1, "B")]
    # resid_post has one layer; index 0 (the embedding) is ignored
    rows = [e1, e1, d, e3, e3]
    resid = torch.tensor([[[0.0, 0.0, 1.0], r] for r in rows])
    preds = ["x", "x", "y", "z", "z"]  # consistent pairs: (0,1), (3,4); inconsistent: (0,2), (1,2)
    out = pg.pararel_layer_gaps(_split_acts(resid), queries, preds, k=6, n_boot=100)
    assert out.consistent.cos_para[0].estimate == pytest.approx(1.0)
    assert (out.consistent.n_sets, out.consistent.n_pairs) == (2, 2)
    assert out.inconsistent.cos_para[0].estimate == pytest.approx(S2)  # set B has none: left out
    assert (out.inconsistent.n_sets, out.inconsistent.n_pairs) == (1, 2)
    assert math.isnan(out.inconsistent.set_cos[1][0])
    assert out.all.cos_para[0].estimate == pytest.approx(((1 + 2 * S2) / 3 + 1) / 2)
    # the same non-pairs in all three splits
    nonpara = out.all.cos_nonpara[0]
    assert out.consistent.cos_nonpara[0] == nonpara == out.inconsistent.cos_nonpara[0]
    assert out.consistent.gap[0].estimate == pytest.approx(1.0 - nonpara.estimate)
    assert out.all.n_nonpairs == 6
    assert _roundtrips(out)


def test_split_with_no_pair_gives_nan_not_an_error():
    resid = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(1))
    queries = [_query("P1", 0, 0, "A"), _query("P1", 1, 0, "A"), _query("P1", 0, 1, "B"),
               _query("P1", 1, 1, "B")]
    out = pg.pararel_layer_gaps(_split_acts(resid), queries, [1, 1, 2, 2], n_boot=20)
    assert out.inconsistent.n_sets == 0 and out.inconsistent.n_pairs == 0
    assert all(math.isnan(i.estimate) for i in out.inconsistent.gap)
    assert out.consistent.n_layers == 2  # resid_post: blocks only
    assert pg.pararel_layer_gaps(_split_acts(resid), queries, [1, 1, 2, 2], n_boot=20,
                                 embeddings=True).all.n_layers == 3
    with pytest.raises(ValueError, match="predictions: 3 predictions for 4"):
        pg.pararel_layer_gaps(_split_acts(resid), queries, [1, 1, 2], n_boot=20)
    with pytest.raises(ValueError, match="queries: 3 queries for 4"):
        pg.pararel_layer_gaps(_split_acts(resid), queries[:3], [1, 1, 2], n_boot=20)


# --- over prompts, serialisation -----------------------------------------------------------------

def test_combine_prompts_averages_and_keeps_per_prompt():
    g = torch.Generator().manual_seed(2)
    sets, non = [[0, 1], [2, 3, 4], [5, 6]], [(0, 2), (3, 5), (1, 6)]
    units = [pg.cosine_gap(torch.randn(7, 8, generator=g), sets, non, n_boot=100,
                           representation="post_norm") for _ in range(3)]
    avg = pg.combine_prompts(units, n_boot=300)
    for name in ("cos_para", "cos_nonpara", "gap"):
        expected = np.mean([getattr(u, name).estimate for u in units])
        assert getattr(avg, name).estimate == pytest.approx(expected, abs=1e-12)
        assert getattr(avg, name).low <= expected <= getattr(avg, name).high
    assert avg.n_prompts == 3 and avg.per_prompt == tuple(units)
    assert avg.n_pairs == 3 * units[0].n_pairs and avg.representation == "post_norm"
    back = pg.GapResult.from_dict(_json(avg))
    assert back == avg
    with pytest.raises(ValueError, match="shapes differ"):
        pg.combine_prompts([units[0], pg.cosine_gap(torch.randn(7, 8, generator=g), sets, [(0, 2)],
                                                    n_boot=10, representation="post_norm")])
    with pytest.raises(ValueError, match="mixed representation"):
        pg.combine_prompts([units[0], pg.cosine_gap(torch.randn(7, 8, generator=g), sets, non,
                                                    n_boot=10, representation="pre_norm")])


def test_combine_layer_gaps_skips_sets_without_pairs_per_prompt():
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    queries = [_query("P1", 0, 0, "A"), _query("P1", 1, 0, "A"), _query("P1", 0, 1, "B"),
               _query("P1", 1, 1, "B")]
    resid = torch.tensor([[e1, e1], [e1, e1], [e2, e2], [e2, [1.0, 1.0]]])
    acts = _split_acts(resid)
    p0 = pg.pararel_layer_gaps(acts, queries, ["a", "a", "b", "c"], k=4, n_boot=50)  # only A consistent
    p1 = pg.pararel_layer_gaps(acts, queries, ["a", "a", "b", "b"], k=4, n_boot=50)  # both consistent
    avg = pg.combine_prompts([p0, p1], n_boot=50)
    assert p0.consistent.cos_para[0].estimate == pytest.approx(1.0)
    assert p1.consistent.cos_para[0].estimate == pytest.approx((1 + S2) / 2)
    assert avg.consistent.cos_para[0].estimate == pytest.approx((1 + (1 + S2) / 2) / 2)
    assert avg.consistent.n_sets == 2 and avg.consistent.n_prompts == 2
    assert _roundtrips(avg.consistent) and _roundtrips(avg)


# --- dataset builders ----------------------------------------------------------------------------

def test_mrpc_inputs():
    pairs = [SentencePair("1", "2", "a", "b", 1), SentencePair("3", "4", "c", "d", 0),
             SentencePair("5", "6", "e", "f", 1)]
    g = pg.mrpc_inputs(pairs)
    assert g.texts == ("a", "b", "c", "d", "e", "f")
    assert g.sets == ((0, 1), (4, 5)) and g.non_pairs == ((2, 3),) and g.set_ids == ("1-2", "5-6")
    with pytest.raises(ValueError, match="label 2"):
        pg.mrpc_inputs([SentencePair("1", "2", "a", "b", 2)])


def test_tapaco_inputs():
    g = pg.tapaco_inputs([ParaphraseSet("7", ("a", "b", "c")), ParaphraseSet("9", ("d",))])
    assert g.sets == ((0, 1, 2), (3,)) and g.non_pairs is None and g.set_ids == ("7", "9")


def test_pararel_inputs_groups_by_relation_and_subject_and_drops_duplicate_prompts():
    qs = [_query("P1", 0, 0, "A"), _query("P1", 1, 0, "A"), _query("P1", 0, 1, "A"),  # fact 1 repeats A
          _query("P1", 1, 1, "A"), _query("P2", 0, 0, "A"), _query("P2", 1, 0, "A")]
    g = pg.pararel_inputs(qs)
    assert g.sets == ((0, 1), (4, 5)) and g.set_ids == ("P1:A", "P2:A") and g.prompt_index == 0
    with pytest.raises(ValueError, match="mix prompts"):
        pg.pararel_inputs([_query("P1", 0, 0, "A", 0), _query("P1", 1, 0, "A", 1)])
    with pytest.raises(ValueError, match="rendered in prompt 0"):
        g.prompts(None, 1)


# --- on a tiny model's capture -------------------------------------------------------------------

def test_table1_unit_on_tiny_model(tiny_llama):
    sets = [ParaphraseSet("1", ("I ate the cheese.", "I eat cheese.")),
            ParaphraseSet("2", ("Paris is in France.", "Rome is in Italy.", "Berlin is in Germany."))]
    inputs = pg.tapaco_inputs(sets)
    prompts = inputs.prompts(tiny_llama, 1)
    assert "What does this sentence mean?" in prompts[0] and "I ate the cheese." in prompts[0]
    acts = capture(tiny_llama, prompts, keep=("resid",), logits=False)
    post = pg.table1_unit(acts, inputs.sets, k=10, n_boot=50)
    pre = pg.table1_unit(acts, inputs.sets, k=10, n_boot=50, representation="pre_norm")
    assert post == pg.cosine_gap(acts.final, inputs.sets, k=10, n_boot=50, representation="post_norm")
    assert pre == pg.cosine_gap(acts.resid[:, -1], inputs.sets, k=10, n_boot=50,
                                representation="pre_norm")
    assert post.representation == "post_norm" and pre.representation == "pre_norm"
    bare = capture(tiny_llama, prompts, keep=(), logits=False)
    with pytest.raises(ValueError, match="keep=\\('resid',\\)"):
        pg.table1_unit(bare, inputs.sets, representation="pre_norm")
    with pytest.raises(ValueError, match="representation"):
        pg.table1_unit(bare, inputs.sets, representation="final")


def test_pararel_layer_gaps_on_tiny_model_capture(tiny_llama):
    from interp.data import demo_path, pararel
    from interp.queries import pararel_queries

    rels = pararel.load(demo_path("pararel"), relations=["P36", "P103"])
    queries = pararel_queries(tiny_llama, rels, prompt_index=0, max_facts=3)
    acts = capture(tiny_llama, [q.prompt for q in queries])
    out = pg.pararel_layer_gaps(acts, queries, acts.predictions, n_boot=50)
    assert out.to_dict() == pg.pararel_layer_gaps(acts, queries, acts.predictions.tolist(),
                                                  n_boot=50).to_dict()
    assert out.all.n_layers == tiny_llama.n_layers
    assert out.consistent.n_pairs + out.inconsistent.n_pairs == out.all.n_pairs == 3 * (10 + 6)
    assert out.all.n_sets == 6 and out.all.n_excluded == 0


def test_random_non_pairs_resample_sets_as_clusters() -> None:
    """Random non-pairs record their two sets (the cluster bootstrap's input) and round-trip;
    MRPC's labelled non-pairs are their own units and record none."""
    torch.manual_seed(0)
    sets = [[3 * i, 3 * i + 1, 3 * i + 2] for i in range(8)]
    x = torch.randn(24, 16)
    r = pg.cosine_gap(x, sets, k=30, n_boot=300)
    assert r.nonpair_sets is not None and len(r.nonpair_sets) == 30
    assert all(a != b and 0 <= a < 8 and 0 <= b < 8 for a, b in r.nonpair_sets)
    assert r.cos_nonpara.low <= r.cos_nonpara.estimate <= r.cos_nonpara.high
    assert r.gap.low <= r.gap.estimate <= r.gap.high
    back = type(r).from_dict(r.to_dict())
    assert back.nonpair_sets == r.nonpair_sets
    assert pg.cosine_gap(x, sets, [(0, 3), (1, 4)], n_boot=100).nonpair_sets is None
