"""Subject-attribute rate per layer: the paper's Fig. 2 (Section 4, Appendix D; Geva et al. 2023).

For each PARAREL query, the residual stream at the LAST SUBJECT TOKEN after every block
(``blocks.{l}.hook_resid_post``) is projected to the vocabulary with :mod:`interp.lens`. The top
tokens are decoded, normalised and filtered exactly as the attribute sets are
(:func:`interp.data.attributes.filter_tokens`: no stopwords, no tokens shorter than 3 characters,
duplicates after normalisation removed), and the first ``top`` (50) kept tokens are compared with
A_s, the subject's attribute set::

    rate = |top-50 ∩ A_s| / 50

Decisions (each named in the result):

* Lens: ``normed=False`` by default: the residual projected with the unembedding alone,
  ``E h^l`` as the paper defines it (Section 4 / App. D) and as Geva et al.'s (2023) public code
  does; the extraction rates (Fig. 5/8) use the same lens (:data:`interp.lens.DEFAULT_NORMED`).
  ``normed=True`` applies the model's final norm first (a "logit lens" that makes the residual's
  scale comparable across layers); the result and the report name the lens used.
* Layers: layer ``l`` is the residual after block ``l``; the embeddings are not in the figure
  unless ``include_embeddings=True`` (then they are layer ``-1``).
* Special tokens (BOS, padding, chat markers) are not text: they are dropped from the top tokens
  like the pieces of a split character.
* How the kept tokens are found (the result is the definition above, exactly): only the
  tokens the filter can keep are ranked (:func:`keepable_vocabulary`, ``lens.top_ids(...,
  allowed=...)``), and bitwise-equal rows are ranked once. Fewer than ``top`` distinct kept
  tokens: the candidate list is widened (x8 per round, up to every keepable token) until ``top``
  survive. Only when the whole vocabulary has fewer
  keepable tokens (tiny test models) is the rate taken over the tokens kept; those (query, layer)
  cases are counted in ``n_short``.
* Averaging: the same (relation, pattern, subject) prompt is projected once (PARAREL repeats some
  subjects with other objects). Rates are averaged per (relation, subject) over the relation's
  patterns, then over subjects within each relation, then over relations (macro average, as the
  consistency of Table 2); the 95% interval resamples subjects within relations
  (:func:`interp.stats.grouped_bootstrap_ci`). Subjects without snippets (or whose snippets keep
  no token) are excluded and counted.
* Prompts: one result per (model, prompt); :meth:`AttributeRates.pool` averages each item over
  the three prompts of Table 3 ("averages over three different contexts").

Example:
    >>> from interp import capture, load_model
    >>> from interp.data import demo_path, pararel
    >>> from interp.queries import pararel_queries
    >>> model = load_model("smollm2-135m-instruct")  # doctest: +SKIP
    >>> rels = pararel.load(demo_path("pararel"), relations=["P36"])
    >>> qs = pararel_queries(model, rels, 0)  # doctest: +SKIP
    >>> acts = capture(model, [q.prompt for q in qs],
    ...                positions={"last": "last", "subject": [q.subject_span for q in qs]})  # doctest: +SKIP
    >>> attrs = subject_attributes(model.tokenizer, {q.subject for q in qs},
    ...                            cache_dir=demo_path("wikipedia"))  # doctest: +SKIP
    >>> res = attribute_rates(model, acts["subject"], qs, attrs)  # doctest: +SKIP
    >>> res.peak  # (layer, rate)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import weakref
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from interp import lens
from interp.capture import Activations
from interp.data import wikipedia
from interp.data.attributes import attribute_set, filter_tokens, keep_token, normalize_token, stopwords
from interp.models import Model
from interp.queries import ParaRelQuery
from interp.serial import Serializable
from interp.stats import Interval, grouped_bootstrap_ci

TOP = 50
CANDIDATES = 100
DEFAULT_NORMED = lens.DEFAULT_NORMED
EMBEDDING_LAYER = -1


@dataclass(frozen=True)
class SubjectAttributes:
    """A_s per subject (only non-empty sets) and the subjects without any attribute."""

    sets: Mapping[str, frozenset[str]]
    missing: tuple[str, ...] = ()


def subject_attributes(
    tokenizer: Any,
    subjects: Iterable[str],
    *,
    snippets: Mapping[str, Sequence[str]] | None = None,
    cache_dir: Any = None,
    offline: bool = True,
    n: int = 500,
) -> SubjectAttributes:
    """A_s for each subject under ``tokenizer``, from Wikipedia snippets.

    Snippets are ``snippets[subject]`` when given, else read with
    :func:`interp.data.wikipedia.fetch_many` (``offline=True``: the cache only).

    Example:
        >>> from interp.data import demo_path
        >>> from interp.testing import tiny_tokenizer
        >>> a = subject_attributes(tiny_tokenizer(), ["France", "Atlantis"],
        ...                        cache_dir=demo_path("wikipedia"))
        >>> sorted(a.sets), a.missing
        (['France'], ('Atlantis',))
    """
    wanted = list(dict.fromkeys(subjects))
    if snippets is None:
        got = wikipedia.fetch_many(wanted, n, cache_dir=cache_dir, offline=offline, progress=False)
        snippets = got.snippets
    sets: dict[str, frozenset[str]] = {}
    missing: list[str] = []
    for s in wanted:
        a = attribute_set(snippets.get(s, ()), tokenizer)
        if a:
            sets[s] = a
        else:
            missing.append(s)
    return SubjectAttributes(sets, tuple(missing))


def attribute_rate(top_tokens: Sequence[str], attributes: AbstractSet[str], *, top: int = TOP) -> float:
    """The fraction of the first ``top`` kept tokens of ``top_tokens`` (decoded token strings,
    best first) that are in ``attributes``; NaN when no token is kept.

    Example:
        >>> attribute_rate([" Paris", " the", "Paris", " Seine", " of", " Louvre"],
        ...                {"Paris", "Louvre", "France"}, top=2)
        0.5
    """
    kept = filter_tokens(top_tokens, stopwords(), limit=top)
    return _rate(kept, attributes)


def _rate(kept: Sequence[str], attributes: AbstractSet[str]) -> float:
    return sum(t in attributes for t in kept) / len(kept) if kept else math.nan


@dataclass(frozen=True)
class AttributeRates(Serializable):
    """Subject-attribute rate per layer for one model (Fig. 2).

    Attributes:
        model: the model's name.
        layers: layer labels of the columns: ``l`` = residual after block ``l``, ``-1`` = the
            embeddings (only when they were included).
        rate: per layer, the macro average (relations, then subjects) with a 95% interval over
            subjects; ``n`` = number of (relation, subject) items.
        per_relation: per relation, the mean rate per layer over its subjects.
        items: the (relation, subject) items; ``item_rates[i][j]`` is item i's rate at
            ``layers[j]`` (mean over patterns and, after :meth:`pool`, prompts).
        excluded_subjects: subjects without snippets (left out); ``n_excluded_queries`` counts
            their queries.
        n_queries: queries given; ``n_distinct_prompts``: distinct prompts projected (a subject
            repeated with another object is the same prompt).
        n_short: (prompt, layer) projections with fewer than ``top`` keepable tokens in the whole
            vocabulary (rate over the tokens kept; 0 on real models).
        prompt_index: Table 3's prompt of the queries (None when pooled or mixed).
    """

    model: str
    normed: bool
    top: int
    layers: tuple[int, ...]
    rate: tuple[Interval, ...]
    per_relation: Mapping[str, tuple[float, ...]]
    items: tuple[tuple[str, str], ...]
    item_rates: tuple[tuple[float, ...], ...] = field(repr=False)
    n_queries: int
    n_distinct_prompts: int
    excluded_subjects: tuple[str, ...]
    n_excluded_queries: int
    n_short: int
    prompt_index: int | None = None

    @property
    def estimates(self) -> list[float]:
        """The per-layer point estimates (the curve of Fig. 2)."""
        return [iv.estimate for iv in self.rate]

    @property
    def peak(self) -> tuple[int, float]:
        """``(layer, rate)`` of the highest rate (NaN layer rates ignored)."""
        est = np.array(self.estimates, dtype=float)
        if np.all(np.isnan(est)):
            return (self.layers[0], math.nan) if self.layers else (-1, math.nan)
        j = int(np.nanargmax(est))
        return self.layers[j], float(est[j])

    @classmethod
    def pool(cls, results: Sequence["AttributeRates"], *, n_boot: int = 1000,
             seed: int = 0) -> "AttributeRates":
        """One result from several prompts of the same model: each item's rate is averaged over
        the prompts where it occurs, then aggregated as usual (``prompt_index`` becomes None)."""
        if not results:
            raise ValueError("AttributeRates.pool: no results")
        first = results[0]
        for r in results[1:]:
            if (r.model, r.normed, r.top, r.layers) != (first.model, first.normed, first.top, first.layers):
                raise ValueError("AttributeRates.pool: results differ in model, normed, top or layers "
                                 f"({first.model!r} vs {r.model!r})")
        acc: dict[tuple[str, str], list[tuple[float, ...]]] = defaultdict(list)
        for r in results:
            for item, row in zip(r.items, r.item_rates):
                acc[item].append(row)
        items = tuple(acc)
        rates = np.array([_nanmean(np.array(acc[i], dtype=float)) for i in items],
                         dtype=float).reshape(len(items), len(first.layers))
        rate, per_rel = _aggregate(items, rates, n_boot=n_boot, seed=seed)
        excluded = tuple(dict.fromkeys(s for r in results for s in r.excluded_subjects))
        return cls(
            model=first.model, normed=first.normed, top=first.top, layers=first.layers,
            rate=rate, per_relation=per_rel, items=items,
            item_rates=tuple(tuple(float(v) for v in row) for row in rates),
            n_queries=sum(r.n_queries for r in results),
            n_distinct_prompts=sum(r.n_distinct_prompts for r in results),
            excluded_subjects=excluded,
            n_excluded_queries=sum(r.n_excluded_queries for r in results),
            n_short=sum(r.n_short for r in results), prompt_index=None,
        )


def _nanmean(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean ignoring NaN; NaN (no warning) where a slice has no value."""
    ok = ~np.isnan(a)
    count = ok.sum(axis)
    total = np.where(ok, a, 0.0).sum(axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _aggregate(
    items: Sequence[tuple[str, str]], rates: np.ndarray, *, n_boot: int, seed: int,
) -> tuple[tuple[Interval, ...], dict[str, tuple[float, ...]]]:
    """Macro average per layer: subjects within relations, then relations; grouped bootstrap."""
    by_rel: dict[str, list[int]] = defaultdict(list)
    for i, (rel, _) in enumerate(items):
        by_rel[rel].append(i)
    out: list[Interval] = []
    for j in range(rates.shape[1]):
        groups = [[v for v in rates[idx, j] if not math.isnan(v)] for idx in by_rel.values()]
        out.append(grouped_bootstrap_ci(groups, n_boot=n_boot, seed=seed))
    per_rel = {rel: tuple(float(v) for v in _nanmean(rates[idx])) for rel, idx in by_rel.items()}
    return tuple(out), per_rel


def _kept_top_tokens(
    model: Model,
    x: Float[Tensor, "rows d_model"],
    *,
    top: int,
    candidates: int,
    normed: bool,
    chunk_size: int,
) -> list[list[str]]:
    """The first ``top`` kept (filtered, normalised, de-duplicated) top tokens of each row's
    projection. Only keepable tokens are ranked (:func:`keepable_vocabulary`: the others could
    never be kept), ``candidates`` at first, widened for rows where fewer than ``top`` distinct
    ones survive; the result is ``filter_tokens`` of the full ranking, whatever ``candidates``."""
    texts, allowed = keepable_vocabulary(model)
    n_allowed = int(allowed.sum())
    # bitwise-equal rows (a subject whose tokens and context repeat across paraphrases and fell
    # in batches alike) have equal rankings: each distinct row is ranked once
    bits = x.contiguous().view({2: torch.int16, 4: torch.int32, 8: torch.int64}[x.element_size()])
    distinct, inverse = torch.unique(bits, dim=0, return_inverse=True)
    x = distinct.view(x.dtype)
    kept: list[list[str]] = [[] for _ in range(x.shape[0])]
    todo = list(range(x.shape[0]))
    k = min(candidates, n_allowed)
    while todo and k:
        ids = lens.top_ids(model, x[todo], k, normed=normed, chunk_size=chunk_size, allowed=allowed)
        short = []
        for row, id_row in zip(todo, ids.tolist()):
            kept[row] = list(dict.fromkeys(texts[i] for i in id_row))[:top]
            if len(kept[row]) < top:
                short.append(row)
        if k >= n_allowed:
            break
        todo, k = short, min(k * 8, n_allowed)
    return [kept[i] for i in inverse.tolist()]


_KEEPABLE: "weakref.WeakKeyDictionary[Any, tuple[list[str], Tensor]]" = weakref.WeakKeyDictionary()


def keepable_vocabulary(model: Model) -> tuple[list[str], Bool[Tensor, " d_vocab"]]:
    """``(texts, keep)``: each token id's normalized text (its decoding on its own, special
    tokens decoding to ``""``) and whether it passes :func:`~interp.data.attributes.keep_token`;
    computed once per tokenizer (about 3 s for a 262k vocabulary).

    Example:
        >>> texts, keep = keepable_vocabulary(model)  # doctest: +SKIP
        >>> texts[model.tokenizer.encode(" Paris", add_special_tokens=False)[0]]  # doctest: +SKIP
        'Paris'
    """
    tok = model.tokenizer
    cached = _KEEPABLE.get(tok)
    if cached is not None and len(cached[0]) == model.d_vocab:
        return cached
    words = stopwords()
    n_tok = min(model.d_vocab, len(tok))
    decoded = tok.batch_decode([[i] for i in range(n_tok)], skip_special_tokens=True)
    for i in range(n_tok, model.d_vocab):  # padding rows of the unembedding beyond the tokenizer
        try:
            decoded.append(tok.decode([i], skip_special_tokens=True))
        except (IndexError, KeyError, OverflowError, TypeError, ValueError):
            decoded.append("")
    keep = torch.tensor([keep_token(t, words) for t in decoded], dtype=torch.bool)
    out = ([normalize_token(t) for t in decoded], keep)
    _KEEPABLE[tok] = out
    return out


def attribute_rates(
    model: Model,
    acts: Activations,
    queries: Sequence[ParaRelQuery],
    attributes: SubjectAttributes | Mapping[str, AbstractSet[str]],
    *,
    normed: bool = DEFAULT_NORMED,
    top: int = TOP,
    candidates: int = CANDIDATES,
    include_embeddings: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    chunk_size: int = 128,
) -> AttributeRates:
    """Subject-attribute rate per layer (Fig. 2) from a capture at the last subject token.

    Args:
        model: the captured model (its unembedding and tokenizer are used; no forward is run).
        acts: the capture at the last subject token, in the order of ``queries``
            (``acts["subject"]`` of the PARAREL capture); needs ``resid``.
        queries: the captured PARAREL queries.
        attributes: A_s per subject (:func:`subject_attributes`, or a plain mapping); subjects
            absent or with an empty set are excluded and counted.
        normed: apply the final norm before the unembedding (default False: ``E h``, see the module doc).
        top: tokens compared with A_s (50 in the paper).
        candidates: keepable tokens ranked per projection at first (widened x8 for the rows
            with fewer than ``top`` distinct ones; the result does not depend on it).
        include_embeddings: add the embedding layer (label -1) as the first column.
        chunk_size: rows projected at once (rows x d_vocab float32 logits in memory).

    Raises:
        ValueError: ``acts`` and ``queries`` differ in length, ``resid`` was not captured,
            or ``top`` / ``candidates`` are not positive.
        interp.seq2seq.NotApplicable: ``model`` is an encoder-decoder (the subject token's
            residual stream is the encoder's, never trained against the unembedding; see
            :data:`interp.seq2seq.ATTRIBUTES_REASON`). The sweep records the unit as skipped.
    """
    if model.is_encoder_decoder:
        from interp.seq2seq import ATTRIBUTES_REASON, NotApplicable

        raise NotApplicable(f"attribute rate (Fig. 2) of {model.name!r}: {ATTRIBUTES_REASON}")
    if len(acts) != len(queries):
        raise ValueError(f"attribute_rates: acts has {len(acts)} prompts but queries has {len(queries)}")
    if acts.resid is None:
        raise ValueError("attribute_rates: acts.resid was not captured (capture(..., keep=('resid', ...)))")
    if top < 1 or candidates < 1:
        raise ValueError(f"attribute_rates: top ({top}) and candidates ({candidates}) must be >= 1")
    sets = attributes.sets if isinstance(attributes, SubjectAttributes) else attributes

    excluded: dict[str, None] = {}
    n_excluded = 0
    first: dict[tuple[int, str, int, str], int] = {}  # one projection per distinct prompt
    for i, q in enumerate(queries):
        if not sets.get(q.subject):
            excluded.setdefault(q.subject, None)
            n_excluded += 1
            continue
        first.setdefault((q.prompt_index, q.relation, q.pattern_index, q.subject), i)
    keys = list(first)
    idx = [first[k] for k in keys]
    resid = acts.resid if include_embeddings else acts.resid[:, 1:]
    layers = tuple(([EMBEDDING_LAYER] if include_embeddings else []) + list(range(model.n_layers)))
    if resid.shape[1] != len(layers):
        raise ValueError(f"attribute_rates: acts.resid has {resid.shape[1]} layers, model "
                         f"{model.name!r} expects {len(layers)}: was it captured with this model?")
    L = len(layers)

    if idx:
        vecs = resid[torch.tensor(idx)].reshape(len(idx) * L, -1)  # all layers projected together
        kept = _kept_top_tokens(model, vecs, top=top, candidates=candidates, normed=normed,
                                chunk_size=chunk_size)
    else:
        kept = []
    n_short = sum(len(k) < top for k in kept)
    prompt_rates = np.array([_rate(k, sets[keys[r // L][3]]) for r, k in enumerate(kept)],
                            dtype=float).reshape(len(idx), L)

    by_item: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r, (_, rel, _, subj) in enumerate(keys):
        by_item[(rel, subj)].append(r)
    items = tuple(by_item)
    item_rates = np.array([_nanmean(prompt_rates[rows]) for rows in by_item.values()],
                          dtype=float).reshape(len(items), L)
    rate, per_rel = _aggregate(items, item_rates, n_boot=n_boot, seed=seed)
    prompt_indices = {q.prompt_index for q in queries}
    return AttributeRates(
        model=model.name, normed=normed, top=top, layers=layers, rate=rate, per_relation=per_rel,
        items=items, item_rates=tuple(tuple(float(v) for v in row) for row in item_rates),
        n_queries=len(queries), n_distinct_prompts=len(idx), excluded_subjects=tuple(excluded),
        n_excluded_queries=n_excluded, n_short=n_short,
        prompt_index=prompt_indices.pop() if len(prompt_indices) == 1 else None,
    )


# ============================================================================================
# Registration (interp.registry): Fig. 2


def _unit(job: Any) -> AttributeRates:
    model, cfg = job.model, job.cfg
    if model.is_encoder_decoder:  # before any Wikipedia look-up: skipped, with the reason
        from interp.seq2seq import ATTRIBUTES_REASON, NotApplicable

        raise NotApplicable(f"attribute rate (Fig. 2) of {model.name!r}: {ATTRIBUTES_REASON}")
    if cfg.wikipedia is None:
        raise ValueError("no Wikipedia snippet cache configured ([sweep] wikipedia = DIR)")
    queries = job.items
    attrs = subject_attributes(model.tokenizer, [q.subject for q in queries], cache_dir=cfg.wikipedia,
                               offline=cfg.wikipedia_offline)
    return attribute_rates(model, job.acts["subject"], queries, attrs, normed=cfg.lens == "normed",
                           n_boot=job.n_boot, seed=job.seed)


def _register() -> None:
    from interp.analysis import Analysis, Needs
    from interp.registry import register

    register(Analysis("attributes", ("pararel",), AttributeRates, _unit, needs=Needs({"subject": ("resid",)}),
                      pool=lambda rs, job: AttributeRates.pool(rs, n_boot=job.n_boot, seed=job.seed),
                      options=("lens",), sections=("fig2", "findings", "base_vs_ift")))


_register()
