"""Sanity flags (interp.sanity, the ``sanity`` summary), the PARAREL drill-down (per-relation table,
the ``examples`` summary) and the paper's column, by hand on tiny inputs and in a built report."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from test_report import _section, _sweep_config, finish_store, synthetic_store

from interp.example_facts import CASES, pick_examples
from interp.report import build_report
from interp.results import ResultStore, StoredUnit, UnitKey
from interp.sanity import config_outliers, excluded_majority, same_below_different, sanity_flags


def _unit(key: UnitKey, payload: dict, seed: int = 0) -> StoredUnit:
    return StoredUnit(key, payload, {"provenance": {"components": {"seed": seed, "model.spec": key.model}}})


def _iv(v: float) -> dict:
    return {"estimate": v, "low": v, "high": v, "n": 1}


def test_sanity_flags_known_answers() -> None:
    """By hand: m's 3 prompts are identical and its pooled sd is 0 (2 flags: identical prompts,
    consistency_std = 5e-17, rounding of 0; accuracy_std 0.01 is fine); n's prompts differ; one of n's units has seed 1
    while the 7 others have seed 0; MMLU of n at chance; a skipped unit is not checked."""
    same = {"accuracy": _iv(0.5), "consistency": _iv(0.7)}
    units = [_unit(UnitKey("m", "pararel", "consistency", p), {**same, "prompt_index": p}) for p in (0, 1, 2)]
    units.append(_unit(UnitKey("m", "pararel", "consistency", "all"), {"accuracy_std": 0.01, "consistency_std": 5e-17}))
    units += [_unit(UnitKey("n", "pararel", "consistency", p), {"accuracy": _iv(0.1 * p), "prompt_index": p},
                    seed=1 if p == 2 else 0) for p in (0, 1, 2)]
    units.append(_unit(UnitKey("n", "mmlu", "spread", "all"), {"at_chance": True, "chance": 0.25,
                                                               "accuracy": _iv(0.26)}))
    units.append(_unit(UnitKey("n", "pararel", "attributes", "all"), {"skipped": "not defined"}))
    got = sanity_flags({u.key: u for u in units}, lambda k: ("table2",))
    assert got.n_units == 8
    assert [(f.model, f.what) for f in got.flags] == [
        ("m", "pararel consistency: per-prompt results"),
        ("m", "pararel consistency: consistency_std"),
        ("n", "mmlu spread: accuracy at chance"),
        ("n", "computed with seed = 1"),
    ]
    identical, zero, chance, seed = got.flags
    assert identical.units == tuple(f"m/pararel/consistency/p{p}.json" for p in (0, 1, 2))
    assert "3 prompts' results are identical" in identical.why
    assert "prompts is 0" in zero.why and zero.units == ("m/pararel/consistency/pall.json",)
    assert "26.0%" in chance.why
    assert seed.why.startswith("1 unit(s) of n were computed with seed = 1") and "7 with 0" in seed.why
    assert got.for_section("table2", ["n"]) == [chance, seed] and got.for_section("fig2") == []


def test_config_outliers_tie_flags_every_group() -> None:
    c = {UnitKey("a", "mrpc", "gap", 0): {"dtype": "float32"}, UnitKey("b", "mrpc", "gap", 0): {"dtype": "bfloat16"}}
    assert sorted(f.model for f in config_outliers(c, lambda k: ())) == ["a", "b"]
    assert config_outliers({k: {"model.spec": k.model} for k in c}, lambda k: ()) == []  # models differ by design


def test_excluded_majority_and_relation_layers_by_hand() -> None:
    k = UnitKey("m", "pararel", "attributes", "all")
    # 2 included subjects, 2 excluded: half is not a majority; 3 excluded of 5 is
    assert excluded_majority(k, {"items": [["P1", "a"], ["P2", "b"]], "excluded_subjects": ["c", "d"]}, ()) is None
    assert excluded_majority(k, {"items": [["P1", "a"], ["P2", "b"]], "excluded_subjects": ["c", "d", "e"]}, ())
    r = UnitKey("m", "pararel", "relations", "all")
    below = {"same": [_iv(0.1), _iv(0.2), _iv(0.9)], "different": [_iv(0.5)] * 3}
    assert same_below_different(r, {**below, "relation_layers": [1, 2]}, ()) is not None
    assert same_below_different(r, {**below, "relation_layers": None}, ()) is None  # no layers named
    above = {"same": [_iv(0.6), _iv(0.2), _iv(0.9)], "different": [_iv(0.5)] * 3, "relation_layers": [0, 1]}
    assert same_below_different(r, above, ()) is None  # below at 1 of 3 layers


def _payload(preds: list[str], texts: bool = True) -> dict:
    keys = [["P1", f, p] for f in range(4) for p in range(2)]
    return {"keys": keys, "predictions": preds, "correct": [x == "o" for x in preds], "prompt_index": 0,
            "texts": [f"s{f} pattern {p} [Y]" for _, f, p in keys] if texts else [],
            "objects": ["o"] * len(keys)}


def test_examples_by_hand() -> None:
    """Facts 0-3 (2 paraphrases each): base a/a, a/b, a/b, o/o; IFT a/a, a/a, b/c, o/x ->
    both consistent, base inconsistent -> IFT consistent, both inconsistent, base consistent -> IFT
    inconsistent: one fact per case, taken in the order of CASES."""
    base = _payload(["a", "a", "a", "b", "a", "b", "o", "o"])
    ift = _payload(["a", "a", "a", "a", "b", "c", "o", "x"])
    ex = pick_examples("b", "i", base, ift, n=30)
    assert ex.n_facts == 4 and ex.counts == dict.fromkeys(CASES, 1)
    assert [(f.fact, f.case) for f in ex.facts] == [(1, CASES[0]), (3, CASES[1]), (2, CASES[2]), (0, CASES[3])]
    f3 = ex.facts[1]
    assert f3.paraphrases == ("s3 pattern 0 [Y]", "s3 pattern 1 [Y]") and f3.object == "o"
    assert f3.base_predictions == ("o", "o") and f3.ift_predictions == ("o", "x")
    assert f3.ift_correct == (True, False) and f3.base_consistency == 1.0 and f3.ift_consistency == 0.0
    assert [f.fact for f in pick_examples("b", "i", base, ift, n=2).facts] == [1, 3]  # bounded
    assert pick_examples("b", "i", base, ift, seed=1) == pick_examples("b", "i", base, ift, seed=1)  # deterministic
    old = pick_examples("b", "i", _payload(base["predictions"], False), _payload(ift["predictions"], False))
    assert old.facts[0].paraphrases == ("pattern 0", "pattern 1")  # stored before texts were kept


def _break(root: Path, cfg) -> None:
    """The IFT model's three per-prompt PARAREL units made identical (as when the prompt never
    reaches the model): the pooled sd over prompts is then 0."""
    store = ResultStore(root)
    model = cfg.models[1].label
    src = store.load(UnitKey(model, "pararel", "consistency", 0))
    for p in (1, 2):
        key = UnitKey(model, "pararel", "consistency", p)
        meta = store.load(key).meta
        store.save(key, {**src.payload, "prompt_index": p}, config=meta["config"], model_spec=meta["model_spec"],
                   seed=0, timings={}, provenance=meta["provenance"])


def test_a_broken_result_is_flagged_in_the_report(tmp_path: Path) -> None:
    root = tmp_path / "results"
    synthetic_store(root, analyses=("consistency", "attributes"), finish=False)
    cfg = _sweep_config(root, (("gemma3-270m", "base", 6), ("smollm2-135m-instruct", "IFT", 8)), (0, 1, 2),
                        ("consistency", "attributes"))
    _break(root, cfg)
    finish_store(cfg)
    text = build_report(root, tmp_path / "r.html", strict=True).read_text()
    sanity = _section(text, "sanity")
    assert "smollm2-135m-instruct" in sanity and "pararel consistency: per-prompt results" in sanity
    assert "pararel consistency: consistency_std" in sanity and "pararel consistency: accuracy_std" in sanity
    assert "gemma3-270m</td><td>pararel consistency" not in sanity  # the base model is fine
    table2 = _section(text, "table2")
    assert "⚠ sanity check" in table2 and "3 prompts&#x27; results are identical" in table2
    assert "± 0.0 sd" in table2  # the number the flag is about
    assert "⚠ sanity check" not in _section(text, "table1")


def test_drilldown_sections_in_the_report(tmp_path: Path) -> None:
    root = tmp_path / "results"
    store = synthetic_store(root, analyses=("consistency",))
    text = build_report(store, tmp_path / "r.html", strict=True).read_text()
    rel = _section(text, "pararel_relations")
    assert 'type="search"' in rel and "<td>P36</td><td>4</td><td>3</td>" in rel
    pooled = store.load(UnitKey("gemma3-270m", "pararel", "consistency", "all")).payload
    acc, cons = pooled["relation_accuracy"]["P36"], pooled["relation_consistency"]["P36"]
    assert f"{100 * acc:.1f} / {100 * cons:.1f}" in rel
    ex = _section(text, "pararel_examples")
    assert "gemma3-270m → smollm2-135m-instruct (PARAREL prompt 0)" in ex and 'type="search"' in ex
    stored = store.result(UnitKey("_sweep", "pararel", "examples", "all"))
    pair = stored.pairs[0]
    assert pair.n_facts == 8 and len(pair.facts) == 8 and sum(pair.counts.values()) == 8
    assert all(len(f.paraphrases) == 3 for f in pair.facts)
    first = pair.facts[0]
    assert f"<td>{first.paraphrases[0]}</td>" in ex and first.paraphrases[0].startswith(f"{first.relation}-s")
    assert len(re.findall(r"<tr><td>P\d+ #\d</td>", ex)) == 8 * 3  # a row per paraphrase


def test_paper_column_for_the_papers_models(tmp_path: Path) -> None:
    models = (("llama-7b", "base", 6), ("sni-7b", "IFT", 6))
    store = synthetic_store(tmp_path / "results", models=models, analyses=("gap", "consistency"))
    text = build_report(store, tmp_path / "r.html", strict=True).read_text()
    t1, t2, t6 = (_section(text, s) for s in ("table1", "table2", "table6"))
    assert "<th>paper</th>" in t1 and "<td>MRPC 0.045 · TAPACO 0.308 · PARAREL 0.629 (Table 1)</td>" in t1
    assert "MMLU 31.1 / spread 1.6 · PARAREL 71.8 / cons. 81.9 · BECEL 74.4, cons. 84.7 / 42.3 (Table 2)" in t2
    assert "<td>Sym 0.883 · Sem 0.900 · Neg 0.069 · Acc 0.647</td>" in t6  # llama-7b on WiC
    assert "arXiv:2404.15206" in t1
    plain = build_report(synthetic_store(tmp_path / "demo", analyses=("gap",)), tmp_path / "d.html").read_text()
    assert "<th>paper</th>" not in plain  # the demo's models are not the paper's


@pytest.mark.parametrize("name", ["sanity", "examples"])
def test_summaries_are_json(tmp_path: Path, name: str) -> None:
    store = synthetic_store(tmp_path / "results", analyses=("consistency",))
    path = store.root / "_sweep" / ("_all" if name == "sanity" else "pararel") / name / "pall.json"
    d = json.loads(path.read_text())
    assert not any(isinstance(v, float) and math.isnan(v) for v in d.values())
