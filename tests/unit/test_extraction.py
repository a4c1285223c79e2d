"""Extraction rates (Fig. 5, 8) and their correlation with consistency (Table 7): known answers."""

from __future__ import annotations

import json
import math

import pytest
import torch

from interp import capture
from interp.analyses.attributes import attribute_rates, subject_attributes
from interp.analyses.extraction import (
    WILSON,
    CorrelationTable,
    EventRates,
    ExtractionRates,
    QueryEvents,
    events_from_ids,
    extraction_consistency_correlation,
    extraction_events,
    extraction_rates,
    pararel_clusters,
    rates_from_events,
)
from interp.capture import Activations
from interp.data import demo_path, pararel
from interp.queries import pararel_queries
from interp.testing import tiny_model


def test_events_from_ids_known_answer() -> None:
    preds = torch.tensor([7, 3, 5])
    ev = events_from_ids(preds, {"mhsa": torch.tensor([[7, 1], [3, 3], [0, 0]]),
                                 "mlp": torch.tensor([[0, 7], [0, 0], [5, 0]])})
    assert ev["mhsa"].tolist() == [[True, False], [True, True], [False, False]]
    assert ev["mlp"].tolist() == [[False, True], [False, False], [True, False]]
    with pytest.raises(ValueError, match=r"top_ids\['mhsa'\]"):
        events_from_ids(preds, {"mhsa": torch.zeros(2, 2, dtype=torch.long)})


def test_rates_and_splits_known_answer() -> None:
    ev = {"mhsa": torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0]]).bool(),
          "mlp": torch.tensor([[0, 0, 1], [0, 0, 1], [0, 0, 0], [0, 0, 0]]).bool()}
    r = rates_from_events(ev, model="m", correct=[True, True, False, False],
                          consistent=[1, 0, 1, 1], prompt_index=2)
    assert r.rates("mhsa") == [0.75, 0.5, 0.0]
    assert r.rates("mlp") == [0.0, 0.0, 0.5]
    assert r.get("mhsa").counts == (3, 2, 0) and r.get("mhsa").n == 4
    assert r.rates("mhsa", "correct") == [1.0, 0.5, 0.0]
    assert r.rates("mhsa", "incorrect") == [0.5, 0.5, 0.0]
    assert r.rates("mlp", "consistent") == [0.0, 0.0, pytest.approx(1 / 3)]
    assert r.rates("mlp", "inconsistent") == [0.0, 0.0, 1.0]
    assert r.peak("mhsa") == (0, 0.75, 3) and r.peak("mlp") == (2, 0.5, 2)
    # per-query events kept: each query its own cluster (no cluster ids given)
    assert r.interval == "cluster bootstrap over queries" and r.get("mhsa").interval == r.interval
    assert r.queries.clusters == ("q0", "q1", "q2", "q3") and r.queries.layers["mlp"][0] == (2,)
    # counts only (a result stored without per-query events): Wilson 95% interval,
    # 0 of 4 -> [0, z^2 / (n + z^2)] = [0, 0.4899]
    counts_only = EventRates(r.get("mhsa").counts, r.get("mhsa").n)
    assert counts_only.interval == WILSON
    iv = counts_only.intervals[2]
    assert iv.estimate == 0.0 and iv.low == pytest.approx(0.0, abs=1e-12)
    assert iv.high == pytest.approx(1.959964 ** 2 / (4 + 1.959964 ** 2), rel=1e-5)
    with pytest.raises(ValueError, match="no split 'wrong'"):
        r.rates("mhsa", "wrong")
    with pytest.raises(ValueError, match="correct: expected one value per query"):
        rates_from_events(ev, correct=[True])
    with pytest.raises(ValueError, match="consistent: expected booleans"):
        rates_from_events(ev, consistent=[0, 2, 1, 1])


