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
* The curves of small models are sparse (many layers exactly 0), so each layer keeps its event
  count and a Wilson 95% interval, which stays informative at 0 events.
* Optional splits (beyond the paper): ``correct`` / ``incorrect`` and ``consistent`` /
  ``inconsistent`` queries, from per-query masks the caller computes (e.g. from the consistency
  analysis), so this module does not depend on how correctness or consistency is scored.
* Prompts: :meth:`ExtractionRates.pool` sums the events of several prompts (the paper's average
  over three contexts, weighted by queries).

Example:
    >>> acts = capture(model, [q.prompt for q in qs],
    ...                positions={"last": "last", "subject": [q.subject_span for q in qs]})  # doctest: +SKIP
    >>> res = extraction_rates(model, acts["last"])  # doctest: +SKIP
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

import numpy as np
import torch
from jaxtyping import Bool, Int
from scipy.stats import binomtest
from torch import Tensor

from interp import lens
from interp.capture import Activations
from interp.models import Model
from interp.stats import Interval, adjust_p, nan_to_none, none_to_nan, pearson

BLOCKS = ("mhsa", "mlp")
DEFAULT_NORMED = lens.DEFAULT_NORMED
CONFIDENCE = 0.95


@dataclass(frozen=True)
class EventRates:
    """Extraction events of one block over one set of queries: ``counts[l]`` of ``n``."""

    counts: tuple[int, ...]
    n: int

    @property
    def rates(self) -> list[float]:
        """Fraction of queries with an event, per layer (NaN when ``n == 0``)."""
        return [c / self.n if self.n else math.nan for c in self.counts]

    @property
    def intervals(self) -> list[Interval]:
        """Per layer, the rate with its Wilson 95% interval."""
        out = []
        for c in self.counts:
            if self.n == 0:
                out.append(Interval(math.nan, math.nan, math.nan, 0, CONFIDENCE))
                continue
            ci = binomtest(int(c), self.n).proportion_ci(CONFIDENCE, method="wilson")
            out.append(Interval(c / self.n, float(ci.low), float(ci.high), self.n, CONFIDENCE))
        return out

    def to_dict(self) -> dict:
        ivs = self.intervals
        return {"counts": list(self.counts), "n": self.n,
                "rates": [nan_to_none(r) for r in self.rates],
                "low": [nan_to_none(iv.low) for iv in ivs],
                "high": [nan_to_none(iv.high) for iv in ivs]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "EventRates":
        return cls(tuple(int(c) for c in d["counts"]), int(d["n"]))


@dataclass(frozen=True)
class ExtractionRates:
    """MHSA and MLP extraction rates per layer for one model (Fig. 5 / Fig. 8).

    ``splits[split][block]`` with ``block`` in ``("mhsa", "mlp")`` and ``split`` in ``"all"``
    and, when masks were given, ``"correct"``, ``"incorrect"``, ``"consistent"``,
    ``"inconsistent"``. Layer ``l`` is block ``l`` (0-based).
    """

    model: str
    n_layers: int
    normed: bool
    splits: Mapping[str, Mapping[str, EventRates]]
    prompt_index: int | None = None

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

    def to_dict(self) -> dict:
        return {"model": self.model, "n_layers": self.n_layers, "normed": self.normed,
                "prompt_index": self.prompt_index,
                "splits": {s: {b: ev.to_dict() for b, ev in blocks.items()}
                           for s, blocks in self.splits.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "ExtractionRates":
        return cls(model=d["model"], n_layers=int(d["n_layers"]), normed=bool(d["normed"]),
                   prompt_index=d.get("prompt_index"),
                   splits={s: {b: EventRates.from_dict(ev) for b, ev in blocks.items()}
                           for s, blocks in d["splits"].items()})

    @classmethod
    def pool(cls, results: Sequence["ExtractionRates"]) -> "ExtractionRates":
        """Events of several prompts of one model summed (splits present in every result)."""
        if not results:
            raise ValueError("ExtractionRates.pool: no results")
        first = results[0]
        for r in results[1:]:
            if (r.model, r.n_layers, r.normed) != (first.model, first.n_layers, first.normed):
                raise ValueError("ExtractionRates.pool: results differ in model, n_layers or normed "
                                 f"({first.model!r} vs {r.model!r})")
        shared = [s for s in first.splits if all(s in r.splits for r in results)]
        splits = {
            s: {b: EventRates(tuple(int(sum(c)) for c in zip(*(r.splits[s][b].counts for r in results))),
                              sum(r.splits[s][b].n for r in results))
                for b in BLOCKS}
            for s in shared
        }
        return cls(first.model, first.n_layers, first.normed, splits, prompt_index=None)


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
    top = lens.argmax(model, both, normed=normed, chunk_size=chunk_size)
    return events_from_ids(acts.logits.argmax(-1), {"mhsa": top[:, :L], "mlp": top[:, L:]})


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
) -> ExtractionRates:
    """Per-layer event counts of each block, for all queries and the optional splits.

    Example:
        >>> ev = {"mhsa": torch.tensor([[True, False], [True, True]]),
        ...       "mlp": torch.tensor([[False, False], [False, True]])}
        >>> r = rates_from_events(ev, correct=[True, False])
        >>> r.rates("mhsa"), r.rates("mlp", "correct")
        ([1.0, 0.5], [0.0, 0.0])
    """
    if set(events) != set(BLOCKS):
        raise ValueError(f"events: expected blocks {BLOCKS}, got {sorted(events)}")
    n, L = events["mhsa"].shape
    if events["mlp"].shape != (n, L):
        raise ValueError(f"events: mhsa {list(events['mhsa'].shape)} vs mlp {list(events['mlp'].shape)}")
    selections: dict[str, Tensor] = {"all": torch.ones(n, dtype=torch.bool)}
    for name, mask, neg in (("correct", correct, "incorrect"), ("consistent", consistent, "inconsistent")):
        m = _mask(name, mask, n)
        if m is not None:
            selections[name], selections[neg] = m, ~m
    splits = {
        s: {b: EventRates(tuple(int(c) for c in events[b][sel].sum(0).tolist()),
                          int(sel.sum()))
            for b in BLOCKS}
        for s, sel in selections.items()
    }
    return ExtractionRates(model, L, normed, splits, prompt_index)


def extraction_rates(
    model: Model,
    acts: Activations,
    *,
    normed: bool = DEFAULT_NORMED,
    correct: Sequence[bool] | Tensor | None = None,
    consistent: Sequence[bool] | Tensor | None = None,
    prompt_index: int | None = None,
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
    """
    events = extraction_events(model, acts, normed=normed, chunk_size=chunk_size)
    return rates_from_events(events, model=model.name, normed=normed, correct=correct,
                             consistent=consistent, prompt_index=prompt_index)


@dataclass(frozen=True)
class CorrelationRow:
    """Pearson r of one block and layer's extraction rate against consistency, across models."""

    block: str
    layer: int
    r: float
    p_value: float
    n: int
    q_value: float = math.nan


@dataclass(frozen=True)
class CorrelationTable:
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
    split: str
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

    def to_dict(self) -> dict:
        return {"models": list(self.models), "consistency": [nan_to_none(c) for c in self.consistency],
                "split": self.split, "alpha": self.alpha, "reason": self.reason,
                "dropped": list(self.dropped), "correction": self.correction,
                "rows": [{"block": r.block, "layer": r.layer, "r": nan_to_none(r.r),
                          "p_value": nan_to_none(r.p_value), "q_value": nan_to_none(r.q_value), "n": r.n}
                         for r in self.rows]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CorrelationTable":
        return cls(models=tuple(d["models"]),
                   consistency=tuple(none_to_nan(c) for c in d["consistency"]),
                   split=d["split"], alpha=float(d["alpha"]), reason=d.get("reason"),
                   dropped=tuple(d.get("dropped", ())), correction=d.get("correction", "bh"),
                   rows=tuple(CorrelationRow(r["block"], int(r["layer"]), none_to_nan(r["r"]),
                                             none_to_nan(r["p_value"]), int(r["n"]),
                                             none_to_nan(r.get("q_value")))
                              for r in d["rows"]))


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
