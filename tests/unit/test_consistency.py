"""interp.analyses.consistency: known answers computed by hand on tiny inputs."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from interp.analyses.consistency import (
    BecelConsistency,
    BecelTask,
    MMLUSetup,
    becel_consistency,
    becel_summary,
    choice_orderings,
    combine_prompts,
    mmlu_setups,
    mmlu_spread,
    pair_consistent,
    pair_outcomes,
    pararel_consistency,
    permute_choices,
    query_consistent,
)
from interp.capture import Span
from interp.data.becel import Example, PerturbedPair
from interp.data.mmlu import Question
from interp.queries import ParaRelQuery


def query(rel: str, pattern: int, fact: int, obj: str, prompt_index: int = 0) -> ParaRelQuery:
    return ParaRelQuery(rel, pattern, f"pattern {pattern} [X] [Y]", fact, f"s{fact}", obj,
                        prompt_index, f"prompt {rel} {pattern} {fact}", Span(0, 1))


def roundtrip(obj):
    """JSON round trip; also checks that it loses nothing (NaN compares equal as text)."""
    back = type(obj).from_dict(json.loads(json.dumps(obj.to_dict())))
    assert json.dumps(back.to_dict()) == json.dumps(obj.to_dict())
    return back


# --------------------------------------------------------------------------------------------
# PARAREL

# R1: 3 patterns x 2 facts; R2: a single pattern (no consistency) x 2 facts.
QUERIES = [query("R1", p, f, gold) for f, gold in ((0, "a"), (1, "c")) for p in range(3)] + \
          [query("R2", 0, f, gold) for f, gold in ((0, "x"), (1, "y"))]
PREDS = ["a", "a", "b",   # fact 0: 1 of 3 pairs agree; 2 of 3 correct
         "c", "c", "c",   # fact 1: 3 of 3 pairs agree; 3 of 3 correct
         "x", "z"]        # R2: 1 of 2 correct


def test_pararel_known_answer():
    r = pararel_consistency(QUERIES, PREDS, prompt_index=1)
    # consistency: R1 = mean(1/3, 1) = 2/3; R2 undefined and left out
    assert r.consistency.estimate == pytest.approx(2 / 3)
    assert r.relation("R1").consistency == pytest.approx(2 / 3)
    assert math.isnan(r.relation("R2").consistency) and not r.relation("R2").defined
    assert r.undefined == ("R2",) and r.n_undefined == 1
    # accuracy: R1 = 5/6, R2 = 1/2 -> macro 2/3; micro 6/8
    assert r.relation("R1").accuracy == pytest.approx(5 / 6)
    assert r.relation("R2").accuracy == pytest.approx(0.5)
    assert r.accuracy.estimate == pytest.approx((5 / 6 + 0.5) / 2)
    assert r.accuracy_micro == pytest.approx(6 / 8)
    assert r.relation("R1").n_patterns == 3 and r.relation("R1").n_items == 2
    assert r.consistency.low <= r.consistency.estimate <= r.consistency.high
    assert r.consistency.n == 2  # items with a consistency
    assert r.predictions == tuple(PREDS) and r.correct[2] is False
    assert r.keys[0] == ("R1", 0, 0) and r.prompt_index == 1


def test_pararel_item_with_four_patterns():
    qs = [query("R", p, 0, "a") for p in range(4)]
    # predictions a a b b: pairs (6) with the same prediction: (0,1), (2,3) -> 2/6
    assert pararel_consistency(qs, ["a", "a", "b", "b"]).consistency.estimate == pytest.approx(1 / 3)


def test_repeated_subject_with_other_object_is_its_own_item():
    # P37-like: the same subject twice with different gold objects (two fact indices)
    qs = [query("R", p, f, gold) for f, gold in ((0, "en"), (1, "fr")) for p in range(2)]
    r = pararel_consistency(qs, ["en", "en", "en", "en"])
    assert r.consistency.estimate == 1.0
    assert r.accuracy.estimate == pytest.approx(0.5)


def test_pararel_accepts_predictions_object_and_correct_flags():
    from interp.scoring import ParaRelPredictions

    preds = ParaRelPredictions(PREDS, [True] * len(PREDS), [0.0] * len(PREDS), restrict=False)
    r = pararel_consistency(QUERIES, preds)
    assert r.accuracy.estimate == 1.0 and r.restrict is False
    r2 = pararel_consistency(QUERIES, PREDS, correct=[False] * len(PREDS))
    assert r2.accuracy.estimate == 0.0


def test_pararel_bad_input():
    with pytest.raises(ValueError, match="predictions"):
        pararel_consistency(QUERIES, PREDS[:-1])
    with pytest.raises(ValueError, match="duplicated"):
        pararel_consistency(QUERIES + QUERIES[:1], PREDS + ["a"])
    with pytest.raises(ValueError, match="empty"):
        pararel_consistency([], [])


def test_pararel_round_trip():
    r = pararel_consistency(QUERIES, PREDS)
    back = roundtrip(r)
    assert back.relations[0] == r.relations[0] and back.keys == r.keys


def test_query_consistent_known_answer():
    # R1 fact 0: a, a, b (inconsistent); fact 1: c, c, c; R2 has one pattern: consistent
    assert query_consistent(QUERIES, PREDS) == [False] * 3 + [True] * 3 + [True, True]
    preds = SimpleNamespace(objects=PREDS)  # a ParaRelPredictions
    assert query_consistent(QUERIES, preds) == query_consistent(QUERIES, PREDS)
    with pytest.raises(ValueError, match="7 predictions for 8 queries"):
        query_consistent(QUERIES, PREDS[:-1])


def test_pair_consistent_known_answer():
    # fact 0's pairs (0,1), (0,2), (1,2): only the first agrees, although the item is inconsistent
    assert pair_consistent(PREDS, [0, 0, 1, 3], [1, 2, 2, 5]).tolist() == [True, False, False, True]
    assert pair_consistent(PREDS, [], []).shape == (0,)


def test_combine_prompts_known_answer():
    qs = [query("R", p, f, "a") for f in range(2) for p in range(2)]
    r0 = pararel_consistency(qs, ["a", "a", "a", "a"], prompt_index=0)  # cons 1, acc 1
    r1 = pararel_consistency(qs, ["a", "b", "a", "a"], prompt_index=1)  # cons .5, acc .75
    r2 = pararel_consistency(qs, ["b", "c", "b", "c"], prompt_index=2)  # cons 0, acc 0
    c = combine_prompts([r0, r1, r2])
    assert c.consistency_mean == pytest.approx(0.5)
    assert c.consistency_std == pytest.approx(np.std([1.0, 0.5, 0.0]))
    assert c.accuracy_mean == pytest.approx((1 + 0.75 + 0) / 3)
    # item values averaged over prompts: fact 0 cons (1+0+0)/3, fact 1 (1+1+0)/3
    assert c.consistency.estimate == pytest.approx(0.5)
    assert c.relation_consistency == {"R": pytest.approx(0.5)}
    assert roundtrip(c) == c


# --------------------------------------------------------------------------------------------
# MMLU

def mmlu_question(k: int, answer: int) -> Question:
    return Question("astronomy" if k % 2 else "anatomy", f"q{k}?", ("w", "x", "y", "z"), answer)


def test_permute_choices_remaps_the_answer():
    q = Question("s", "?", ("a", "b", "c", "d"), 2)
    p = permute_choices(q, (2, 0, 3, 1))
    assert p.choices == ("c", "a", "d", "b") and p.answer == 0
    assert p.choices[p.answer] == q.choices[q.answer]
    with pytest.raises(ValueError, match="permutation"):
        permute_choices(q, (0, 0, 1, 2))


def test_choice_orderings_are_seeded():
    a = choice_orderings(5, 3, seed=1)
    assert a == choice_orderings(5, 3, seed=1)
    assert a[0] == [(0, 1, 2, 3)] * 5
    assert all(sorted(p) == [0, 1, 2, 3] for o in a for p in o)
    assert a[1] != a[2]


def test_mmlu_setups_keep_the_gold_choice():
    qs = [mmlu_question(k, k % 4) for k in range(6)]
    setups = mmlu_setups(qs)
    assert [s for s, _ in setups] == [MMLUSetup(i, o) for i in range(3) for o in range(3)]
    for _, shown in setups:
        assert [s.choices[s.answer] for s in shown] == [q.choices[q.answer] for q in qs]


def letter_lp(letters: str) -> np.ndarray:
    """Log-probs that make the model answer ``letters[i]`` for question i."""
    out = np.full((len(letters), 4), -3.0)
    for i, x in enumerate(letters):
        out[i, "ABCD".index(x)] = -0.1
    return out


def test_mmlu_spread_known_answer():
    qs = [mmlu_question(k, 0) for k in range(4)]  # gold = A everywhere (no permutation here)
    setups = [MMLUSetup(i, o) for i in range(3) for o in range(3)]
    answers = {  # per instruction, the answers in its 3 orderings -> accuracies
        0: ["AAAA", "AAAB", "AABB"],  # 1, .75, .5   -> mean .75
        1: ["AAAA", "AAAA", "AAAA"],  # 1, 1, 1      -> mean 1
        2: ["ABBB", "BBBB", "AAAB"],  # .25, 0, .75  -> mean 1/3
    }
    lps = [letter_lp(answers[s.instruction][s.ordering]) for s in setups]
    r = mmlu_spread([qs] * 9, lps, setups)
    accs = [s.accuracy.estimate for s in r.setups]
    assert accs == [1, .75, .5, 1, 1, 1, .25, 0, .75]
    assert r.accuracy.estimate == pytest.approx(np.mean(accs))
    assert r.instruction_accuracy == pytest.approx((0.75, 1.0, 1 / 3))
    assert r.spread.estimate == pytest.approx(2 / 3)       # the paper's: 1 - 1/3
    # per ordering, max - min over instructions: (1 - .25, 1 - 0, 1 - .5), then the mean
    assert r.spread_orderings.estimate == pytest.approx(0.75)
    assert r.spread_setups.estimate == pytest.approx(1.0)  # 1 - 0
    # the test compares the paper's spread with instructions shuffled within each question
    assert r.spread_test.observed == pytest.approx(2 / 3) and 0 < r.spread_test.null_mean < 2 / 3
    assert r.correct[8] == "1110" and r.correct_matrix().shape == (4, 9)
    assert len(set(r.question_ids)) == 4
    assert r.setups[7].letter_counts == (0, 4, 0, 0)
    assert r.setups[7].top_letter_share == 1.0
    assert r.n_questions == 4 and r.subjects == ("anatomy", "astronomy")
    assert r.spread.low <= r.spread.estimate <= r.spread.high
    assert roundtrip(r) == r


def test_mmlu_at_chance_and_letter_bias():
    qs = [mmlu_question(k, k % 4) for k in range(40)]  # gold cycles A, B, C, D
    lps = [letter_lp("A" * 40)] * 9  # always "A": 25% correct, fully letter-biased
    r = mmlu_spread([qs] * 9, lps)
    assert r.accuracy.estimate == pytest.approx(0.25)
    assert r.at_chance and r.letter_bias == 1.0
    assert r.spread.estimate == 0.0
    good = mmlu_spread([qs] * 9, [letter_lp("ABCD" * 10)] * 9)
    assert good.accuracy.estimate == 1.0 and not good.at_chance


def test_mmlu_spread_bad_input():
    qs = [mmlu_question(k, 0) for k in range(2)]
    with pytest.raises(ValueError, match="one entry per setup"):
        mmlu_spread([qs] * 9, [letter_lp("AA")] * 8)
    with pytest.raises(ValueError, match="shape"):
        mmlu_spread([qs] * 9, [letter_lp("AAA")] * 9)
    with pytest.raises(ValueError, match="same questions"):
        mmlu_spread([qs] * 8 + [qs[::-1]], [letter_lp("AA")] * 9)


# --------------------------------------------------------------------------------------------
# BECEL

def pair(kind: str, label: int, perturbed_label: int) -> PerturbedPair:
    return PerturbedPair("t", kind, Example("a", "b", label), Example("a", "b'", perturbed_label),
                         kind != "negational")


def test_pair_outcomes_rules():
    sem = [pair("semantic", 1, 1)] * 3
    assert pair_outcomes("semantic", sem, [1, 0, 1], [1, 1, 1]).tolist() == [1, 0, 1]
    # negation with a label flip (SNLI/RTE/MRPC): the prediction must change
    neg = [pair("negational", 0, 2)] * 3
    assert pair_outcomes("negational", neg, [0, 0, 1], [2, 0, 2]).tolist() == [1, 0, 1]
    # negation keeping the label (WiC): the prediction must stay
    wic = [pair("negational", 1, 1)] * 2
    assert pair_outcomes("negational", wic, [1, 1], [1, 0]).tolist() == [1, 0]
    with pytest.raises(ValueError, match="kind"):
        pair_outcomes("transitive", sem, [1] * 3, [1] * 3)
    with pytest.raises(ValueError, match="pairs"):
        pair_outcomes("semantic", sem, [1], [1, 1])


def test_becel_consistency_known_answer():
    pairs = {"symmetric": [pair("symmetric", 0, 0)] * 4,
             "semantic": [pair("semantic", 1, 1)] * 2,
             "negational": [pair("negational", 0, 2), pair("negational", 0, 2),
                            pair("negational", 1, 1), pair("negational", 1, 1)]}
    orig = {"symmetric": [0, 0, 1, 1], "semantic": [1, 1], "negational": [0, 0, 1, 1]}
    pert = {"symmetric": [0, 1, 1, 1], "semantic": [1, 0], "negational": [2, 0, 1, 0]}
    r = becel_consistency("snli", orig, pert, pairs, [0, 1, 2, 0], [0, 1, 1, 1])
    assert r.symmetric.estimate == pytest.approx(3 / 4)
    assert r.semantic.estimate == pytest.approx(1 / 2)
    # expected: change, change, stay, stay -> changed, stayed, stayed, changed -> 2/4
    assert r.negation.estimate == pytest.approx(2 / 4)
    assert r.negation_flip.estimate == pytest.approx(2 / 4)  # pairs 0 and 3 changed
    assert r.accuracy.estimate == pytest.approx(2 / 4)
    assert r.symmetric.n == 4 and r.accuracy.n == 4
    assert roundtrip(r) == r


def test_becel_missing_kind_is_nan_and_summary_skips_it():
    pairs = {"semantic": [pair("semantic", 1, 1)] * 2}
    a = becel_consistency("mrpc", {"semantic": [1, 1]}, {"semantic": [1, 1]}, pairs, [1, 0], [1, 0])
    assert math.isnan(a.symmetric.estimate) and a.symmetric.n == 0
    assert a.semantic.estimate == 1.0 and a.accuracy.estimate == 1.0
    b = becel_consistency("rte", {"semantic": [1, 0]}, {"semantic": [1, 1]}, pairs, [1, 0], [0, 0])
    s = becel_summary([a, b])
    assert s.semantic == pytest.approx(0.75) and s.accuracy == pytest.approx(0.75)
    assert math.isnan(s.negation)
    assert isinstance(roundtrip(s), BecelConsistency)


def test_becel_bad_input():
    pairs = {"semantic": [pair("semantic", 1, 1)]}
    with pytest.raises(ValueError, match="preds_perturbed"):
        becel_consistency("mrpc", {"semantic": [1]}, {}, pairs, [1], [1])
    with pytest.raises(ValueError, match="unknown perturbation"):
        becel_consistency("mrpc", {}, {}, {"additive": []}, [1], [1])
    with pytest.raises(ValueError, match="test_labels"):
        becel_consistency("mrpc", {"semantic": [1]}, {"semantic": [1]}, pairs, [1, 0], [1])
    assert isinstance(BecelTask.from_dict(
        becel_consistency("mrpc", {"semantic": [1]}, {"semantic": [1]}, pairs, [1], [1]).to_dict()), BecelTask)