def test_serialisation_and_pool() -> None:
    ev = {"mhsa": torch.tensor([[1, 0], [0, 0]]).bool(), "mlp": torch.tensor([[0, 0], [0, 1]]).bool()}
    r = rates_from_events(ev, model="m", correct=[True, False])
    back = ExtractionRates.from_dict(json.loads(json.dumps(r.to_dict(), allow_nan=False)))
    assert back == r
    pooled = ExtractionRates.pool([r, rates_from_events(ev, model="m")])
    assert set(pooled.splits) == {"all"}  # only the splits every prompt has
    assert pooled.get("mhsa").counts == (2, 0) and pooled.get("mhsa").n == 4
    empty = EventRates((0, 0), 0)
    assert all(math.isnan(x) for x in empty.rates)
    json.dumps(empty.to_dict(), allow_nan=False)


def _two_items() -> dict[str, torch.Tensor]:
    """2 items x 3 queries (paraphrases), 2 layers: item A's queries all have an MHSA event at
    layer 0, item B's none; layer 1 has one event in each item."""
    mhsa = torch.tensor([[1, 0], [1, 1], [1, 0], [0, 0], [0, 1], [0, 0]]).bool()
    return {"mhsa": mhsa, "mlp": torch.zeros(6, 2, dtype=torch.bool)}


CLUSTERS = ["P1|0"] * 3 + ["P1|1"] * 3


def test_cluster_bootstrap_known_answer() -> None:
    r = rates_from_events(_two_items(), clusters=CLUSTERS, n_boot=2000, seed=0)
    assert r.interval == "cluster bootstrap over (relation, fact) items"
    iv0, iv1 = r.get("mhsa").intervals
    # layer 0: resampling 2 items gives rates 0, 1/2 or 1 -> the interval spans [0, 1]
    assert (iv0.estimate, iv0.low, iv0.high, iv0.n) == (0.5, 0.0, 1.0, 2)
    # layer 1: each item 1 of 3 -> every resample gives 1/3
    assert iv1.low == pytest.approx(1 / 3) and iv1.high == pytest.approx(1 / 3)
    # Wilson on 6 independent queries (3 of 6) is much narrower: [0.188, 0.812]
    wilson = EventRates((3, 2), 6).intervals[0]
    assert wilson.low == pytest.approx(0.1876, abs=1e-3) and wilson.high == pytest.approx(0.8124, abs=1e-3)
    # queries as their own clusters (6 units) also narrower than the item bootstrap
    own = rates_from_events(_two_items(), n_boot=2000, seed=0).get("mhsa").intervals[0]
    assert own.n == 6 and own.high - own.low < 0.9
    # seeded: the same result twice; the same resamples in both blocks
    again = rates_from_events(_two_items(), clusters=CLUSTERS, n_boot=2000, seed=0)
    assert again.get("mhsa").intervals == r.get("mhsa").intervals
    with pytest.raises(ValueError, match="clusters: expected one per query"):
        rates_from_events(_two_items(), clusters=CLUSTERS[:5])


def test_no_event_layer_is_not_a_zero_width_interval() -> None:
    """MLP of _two_items has no event at layer 0: the bootstrap would say [0, 0]; the interval is
    Wilson's for 0 of the 2 clusters instead: upper = z^2 / (2 + z^2) = 0.658 (z = 1.96)."""
    r = rates_from_events(_two_items(), clusters=CLUSTERS, n_boot=500, seed=0)
    counts = r.get("mlp").counts
    zero = [iv for k, iv in zip(counts, r.get("mlp").intervals) if k == 0]
    assert zero, counts
    z2 = 1.959964 ** 2
    assert all((iv.estimate, iv.low, iv.n) == (0.0, 0.0, 2) for iv in zero)
    assert all(iv.high == pytest.approx(z2 / (2 + z2), abs=1e-4) for iv in zero)


