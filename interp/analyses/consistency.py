"""Prediction consistency (Section 3, Appendix C; Tables 2, 5, 6): PARAREL accuracy and
consistency, MMLU accuracy and spread, BECEL symmetric / semantic / negation consistency.

Pure functions of predictions and dataset records (``interp.scoring`` and
``interp.finetune`` produce the predictions from a model). Every number comes with a
seeded 95% percentile-bootstrap interval (:mod:`interp.stats`) over the units named below.

**PARAREL.** An *item* is one T-REx tuple ``(relation, fact_index)`` (tuples that repeat a subject
with another object are separate items). Its queries are the relation's causal patterns.

* accuracy: fraction of queries whose prediction is the gold object, per relation; the overall
  number is the macro average over relations (``accuracy_micro`` pools all queries). Interval:
  items resampled within relations.
* consistency (Elazar et al., 2021; the paper's Section 3): per item, the fraction of unordered
  pattern pairs with the same prediction; mean over the relation's items, then macro average over
  relations. A relation with a single usable pattern has no pair: its consistency is undefined,
  left out of the mean and counted (``undefined``). Interval: items resampled within relations.
* over the 3 prompts of Table 3 (:func:`combine_prompts`): mean and standard deviation
  (population, ``ddof=0``) of the per-prompt numbers, as the paper's footnote 4; the interval of
  the mean resamples items, each item's value averaged over the prompts.

**MMLU.** 3 instructions (Appendix C.1) x 3 answer orderings = 9 zero-shot setups. Ordering 0 is
the dataset's order; orderings 1, 2 are seeded random permutations per question, the gold answer
remapped (:func:`mmlu_setups`). The answer is the argmax over the log-probabilities of " A" .. " D"
after ``Answer:`` (lm-evaluation-harness format, see :func:`interp.prompts.mmlu_prompt`).

* ``accuracy``: mean over the 9 setups (interval: questions resampled, jointly for all setups).
* three readings of the spread, all computed and named (the report's headline is the paper's):

  - ``spread`` (**the paper's**, Section 3 with footnote 3 and App. C.1): max - min over the 3
    instructions of the accuracy averaged over the 3 orderings;
  - ``spread_orderings``: the mean over orderings of each ordering's max - min over instructions;
  - ``spread_setups``: max - min over all 9 setups (instructions and orderings mixed).

  Intervals resample questions (jointly for all setups). A max - min of noisy means is above zero
  even when the instruction does not matter, and its bootstrap is biased upward, so
  ``spread_test`` (:func:`interp.stats.spread_test`) gives the spread expected with no
  instruction effect (``null_mean``: instructions shuffled within each question) and the
  one-sided p-value of the observed spread against it. ``correct`` keeps the per-question,
  per-setup outcomes (``question_ids`` name the questions) for paired base-vs-IFT tests.
* the predicted-letter distribution per setup and ``at_chance`` (chance 0.25 inside the accuracy
  interval): a model at chance with a favourite letter makes the spread over orderings measure
  letter bias, not prompt sensitivity.

**BECEL** (Jang et al., 2022; Appendix C.2). For each pair (original e, perturbed e^N) a
prediction pair "behaves as expected" when

* symmetric / semantic: M(e) == M(e^N) (the label is unchanged);
* negation: M(e) != M(e^N) exactly when the gold labels differ, i.e.
  ``(M(e) == M(e^N)) == (label(e) == label(e^N))``. In the BECEL files every SNLI, RTE and MRPC
  negated pair changes label (entailment -> contradiction, entailment -> not entailment,
  paraphrase -> not paraphrase), so there the rule is "the prediction changes"; WiC's negated
  pairs keep their label (``neg_label == label``: negating the second sentence does not change the
  word's sense), so there it is "the prediction stays".

Consistency = the fraction of pairs that behave as expected. The paper prints tau as the fraction
of agreements for Sem./Sym. and consistency = 1 - tau; that is an inversion: in Jang &
Lukasiewicz (2023a) tau is the inconsistency (disagreement for Sem./Sym., agreement for Neg.).
``negation_flip`` is the plain fraction of negated pairs whose prediction changed: **the paper's
negation number** (Table 6's Neg column, whose mean over the 4 tasks is Table 2's BECEL negation:
for LLaMA (0.834 + 0.471 + 0.321 + 0.069) / 4 = 42.3). It equals ``negation`` on SNLI/RTE/MRPC and
is 1 - ``negation`` on WiC; the report shows it under the paper's name and ``negation`` beside it
as "label-aware". Accuracy is
on the original evaluation set. Intervals resample pairs / test examples.

Example:
    >>> from interp.queries import ParaRelQuery
    >>> from interp.capture import Span
    >>> q = lambda p, f, obj: ParaRelQuery("P1", p, "[X] is [Y]", f, "s", obj, 0, "s is", Span(0, 1))
    >>> qs = [q(0, 0, "a"), q(1, 0, "a"), q(0, 1, "b"), q(1, 1, "b")]
    >>> r = pararel_consistency(qs, ["a", "a", "b", "c"])
    >>> r.consistency.estimate, r.accuracy.estimate
    (0.5, 0.75)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from interp.serial import Serializable
from interp.stats import Interval, SpreadTest, bootstrap_ci, grouped_bootstrap_ci, spread_test

LETTERS = "ABCD"
CHANCE = 0.25
BECEL_KINDS = ("symmetric", "semantic", "negational")


# ============================================================================================
# PARAREL


@dataclass(frozen=True)
class RelationResult(Serializable):
    """One relation's PARAREL numbers (``consistency`` is NaN when undefined)."""

    relation: str
    n_patterns: int
    n_items: int
    n_queries: int
    accuracy: float
    consistency: float

    @property
    def defined(self) -> bool:
        return not math.isnan(self.consistency)


