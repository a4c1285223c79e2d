"""Extraction rates of MHSA and MLP per layer (Fig. 5, Fig. 8) and their correlation with
PARAREL consistency across models (Table 7); Section 4 and Appendix F of the paper.

At the last prompt position, o* is the model's final top-1 token. Layer ``l`` has an MHSA
extraction event when ``argmax(E a_l) == o*`` and an MLP event when ``argmax(E f_l) == o*``, with
a_l / f_l the updates actually added to the residual stream (``attn_out`` / ``mlp_out`` of
:func:`interp.capture.capture`). The rate per layer is the fraction of queries with an event.

Decisions (named in the result):

* Lens: ``normed=False`` by default, the raw update projected with the unembedding, as the
  paper's reference code and Geva et al. (2023); ``normed=True`` applies the final norm first.
* Queries are counted as given: a PARAREL subject repeated with another object is the same prompt
  and counts once per tuple (each tuple is its own item, as in the consistency analysis).
* Intervals: the queries of one PARAREL item (its paraphrases, and under pooling its prompts)
  are not independent, so each layer's 95% interval is a percentile cluster bootstrap over
  (relation, fact) items of events / queries (:func:`interp.stats.ratio_bootstrap_ci`, seeded,
  the same resampled items at every layer, block and split); the per-query events are stored
  compactly (:class:`QueryEvents`). Results stored without them fall back to Wilson intervals
  over queries taken as independent; the result's ``interval`` says which. The curves of small
  models are sparse (many layers exactly 0), so each layer also keeps its event count.
* Optional splits (beyond the paper): ``correct`` / ``incorrect`` and ``consistent`` /
  ``inconsistent`` queries, from per-query masks the caller computes (e.g. from the consistency
  analysis), so this module does not depend on how correctness or consistency is scored.
* Prompts: :meth:`ExtractionRates.pool` concatenates the queries of several prompts (the paper's
  average over three contexts, weighted by queries); an item's queries under every prompt share
  its cluster, so pooling does not narrow the intervals by treating prompts as independent.

Example:
    >>> acts = capture(model, [q.prompt for q in qs],
    ...                positions={"last": "last", "subject": [q.subject_span for q in qs]})  # doctest: +SKIP
    >>> res = extraction_rates(model, acts["last"], clusters=pararel_clusters(qs))  # doctest: +SKIP
    >>> res.peak("mhsa")  # (layer, rate, count)  # doctest: +SKIP
    >>> table = extraction_consistency_correlation(
    ...     {"ift-a": res_a, "ift-b": res_b, "ift-c": res_c},
    ...     {"ift-a": 0.61, "ift-b": 0.55, "ift-c": 0.70})  # doctest: +SKIP
    >>> [(row.block, row.layer) for row in table.significant]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, get_args

import numpy as np
import torch
from jaxtyping import Bool, Int
from scipy.stats import binomtest
from torch import Tensor

from interp import lens
from interp.capture import Activations
from interp.models import Model
from interp.serial import Block, Serializable, Split, dump
from interp.stats import Interval, adjust_p, pearson, ratio_bootstrap_ci

BLOCKS: tuple[Block, ...] = get_args(Block)
DEFAULT_NORMED = lens.DEFAULT_NORMED
CONFIDENCE = 0.95


WILSON = "wilson (queries independent)"
PARAREL_UNIT = "(relation, fact) items"
QUERY_UNIT = "queries"


def interval_method(unit: str | None) -> str:
    """The interval label a result records: a cluster bootstrap over ``unit``, or Wilson (None)."""
    return WILSON if unit is None else f"cluster bootstrap over {unit}"


@dataclass(frozen=True)
class ClusterCounts:
    """Per-cluster event counts of one block over one set of queries: the rows the cluster
    bootstrap resamples (``events[c][l]`` events at layer ``l`` among the ``sizes[c]`` queries of
    cluster ``c``)."""

    events: tuple[tuple[int, ...], ...]
    sizes: tuple[int, ...]
    unit: str = PARAREL_UNIT
    n_boot: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class EventRates(Serializable):
    """Extraction events of one block over one set of queries: ``counts[l]`` of ``n``.

    ``clusters`` (per-cluster counts) is set when the per-query events are known; the intervals
    then come from a cluster bootstrap, else from Wilson (queries taken as independent).
    """

    counts: tuple[int, ...]
    n: int
    clusters: ClusterCounts | None = None

    @property
    def rates(self) -> list[float]:
        """Fraction of queries with an event, per layer (NaN when ``n == 0``)."""
        return [c / self.n if self.n else math.nan for c in self.counts]

    @property
    def peak(self) -> tuple[int, float, int] | None:
        """``(layer, rate, events)`` of the layer with the most events (the first on ties), or
        ``None`` without layers."""
        if not self.counts:
            return None
        j = max(range(len(self.counts)), key=lambda i: self.counts[i])
        return j, self.rates[j], self.counts[j]

    @property
    def n_layers_with_events(self) -> int:
        return sum(c > 0 for c in self.counts)

    @property
    def interval(self) -> str:
        """How :attr:`intervals` are computed (:func:`interval_method`)."""
        return interval_method(None if self.clusters is None else self.clusters.unit)

    @cached_property
    def intervals(self) -> list[Interval]:
        """Per layer, the rate with its 95% interval: a percentile cluster bootstrap of
        events / queries over resampled clusters (:func:`interp.stats.ratio_bootstrap_ci`, the
        same resamples at every layer; ``Interval.n`` = clusters) when ``clusters`` is set, else
        Wilson over ``n`` independent queries (results stored without per-query events). A layer
        with no event (or only events) would get a zero-width bootstrap interval, which claims a
        certainty the data do not have: it gets the Wilson interval of 0 (or all) of the number of
        clusters instead (the effective sample size is at most the clusters)."""
        if self.n == 0:
            return [Interval(math.nan, math.nan, math.nan, 0, CONFIDENCE) for _ in self.counts]
        if self.clusters is not None:
            c = self.clusters
            boot = ratio_bootstrap_ci(np.asarray(c.events, dtype=float).reshape(len(c.sizes), -1),
                                      c.sizes, n_boot=c.n_boot, confidence=CONFIDENCE, seed=c.seed)
            m = len(c.sizes)
            out = []
            for k, iv in zip(self.counts, boot):
                if k in (0, self.n):
                    ci = binomtest(m if k else 0, m).proportion_ci(CONFIDENCE, method="wilson")
                    iv = Interval(k / self.n, float(ci.low), float(ci.high), m, CONFIDENCE)
                out.append(iv)
            return out
        out = []
        for k in self.counts:
            ci = binomtest(int(k), self.n).proportion_ci(CONFIDENCE, method="wilson")
            out.append(Interval(k / self.n, float(ci.low), float(ci.high), self.n, CONFIDENCE))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Own shape: the counts plus the derived rates and interval bounds the report reads."""
        ivs = self.intervals
        return dump({"counts": self.counts, "n": self.n, "interval": self.interval, "rates": self.rates,
                     "low": [iv.low for iv in ivs], "high": [iv.high for iv in ivs]})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EventRates":
        """Counts only (Wilson intervals); :meth:`ExtractionRates.from_dict` restores the
        cluster counts from the result's per-query events."""
        return cls(tuple(int(c) for c in d["counts"]), int(d["n"]))


