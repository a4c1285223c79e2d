"""Example PARAREL facts for the report's drill-down (the cross-model summary ``examples``,
:mod:`interp.summaries`): for each base/IFT pair, a bounded, deterministic choice of facts with
each paraphrase and both models' predictions side by side, balanced over the four cases
(consistent or not in the base model x in the IFT model).

A fact is *consistent* in a model when every paraphrase got the same prediction (the split of
:func:`interp.analyses.consistency.query_consistent`). The facts come from one prompt of Table 3
(the first both pooled units hold), so the paraphrases differ only in the pattern.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interp.serial import Serializable

#: how many facts per base/IFT pair (the report's table stays readable; balanced over the cases)
N_FACTS = 30
#: the four cases, in the order they are filled
CASES = ("base inconsistent → IFT consistent", "base consistent → IFT inconsistent",
         "both inconsistent", "both consistent")


@dataclass(frozen=True)
class ExampleFact(Serializable):
    """One fact: its relation and index, gold object, each paraphrase (pattern with the subject;
    ``"pattern k"`` for results stored without texts), and per model the predictions, whether each
    is correct, and the fact's consistency (fraction of paraphrase pairs that agree)."""

    relation: str
    fact: int
    object: str
    case: str
    paraphrases: tuple[str, ...]
    base_predictions: tuple[str, ...]
    ift_predictions: tuple[str, ...]
    base_correct: tuple[bool, ...]
    ift_correct: tuple[bool, ...]
    base_consistency: float
    ift_consistency: float


@dataclass(frozen=True)
class ExamplePair(Serializable):
    """The example facts of one base/IFT pair at one prompt, with how many shared facts fall in
    each case (``counts``), so the sample can be read against the whole."""

    base: str
    ift: str
    prompt: int
    n_facts: int
    counts: dict[str, int] = field(default_factory=dict)
    facts: tuple[ExampleFact, ...] = ()


@dataclass(frozen=True)
class ExampleFacts(Serializable):
    """Every pair's examples, and the pairs left out (why)."""

    pairs: tuple[ExamplePair, ...] = ()
    skipped: tuple[str, ...] = ()


def _by_fact(p: Mapping[str, Any]) -> dict[tuple[str, int], dict[int, int]]:
    """(relation, fact) -> {pattern: query index} of a per-prompt PARAREL consistency payload."""
    out: dict[tuple[str, int], dict[int, int]] = {}
    for i, (rel, fact, pat) in enumerate(p["keys"]):
        out.setdefault((str(rel), int(fact)), {})[int(pat)] = i
    return out


def pick_examples(base: str, ift: str, base_prompt: Mapping[str, Any], ift_prompt: Mapping[str, Any], *,
                  n: int = N_FACTS, seed: int = 0) -> ExamplePair:
    """Up to ``n`` facts both models answered in the same paraphrases (per-prompt
    ``ParaRelConsistency`` payloads of one prompt), taken in turn from each case of :data:`CASES`
    (in a seeded order within each case).

    Example:
        >>> p = lambda preds: {"keys": [["P1", 0, 0], ["P1", 0, 1], ["P1", 1, 0], ["P1", 1, 1]],
        ...                    "predictions": preds, "correct": [x == "a" for x in preds], "prompt_index": 0}
        >>> ex = pick_examples("b", "i", p(["a", "c", "a", "a"]), p(["a", "a", "a", "c"]))
        >>> [(f.fact, f.case) for f in ex.facts], ex.counts[CASES[0]]
        ([(0, 'base inconsistent → IFT consistent'), (1, 'base consistent → IFT inconsistent')], 1)
    """
    bq, iq = _by_fact(base_prompt), _by_fact(ift_prompt)
    shared = sorted(k for k in bq if k in iq and bq[k].keys() == iq[k].keys() and len(bq[k]) >= 2)
    cases: dict[str, list[tuple[str, int]]] = {c: [] for c in CASES}
    for k in shared:
        b = {base_prompt["predictions"][i] for i in bq[k].values()}
        f = {ift_prompt["predictions"][i] for i in iq[k].values()}
        bc, fc = len(b) == 1, len(f) == 1
        cases[CASES[3] if bc and fc else CASES[2] if not (bc or fc) else CASES[0] if fc else CASES[1]].append(k)
    counts = {c: len(ks) for c, ks in cases.items()}
    rng = random.Random(seed)
    for ks in cases.values():
        rng.shuffle(ks)
    chosen: list[tuple[str, str, int]] = []
    while len(chosen) < n and any(cases.values()):
        for c in CASES:
            if cases[c] and len(chosen) < n:
                chosen.append((c, *cases[c].pop(0)))
    from interp.analyses.consistency import _item_consistency

    texts, objects = base_prompt.get("texts") or [], base_prompt.get("objects") or []
    facts = []
    for case, rel, fact in chosen:
        pats = sorted(bq[(rel, fact)])
        bi, ii = [bq[(rel, fact)][p] for p in pats], [iq[(rel, fact)][p] for p in pats]
        bp = tuple(str(base_prompt["predictions"][i]) for i in bi)
        ip = tuple(str(ift_prompt["predictions"][i]) for i in ii)
        facts.append(ExampleFact(
            rel, fact, str(objects[bi[0]]) if objects else "", case,
            tuple(str(texts[i]) if texts else f"pattern {p}" for i, p in zip(bi, pats)), bp, ip,
            tuple(bool(base_prompt["correct"][i]) for i in bi), tuple(bool(ift_prompt["correct"][i]) for i in ii),
            _item_consistency(bp), _item_consistency(ip)))
    prompt = base_prompt.get("prompt_index")
    return ExamplePair(base, ift, int(prompt) if prompt is not None else 0, len(shared), counts, tuple(facts))
