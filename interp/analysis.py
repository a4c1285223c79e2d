"""The analysis contract: what an analysis, a dataset and a cross-model summary declare.

``config`` (which names are valid), ``sweep`` (which units and jobs exist), ``pipeline`` (what one
forward keeps, what runs, what is pooled) and ``provenance`` (which settings change a unit's
numbers) all derive from these declarations in :mod:`interp.registry`; nothing else lists
analyses. The shapes imitate lm-evaluation-harness's ``Task`` (a declaration plus the functions
that compute it) and TransformerLens's one-adapter-per-family factory (one :class:`Dataset` per
dataset, which knows how to turn its records into one model's prompts).

Three kinds of declarations:

* :class:`Analysis` — a per-model unit ``(model, dataset, analysis, prompt)``: ``compute`` gets a
  :class:`JobInputs` (the model, the dataset's prepared prompts, the activations of the job's one
  forward restricted to what every analysis of the job :class:`Needs`, and the results of the
  analyses it ``requires``) and returns its result; ``pool`` combines the per-prompt results into
  the unit ``prompt="all"``.
* :class:`Dataset` — how a dataset enters a sweep: how to load it under the config's limits and
  how to turn it into one model's prompts and the positions to capture.
* :class:`Summary` — a unit computed from other stored units across models (base-vs-IFT tests,
  Table 7's correlation across IFT models), stored under the pseudo-model :data:`SWEEP`.

Example: the smallest analysis, the mean norm of the last token's final representation (the
full recipe is in CONTRIBUTING.md)::

    from dataclasses import dataclass
    from interp.analysis import Analysis, Needs
    from interp.registry import register
    from interp.serial import Serializable

    @dataclass(frozen=True)
    class MeanNorm(Serializable):
        value: float

    register(Analysis(
        name="mean_norm", datasets=("mrpc",), result=MeanNorm,
        compute=lambda job: MeanNorm(float(job.acts.final.norm(dim=-1).mean())),
        needs=Needs(), bootstrap=False))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from interp.results import SWEEP, UnitKey

#: the hook points a job may keep at a position (see :class:`interp.capture.Activations`)
HookPoint = Literal["resid", "attn_out", "mlp_out"]
#: the dataset name of summaries that read several datasets
ALL_DATASETS = "_all"

R = TypeVar("R")
P = TypeVar("P")


@dataclass(frozen=True)
class Skipped:
    """A unit whose analysis is not defined for its model (e.g. Fig. 2 for an encoder-decoder,
    :class:`interp.seq2seq.NotApplicable`), stored as ``{"skipped": reason}`` so a rerun does not
    try again and the report lists it."""

    reason: str

    def to_dict(self) -> dict:
        return {"skipped": self.reason}

    @classmethod
    def of(cls, payload: Any) -> "Skipped | None":
        """The :class:`Skipped` a stored payload is, or ``None`` for a computed result."""
        if isinstance(payload, Mapping) and len(payload) == 1 and isinstance(payload.get("skipped"), str):
            return cls(payload["skipped"])
        return None


def skipped_reason(payload: Any) -> str | None:
    """The reason a stored unit was skipped (``{"skipped": reason}``), or ``None`` for a
    computed result."""
    s = Skipped.of(payload)
    return s.reason if s is not None else None


@dataclass(frozen=True)
class Needs:
    """What an analysis needs from its job's one forward: the hook points kept at each named
    position of the dataset (``{"last": ("resid",)}``) and the positions whose final logits are
    kept. A job captures the union of the needs of the analyses it computes.

    >>> Needs({"last": ("resid",)}).merge(Needs({"last": ("mlp_out",)}, logits=("last",)))
    Needs(keep={'last': ('resid', 'mlp_out')}, logits=('last',))
    """

    keep: Mapping[str, tuple[HookPoint, ...]] = field(default_factory=dict)
    logits: tuple[str, ...] = ()

    def merge(self, other: "Needs") -> "Needs":
        keep = {k: tuple(v) for k, v in self.keep.items()}
        for k, v in other.keep.items():
            keep[k] = tuple(dict.fromkeys((*keep.get(k, ()), *v)))
        return Needs(keep, tuple(dict.fromkeys((*self.logits, *other.logits))))


@dataclass(frozen=True)
class Prepared:
    """One model's prompts of a dataset for one prompt index: the prompts, the named positions to
    capture (``None``: the last token only) and the dataset's own items (e.g. the PARAREL queries
    or the paraphrase sets), which analyses read."""

    prompts: Sequence[Any]
    positions: Mapping[str, Any] | None = None
    items: Any = None


@dataclass(frozen=True)
class Dataset:
    """How a dataset enters a sweep.

    Attributes:
        name: the config's ``[datasets]`` key and the unit key's dataset.
        load: ``(cfg, path)`` -> the records under the config's ``[limits]`` (``path`` is None for
            "download"); called once per sweep process.
        prepare: ``(job)`` -> :class:`Prepared` for the job's model and prompt index; ``None`` for a
            dataset whose analyses run the model themselves (MMLU's letter scores, BECEL's
            classifiers).
        limits: the ``[limits]`` keys that change the numbers of its units (provenance).
        variants: ``(cfg)`` -> the variants run as separate jobs with prompt "all" (BECEL's
            tasks, in the unit key's ``extra``); ``None``: one job per prompt index, plus a pooled
            unit for the analyses that ``pool``.
    """

    name: str
    load: Callable[[Any, str | None], Any]
    prepare: Callable[["JobInputs"], Prepared] | None = None
    limits: tuple[str, ...] = ()
    variants: Callable[[Any], Sequence[str]] | None = None

    def parts(self, cfg: Any) -> list[tuple[int | str, str]]:
        """``(prompt, extra)`` of each per-model job, which a pooled unit pools over: one per
        prompt index, or ``("all", variant)`` per variant.

        >>> from types import SimpleNamespace as C
        >>> Dataset("d", load=print).parts(C(prompts=(0, 2)))
        [(0, ''), (2, '')]
        """
        if self.variants is not None:
            return [("all", v) for v in self.variants(cfg)]
        return [(p, "") for p in cfg.prompts]


@dataclass(frozen=True)
class Analysis(Generic[R, P]):
    """A per-model analysis.

    Attributes:
        name: the unit key's analysis (one name may be registered for several datasets).
        datasets: the datasets it reads.
        result: its per-prompt result class (``to_dict`` / ``from_dict``).
        compute: ``(job)`` -> the result; raise :class:`interp.seq2seq.NotApplicable` when the
            analysis is not defined for the model (the unit is stored as skipped, with why).
        needs: what it needs captured (or ``(cfg) -> Needs`` when that depends on the config).
        requires: analyses of the same job whose results it reads with ``job.result(name)``.
        pool: ``(results, job)`` -> the unit pooled over prompts (``prompt="all"``), or ``None``.
        pooled_result: the pooled unit's class (default ``result``).
        options: ``[sweep]`` options that change its numbers (provenance).
        limits: ``[limits]`` keys of its own that change its numbers (provenance), beyond its
            dataset's (``Dataset.limits``, which every analysis of the dataset has).
        bootstrap: its per-prompt unit draws a bootstrap (``n_boot`` is in its provenance);
            its pooled unit always does.
        sections: the report sections that render it.
    """

    name: str
    datasets: tuple[str, ...]
    result: type[R]
    compute: Callable[["JobInputs"], R]
    needs: Needs | Callable[[Any], Needs] = field(default_factory=Needs)
    requires: tuple[str, ...] = ()
    pool: Callable[[Sequence[R], "JobInputs"], P] | None = None
    pooled_result: type[P] | None = None
    options: tuple[str, ...] = ()
    limits: tuple[str, ...] = ()
    bootstrap: bool = True
    sections: tuple[str, ...] = ()

    def needs_for(self, cfg: Any) -> Needs:
        return self.needs(cfg) if callable(self.needs) else self.needs

    def result_class(self, pooled: bool) -> type:
        return (self.pooled_result or self.result) if pooled else self.result


@dataclass(frozen=True)
class Summary(Generic[R]):
    """A cross-model unit ``(SWEEP, dataset, name, "all")`` computed from stored units.

    Attributes:
        inputs: ``(cfg)`` -> the stored units it reads (its provenance is their fingerprints).
        compute: ``(cfg, units)`` -> the result, ``units`` mapping each input key to its
            :class:`interp.results.StoredUnit` (absent when not stored).
    """

    name: str
    result: type[R]
    inputs: Callable[[Any], Sequence[UnitKey]]
    compute: Callable[[Any, Mapping[UnitKey, Any]], R]
    dataset: str = ALL_DATASETS
    sections: tuple[str, ...] = ()

    @property
    def key(self) -> UnitKey:
        return UnitKey(SWEEP, self.dataset, self.name, "all")


class JobInputs:
    """What an analysis's ``compute`` (and ``pool``) receives: one model on one dataset at one
    prompt index (or variant), built lazily so a job loads, prepares and captures only what the
    analyses it runs use.

    Attributes:
        cfg: the :class:`~interp.config.SweepConfig`; ``limits``, ``seed``, ``n_boot`` its parts.
        dataset: the :class:`Dataset`; ``prompt`` the prompt index (``"all"`` when pooling or for
            a variant); ``extra`` the variant.
    """

    def __init__(self, cfg: Any, dataset: Dataset, prompt: int | str, extra: str = "", *,
                 model: Callable[[], Any] | None = None,
                 records: Callable[[], Any] | None = None,
                 needs: Needs | None = None,
                 result: Callable[[str], Any] | None = None,
                 timings: dict[str, float] | None = None) -> None:
        self.cfg, self.dataset, self.prompt, self.extra = cfg, dataset, prompt, extra
        self.limits, self.seed, self.n_boot = cfg.limits, cfg.seed, cfg.limits.n_boot
        self._model, self._records, self._result = model, records, result
        self.needs = needs or Needs()
        self.timings = timings if timings is not None else {}
        self._cache: dict[str, Any] = {}

    def _once(self, name: str, fn: Callable[[], Any], timed: str | None = None) -> Any:
        if name not in self._cache:
            t0 = time.perf_counter()
            self._cache[name] = fn()
            if timed:
                self.timings[timed] = round(time.perf_counter() - t0, 3)
        return self._cache[name]

    @property
    def model(self) -> Any:
        """The loaded, self-checked model."""
        if self._model is None:
            raise RuntimeError("this job has no model (a pooled job runs none)")
        return self._once("model", self._model)

    @property
    def records(self) -> Any:
        """The dataset's records under the config's limits."""
        if self._records is None:
            raise RuntimeError(f"no loader for {self.dataset.name}")
        return self._once("records", self._records)

    @property
    def prepared(self) -> Prepared:
        """The model's prompts of this dataset at this prompt index."""
        if self.dataset.prepare is None:
            raise RuntimeError(f"dataset {self.dataset.name} prepares no prompts")
        return self._once("prepared", lambda: self.dataset.prepare(self))

    @property
    def items(self) -> Any:
        return self.prepared.items

    @property
    def acts(self) -> Any:
        """The activations of the job's one forward: an :class:`~interp.capture.Activations`, or a
        dict of them by position name when the dataset names positions."""
        return self._once("acts", self._capture, timed="capture_s")

    def _capture(self) -> Any:
        from interp.capture import capture

        prep = self.prepared
        if prep.positions is None:
            keep = self.needs.keep.get("last", ())
            return capture(self.model, list(prep.prompts), keep=keep,
                           logits="last" in self.needs.logits, batch_size=self.cfg.batch_size)
        keep = {name: tuple(self.needs.keep.get(name, ())) for name in prep.positions}
        return capture(self.model, list(prep.prompts), positions=dict(prep.positions), keep=keep,
                       logits=[n for n in prep.positions if n in self.needs.logits],
                       batch_size=self.cfg.batch_size)

    def result(self, analysis: str) -> Any:
        """The result of ``analysis`` on this job (computed in this job, or read back from the
        store when fresh); the analysis must be in ``requires``."""
        if self._result is None:
            raise RuntimeError("no results available in this job")
        return self._result(analysis)

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, its seconds recorded in the units' timings as ``name``."""
        return self._once(f"timed:{name}", fn, timed=name)
