"""PARAREL queries: relations x causal patterns x facts, rendered in one of Table 3's prompts.

One list of queries per (model, prompt) is captured once (positions: last token and last
subject token) and serves every PARAREL analysis: predictions and consistency, per-layer
paraphrase gaps, relation curves, attribute rates and extraction rates.

Example:
    >>> from interp.data import pararel
    >>> rels = pararel.load("data/pararel")  # doctest: +SKIP
    >>> qs = pararel_queries(model, rels, prompt_index=0, max_facts=5)  # doctest: +SKIP
    >>> qs[0].prompt, qs[0].object  # doctest: +SKIP
    ('The capital of France is', 'Paris')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from interp.capture import Span
from interp.models import Model
from interp.prompts import check_casing, pararel_prompt

#: How :func:`sample_facts` picks ``max_facts`` facts of a relation: a seeded random sample
#: ("sample") or the first ones in file order ("first").
FACT_ORDERS: tuple[str, ...] = ("sample", "first")


@dataclass(frozen=True)
class ParaRelQuery:
    """One factual query: fact ``fact_index`` of ``relation`` in causal pattern ``pattern_index``.

    ``(relation, fact_index)`` identifies the item whose paraphrases are compared;
    ``subject_span`` is the subject's character span in ``prompt``; ``casing`` is how the
    prompt was rendered (:data:`interp.prompts.CASINGS`).
    """

    relation: str
    pattern_index: int
    pattern: str
    fact_index: int
    subject: str
    object: str
    prompt_index: int
    prompt: str
    subject_span: Span
    casing: str = "lower"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["subject_span"] = [self.subject_span.start, self.subject_span.end]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ParaRelQuery":
        d = dict(d)
        d["subject_span"] = Span(*d["subject_span"])
        return cls(**d)


def sample_facts(n_facts: int, max_facts: int | None, seed: int = 0, *,
                 fact_order: str = "sample") -> list[int]:
    """Indices of the facts to use, in file order: all, or ``max_facts`` of them, a seeded
    random sample (``fact_order="sample"``) or the first ones (``"first"``).

    >>> sample_facts(10, 3, fact_order="first")
    [0, 1, 2]
    >>> sample_facts(3, None)
    [0, 1, 2]
    """
    if fact_order not in FACT_ORDERS:
        raise ValueError(f"fact_order must be one of {FACT_ORDERS}, got {fact_order!r}")
    if max_facts is None or max_facts >= n_facts:
        return list(range(n_facts))
    if fact_order == "first":
        return list(range(max_facts))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n_facts, size=max_facts, replace=False).tolist())


def pararel_queries(
    model: Model,
    relations: Mapping[str, object] | Iterable[object],
    prompt_index: int,
    *,
    max_facts: int | None = None,
    seed: int = 0,
    casing: str = "lower",
    fact_order: str = "sample",
) -> list[ParaRelQuery]:
    """Every (relation, causal pattern, fact) query of ``relations`` in Table 3's PARAREL prompt
    ``prompt_index`` for ``model``'s kind (base or chat).

    Args:
        relations: ``interp.data.pararel.Relation`` objects (or a mapping id -> Relation).
        prompt_index: 0, 1 or 2.
        max_facts: use at most this many facts per relation (see :func:`sample_facts`).
        casing: the pattern's first letter after a base prompt's lead-in
            (:func:`interp.prompts.pararel_prompt`); recorded in each query.
        fact_order: ``"sample"`` (seeded random sample) or ``"first"`` (file order).
    """
    check_casing(casing)
    rels = list(relations.values()) if isinstance(relations, Mapping) else list(relations)
    out: list[ParaRelQuery] = []
    for rel in rels:
        patterns = rel.causal_patterns
        for fi in sample_facts(len(rel.facts), max_facts, seed, fact_order=fact_order):
            fact = rel.facts[fi]
            for pi, pattern in enumerate(patterns):
                prompt, span = pararel_prompt(model, prompt_index, pattern, fact.subject,
                                              casing=casing)
                out.append(ParaRelQuery(rel.id, pi, pattern, fi, fact.subject, fact.object,
                                        prompt_index, prompt, span, casing))
    return out