def test_pool_resamples_the_same_clusters_across_prompts() -> None:
    one = rates_from_events(_two_items(), clusters=CLUSTERS, correct=[1, 1, 0, 0, 1, 0], n_boot=500,
                            prompt_index=0)
    pooled = ExtractionRates.pool([one, one, one])
    assert pooled.get("mhsa").counts == (9, 6) and pooled.get("mhsa").n == 18
    assert len(pooled.queries.clusters) == 18 and set(pooled.splits) == set(one.splits)
    for split in one.splits:
        for block in ("mhsa", "mlp"):
            assert pooled.get(block, split).intervals == one.get(block, split).intervals  # not narrower
    # prompts whose queries were (wrongly) independent clusters would narrow the interval
    indep = [ExtractionRates.from_queries("model", 2, False, QueryEvents(
        tuple(f"{c}@{k}" for c in CLUSTERS), one.queries.layers, {}), n_boot=500) for k in range(4)]
    narrow = ExtractionRates.pool(indep).get("mhsa").intervals[0]
    same = ExtractionRates.pool([one] * 4).get("mhsa").intervals[0]
    assert (same.low, same.high, same.n) == (0.0, 1.0, 2)
    assert narrow.n == 8 and narrow.high - narrow.low < 1.0
    # default clusters (query positions) are shared across prompts too
    q = rates_from_events(_two_items(), n_boot=500)
    assert ExtractionRates.pool([q, q, q]).get("mhsa").intervals == q.get("mhsa").intervals
    # n_boot / seed of the pooled result: the first result's unless given
    assert ExtractionRates.pool([one, one], n_boot=100, seed=3).n_boot == 100


def test_round_trip_and_old_payloads() -> None:
    r = rates_from_events(_two_items(), clusters=CLUSTERS, correct=[1, 1, 0, 0, 1, 0],
                          consistent=[1] * 6, n_boot=300, seed=4, prompt_index=1)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["interval"] == r.interval and d["n_boot"] == 300 and d["seed"] == 4
    assert d["queries"]["masks"]["correct"] == "110010" and d["queries"]["mhsa"][1] == [0, 1]
    assert d["splits"]["all"]["mhsa"]["low"] == [0.0, pytest.approx(1 / 3)]
    back = ExtractionRates.from_dict(d)
    assert back == r and back.get("mhsa", "correct").intervals == r.get("mhsa", "correct").intervals
    # an old payload (no per-query events) keeps its counts, with Wilson intervals
    old = {k: v for k, v in d.items() if k not in ("queries", "n_boot", "seed", "interval")}
    for blocks in old["splits"].values():
        for ev in blocks.values():
            ev.pop("interval")
    legacy = ExtractionRates.from_dict(old)
    assert legacy.queries is None and legacy.interval == WILSON
    assert legacy.rates("mhsa") == r.rates("mhsa") and legacy.get("mhsa").counts == r.get("mhsa").counts
    assert legacy.to_dict()["splits"]["all"]["mhsa"]["interval"] == WILSON
    # pooling with an old payload falls back to summed counts (Wilson)
    pooled = ExtractionRates.pool([r, legacy])
    assert pooled.queries is None and pooled.interval == WILSON and pooled.get("mhsa").n == 12
    with pytest.raises(ValueError, match="lengths"):
        QueryEvents(("a",), {"mhsa": ((),), "mlp": ((), ())}, {})


def test_payload_stays_compact() -> None:
    """Paper scale (1080 queries, 32 layers, 4 masks): per-query events stored once for every split."""
    g = torch.Generator().manual_seed(0)
    n, L = 1080, 32
    ev = {b: torch.rand(n, L, generator=g) < 0.05 for b in ("mhsa", "mlp")}
    mask = (torch.rand(n, generator=g) < 0.5).tolist()
    r = rates_from_events(ev, clusters=[f"P{i % 40}|{i // 3}" for i in range(n)], correct=mask,
                          consistent=mask, n_boot=200)
    size = len(json.dumps(r.to_dict()))
    assert size < 100_000, size
    assert rates_from_events(ev, n_boot=200).get("mlp").n == n


def test_pararel_clusters() -> None:
    rels = pararel.load(demo_path("pararel"), relations=["P36"])
    qs = pararel_queries(tiny_model("gemma3", chat=False), rels, 0, max_facts=2)
    ids = pararel_clusters(qs)
    assert ids == [f"P36|{q.fact_index}" for q in qs] and len(set(ids)) == 2


@pytest.fixture(scope="module")
def model():
    """Tiny Llama whose unembedding maps direction j to token 100 + j (W_U = shifted identity)."""
    m = tiny_model("llama", chat=True)
    with torch.no_grad():
        w = m.hf_model.lm_head.weight
        w.zero_()
        for j in range(m.d_model):
            w[100 + j, j] = 1.0
    return m