@dataclass(frozen=True)
class ParaRelConsistency(Serializable):
    """PARAREL accuracy and consistency of one model in one prompt (Table 2).

    ``keys[i] = (relation, fact_index, pattern_index)``, ``predictions[i]`` and ``correct[i]``
    are aligned with the queries; :func:`query_consistent` and :func:`pair_consistent` split
    them into consistent and inconsistent queries and pairs for the mechanistic analyses.
    ``casing`` is the queries' prompt casing (:data:`interp.prompts.CASINGS`; ``None`` when they
    do not record one).
    """

    accuracy: Interval
    consistency: Interval
    accuracy_micro: float
    relations: tuple[RelationResult, ...]
    undefined: tuple[str, ...]
    keys: tuple[tuple[str, int, int], ...]
    predictions: tuple[str, ...]
    correct: tuple[bool, ...]
    prompt_index: int | None = None
    restrict: bool | None = None
    casing: str | None = None
    #: per query, the paraphrase with its subject (``"France is located in [Y]."``) and the gold
    #: object (the report's example facts); empty in results stored before they were kept
    texts: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()

    @property
    def n_undefined(self) -> int:
        """Relations without a consistency (a single usable pattern)."""
        return len(self.undefined)

    def relation(self, rel: str) -> RelationResult:
        for r in self.relations:
            if r.relation == rel:
                return r
        raise KeyError(rel)


def _unpack_predictions(queries: Sequence[Any], predictions: Any,
                        correct: Sequence[bool] | None) -> tuple[list[str], list[bool], bool | None]:
    restrict = None
    if hasattr(predictions, "objects"):  # interp.scoring.ParaRelPredictions
        restrict = predictions.restrict
        if correct is None:
            correct = predictions.correct
        predictions = predictions.objects
    preds = [str(p) for p in predictions]
    if len(preds) != len(queries):
        raise ValueError(f"predictions: {len(preds)} predictions for {len(queries)} queries")
    if correct is None:
        correct = [p == q.object for p, q in zip(preds, queries)]
    elif len(correct) != len(queries):
        raise ValueError(f"correct: {len(correct)} flags for {len(queries)} queries")
    return preds, [bool(c) for c in correct], restrict


