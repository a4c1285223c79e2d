"""Attention knockout on the factual-recall path (Geva et al. 2023, §5), split by consistent vs
inconsistent PARAREL queries: causal evidence for the paper's "why" (§4's extraction story).

For each PARAREL query and each window of ``k`` layers (:func:`interp.knockout.windows`: one
window centred on each layer, clipped at the ends; ``k`` from :func:`interp.knockout.window_size`:
9 for 30+ layers as Geva et al., else ``round(0.3 L)``), the attention edges from the last position
to one set of tokens are blocked in every head of the window's layers (pre-softmax,
:mod:`interp.knockout`):

* ``subject``: the tokens overlapping the subject's characters;
* ``non_subject``: every other token before the last, except the first (BOS / attention sink);
* ``last``: the last position itself.

The measure is Geva et al.'s: the relative drop ``(p - p~) / p`` in the probability of o*, the
model's top-1 next token of the unablated forward (not the candidate-restricted PARAREL answer:
knockout asks what the *forward* needs to produce its prediction, and a multi-token object has no
single probability to track). 1 = the prediction's probability vanishes, 0 = unchanged, negative
= it rose.

Per window: the mean drop over queries with a 95% percentile cluster bootstrap over PARAREL items
``(relation, fact)`` (:func:`interp.stats.ratio_bootstrap_ci`, the same resamples at every
window), for all queries, the ``consistent`` / ``inconsistent`` queries
(:func:`interp.analyses.consistency.query_consistent`), the ``correct`` / ``incorrect`` ones (the
consistency result's candidate-restricted predictions), and per relation. ``[limits]
knockout_max_queries`` keeps whole items, taken round-robin over relations in a seeded order, up
to half of them inconsistent items (so both sides of the split have queries), in the same seeded
order for every model and prompt, so base and IFT share most items (the paired test uses those); ``knockout_max_windows`` keeps
that many window centres evenly spread over the layers. Pooling concatenates the prompts' queries
(an item's queries under every prompt share its cluster).

Example:
    >>> r = knockout_from_drops("m", 4, 3, [(0, 1), (0, 1, 2)], [0, 1], np.zeros((2, 3, 2)),
    ...                         ["P1|0", "P1|0"], ["P1", "P1"], correct=[True, False],
    ...                         consistent=[True, True], n_boot=100)
    >>> r.curve("subject").mean, sorted(r.curves)
    ((0.0, 0.0), ['all', 'consistent', 'correct', 'inconsistent', 'incorrect'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from jaxtyping import Float

from interp.serial import Serializable, dump
from interp.stats import ratio_bootstrap_ci

#: the blocked token sets (Geva et al.'s Fig. 7 lines)
SETS: tuple[str, ...] = ("subject", "non_subject", "last")
SET_LABELS = {"subject": "subject → last", "non_subject": "non-subject → last", "last": "last → last"}
TARGET = "o*: top-1 next token of the unablated forward"
UNIT = "(relation, fact) items"


@dataclass(frozen=True)
class DropCurve(Serializable):
    """Mean relative drop per window with its 95% cluster-bootstrap interval; ``n`` queries of
    ``n_items`` items (NaN curves when ``n == 0``)."""

    mean: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    n: int
    n_items: int


def drop_curve(drops: Float[np.ndarray, "n w"], clusters: Sequence[str], *, n_boot: int,
               seed: int) -> DropCurve:
    """The curve of per-query drops ``[n_queries, n_windows]``, items resampled.

    >>> drop_curve(np.array([[1.0, 0.0], [0.0, 0.0]]), ["a", "b"], n_boot=50, seed=0).mean
    (0.5, 0.0)
    """
    d = np.asarray(drops, dtype=float)
    w = d.shape[1] if d.ndim == 2 else 0
    if len(d) == 0:
        nan = tuple([math.nan] * w)
        return DropCurve(nan, nan, nan, 0, 0)
    codes: dict[str, int] = {}
    idx = np.array([codes.setdefault(c, len(codes)) for c in clusters])
    num = np.zeros((len(codes), w))
    np.add.at(num, idx, d)
    ivs = ratio_bootstrap_ci(num, np.bincount(idx).astype(float), n_boot=n_boot, seed=seed)
    return DropCurve(tuple(i.estimate for i in ivs), tuple(i.low for i in ivs),
                     tuple(i.high for i in ivs), len(d), len(codes))


@dataclass(frozen=True)
class Knockouts(Serializable):
    """Attention-knockout curves of one model (one prompt, or pooled).

    ``windows[w]`` are the layers of window ``w`` (centred on layer ``centres[w]``), ``k`` the
    window size. ``curves[split][set]`` and ``relations[relation][set]`` are
    :class:`DropCurve` s. Per query (stored as arrays beside the payload): ``drops[i, s, w]``,
    ``clean[i]`` (p(o*) unablated) and ``target[i]`` (o*'s token id); ``clusters``, ``relation``,
    ``masks`` (split -> per-query flags) name them. ``n_available``: the queries before the
    ``knockout_max_queries`` limit.
    """

    model: str
    n_layers: int
    k: int
    windows: tuple[tuple[int, ...], ...]
    centres: tuple[int, ...]
    curves: Mapping[str, Mapping[str, DropCurve]]
    relations: Mapping[str, Mapping[str, DropCurve]]
    clusters: tuple[str, ...]
    relation: tuple[str, ...]
    masks: Mapping[str, tuple[bool, ...]]
    n_available: int
    prompt_index: int | None = None
    target: str = TARGET
    interval: str = f"cluster bootstrap over {UNIT}"
    drops: Any = field(default=None, repr=False, compare=False)
    clean: Any = field(default=None, repr=False, compare=False)
    token: Any = field(default=None, repr=False, compare=False)

    def curve(self, block: str = "subject", split: str = "all") -> DropCurve:
        return self.curves[split][block]

    def to_dict(self) -> dict[str, Any]:
        """The payload: every field but the per-query arrays (:meth:`to_stored` keeps them apart)."""
        return {k: dump(getattr(self, k)) for k in _PAYLOAD}

    def to_stored(self) -> tuple[dict, dict]:
        return self.to_dict(), {"drops": np.asarray(self.drops, dtype=np.float32),
                                "clean": np.asarray(self.clean, dtype=np.float32),
                                "token": np.asarray(self.token, dtype=np.int64)}

    @classmethod
    def from_stored(cls, payload: Mapping[str, Any], arrays: Mapping[str, Any]) -> "Knockouts":
        return replace(cls.from_dict(payload), **{k: None if arrays.get(k) is None else np.asarray(arrays[k])
                                                  for k in _ARRAYS})


_ARRAYS = ("drops", "clean", "token")
_PAYLOAD = tuple(f.name for f in fields(Knockouts) if f.name not in _ARRAYS)


def knockout_from_drops(
    model: str, n_layers: int, k: int, windows: Sequence[Sequence[int]], centres: Sequence[int],
    drops: Float[np.ndarray, "n sets w"], clusters: Sequence[str], relation: Sequence[str], *,
    correct: Sequence[bool] | None = None, consistent: Sequence[bool] | None = None,
    clean: Sequence[float] | None = None, token: Sequence[int] | None = None,
    n_available: int | None = None, prompt_index: int | None = None, n_boot: int = 1000, seed: int = 0,
) -> Knockouts:
    """The curves of per-query drops ``[n_queries, len(SETS), n_windows]`` for every split and
    relation (see the module docstring)."""
    d = np.asarray(drops, dtype=float)
    n = len(d)
    if d.ndim != 3 or d.shape[1] != len(SETS) or d.shape[2] != len(windows) or len(clusters) != n:
        raise ValueError(f"drops of shape {d.shape} for {len(clusters)} queries, {len(windows)} windows")
    masks: dict[str, tuple[bool, ...]] = {}
    for name, m, neg in (("correct", correct, "incorrect"), ("consistent", consistent, "inconsistent")):
        if m is not None:
            flags = tuple(bool(x) for x in m)
            if len(flags) != n:
                raise ValueError(f"{name}: {len(flags)} flags for {n} queries")
            masks[name], masks[neg] = flags, tuple(not x for x in flags)
    cl = np.asarray(list(clusters), dtype=object)

    def curves(sel: np.ndarray) -> dict[str, DropCurve]:
        return {s: drop_curve(d[sel, j], list(cl[sel]), n_boot=n_boot, seed=seed) for j, s in enumerate(SETS)}
    everything = np.ones(n, dtype=bool)
    by_split = {"all": curves(everything), **{s: curves(np.array(m, dtype=bool)) for s, m in masks.items()}}
    rel = np.asarray(list(relation), dtype=object)
    by_rel = {r: curves(rel == r) for r in dict.fromkeys(relation)}
    return Knockouts(model, n_layers, k, tuple(tuple(int(x) for x in w) for w in windows),
                     tuple(int(c) for c in centres), by_split, by_rel, tuple(map(str, clusters)),
                     tuple(map(str, relation)), masks, n if n_available is None else n_available,
                     prompt_index, drops=d, clean=np.full(n, np.nan) if clean is None else np.asarray(clean, dtype=float),
                     token=np.zeros(n, dtype=np.int64) if token is None else np.asarray(token))


def pool_knockouts(results: Sequence[Knockouts], *, n_boot: int = 1000, seed: int = 0) -> Knockouts:
    """The queries of several prompts' results as one (same model and windows)."""
    first = results[0]
    if any(r.windows != first.windows for r in results) or any(r.drops is None for r in results):
        raise ValueError("pool_knockouts: results with different windows or without per-query drops")
    shared = [s for s in ("correct", "consistent") if all(s in r.masks for r in results)]
    cat = lambda name: [x for r in results for x in getattr(r, name)]  # noqa: E731
    flags = {s: [x for r in results for x in r.masks[s]] for s in shared}
    return knockout_from_drops(
        first.model, first.n_layers, first.k, first.windows, first.centres,
        np.concatenate([r.drops for r in results]), cat("clusters"), cat("relation"),
        correct=flags.get("correct"), consistent=flags.get("consistent"),
        clean=np.concatenate([r.clean for r in results]), token=np.concatenate([r.token for r in results]),
        n_available=sum(r.n_available for r in results), n_boot=n_boot, seed=seed)


# ============================================================================================
# Which queries, which tokens


def select_items(queries: Sequence[Any], max_queries: int | None, seed: int = 0,
                 consistent: Sequence[bool] | None = None) -> list[int]:
    """Indices of the queries kept under ``max_queries``: whole items ``(relation, fact)``, taken
    round-robin over relations (each relation's items in a seeded order) while the total stays
    within the limit (at least one item); every query when ``None``. With ``consistent`` (per
    query, :func:`interp.analyses.consistency.query_consistent`) up to half of the limit goes to
    inconsistent items first, so the consistent / inconsistent split has queries on both sides
    even when a model is mostly consistent (items are taken in the same seeded order for every
    model, so base and IFT share most of them).

    >>> from types import SimpleNamespace as Q
    >>> qs = [Q(relation=r, fact_index=f) for r in ("P1", "P2") for f in (0, 1) for _ in range(2)]
    >>> sorted(select_items(qs, 4))
    [0, 1, 4, 5]
    >>> sorted(select_items(qs, 4, consistent=[True] * 6 + [False] * 2))  # P2 fact 1 is inconsistent
    [0, 1, 6, 7]
    """
    if max_queries is None or max_queries >= len(queries):
        return list(range(len(queries)))
    if consistent is None:
        return _round_robin(queries, list(range(len(queries))), max_queries, seed)
    bad = [i for i, c in enumerate(consistent) if not c]
    good = [i for i, c in enumerate(consistent) if c]
    keep = _round_robin(queries, bad, max_queries // 2 if good else max_queries, seed, allow_none=bool(good))
    rest = _round_robin(queries, good, max_queries - len(keep), seed, allow_none=bool(keep)) if good else []
    return sorted(keep + rest)


def _round_robin(queries: Sequence[Any], among: Sequence[int], limit: int, seed: int,
                 allow_none: bool = False) -> list[int]:
    """Whole items of the queries ``among``, round-robin over relations in a seeded order, at most
    ``limit`` queries (at least one item unless ``allow_none``)."""
    items: dict[str, dict[int, list[int]]] = {}
    for i in among:
        q = queries[i]
        items.setdefault(q.relation, {}).setdefault(q.fact_index, []).append(i)
    rng = np.random.default_rng(seed)
    order = {r: [facts[f] for f in rng.permutation(sorted(facts)).tolist()] for r, facts in items.items()}
    keep: list[int] = []
    for rank in range(max((len(v) for v in order.values()), default=0)):
        for r in order:
            if rank < len(order[r]):
                group = order[r][rank]
                if (keep or allow_none) and len(keep) + len(group) > limit:
                    return sorted(keep)
                keep += group
    return sorted(keep)


def token_sets(model: Any, prompt: str, span: Any) -> tuple[list[int], dict[str, tuple[int, ...]]]:
    """The prompt's token ids and the three blocked sets of :data:`SETS` (token indices).

    ``subject``: tokens overlapping the subject's characters (never the last); ``non_subject``:
    the rest before the last, except position 0; ``last``: the last position."""
    enc = model.encode(prompt, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    n = len(ids)
    subject = [t for t, (s, e) in enumerate(offsets[:n - 1]) if e > s and s < span.end and e > span.start]
    if not subject:
        raise ValueError(f"no token covers the subject {prompt[span.start:span.end]!r} in {prompt!r}")
    other = [t for t in range(1, n - 1) if t not in subject]
    return ids, {"subject": tuple(subject), "non_subject": tuple(other), "last": (n - 1,)}


def window_plan(n_layers: int, max_windows: int | None) -> tuple[int, list[tuple[int, ...]], list[int]]:
    """``(k, windows, centres)``: every layer's centred window, or ``max_windows`` centres evenly
    spread over the layers.

    >>> window_plan(30, 4)[0], window_plan(30, 4)[2]
    (9, [0, 10, 19, 29])
    """
    from interp.knockout import window_size, windows

    k = window_size(n_layers)
    centres = list(range(n_layers))
    if max_windows is not None and max_windows < n_layers:
        centres = sorted({int(round(x)) for x in np.linspace(0, n_layers - 1, max_windows)})
    every = windows(n_layers, k)
    return k, [every[c] for c in centres], centres


def relative_drop(clean: Float[np.ndarray, " n"], knocked: Float[np.ndarray, "n ..."]) -> np.ndarray:
    """``(p - p~) / p`` per query (``knocked`` has the query axis first).

    >>> relative_drop(np.array([0.5]), np.array([[0.25, 0.5, 1.0]])).tolist()
    [[0.5, 0.0, -1.0]]
    """
    p = np.asarray(clean, dtype=float)
    return (p.reshape((-1,) + (1,) * (np.ndim(knocked) - 1)) - np.asarray(knocked, dtype=float)) / p.reshape(
        (-1,) + (1,) * (np.ndim(knocked) - 1))


# ============================================================================================
# Registration (interp.registry)


def _unit(job: Any) -> Knockouts:
    from interp.analyses.consistency import query_consistent
    from interp.analyses.extraction import pararel_clusters
    from interp.knockout import Knockout, check_reachable, knockout_probs

    model, lim = job.model, job.limits
    check_reachable(model)  # before any work: a clear error naming the architecture
    queries, cons = job.items, job.result("consistency")
    consistent = query_consistent(queries, list(cons.predictions))
    keep = select_items(queries, lim.knockout_max_queries, job.seed, consistent=consistent)
    k, wins, centres = window_plan(model.n_layers, lim.knockout_max_windows)
    ids, conds = [], []
    for i in keep:
        tok, sets = token_sets(model, queries[i].prompt, queries[i].subject_span)
        ids.append(tok)
        conds.append([Knockout(w, sets[s]) for s in SETS for w in wins])
    out = job.timed("knockout_s", lambda: knockout_probs(model, ids, conds, batch_size=job.cfg.batch_size))
    knocked = out.probs.numpy().reshape(len(keep), len(SETS), len(wins))
    clean = out.clean.numpy()
    sel = [queries[i] for i in keep]
    return knockout_from_drops(
        model.name, model.n_layers, k, wins, centres, relative_drop(clean, knocked), pararel_clusters(sel),
        [q.relation for q in sel], correct=[cons.correct[i] for i in keep],
        consistent=[consistent[i] for i in keep], clean=clean, token=out.target.numpy(),
        n_available=len(queries), prompt_index=int(job.prompt), n_boot=job.n_boot, seed=job.seed)


def _register() -> None:
    from interp.analysis import Analysis, Needs
    from interp.registry import register

    register(Analysis("knockout", ("pararel",), Knockouts, _unit, needs=Needs(),
                      requires=("consistency",), limits=("knockout_max_queries", "knockout_max_windows"),
                      pool=lambda rs, job: pool_knockouts(rs, n_boot=job.n_boot, seed=job.seed),
                      sections=("knockout",)))


_register()