def test_extraction_events_on_hand_set_unembedding(model) -> None:
    d, L, V = model.d_model, model.n_layers, model.d_vocab
    attn = torch.zeros(3, L, d)
    mlp = torch.zeros(3, L, d)
    attn[0, 0, 5] = attn[0, 1, 6] = 1.0    # query 0: layer 0 -> token 105 (= o*), layer 1 -> 106
    attn[1, 0, 2] = attn[1, 1, 9] = 1.0    # query 1: layer 0 -> 102, layer 1 -> 109 (= o*)
    attn[2, 0, 4] = attn[2, 1, 4] = 3.0    # query 2: both -> 104 (= o*)
    mlp[0, 1, 5] = mlp[1, 0, 1] = mlp[2, 0, 0] = mlp[2, 1, 0] = 2.0
    mlp[0, 0, 7] = mlp[1, 1, 9] = 1.0
    logits = torch.zeros(3, V)
    logits[0, 105] = logits[1, 109] = logits[2, 104] = 1.0
    acts = Activations(resid=None, attn_out=attn, mlp_out=mlp, final=torch.zeros(3, d), logits=logits,
                       token_index=torch.zeros(3, dtype=torch.long), tokens=[[1]] * 3)
    ev = extraction_events(model, acts)
    assert ev["mhsa"].tolist() == [[True, False], [False, True], [True, True]]
    assert ev["mlp"].tolist() == [[False, True], [False, True], [False, False]]
    r = extraction_rates(model, acts, correct=[True, False, True])
    assert r.rates("mhsa") == pytest.approx([2 / 3, 2 / 3])
    assert r.rates("mlp") == pytest.approx([0.0, 2 / 3])
    assert r.rates("mhsa", "correct") == [1.0, 0.5]
    assert r.normed is False and r.n_layers == L and r.model == model.name
    # final norm with unit weights keeps the ranking; the option is named in the result
    rn = extraction_rates(model, acts, normed=True)
    assert rn.normed is True and rn.rates("mlp") == r.rates("mlp")

    with pytest.raises(ValueError, match="lacks"):
        extraction_events(model, Activations(None, None, mlp, acts.final, logits, acts.token_index,
                                             acts.tokens))
    with pytest.raises(ValueError, match="layers"):
        extraction_events(model, Activations(None, attn[:, :1], mlp[:, :1], acts.final, logits,
                                             acts.token_index, acts.tokens))


def test_one_capture_serves_every_analysis(monkeypatch) -> None:
    """One PARAREL capture feeds the attribute rate, both extraction rates and the predictions:
    the analyses only project (no second forward)."""
    m = tiny_model("gemma3", chat=False)
    rels = pararel.load(demo_path("pararel"), relations=["P36"])
    qs = pararel_queries(m, rels, 0, max_facts=3)
    acts = capture(m, [q.prompt for q in qs],
                   positions={"last": "last", "subject": [q.subject_span for q in qs]})
    attrs = subject_attributes(m.tokenizer, {q.subject for q in qs}, cache_dir=demo_path("wikipedia"))

    def no_forward(*a, **k):
        raise AssertionError("an analysis ran a forward pass")

    monkeypatch.setattr(m.bridge, "forward", no_forward)
    ext = extraction_rates(m, acts["last"])
    att = attribute_rates(m, acts["subject"], qs, attrs, n_boot=20)
    assert ext.get("mhsa").n == len(qs) and len(ext.rates("mlp")) == m.n_layers
    assert att.layers == tuple(range(m.n_layers)) and att.n_excluded_queries == 0
    assert all(0.0 <= e <= 1.0 for e in att.estimates)
    # the last MLP/MHSA events are judged against the capture's own top-1 prediction
    assert torch.equal(acts["last"].predictions, acts["last"].logits.argmax(-1))


# --- Table 7 ---------------------------------------------------------------------------------


