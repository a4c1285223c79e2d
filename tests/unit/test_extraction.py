"""Extraction rates (Fig. 5, 8) and their correlation with consistency (Table 7): known answers."""

from __future__ import annotations

import json
import math

import pytest
import torch

from interp import capture
from interp.analyses.attributes import attribute_rates, subject_attributes
from interp.analyses.extraction import (
    CorrelationTable,
    EventRates,
    ExtractionRates,
    events_from_ids,
    extraction_consistency_correlation,
    extraction_events,
    extraction_rates,
    rates_from_events,
)
from interp.capture import Activations
from interp.data import demo_path, pararel
from interp.queries import pararel_queries
from interp.testing import tiny_model

torch.set_num_threads(1)


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
    # Wilson 95% interval: 0 of 4 -> [0, z^2 / (n + z^2)] = [0, 0.4899]
    iv = r.get("mhsa").intervals[2]
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