@dataclass(frozen=True)
class QueryEvents(Serializable):
    """Per-query extraction events of one result (one prompt, or several pooled), stored once for
    every split: ``clusters[i]`` is query ``i``'s independent unit (e.g. ``"P36|12"``, its
    PARAREL item; a prompt's queries of one item, and the item's queries under other prompts,
    share it), ``layers[block][i]`` the layers where ``block`` has an event, ``masks[split][i]``
    whether query ``i`` is in ``split`` (every split but ``"all"``). ``unit`` names a cluster.

    Serialised compactly: layer lists per query and one ``"0"``/``"1"`` string per split mask.
    """

    clusters: tuple[str, ...]
    layers: Mapping[Block, tuple[tuple[int, ...], ...]]
    masks: Mapping[Split, tuple[bool, ...]]
    unit: str = PARAREL_UNIT

    def __post_init__(self) -> None:
        n = len(self.clusters)
        bad = {f"layers[{b}]": len(v) for b, v in self.layers.items() if len(v) != n}
        bad |= {f"masks[{s}]": len(v) for s, v in self.masks.items() if len(v) != n}
        if set(self.layers) != set(BLOCKS):
            raise ValueError(f"QueryEvents: blocks {sorted(self.layers)}; expected {BLOCKS}")
        if bad:
            raise ValueError(f"QueryEvents: {n} queries (clusters) but lengths {bad}")

    @classmethod
    def from_events(cls, events: Mapping[str, Bool[Tensor, "n n_layers"]], clusters: Sequence[str],
                    masks: Mapping[str, Tensor], unit: str) -> "QueryEvents":
        """From per-query x layer event matrices and per-query masks."""
        layers = {b: tuple(tuple(int(l) for l in row.nonzero().flatten().tolist())
                           for row in torch.as_tensor(events[b])) for b in BLOCKS}
        return cls(tuple(str(c) for c in clusters), layers,
                   {s: tuple(bool(v) for v in m.tolist()) for s, m in masks.items()}, unit)

    @classmethod
    def concat(cls, parts: Sequence["QueryEvents"]) -> "QueryEvents":
        """The queries of several results, in order (masks: the splits every part has)."""
        units = {p.unit for p in parts}
        if len(units) != 1:
            raise ValueError(f"QueryEvents.concat: different cluster units {sorted(units)}")
        shared = [s for s in parts[0].masks if all(s in p.masks for p in parts)]
        return cls(tuple(c for p in parts for c in p.clusters),
                   {b: tuple(q for p in parts for q in p.layers[b]) for b in BLOCKS},
                   {s: tuple(v for p in parts for v in p.masks[s]) for s in shared}, units.pop())

    def splits(self, n_layers: int, *, n_boot: int, seed: int) -> dict[str, dict[str, EventRates]]:
        """``{split: {block: EventRates}}`` with per-cluster counts (clusters in first-seen order,
        so the same clusters resample alike in every split, block and pooled result)."""
        codes: dict[str, int] = {}
        idx = np.array([codes.setdefault(c, len(codes)) for c in self.clusters], dtype=int)
        n = len(idx)
        selections = {"all": np.ones(n, dtype=bool), **{s: np.array(m, dtype=bool).reshape(n)
                                                         for s, m in self.masks.items()}}
        matrices = {b: self.matrix(b, n_layers) for b in BLOCKS}
        out: dict[str, dict[str, EventRates]] = {}
        for s, sel in selections.items():
            sizes = np.bincount(idx[sel], minlength=len(codes))
            keep = sizes > 0
            out[s] = {}
            for b in BLOCKS:
                per = np.zeros((len(codes), n_layers), dtype=int)
                np.add.at(per, idx[sel], matrices[b][sel])
                cc = ClusterCounts(tuple(map(tuple, per[keep].tolist())),
                                   tuple(sizes[keep].tolist()), self.unit, n_boot, seed)
                out[s][b] = EventRates(tuple(per.sum(0).tolist()), int(sel.sum()), cc)
        return out

    def matrix(self, block: str, n_layers: int) -> np.ndarray:
        """``[n_queries, n_layers]`` 0/1 events of ``block``."""
        m = np.zeros((len(self.clusters), n_layers), dtype=int)
        for i, layers in enumerate(self.layers[block]):
            m[i, list(layers)] = 1
        return m

    def to_dict(self) -> dict[str, Any]:
        """Own shape (compact): one layer list per query under each block, one 0/1 string per mask."""
        return {"unit": self.unit, "clusters": list(self.clusters),
                **{b: [list(q) for q in self.layers[b]] for b in BLOCKS},
                "masks": {s: "".join("1" if v else "0" for v in m) for s, m in self.masks.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "QueryEvents":
        return cls(tuple(d["clusters"]), {b: tuple(tuple(int(l) for l in q) for q in d[b]) for b in BLOCKS},
                   {s: tuple(ch == "1" for ch in m) for s, m in d["masks"].items()}, d["unit"])


@dataclass(frozen=True)
class ExtractionRates(Serializable):
    """MHSA and MLP extraction rates per layer for one model (Fig. 5 / Fig. 8).

    ``splits[split][block]`` with ``block`` in ``("mhsa", "mlp")`` and ``split`` in ``"all"``
    and, when masks were given, ``"correct"``, ``"incorrect"``, ``"consistent"``,
    ``"inconsistent"``. Layer ``l`` is block ``l`` (0-based). ``queries`` holds the per-query
    events the splits are counted from (None for results stored without them: Wilson intervals);
    ``n_boot`` and ``seed`` drive its cluster bootstrap.
    """

    model: str
    n_layers: int
    normed: bool
    splits: Mapping[Split, Mapping[Block, EventRates]]
    prompt_index: int | None = None
    queries: QueryEvents | None = None
    n_boot: int = 1000
    seed: int = 0

    @classmethod
    def from_queries(cls, model: str, n_layers: int, normed: bool, queries: QueryEvents, *,
                     prompt_index: int | None = None, n_boot: int = 1000,
                     seed: int = 0) -> "ExtractionRates":
        """The result whose splits are counted from ``queries`` (cluster-bootstrap intervals)."""
        return cls(model, n_layers, normed, queries.splits(n_layers, n_boot=n_boot, seed=seed),
                   prompt_index, queries, n_boot, seed)

    @property
    def interval(self) -> str:
        """How the intervals are computed: ``"cluster bootstrap over <unit>"`` or ``WILSON``."""
        return interval_method(None if self.queries is None else self.queries.unit)

    def get(self, block: str = "mhsa", split: str = "all") -> EventRates:
        """The events of ``block`` in ``split``, with a clear error for unknown names."""
        if split not in self.splits:
            raise ValueError(f"{self.model}: no split {split!r}; available: {sorted(self.splits)}")
        if block not in self.splits[split]:
            raise ValueError(f"unknown block {block!r}; use one of {BLOCKS}")
        return self.splits[split][block]

    def rates(self, block: str = "mhsa", split: str = "all") -> list[float]:
        """The per-layer rates of ``block`` (the curve of Fig. 5 for MHSA, Fig. 8 for MLP)."""
        return self.get(block, split).rates

    def peak(self, block: str = "mhsa", split: str = "all") -> tuple[int, float, int]:
        """``(layer, rate, count)`` of the highest rate (the first such layer on ties)."""
        ev = self.get(block, split)
        if ev.n == 0 or not ev.counts:
            return (0, math.nan, 0)
        layer = int(np.argmax(ev.counts))
        return layer, ev.counts[layer] / ev.n, ev.counts[layer]

    def to_dict(self) -> dict[str, Any]:
        """Own shape: the derived ``interval`` label, and the per-query events (with ``n_boot`` and
        ``seed``) only when set (older payloads have neither)."""
        d = {"model": self.model, "n_layers": self.n_layers, "normed": self.normed,
             "prompt_index": self.prompt_index, "interval": self.interval, "splits": dump(self.splits)}
        if self.queries is not None:
            d |= {"n_boot": self.n_boot, "seed": self.seed, "queries": self.queries.to_dict()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ExtractionRates":
        """The result of :meth:`to_dict`; a payload without ``"queries"`` (older results) keeps
        its counts with Wilson intervals."""
        if d.get("queries") is not None:
            return cls.from_queries(d["model"], int(d["n_layers"]), bool(d["normed"]),
                                    QueryEvents.from_dict(d["queries"]),
                                    prompt_index=d.get("prompt_index"),
                                    n_boot=int(d.get("n_boot", 1000)), seed=int(d.get("seed", 0)))
        return cls(model=d["model"], n_layers=int(d["n_layers"]), normed=bool(d["normed"]),
                   prompt_index=d.get("prompt_index"),
                   splits={s: {b: EventRates.from_dict(ev) for b, ev in blocks.items()}
                           for s, blocks in d["splits"].items()})

    @classmethod
    def pool(cls, results: Sequence["ExtractionRates"], *, n_boot: int | None = None,
             seed: int | None = None) -> "ExtractionRates":
        """Several prompts of one model pooled (splits present in every result).

        With per-query events in every result, their queries are concatenated, so a cluster's
        queries from all prompts are resampled together (pooling three identical prompts gives
        the one prompt's intervals); otherwise the counts are summed (Wilson). ``n_boot`` and
        ``seed`` default to the first result's.
        """
        if not results:
            raise ValueError("ExtractionRates.pool: no results")
        first = results[0]
        for r in results[1:]:
            if (r.model, r.n_layers, r.normed) != (first.model, first.n_layers, first.normed):
                raise ValueError("ExtractionRates.pool: results differ in model, n_layers or normed "
                                 f"({first.model!r} vs {r.model!r})")
        n_boot = first.n_boot if n_boot is None else n_boot
        seed = first.seed if seed is None else seed
        if all(r.queries is not None for r in results):
            return cls.from_queries(first.model, first.n_layers, first.normed,
                                    QueryEvents.concat([r.queries for r in results]),
                                    n_boot=n_boot, seed=seed)
        shared = [s for s in first.splits if all(s in r.splits for r in results)]
        splits = {
            s: {b: EventRates(tuple(int(sum(c)) for c in zip(*(r.splits[s][b].counts for r in results))),
                              sum(r.splits[s][b].n for r in results))
                for b in BLOCKS}
            for s in shared
        }
        return cls(first.model, first.n_layers, first.normed, splits, prompt_index=None)


def pararel_clusters(queries: Sequence[Any]) -> list[str]:
    """Each PARAREL query's independent unit, its item ``"relation|fact_index"`` (the paraphrases
    of one fact, under every prompt, share it).

    Example:
        >>> from types import SimpleNamespace as Q
        >>> pararel_clusters([Q(relation="P36", fact_index=12), Q(relation="P36", fact_index=3)])
        ['P36|12', 'P36|3']
    """
    return [f"{q.relation}|{q.fact_index}" for q in queries]


def events_from_ids(
    predictions: Int[Tensor, " n"],
    top_ids: Mapping[str, Int[Tensor, "n n_layers"]],
) -> dict[str, Bool[Tensor, "n n_layers"]]:
    """Extraction events: ``top_ids[block][i, l] == predictions[i]`` for each block.

    Example:
        >>> ev = events_from_ids(torch.tensor([7, 3]), {"mhsa": torch.tensor([[7, 1], [3, 3]])})
        >>> ev["mhsa"].tolist()
        [[True, False], [True, True]]
    """
    preds = torch.as_tensor(predictions)
    out = {}
    for block, ids in top_ids.items():
        ids = torch.as_tensor(ids)
        if ids.ndim != 2 or ids.shape[0] != preds.shape[0]:
            raise ValueError(f"top_ids[{block!r}]: expected shape [{preds.shape[0]}, n_layers], "
                             f"got {list(ids.shape)}")
        out[block] = ids == preds[:, None]
    return out


def extraction_events(
    model: Model,
    acts: Activations,
    *,
    normed: bool = DEFAULT_NORMED,
    chunk_size: int = 256,
) -> dict[str, Bool[Tensor, "n n_layers"]]:
    """Per query and layer, whether MHSA / MLP extracts o* (``{"mhsa": ..., "mlp": ...}``).

    ``acts`` is the capture at the last prompt position (``acts["last"]``) with ``attn_out``,
    ``mlp_out`` and ``logits``. All layers of both blocks are projected in one batched call
    (``chunk_size`` rows x d_vocab logits at a time).
    """
    missing = [k for k in ("attn_out", "mlp_out", "logits") if getattr(acts, k) is None]
    if missing:
        raise ValueError(f"extraction_events: acts lacks {missing}: capture with "
                         "keep=('attn_out', 'mlp_out', ...) and logits=True")
    n, L = acts.attn_out.shape[:2]
    if L != model.n_layers or acts.mlp_out.shape[1] != L:
        raise ValueError(f"extraction_events: acts has {L} layers, model {model.name!r} has "
                         f"{model.n_layers}: was it captured with this model?")
    both = torch.cat([acts.attn_out, acts.mlp_out], dim=1)  # [n, 2L, d]
    preds = acts.logits.argmax(-1)
    # exactly events_from_ids(preds, lens.argmax(...)), deciding most rows by a witness
    hit = lens.is_argmax(model, both, preds[:, None], normed=normed, chunk_size=chunk_size)
    return {"mhsa": hit[:, :L], "mlp": hit[:, L:]}


def _mask(name: str, mask: Sequence[bool] | Tensor | None, n: int) -> Tensor | None:
    if mask is None:
        return None
    m = torch.as_tensor(np.asarray(mask))
    if m.ndim != 1 or m.shape[0] != n:
        raise ValueError(f"{name}: expected one value per query ({n}), got shape {list(m.shape)}")
    if m.dtype != torch.bool:
        if not torch.all((m == 0) | (m == 1)):
            raise ValueError(f"{name}: expected booleans (or 0/1), got other values")
        m = m.bool()
    return m


def rates_from_events(
    events: Mapping[str, Bool[Tensor, "n n_layers"]],
    *,
    model: str = "model",
    normed: bool = DEFAULT_NORMED,
    correct: Sequence[bool] | Tensor | None = None,
    consistent: Sequence[bool] | Tensor | None = None,
    prompt_index: int | None = None,
    clusters: Sequence[str] | None = None,
    unit: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> ExtractionRates:
    """Per-layer event counts of each block, for all queries and the optional splits, with the
    per-query events kept for cluster-bootstrap intervals.

    ``clusters``: each query's independent unit (:func:`pararel_clusters`); None makes each query
    its own cluster, named by its position (so pooling prompts over the same query list keeps a
    query's prompts together). ``unit`` names a cluster (default :data:`PARAREL_UNIT` with
    ``clusters``, :data:`QUERY_UNIT` without).

    Example:
        >>> ev = {"mhsa": torch.tensor([[True, False], [True, True]]),
        ...       "mlp": torch.tensor([[False, False], [False, True]])}
        >>> r = rates_from_events(ev, correct=[True, False], clusters=["P1|0", "P1|0"])
        >>> r.rates("mhsa"), r.rates("mlp", "correct"), r.interval
        ([1.0, 0.5], [0.0, 0.0], 'cluster bootstrap over (relation, fact) items')
    """
    if set(events) != set(BLOCKS):
        raise ValueError(f"events: expected blocks {BLOCKS}, got {sorted(events)}")
    n, L = events["mhsa"].shape
    if events["mlp"].shape != (n, L):
        raise ValueError(f"events: mhsa {list(events['mhsa'].shape)} vs mlp {list(events['mlp'].shape)}")
    if clusters is not None and len(clusters) != n:
        raise ValueError(f"clusters: expected one per query ({n}), got {len(clusters)}")
    masks: dict[str, Tensor] = {}
    for name, mask, neg in (("correct", correct, "incorrect"), ("consistent", consistent, "inconsistent")):
        m = _mask(name, mask, n)
        if m is not None:
            masks[name], masks[neg] = m, ~m
    if unit is None:
        unit = QUERY_UNIT if clusters is None else PARAREL_UNIT
    ids = [f"q{i}" for i in range(n)] if clusters is None else clusters
    queries = QueryEvents.from_events(events, ids, masks, unit)
    return ExtractionRates.from_queries(model, L, normed, queries, prompt_index=prompt_index,
                                        n_boot=n_boot, seed=seed)


def extraction_rates(
    model: Model,
    acts: Activations,
    *,
    normed: bool = DEFAULT_NORMED,
    correct: Sequence[bool] | Tensor | None = None,
    consistent: Sequence[bool] | Tensor | None = None,
    prompt_index: int | None = None,
    clusters: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    chunk_size: int = 256,
) -> ExtractionRates:
    """MHSA and MLP extraction rates per layer (Fig. 5 / Fig. 8) from the last-position capture.

    Args:
        model: the captured model (its unembedding is used; no forward is run).
        acts: ``acts["last"]`` of the PARAREL capture (``attn_out``, ``mlp_out``, ``logits``).
        normed: apply the final norm before the unembedding (default False, as the paper).
        correct, consistent: optional per-query masks, one per prompt of ``acts``, for the
            correct/incorrect and consistent/inconsistent splits.
        prompt_index: Table 3's prompt, recorded in the result.
        clusters: per query, its PARAREL item (:func:`pararel_clusters`), the unit the interval
            bootstrap resamples; None: each query its own cluster.
        n_boot, seed: the cluster bootstrap's resamples and seed.
    """
    events = extraction_events(model, acts, normed=normed, chunk_size=chunk_size)
    return rates_from_events(events, model=model.name, normed=normed, correct=correct,
                             consistent=consistent, prompt_index=prompt_index, clusters=clusters,
                             n_boot=n_boot, seed=seed)


@dataclass(frozen=True)
class CorrelationRow(Serializable):
    """Pearson r of one block and layer's extraction rate against consistency, across models."""

    block: Block
    layer: int
    r: float
    p_value: float
    n: int
    q_value: float = math.nan


@dataclass(frozen=True)
class CorrelationTable(Serializable):
    """Table 7: per block and layer, Pearson r and p across models.

    ``q_value`` of each row is its p-value adjusted for every test of the table (2 blocks x all
    layers) by ``correction`` (``"bh"``: Benjamini-Hochberg false discovery rate, ``"holm"``:
    family-wise error; :func:`interp.stats.adjust_p`). ``nominal`` lists the rows with
    ``p <= alpha`` (what the paper's Table 7 lists, uncorrected); ``significant`` those with
    ``q <= alpha``. ``reason`` is set (and ``rows`` empty) when no correlation can be computed:
    fewer than 3 models, or models with different numbers of layers. ``dropped`` names models
    left out because their consistency is undefined (NaN).
    """

    models: tuple[str, ...]
    consistency: tuple[float, ...]
    split: Split
    alpha: float
    rows: tuple[CorrelationRow, ...] = ()
    reason: str | None = None
    dropped: tuple[str, ...] = ()
    correction: str = "bh"

    @property
    def nominal(self) -> tuple[CorrelationRow, ...]:
        """The rows with uncorrected ``p <= alpha`` (the rows the paper's Table 7 lists)."""
        return tuple(r for r in self.rows if not math.isnan(r.p_value) and r.p_value <= self.alpha)

    @property
    def significant(self) -> tuple[CorrelationRow, ...]:
        """The rows with adjusted ``q <= alpha`` (significant after multiple-testing correction)."""
        return tuple(r for r in self.rows if not math.isnan(r.q_value) and r.q_value <= self.alpha)

    @property
    def n_tests(self) -> int:
        """The tests the table's q-values are adjusted over (layers with a p-value, both blocks)."""
        return sum(not math.isnan(r.p_value) for r in self.rows)

    @property
    def expected_false_positives(self) -> float:
        """Rows expected at uncorrected ``p <= alpha`` by chance alone (``n_tests * alpha``)."""
        return self.n_tests * self.alpha

    def significant_layers(self, block: str) -> list[int]:
        return [r.layer for r in self.significant if r.block == block]

    def format(self) -> str:
        """Table 7 as text: the nominally significant rows with their adjusted q, or the reason
        there are none."""
        if self.reason:
            return self.reason
        lines = [f"{'Block':6s} {'Layer':>5s} {'Pearson':>8s} {'P-value':>8s} {'q (' + self.correction + ')':>9s}"]
        lines += [f"{r.block.upper():6s} {r.layer:5d} {r.r:8.3f} {r.p_value:8.3f} {r.q_value:9.3f}"
                  for r in self.nominal]
        if len(lines) == 1:
            lines.append(f"(no layer with p <= {self.alpha})")
        return "\n".join(lines)


def extraction_consistency_correlation(
    rates: Mapping[str, ExtractionRates],
    consistency: Mapping[str, float],
    *,
    alpha: float = 0.05,
    split: str = "all",
    correction: str = "bh",
) -> CorrelationTable:
    """Table 7: Pearson r and p-value (scipy) between the models' extraction rates and their
    PARAREL consistency, per block and layer, with p adjusted over all the table's tests
    (``correction``: "bh" or "holm").

    The paper correlates its IFT models (same architecture); pass those. Models in
    ``consistency`` but not in ``rates`` are ignored; a model whose consistency is NaN is dropped
    and named. Fewer than 3 models, or models with different layer counts, give a table whose
    ``reason`` says why, with no numbers.

    Raises:
        ValueError: a model of ``rates`` has no consistency, or lacks ``split``.

    Example:
        >>> t = extraction_consistency_correlation({"a": ra, "b": rb}, {"a": 0.5, "b": 0.6})  # doctest: +SKIP
        >>> t.reason  # doctest: +SKIP
        'Pearson correlation needs at least 3 models; got 2 (a, b)'
    """
    missing = [m for m in rates if m not in consistency]
    if missing:
        raise ValueError(f"consistency: no value for model(s) {missing}")
    for m, r in rates.items():
        r.get("mhsa", split)  # raises for an unknown split
    dropped = tuple(m for m in rates if math.isnan(float(consistency[m])))
    models = tuple(m for m in rates if m not in dropped)
    cons = tuple(float(consistency[m]) for m in models)
    if correction not in ("bh", "holm"):
        raise ValueError(f"correction {correction!r}: use 'bh' or 'holm'")
    table = dict(models=models, consistency=cons, split=split, alpha=alpha, dropped=dropped,
                 correction=correction)
    if len(models) < 3:
        note = f"; dropped (undefined consistency): {', '.join(dropped)}" if dropped else ""
        return CorrelationTable(**table, reason=(
            f"Pearson correlation needs at least 3 models; got {len(models)} "
            f"({', '.join(models) or 'none'}){note}"))
    layer_counts = {m: rates[m].n_layers for m in models}
    if len(set(layer_counts.values())) > 1:
        return CorrelationTable(**table, reason=(
            "models have different numbers of layers "
            f"({', '.join(f'{m}: {n}' for m, n in layer_counts.items())}); correlate only models "
            "of one architecture (the paper: LLaMA's IFT variants)"))
    rows = []
    for block in BLOCKS:
        per_model = np.array([rates[m].rates(block, split) for m in models], dtype=float)  # [M, L]
        for layer in range(per_model.shape[1]):
            x = per_model[:, layer]
            if np.isnan(x).any():  # a model with no query in this split
                rows.append(CorrelationRow(block, layer, math.nan, math.nan, len(models)))
                continue
            c = pearson(x, cons)
            rows.append(CorrelationRow(block, layer, c.r, c.p_value, c.n))
    qs = adjust_p([r.p_value for r in rows], correction)
    rows = [replace(r, q_value=q) for r, q in zip(rows, qs)]
    return CorrelationTable(**table, rows=tuple(rows))


# ============================================================================================
# Registration (interp.registry): Fig. 5 / 8 (and Table 7 through interp.summaries)


def _unit(job: Any) -> ExtractionRates:
    from interp.analyses.consistency import query_consistent

    queries, cons = job.items, job.result("consistency")
    return extraction_rates(job.model, job.acts["last"], correct=list(cons.correct),
                            consistent=query_consistent(queries, list(cons.predictions)),
                            prompt_index=int(job.prompt), normed=job.cfg.lens == "normed",
                            clusters=pararel_clusters(queries), n_boot=job.n_boot, seed=job.seed)


def _register() -> None:
    from interp.analysis import Analysis, Needs
    from interp.registry import register

    register(Analysis("extraction", ("pararel",), ExtractionRates, _unit,
                      needs=Needs({"last": ("resid", "attn_out", "mlp_out")}), requires=("consistency",),
                      pool=lambda rs, job: ExtractionRates.pool(rs, n_boot=job.n_boot, seed=job.seed),
                      options=("lens",), sections=("fig5", "fig8", "table7")))


_register()