def _synthetic(mhsa: list[int], mlp: list[int], n: int = 10, name: str = "m") -> ExtractionRates:
    """A model whose rates are mhsa[l] / n and mlp[l] / n."""
    return ExtractionRates(name, len(mhsa), False, {"all": {"mhsa": EventRates(tuple(mhsa), n),
                                                            "mlp": EventRates(tuple(mlp), n)}})


def test_correlation_known_answer() -> None:
    consistency = {"a": 0.1, "b": 0.3, "c": 0.2}
    rates = {  # MHSA layer 0 is linear in consistency, layer 1 is x = [1, 2, 3] vs y = [1, 3, 2]
        "a": _synthetic([1, 1], [5, 0], name="a"),
        "b": _synthetic([3, 2], [5, 0], name="b"),
        "c": _synthetic([2, 3], [5, 1], name="c"),
    }
    t = extraction_consistency_correlation(rates, consistency)
    assert t.reason is None and t.models == ("a", "b", "c")
    rows = {(r.block, r.layer): r for r in t.rows}
    assert rows[("mhsa", 0)].r == pytest.approx(1.0) and rows[("mhsa", 0)].p_value < 1e-6
    # r = 0.5 on 3 points: t = r / sqrt(1 - r^2) = 1/sqrt(3) on 1 df, p = 1 - (2/pi) atan(t) = 2/3
    assert rows[("mhsa", 1)].r == pytest.approx(0.5) and rows[("mhsa", 1)].p_value == pytest.approx(2 / 3)
    assert math.isnan(rows[("mlp", 0)].r)  # constant rate across models: undefined, not significant
    assert rows[("mlp", 1)].r == pytest.approx(0.0, abs=1e-12)  # x = [0, 0, .1] vs y = [.1, .3, .2]
    assert [(r.block, r.layer) for r in t.significant] == [("mhsa", 0)]
    assert t.significant_layers("mhsa") == [0] and t.significant_layers("mlp") == []
    # BH over the 3 defined tests (p sorted: ~0, 2/3, 1): q = p * 3 / rank, then running minimum
    assert rows[("mhsa", 0)].q_value == pytest.approx(3 * rows[("mhsa", 0)].p_value)
    assert rows[("mhsa", 1)].q_value == pytest.approx(1.0) and math.isnan(rows[("mlp", 0)].q_value)
    assert t.nominal == t.significant and t.correction == "bh"
    holm = extraction_consistency_correlation(rates, consistency, correction="holm")
    assert {(r.block, r.layer): r.q_value for r in holm.rows}[("mhsa", 1)] == pytest.approx(1.0)
    assert "MHSA" in t.format() and "1.000" in t.format()
    back = CorrelationTable.from_dict(json.loads(json.dumps(t.to_dict(), allow_nan=False)))
    assert back.significant_layers("mhsa") == [0] and back.models == t.models
    assert [r.q_value for r in back.rows if not math.isnan(r.q_value)] == [r.q_value for r in t.rows
                                                                           if not math.isnan(r.q_value)]


def test_correlation_needs_three_models_of_one_architecture() -> None:
    two = {"a": _synthetic([1], [1], name="a"), "b": _synthetic([2], [1], name="b")}
    t = extraction_consistency_correlation(two, {"a": 0.1, "b": 0.2, "z": 0.9})
    assert t.rows == () and "at least 3 models; got 2 (a, b)" in t.reason and t.format() == t.reason
    three = {**two, "c": _synthetic([1, 2], [1, 1], name="c")}
    t = extraction_consistency_correlation(three, {"a": 0.1, "b": 0.2, "c": 0.3})
    assert t.rows == () and "different numbers of layers" in t.reason
    same = {**two, "c": _synthetic([3], [1], name="c")}
    t = extraction_consistency_correlation(same, {"a": 0.1, "b": 0.2, "c": math.nan})
    assert t.dropped == ("c",) and "got 2" in t.reason
    with pytest.raises(ValueError, match=r"no value for model\(s\) \['c'\]"):
        extraction_consistency_correlation(same, {"a": 0.1, "b": 0.2})
    with pytest.raises(ValueError, match="no split 'correct'"):
        extraction_consistency_correlation(same, {"a": 0.1, "b": 0.2, "c": 0.3}, split="correct")