def _item_consistency(preds: Sequence[str]) -> float:
    """Fraction of unordered pairs with equal predictions (NaN for fewer than 2)."""
    k = len(preds)
    if k < 2:
        return math.nan
    same = sum(c * (c - 1) // 2 for c in Counter(preds).values())
    return same / (k * (k - 1) // 2)


def item_scores(keys: Sequence[tuple[str, int, int]], preds: Sequence[str], correct: Sequence[bool]
           ) -> dict[str, dict[int, tuple[float, float]]]:
    """{relation: {fact_index: (accuracy, consistency)}} in first-seen order."""
    groups: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (rel, fact, _) in enumerate(keys):
        groups[rel][fact].append(i)
    return {rel: {f: (float(np.mean([correct[i] for i in idx])),
                      _item_consistency([preds[i] for i in idx]))
                  for f, idx in facts.items()}
            for rel, facts in groups.items()}


def pararel_consistency(
    queries: Sequence[Any],
    predictions: Any,
    *,
    correct: Sequence[bool] | None = None,
    prompt_index: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> ParaRelConsistency:
    """PARAREL accuracy and consistency (see the module docstring).

    Args:
        queries: :class:`~interp.queries.ParaRelQuery` objects (or anything with ``relation``,
            ``fact_index``, ``pattern_index``, ``object``).
        predictions: one predicted object per query, or an
            :class:`interp.scoring.ParaRelPredictions`.
        correct: per-query correctness; default ``prediction == query.object`` (or the
            ``correct`` of a ``ParaRelPredictions``).
        prompt_index: recorded in the result.

    Raises:
        ValueError: no queries, misaligned inputs, a duplicated (relation, fact, pattern), or
            queries rendered with different casings.
    """
    if len(queries) == 0:
        raise ValueError("queries: empty")
    casings = sorted({c for c in (getattr(q, "casing", None) for q in queries) if c is not None})
    if len(casings) > 1:
        raise ValueError(f"queries: rendered with different casings {casings}")
    preds, corr, restrict = _unpack_predictions(queries, predictions, correct)
    keys = [(str(q.relation), int(q.fact_index), int(q.pattern_index)) for q in queries]
    dup = [k for k, c in Counter(keys).items() if c > 1]
    if dup:
        raise ValueError(f"queries: duplicated (relation, fact_index, pattern_index) {dup[:3]}")
    items = item_scores(keys, preds, corr)
    patterns: dict[str, set[int]] = defaultdict(set)
    n_q: Counter[str] = Counter()
    for rel, _, p in keys:
        patterns[rel].add(p)
        n_q[rel] += 1
    rel_results, acc_groups, cons_groups, undefined = [], [], [], []
    for rel, facts in items.items():
        accs = [a for a, _ in facts.values()]
        cons = [c for _, c in facts.values() if not math.isnan(c)]
        acc = float(np.mean([corr[i] for i, k in enumerate(keys) if k[0] == rel]))
        rel_results.append(RelationResult(rel, len(patterns[rel]), len(facts), n_q[rel], acc,
                                          float(np.mean(cons)) if cons else math.nan))
        acc_groups.append(accs)
        if cons:
            cons_groups.append(cons)
        else:
            undefined.append(rel)
    # Each item has the same number of patterns within a relation, so the mean of item
    # accuracies equals the relation's query accuracy; the grouped bootstrap resamples items.
    return ParaRelConsistency(
        accuracy=grouped_bootstrap_ci(acc_groups, n_boot=n_boot, seed=seed),
        consistency=grouped_bootstrap_ci(cons_groups, n_boot=n_boot, seed=seed),
        accuracy_micro=float(np.mean(corr)),
        relations=tuple(rel_results), undefined=tuple(undefined), keys=tuple(keys),
        predictions=tuple(preds), correct=tuple(corr), prompt_index=prompt_index,
        restrict=restrict, casing=casings[0] if casings else None, texts=query_texts(queries),
        objects=tuple(str(q.object) for q in queries) if all(hasattr(q, "object") for q in queries) else (),
    )


def query_texts(queries: Sequence[Any]) -> tuple[str, ...]:
    """Each query's paraphrase with its subject, without the prompt around it (``()`` unless every
    query has a ``pattern`` and a ``subject``).

    >>> from types import SimpleNamespace as Q
    >>> query_texts([Q(pattern="[X] is located in [Y].", subject="Rome")])
    ('Rome is located in [Y].',)
    """
    if not all(isinstance(getattr(q, "pattern", None), str) and isinstance(getattr(q, "subject", None), str)
               for q in queries):
        return ()
    return tuple(q.pattern.replace("[X]", q.subject) for q in queries)


def query_consistent(queries: Sequence[Any], predictions: Sequence[Hashable] | Any) -> list[bool]:
    """Per query: whether its prediction equals the prediction of every paraphrase of its item
    (the queries with the same ``(relation, fact_index)``), the consistent / inconsistent split of
    queries (extraction rates, Fig. 5 / 8). A query with no paraphrase (a single-pattern
    relation) counts as consistent. ``predictions``: one per query, or an
    :class:`interp.scoring.ParaRelPredictions`.

    Example:
        >>> from types import SimpleNamespace as Q
        >>> qs = [Q(relation="P1", fact_index=f) for f in (0, 0, 0, 1, 1)] + [Q(relation="P2", fact_index=0)]
        >>> query_consistent(qs, ["a", "a", "b", "c", "c", "d"])
        [False, False, False, True, True, True]
    """
    preds = list(predictions.objects if hasattr(predictions, "objects") else predictions)
    if len(preds) != len(queries):
        raise ValueError(f"predictions: {len(preds)} predictions for {len(queries)} queries")
    seen: dict[tuple[str, int], set[Hashable]] = defaultdict(set)
    for q, pred in zip(queries, preds):
        seen[(q.relation, q.fact_index)].add(pred)
    return [len(seen[(q.relation, q.fact_index)]) == 1 for q in queries]


def pair_consistent(predictions: Sequence[Hashable], a: Sequence[int], b: Sequence[int]) -> np.ndarray:
    """Per paraphrase pair ``(a[k], b[k])`` (indices into ``predictions``): whether its two
    predictions agree, the consistent / inconsistent split of pairs (Fig. 4, 6, 7). A pair may
    agree inside an item that is not consistent as a whole (:func:`query_consistent`); the
    fraction of agreeing pairs of an item is its PARAREL consistency.

    Example:
        >>> pair_consistent(["a", "a", "b"], [0, 0, 1], [1, 2, 2]).tolist()
        [True, False, False]
    """
    return np.array([predictions[i] == predictions[j] for i, j in zip(a, b)], dtype=bool)


@dataclass(frozen=True)
class ParaRelOverPrompts(Serializable):
    """PARAREL numbers over Table 3's prompts: per prompt, mean and standard deviation
    (``ddof=0``), an interval of the mean over items, and per-relation means."""

    prompts: tuple[ParaRelConsistency, ...]
    accuracy_mean: float
    accuracy_std: float
    consistency_mean: float
    consistency_std: float
    accuracy: Interval
    consistency: Interval
    relation_accuracy: dict[str, float]
    relation_consistency: dict[str, float]
    undefined: tuple[str, ...]


def combine_prompts(results: Sequence[ParaRelConsistency], *, n_boot: int = 1000,
                    seed: int = 0) -> ParaRelOverPrompts:
    """Average per-prompt PARAREL results (the paper reports the mean over 3 prompts and, in
    footnote 4, the standard deviation). The interval resamples the items present in every
    prompt, each item's accuracy / consistency averaged over the prompts.

    Example:
        >>> combine_prompts([r0, r1, r2]).consistency_mean  # doctest: +SKIP
    """
    if not results:
        raise ValueError("results: empty")
    nanmean = lambda xs: float(np.mean(xs)) if xs else math.nan  # noqa: E731
    accs = [r.accuracy.estimate for r in results]
    cons = [r.consistency.estimate for r in results if not math.isnan(r.consistency.estimate)]
    per_prompt = [item_scores(r.keys, r.predictions, r.correct) for r in results]
    acc_groups, cons_groups = [], []
    rel_acc: dict[str, float] = {}
    rel_cons: dict[str, float] = {}
    for rel in per_prompt[0]:
        if not all(rel in p for p in per_prompt):
            continue
        facts = [f for f in per_prompt[0][rel] if all(f in p[rel] for p in per_prompt)]
        a = [float(np.mean([p[rel][f][0] for p in per_prompt])) for f in facts]
        c = [float(np.mean([p[rel][f][1] for p in per_prompt])) for f in facts]
        c = [x for x in c if not math.isnan(x)]
        acc_groups.append(a)
        if c:
            cons_groups.append(c)
        rel_acc[rel] = nanmean([r.relation(rel).accuracy for r in results])
        rc = [r.relation(rel).consistency for r in results if r.relation(rel).defined]
        rel_cons[rel] = nanmean(rc)
    undefined = tuple(sorted({u for r in results for u in r.undefined}))
    return ParaRelOverPrompts(
        prompts=tuple(results), accuracy_mean=nanmean(accs), accuracy_std=float(np.std(accs)),
        consistency_mean=nanmean(cons),
        consistency_std=float(np.std(cons)) if cons else math.nan,
        accuracy=grouped_bootstrap_ci(acc_groups, n_boot=n_boot, seed=seed),
        consistency=grouped_bootstrap_ci(cons_groups, n_boot=n_boot, seed=seed),
        relation_accuracy=rel_acc, relation_consistency=rel_cons, undefined=undefined,
    )


# ============================================================================================
# MMLU


@dataclass(frozen=True)
class MMLUSetup:
    """One of the 9 setups: instruction (0-2, Appendix C.1) and answer ordering (0-2)."""

    instruction: int
    ordering: int


def choice_orderings(n_questions: int, n_orderings: int = 3, seed: int = 0
                     ) -> list[list[tuple[int, ...]]]:
    """``orderings[o][q]``: the permutation of question ``q``'s 4 choices in ordering ``o``
    (``new_choices[k] = choices[perm[k]]``). Ordering 0 is the identity; the others are seeded
    random permutations, independent per question.

    Example:
        >>> choice_orderings(2, 2, seed=0)[0]
        [(0, 1, 2, 3), (0, 1, 2, 3)]
    """
    out = [[(0, 1, 2, 3)] * n_questions]
    for o in range(1, n_orderings):
        rng = np.random.default_rng([seed, o])
        out.append([tuple(int(x) for x in rng.permutation(4)) for _ in range(n_questions)])
    return out


def permute_choices(question: Any, perm: Sequence[int]) -> Any:
    """The question with its choices reordered by ``perm`` and the answer index remapped.

    Example:
        >>> from interp.data.mmlu import Question
        >>> q = permute_choices(Question("s", "?", ("a", "b", "c", "d"), 1), (1, 0, 3, 2))
        >>> q.choices, q.answer
        (('b', 'a', 'd', 'c'), 0)
    """
    if sorted(perm) != list(range(len(question.choices))):
        raise ValueError(f"perm {tuple(perm)} is not a permutation of the {len(question.choices)} choices")
    return replace(question, choices=tuple(question.choices[k] for k in perm),
                   answer=list(perm).index(question.answer))


def mmlu_setups(questions: Sequence[Any], *, n_instructions: int = 3, n_orderings: int = 3,
                seed: int = 0) -> list[tuple[MMLUSetup, list[Any]]]:
    """The 9 (instruction, ordering) setups with their questions, choices permuted per ordering.

    Example:
        >>> [s for s, _ in mmlu_setups(qs)][:2]  # doctest: +SKIP
        [MMLUSetup(instruction=0, ordering=0), MMLUSetup(instruction=0, ordering=1)]
    """
    if len(questions) == 0:
        raise ValueError("questions: empty")
    orders = choice_orderings(len(questions), n_orderings, seed)
    permuted = [[permute_choices(q, orders[o][k]) for k, q in enumerate(questions)]
                for o in range(n_orderings)]
    return [(MMLUSetup(i, o), permuted[o]) for i in range(n_instructions) for o in range(n_orderings)]


@dataclass(frozen=True)
class SetupResult(Serializable):
    """Accuracy of one MMLU setup and its predicted-letter counts (A, B, C, D)."""

    instruction: int
    ordering: int
    accuracy: Interval
    letter_counts: tuple[int, ...]

    @property
    def top_letter_share(self) -> float:
        return max(self.letter_counts) / max(sum(self.letter_counts), 1)


@dataclass(frozen=True)
class MMLUSpread(Serializable):
    """MMLU accuracy and spread of one model (Table 2).

    ``spread`` is the paper's (over instructions, accuracy averaged over orderings);
    ``spread_orderings`` the mean over orderings of each ordering's spread over instructions;
    ``spread_setups`` is over all setups; ``spread_test`` the spread expected without an
    instruction effect and its p-value. ``at_chance``: chance (0.25) lies inside the accuracy
    interval. ``letter_bias``: mean over setups of the most-predicted letter's share.
    ``correct``: per setup, one "0"/"1" character per question (in ``question_ids`` order).
    """

    setups: tuple[SetupResult, ...]
    accuracy: Interval
    spread: Interval
    spread_setups: Interval
    instruction_accuracy: tuple[float, ...]
    at_chance: bool
    letter_bias: float
    n_questions: int
    subjects: tuple[str, ...]
    chance: float = CHANCE
    spread_orderings: Interval | None = None
    spread_test: SpreadTest | None = None
    question_ids: tuple[str, ...] = ()
    correct: tuple[str, ...] = ()

    def correct_matrix(self) -> np.ndarray:
        """``[n_questions, n_setups]`` 0/1 outcomes (empty for results stored without them)."""
        if not self.correct:
            return np.zeros((0, len(self.setups)))
        return np.array([[c == "1" for c in col] for col in self.correct], dtype=float).T


def _spread_stat(instr: np.ndarray) -> Any:
    """Statistic over question rows [n, n_setups]: max - min over instructions of the accuracy
    averaged over each instruction's setups (the paper's spread; all setups when ``instr`` is
    ``arange(n_setups)``)."""
    groups = [np.flatnonzero(instr == i) for i in np.unique(instr)]

    def stat(x: np.ndarray) -> float:
        acc = x.mean(axis=0)
        per = [acc[g].mean() for g in groups]
        return float(max(per) - min(per))
    return stat


def _spread_orderings_stat(instr: np.ndarray, order: np.ndarray) -> Any:
    """Statistic over question rows [n, n_setups]: the mean over orderings of the max - min over
    instructions of that ordering's setup accuracies."""
    groups = [np.flatnonzero(order == o) for o in np.unique(order)]

    def stat(x: np.ndarray) -> float:
        acc = x.mean(axis=0)
        return float(np.mean([np.ptp(acc[g]) for g in groups if len(g) > 1] or [math.nan]))
    return stat


def per_instruction(correct: np.ndarray, instr: np.ndarray) -> np.ndarray:
    """``[n, n_setups]`` outcomes -> ``[n, n_instructions]``: each question's accuracy under each
    instruction, averaged over that instruction's orderings.

    >>> per_instruction(np.array([[1, 0, 1, 1]]), np.array([0, 0, 1, 1])).tolist()
    [[0.5, 1.0]]
    """
    return np.stack([correct[:, instr == i].mean(axis=1) for i in np.unique(instr)], axis=1)


def question_id(q: Any) -> str:
    """A stable id of an MMLU question (subject and a hash of its text and choices), to pair the
    same questions across models."""
    import hashlib

    text = "\x1f".join([q.subject, q.question, *sorted(q.choices)])
    return f"{q.subject}:{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def mmlu_spread(
    questions_by_setup: Sequence[Sequence[Any]],
    letter_logprobs_by_setup: Sequence[Any],
    setups: Sequence[MMLUSetup] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> MMLUSpread:
    """MMLU accuracy per setup, mean accuracy and spread (see the module docstring).

    Args:
        questions_by_setup: per setup, the questions as shown (choices permuted, ``answer``
            remapped); the same questions in the same order in every setup.
        letter_logprobs_by_setup: per setup, an ``[n_questions, 4]`` array of the log-probs of
            " A".." D" (tensor or array).
        setups: the setups (default: ``mmlu_setups``' order, 3 instructions x 3 orderings).

    Example:
        >>> r = mmlu_spread(qs_by_setup, lps_by_setup)  # doctest: +SKIP
        >>> r.spread.estimate, r.at_chance  # doctest: +SKIP
    """
    k = len(questions_by_setup)
    if k == 0 or k != len(letter_logprobs_by_setup):
        raise ValueError(f"questions_by_setup ({k}) and letter_logprobs_by_setup "
                         f"({len(letter_logprobs_by_setup)}): need one entry per setup, at least one")
    if setups is None:
        if k % 3:
            raise ValueError(f"setups: {k} setups is not 3 instructions x n orderings; pass setups")
        setups = [MMLUSetup(i, o) for i in range(3) for o in range(k // 3)]
    if len(setups) != k:
        raise ValueError(f"setups: {len(setups)} setups for {k} entries")
    n = len(questions_by_setup[0])
    correct = np.zeros((n, k))
    results = []
    for s, (qs, lp) in enumerate(zip(questions_by_setup, letter_logprobs_by_setup)):
        arr = np.asarray(lp.detach().cpu() if hasattr(lp, "detach") else lp, dtype=float)
        if len(qs) != n or arr.shape != (n, 4):
            raise ValueError(f"setup {s}: {len(qs)} questions and log-probs of shape "
                             f"{arr.shape}; expected {n} and ({n}, 4)")
        if s and [q.question for q in qs] != [q.question for q in questions_by_setup[0]]:
            raise ValueError(f"setup {s}: not the same questions (in the same order) as setup 0")
        pred = arr.argmax(axis=1)
        correct[:, s] = pred == np.array([q.answer for q in qs])
        results.append(SetupResult(setups[s].instruction, setups[s].ordering,
                                   bootstrap_ci(correct[:, s], n_boot=n_boot, seed=seed),
                                   tuple(int((pred == c).sum()) for c in range(4))))
    instr = np.array([s.instruction for s in setups])
    order = np.array([s.ordering for s in setups])
    everything = np.arange(k)
    acc = bootstrap_ci(correct, lambda x: float(x.mean()), n_boot=n_boot, seed=seed)
    ci = lambda stat: bootstrap_ci(correct, stat, n_boot=n_boot, seed=seed)  # noqa: E731
    multi = len(np.unique(instr)) > 1
    return MMLUSpread(
        setups=tuple(results), accuracy=acc,
        spread=ci(_spread_stat(instr)),
        spread_setups=ci(_spread_stat(everything)),
        instruction_accuracy=tuple(float(correct[:, instr == i].mean()) for i in np.unique(instr)),
        at_chance=bool(acc.low <= CHANCE <= acc.high),
        letter_bias=float(np.mean([r.top_letter_share for r in results])),
        n_questions=n, subjects=tuple(sorted({q.subject for q in questions_by_setup[0]})),
        spread_orderings=ci(_spread_orderings_stat(instr, order)),
        spread_test=spread_test(per_instruction(correct, instr), n_resamples=n_boot, seed=seed) if multi else None,
        question_ids=tuple(question_id(q) for q in questions_by_setup[0]),
        correct=tuple("".join("1" if v else "0" for v in correct[:, s]) for s in range(k)),
    )


# ============================================================================================
# BECEL


@dataclass(frozen=True)
class BecelTask(Serializable):
    """BECEL consistency of one classifier on one task (a row block of Table 6).

    Intervals with ``n == 0`` (NaN) mark a perturbation set that was not given. ``method`` is
    the classifier that produced the predictions: ``"probe"`` or ``"finetune"`` (the paper's).
    ``n_train``: the examples the classifier was trained on; ``n_excluded``: training rows
    removed because they are evaluation rows (``None``: not recorded, as in older payloads).
    """

    task: str
    symmetric: Interval
    semantic: Interval
    negation: Interval
    negation_flip: Interval
    accuracy: Interval
    method: str = "probe"
    n_train: int | None = None
    n_excluded: int | None = None
    units: Mapping[str, Mapping[str, Any]] | None = None

    def unit_values(self, column: str) -> dict[str, float]:
        """Per evaluated unit (a pair, or a test example for ``"accuracy"``): id -> 0/1 value of
        ``column`` ("symmetric", "semantic", "negation", "negation_flip" or "accuracy"), for
        paired base-vs-IFT tests. Empty for results stored without per-unit outcomes.

        Example:
            >>> t = BecelTask("rte", *[Interval(0, 0, 0, 0)] * 5, units={"negational": {
            ...     "ids": ["p", "q"], "same": "10", "expect_same": "00"}})
            >>> t.unit_values("negation_flip"), t.unit_values("negation")
            ({'p': 0.0, 'q': 1.0}, {'p': 0.0, 'q': 1.0})
        """
        kind = {"negation": "negational", "negation_flip": "negational", "accuracy": "test"}.get(column, column)
        u = (self.units or {}).get(kind)
        if not u:
            return {}
        if kind == "test":
            vals = [c == "1" for c in u["correct"]]
        elif column == "negation_flip":
            vals = [s == "0" for s in u["same"]]
        else:
            vals = [s == e for s, e in zip(u["same"], u["expect_same"])]
        return dict(zip(u["ids"], map(float, vals)))


def pair_outcomes(kind: str, pairs: Sequence[Any], preds_original: Sequence[int],
                  preds_perturbed: Sequence[int]) -> np.ndarray:
    """1.0 where a (original, perturbed) prediction pair behaves as expected, else 0.0
    (the rules in the module docstring).

    Example:
        >>> from interp.data.becel import Example, PerturbedPair
        >>> e = lambda y: Example("a", "b", y)
        >>> ps = [PerturbedPair("snli", "negational", e(0), e(2), False)] * 2
        >>> pair_outcomes("negational", ps, [0, 0], [2, 0]).tolist()
        [1.0, 0.0]
    """
    if kind not in BECEL_KINDS:
        raise ValueError(f"kind {kind!r}: choose one of {BECEL_KINDS}")
    if not len(pairs) == len(preds_original) == len(preds_perturbed):
        raise ValueError(f"{kind}: {len(pairs)} pairs, {len(preds_original)} original and "
                         f"{len(preds_perturbed)} perturbed predictions")
    same_pred = np.asarray(preds_original) == np.asarray(preds_perturbed)
    if kind != "negational":
        return same_pred.astype(float)
    same_label = np.array([p.original.label == p.perturbed.label for p in pairs], dtype=bool)
    return (same_pred == same_label).astype(float)


def becel_consistency(
    task: str,
    preds_original: Mapping[str, Sequence[int]],
    preds_perturbed: Mapping[str, Sequence[int]],
    pairs: Mapping[str, Sequence[Any]],
    test_labels: Sequence[int],
    test_preds: Sequence[int],
    *,
    test_ids: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> BecelTask:
    """Symmetric / semantic / negation consistency and test accuracy of one task.

    Args:
        task: "snli", "rte", "mrpc" or "wic" (recorded).
        preds_original, preds_perturbed, pairs: per perturbation kind ("symmetric",
            "semantic", "negational"), the predictions on each pair's original and perturbed
            example and the :class:`~interp.data.becel.PerturbedPair` records. A kind missing
            from ``pairs`` gives a NaN interval with ``n = 0``.
        test_labels, test_preds: the original evaluation set's gold labels and predictions.
        test_ids: ids of the test examples (default: their positions), kept with the per-pair
            outcomes (:meth:`BecelTask.unit_values`) for paired tests across models.

    Example:
        >>> becel_consistency("mrpc", {"semantic": [1]}, {"semantic": [1]}, {"semantic": ps},
        ...                   [1, 0], [1, 1]).accuracy.estimate  # doctest: +SKIP
        0.5
    """
    unknown = set(pairs) - set(BECEL_KINDS)
    if unknown:
        raise ValueError(f"pairs: unknown perturbation kind(s) {sorted(unknown)}; use {BECEL_KINDS}")
    if len(test_labels) != len(test_preds):
        raise ValueError(f"test_labels ({len(test_labels)}) and test_preds ({len(test_preds)}) differ in length")
    ci = lambda v: bootstrap_ci(v, n_boot=n_boot, seed=seed)  # noqa: E731
    out: dict[str, Interval] = {}
    for kind in BECEL_KINDS:
        if kind not in pairs:
            out[kind] = ci([])
            continue
        for name, m in (("preds_original", preds_original), ("preds_perturbed", preds_perturbed)):
            if kind not in m:
                raise ValueError(f"{name}: no predictions for the {kind} pairs")
        out[kind] = ci(pair_outcomes(kind, pairs[kind], preds_original[kind], preds_perturbed[kind]))
    if "negational" in pairs:
        flips = np.asarray(preds_original["negational"]) != np.asarray(preds_perturbed["negational"])
        flip = ci(flips.astype(float))
    else:
        flip = ci([])
    correct = np.asarray(test_labels) == np.asarray(test_preds)
    acc = ci(correct.astype(float))
    bits = lambda xs: "".join("1" if x else "0" for x in xs)  # noqa: E731
    units: dict[str, dict[str, Any]] = {"test": {
        "ids": list(test_ids) if test_ids is not None else [str(i) for i in range(len(correct))],
        "correct": bits(correct)}}
    if test_ids is not None and len(test_ids) != len(correct):
        raise ValueError(f"test_ids ({len(test_ids)}) and test_preds ({len(correct)}) differ in length")
    for kind, ps in pairs.items():
        from interp.data.becel import pair_id

        units[kind] = {"ids": [pair_id(p) for p in ps],
                       "same": bits(np.asarray(preds_original[kind]) == np.asarray(preds_perturbed[kind])),
                       "expect_same": bits(p.original.label == p.perturbed.label for p in ps)}
    return BecelTask(task, out["symmetric"], out["semantic"], out["negational"], flip, acc, units=units)


@dataclass(frozen=True)
class BecelConsistency(Serializable):
    """BECEL over tasks: Table 6 (``tasks``) and Table 2's averages over tasks (NaN-skipping):
    accuracy, and consistency under paraphrase (``semantic``) / negation (the paper's:
    ``negation_flip``; the label-aware reading: ``negation``)."""

    tasks: tuple[BecelTask, ...]
    accuracy: float
    symmetric: float
    semantic: float
    negation: float
    negation_flip: float


def becel_summary(tasks: Sequence[BecelTask]) -> BecelConsistency:
    """Average the per-task numbers (Table 2's BECEL columns).

    Example:
        >>> becel_summary([snli, rte, mrpc, wic]).semantic  # doctest: +SKIP
    """
    if not tasks:
        raise ValueError("tasks: empty")

    def mean(attr: str) -> float:
        xs = [getattr(t, attr).estimate for t in tasks]
        xs = [x for x in xs if not math.isnan(x)]
        return float(np.mean(xs)) if xs else math.nan
    return BecelConsistency(tuple(tasks), mean("accuracy"), mean("symmetric"), mean("semantic"),
                            mean("negation"), mean("negation_flip"))


# ============================================================================================
# Registrations (interp.registry): PARAREL consistency, MMLU spread, BECEL consistency


@dataclass(frozen=True)
class MMLULetterScores(Serializable):
    """One instruction's MMLU letter log-probabilities (``[n_questions, 4]`` per answer ordering),
    the per-prompt unit that :func:`mmlu_spread` pools over the 3 instructions. The arrays are
    stored beside the payload (``logprobs_o{ordering}``)."""

    setups: tuple[MMLUSetup, ...]
    n_questions: int
    logprobs: Mapping[int, np.ndarray]

    def to_stored(self) -> tuple[dict, dict]:
        meta = [{"instruction": s.instruction, "ordering": s.ordering} for s in self.setups]
        return ({"setups": meta, "n_questions": self.n_questions},
                {f"logprobs_o{o}": np.asarray(lp) for o, lp in self.logprobs.items()})

    @classmethod
    def from_stored(cls, payload: Mapping[str, Any], arrays: Mapping[str, Any]) -> "MMLULetterScores":
        setups = tuple(MMLUSetup(s["instruction"], s["ordering"]) for s in payload["setups"])
        return cls(setups, int(payload["n_questions"]),
                   {s.ordering: np.asarray(arrays[f"logprobs_o{s.ordering}"]) for s in setups})

    def to_dict(self) -> dict:
        """The payload without the arrays (which the store keeps beside it)."""
        return self.to_stored()[0]


def _pararel_unit(job: Any) -> ParaRelConsistency:
    from interp.scoring import predict_pararel

    queries, lim = job.items, job.limits
    preds = job.timed("predict_s", lambda: predict_pararel(
        job.model, queries, job.acts["last"], candidates=job.records,
        restrict=lim.pararel_restrict_candidates, batch_size=job.cfg.batch_size))
    return pararel_consistency(queries, preds, prompt_index=int(job.prompt), n_boot=job.n_boot,
                               seed=job.seed)


def _mmlu_unit(job: Any) -> MMLULetterScores:
    from interp.data.mmlu import subject_name
    from interp.prompts import mmlu_prompt
    from interp.scoring import mmlu_letter_logprobs

    setups, logprobs = [], {}
    for s, qs in mmlu_setups(job.records, seed=job.seed):
        if s.instruction != int(job.prompt):
            continue
        prompts = [mmlu_prompt(job.model, s.instruction, subject_name(q.subject), q.question, q.choices)
                   for q in qs]
        logprobs[s.ordering] = mmlu_letter_logprobs(job.model, prompts,
                                                    batch_size=job.cfg.batch_size).numpy()
        setups.append(s)
    return MMLULetterScores(tuple(setups), len(job.records), logprobs)


def _mmlu_pool(results: Sequence[MMLULetterScores], job: Any) -> MMLUSpread:
    by_setup = {(s.instruction, s.ordering): qs for s, qs in mmlu_setups(job.records, seed=job.seed)}
    setups = [s for r in results for s in r.setups]
    lps = [r.logprobs[s.ordering] for r in results for s in r.setups]
    return mmlu_spread([by_setup[(s.instruction, s.ordering)] for s in setups], lps, setups,
                       n_boot=job.n_boot, seed=job.seed)


def _becel_unit(job: Any) -> BecelTask:
    from interp.finetune import run_becel

    lim = job.limits
    return run_becel(job.model, job.extra, job.records, n_train=lim.becel_max_train,
                     n_test=lim.becel_max_eval, n_pairs=lim.becel_max_eval, method=lim.becel_method,
                     symmetric_max_share=lim.becel_symmetric_max_share, seed=job.seed,
                     batch_size=job.cfg.batch_size, n_boot=job.n_boot)


def _register() -> None:
    from interp.analysis import Analysis, Needs
    from interp.registry import register

    register(Analysis(
        "consistency", ("pararel",), ParaRelConsistency, _pararel_unit, needs=Needs(logits=("last",)),
        pool=lambda rs, job: combine_prompts(rs, n_boot=job.n_boot, seed=job.seed),
        pooled_result=ParaRelOverPrompts, sections=("table2", "findings", "base_vs_ift")))
    register(Analysis(
        "spread", ("mmlu",), MMLULetterScores, _mmlu_unit, pool=_mmlu_pool, pooled_result=MMLUSpread,
        bootstrap=False, sections=("table2", "findings", "base_vs_ift")))
    register(Analysis(
        "consistency", ("becel",), BecelTask, _becel_unit,
        pool=lambda rs, job: becel_summary(rs), pooled_result=BecelConsistency,
        sections=("table2", "table6", "findings", "base_vs_ift")))


_register()
