"""Jobs of a sweep: data -> prompts -> one capture -> every analysis that needs it -> the store.

A job computes the missing units of one (model, dataset, prompt). Every unit is saved the moment
it is computed (atomically), so an interrupted job loses at most the unit in progress. Units that
other units of the job depend on (PARAREL predictions) are read back from the store instead of
being recomputed, when they are fresh (:mod:`interp.provenance`). Each unit records its
provenance; a pooled unit computed from stale (kept) per-prompt units records them and is
marked stale itself.

Example:
    >>> from interp.config import load_config
    >>> from interp.sweep import plan
    >>> cfg = load_config("configs/demo.toml")  # doctest: +SKIP
    >>> ctx = Context(cfg)  # doctest: +SKIP
    >>> run_job(ctx, plan(cfg)[0], ResultStore(cfg.output))  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import logging
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from interp.config import SweepConfig
from interp.provenance import Provenance, stale_inputs_reason
from interp.results import ResultStore, UnitKey

log = logging.getLogger(__name__)

#: (dataset, analysis) pairs that also get a unit pooled over the prompts (prompt="all").
POOLED: dict[str, tuple[str, ...]] = {
    "pararel": ("consistency", "gap", "layer_gap", "relations", "attributes", "extraction"),
    "mrpc": ("gap",),
    "tapaco": ("gap",),
    "mmlu": ("spread",),
}


#: payload key of a unit whose analysis is not defined for its model (e.g. Fig. 2's attribute
#: rate for an encoder-decoder, :class:`interp.seq2seq.NotApplicable`): the unit is stored with
#: the reason, so a rerun does not try again, and the report lists it instead of a result.
SKIPPED = "skipped"


def skipped_reason(payload: Any) -> str | None:
    """The reason a stored unit was skipped (``{"skipped": reason}``), or ``None`` for a
    computed result."""
    if isinstance(payload, Mapping) and len(payload) == 1 and isinstance(payload.get(SKIPPED), str):
        return payload[SKIPPED]
    return None


def pooled_units(model: str, dataset: str, analyses: Sequence[str]) -> tuple[UnitKey, ...]:
    return tuple(UnitKey(model, dataset, a, "all") for a in POOLED.get(dataset, ())
                 if a in analyses)


class Context:
    """What jobs share: the config, the loaded model (one at a time), the loaded datasets and
    the :class:`~interp.provenance.Provenance` that decides which stored units are reused."""

    def __init__(self, cfg: SweepConfig, *, provenance: Provenance | None = None):
        self.cfg = cfg
        self.provenance = provenance if provenance is not None else Provenance(cfg)
        self._model: Any = None
        self._model_label: str | None = None
        self._data: dict[str, Any] = {}
        self.checks: dict[str, Any] = {}  # model label -> its SelfCheck
        self._failed: dict[str, Exception] = {}  # model label -> why it cannot be used
        self.skipped: list[tuple[str, str]] = []  # (unit, reason): not defined for its model

    def model(self, label: str) -> Any:
        """The loaded model ``label``, after its self-check (:mod:`interp.selfcheck`) passed.

        Raises the load or self-check error (again, without reloading, for later jobs)."""
        if label in self._failed:
            raise self._failed[label]
        if self._model_label != label:
            self.release()
            from interp.models import load_model

            mc = self.cfg.model(label)
            try:
                model = load_model(mc.spec, device=self.cfg.device, dtype=self.cfg.dtype,
                                   is_chat=mc.chat, name=mc.label)
                if label not in self.checks:
                    self.checks[label] = self.self_check(model).raise_if_failed()
            except Exception as e:
                self._failed[label] = e
                raise
            self._model, self._model_label = model, label
        return self._model

    def self_check(self, model: Any) -> Any:
        """Check the fast paths on a few of this sweep's own prompts: one per dataset and
        prompt format (PARAREL queries with their relation's candidates; MRPC/TAPACO sentences;
        one MMLU question per instruction)."""
        from interp import selfcheck

        prompts, candidates, letters = self_check_samples(self, model)
        log.info("self-check of %s on %d prompts", model.name,
                 sum(map(len, prompts.values())) + len(letters))
        result = selfcheck.verify(model, prompts, candidates=candidates, letters=letters)
        log.info("self-check of %s passed in %.1f s", model.name, result.seconds)
        return result

    def release(self) -> None:
        self._model, self._model_label = None, None
        gc.collect()

    def release_unless(self, next_model: str | None) -> None:
        if next_model != self._model_label:
            self.release()

    def path(self, dataset: str) -> str | None:
        p = self.cfg.datasets[dataset]
        return None if p == "download" else p

    def data(self, name: str, loader: Callable[[], Any]) -> Any:
        if name not in self._data:
            self._data[name] = loader()
        return self._data[name]

    # ----------------------------------------------------------------------------- datasets
    def relations(self) -> dict:
        from interp.data import pararel

        lim = self.cfg.limits
        return self.data("pararel", lambda: pararel.load(
            self.path("pararel"), relations=lim.pararel_relations))

    def mrpc_pairs(self) -> list:
        from interp.data import mrpc

        lim = self.cfg.limits
        pairs = self.data("mrpc", lambda: mrpc.load(self.path("mrpc"), split=lim.mrpc_split))
        return pairs[: lim.mrpc_max_pairs] if lim.mrpc_max_pairs else pairs

    def tapaco_sets(self) -> list:
        from interp.data import tapaco

        return self.data("tapaco", lambda: tapaco.load(
            self.path("tapaco"), limit_sets=self.cfg.limits.tapaco_max_sets))

    def mmlu_questions(self) -> list:
        from interp.data import mmlu

        lim = self.cfg.limits
        return self.data("mmlu", lambda: mmlu.load(self.path("mmlu"), split=lim.mmlu_split,
                                                   subjects=lim.mmlu_subjects, limit=lim.mmlu_limit))


#: sample prompts per dataset and prompt format, and candidates per PARAREL sample, of the
#: self-check (its cost: a few seconds per model on the demo's CPU models, see README)
SELF_CHECK_PROMPTS, SELF_CHECK_CANDIDATES = 1, 6


def self_check_samples(ctx: Context, model: Any) -> tuple[dict, dict, list]:
    """``(prompts, candidates, letters)`` for :func:`interp.selfcheck.verify` from the sweep's
    datasets. A dataset that cannot be read gives no sample (its jobs report the error)."""
    from interp.analyses import paraphrase_gap
    from interp.queries import pararel_queries

    cfg, n = ctx.cfg, SELF_CHECK_PROMPTS
    prompts: dict[str, list[str]] = {}
    candidates: dict[str, list[str]] = {}
    letters: list[str] = []
    builders = {
        "mrpc": lambda: paraphrase_gap.mrpc_inputs(ctx.mrpc_pairs()[:n]),
        "tapaco": lambda: paraphrase_gap.tapaco_inputs(ctx.tapaco_sets()[:1]),
    }
    for p in cfg.prompts:
        for name, build in builders.items():
            if name in cfg.datasets:
                try:
                    prompts[f"{name}, prompt {p}"] = build().prompts(model, p)[:n]
                except Exception as e:  # noqa: BLE001 - the dataset's own jobs report it
                    log.debug("self-check: no %s sample: %s", name, e)
        if "pararel" in cfg.datasets:
            try:
                rels = ctx.relations()
                qs = pararel_queries(model, rels, p, max_facts=1, seed=cfg.seed,
                                     casing=cfg.limits.pararel_casing,
                                     fact_order=cfg.limits.pararel_fact_selection)[:n]
            except Exception as e:  # noqa: BLE001
                log.debug("self-check: no PARAREL sample: %s", e)
                qs = []
            for q in qs:
                what = f"pararel {q.relation}, prompt {p}"
                cands = list(dict.fromkeys([q.object, *rels[q.relation].candidates]))
                prompts.setdefault(what, []).append(q.prompt)
                candidates[what] = cands[:SELF_CHECK_CANDIDATES]
        if "mmlu" in cfg.datasets:
            try:
                from interp.data.mmlu import subject_name
                from interp.prompts import mmlu_prompt

                q = ctx.mmlu_questions()[0]
                letters.append(mmlu_prompt(model, p, subject_name(q.subject), q.question,
                                           q.choices))
            except Exception as e:  # noqa: BLE001
                log.debug("self-check: no MMLU sample: %s", e)
    if not prompts and not letters:
        prompts = {"default": ["The capital of France is", "Rome is the capital of"]}
    return prompts, candidates, letters


def _config_slice(cfg: SweepConfig, key: UnitKey) -> dict:
    mc = cfg.model(key.model)
    return {"model": asdict(mc), "dataset": key.dataset,
            "dataset_path": cfg.datasets.get(key.dataset), "analysis": key.analysis,
            "prompt": key.prompt, "extra": key.extra, "limits": asdict(cfg.limits),
            "batch_size": cfg.batch_size, "representation": cfg.representation, "lens": cfg.lens,
            "device": cfg.device, "dtype": cfg.dtype, "source": cfg.source, "notes": list(cfg.notes)}


class _Job:
    """Bookkeeping of one job run: saves units, records timings and failures."""

    def __init__(self, ctx: Context, job: Any, store: ResultStore):
        self.ctx, self.job, self.store = ctx, job, store
        self.done: list[UnitKey] = []
        self.failed: list[tuple[str, str]] = []
        self.shared_s: dict[str, float] = {}
        #: unit -> the stale units it is computed from (pooled units under keep_stale)
        self.stale_inputs: dict[UnitKey, list[str]] = {}

    def missing(self, analysis: str) -> bool:
        """Whether a unit of ``analysis`` must be computed (missing, or stale and not kept)."""
        return any(u.analysis == analysis and self.to_run(u) for u in self.job.units)

    def to_run(self, key: UnitKey) -> bool:
        return self.ctx.provenance.needs_run(self.store, key)

    def fresh(self, key: UnitKey) -> bool:
        """Whether ``key`` is stored and fresh (so it may be used as an input)."""
        return self.ctx.provenance.state(self.store, key).status == "fresh"

    def key(self, analysis: str) -> UnitKey:
        return next(u for u in self.job.units if u.analysis == analysis)

    def wanted(self, analysis: str) -> bool:
        return any(u.analysis == analysis for u in self.job.units)

    def save(self, key: UnitKey, payload: dict, seconds: float,
             arrays: dict[str, np.ndarray] | None = None) -> None:
        check = self.ctx.checks.get(key.model)
        stale_inputs = self.stale_inputs.get(key, [])
        self.store.save(key, payload, config=_config_slice(self.ctx.cfg, key),
                        model_spec=self.ctx.cfg.model(key.model).spec, seed=self.ctx.cfg.seed,
                        timings={**self.shared_s, "analysis_s": round(seconds, 3)}, arrays=arrays,
                        self_check=None if check is None or self.job.pooled else check.to_dict(),
                        provenance=self.ctx.provenance.record(key, stale_inputs=stale_inputs),
                        stale=stale_inputs_reason(stale_inputs) if stale_inputs else None)
        self.done.append(key)

    def unit(self, analysis: str, compute: Callable[[], dict | tuple[dict, dict]]) -> None:
        """Compute and save ``analysis`` if it is part of the job and missing; a failure is
        recorded (with its reason) and does not stop the other units."""
        if not self.wanted(analysis) or not self.missing(analysis):
            return
        from interp.seq2seq import NotApplicable

        key = self.key(analysis)
        t0 = time.perf_counter()
        try:
            out = compute()
        except NotApplicable as e:  # not defined for this model: stored as skipped, counted
            self.skip(key, str(e), time.perf_counter() - t0)
            return
        except Exception as e:  # noqa: BLE001 - reported per unit, the sweep goes on
            log.warning("unit %s failed: %s", key, e)
            log.debug(traceback.format_exc())
            self.failed.append((str(key), f"{type(e).__name__}: {e}"))
            return
        payload, arrays = out if isinstance(out, tuple) else (out, None)
        self.save(key, payload, time.perf_counter() - t0, arrays)

    def skip(self, key: UnitKey, reason: str, seconds: float = 0.0) -> None:
        """Store ``key`` as skipped (its analysis is not defined for the model), with why."""
        log.info("unit %s skipped: %s", key, reason)
        self.ctx.skipped.append((str(key), reason))
        self.save(key, {SKIPPED: reason}, seconds)

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        self.shared_s[name] = round(time.perf_counter() - t0, 3)
        return out


# ------------------------------------------------------------------------------------ PARAREL


def _pararel_job(j: _Job) -> None:
    from interp.analyses import paraphrase_gap, relations
    from interp.analyses.attributes import attribute_rates
    from interp.analyses.consistency import ParaRelConsistency, pararel_consistency
    from interp.analyses.extraction import extraction_rates, pararel_clusters
    from interp.capture import capture
    from interp.queries import pararel_queries
    from interp.scoring import predict_pararel

    cfg, lim, p = j.ctx.cfg, j.ctx.cfg.limits, int(j.job.prompt)
    model = j.ctx.model(j.job.model)
    rels = j.ctx.relations()
    queries = pararel_queries(model, rels, p, max_facts=lim.pararel_max_facts, seed=cfg.seed,
                              casing=lim.pararel_casing, fact_order=lim.pararel_fact_selection)
    if not queries:
        raise ValueError("no PARAREL queries (no relation with a causal pattern and facts)")
    acts = j.timed("capture_s", lambda: capture(
        model, [q.prompt for q in queries],
        positions={"last": "last", "subject": [q.subject_span for q in queries]},
        keep={"last": ("resid", "attn_out", "mlp_out"), "subject": ("resid",)},
        logits=["last"], batch_size=cfg.batch_size))
    last, subj = acts["last"], acts["subject"]

    cons_key = j.key("consistency") if j.wanted("consistency") else None
    if cons_key is not None and j.fresh(cons_key):  # a stale (kept) one is not used as an input
        cons = ParaRelConsistency.from_dict(j.store.load(cons_key).payload)
    else:
        preds = j.timed("predict_s", lambda: predict_pararel(
            model, queries, last, candidates=rels, restrict=lim.pararel_restrict_candidates,
            batch_size=cfg.batch_size))
        cons = pararel_consistency(queries, preds, prompt_index=p, n_boot=lim.n_boot,
                                   seed=cfg.seed)
        j.unit("consistency", cons.to_dict)
    predictions = list(cons.predictions)
    correct = list(cons.correct)
    consistent = _query_consistent(queries, predictions)

    j.unit("gap", lambda: paraphrase_gap.table1_unit(
        last, paraphrase_gap.pararel_inputs(queries).sets, None,
        representation=cfg.representation, seed=cfg.seed, n_boot=lim.n_boot).to_dict())
    j.unit("layer_gap", lambda: paraphrase_gap.pararel_layer_gaps(
        last, queries, predictions, seed=cfg.seed, n_boot=lim.n_boot).to_dict())
    j.unit("relations", lambda: relations.relation_curves(
        last, queries, max_pairs=lim.relation_max_pairs, seed=cfg.seed, n_boot=lim.n_boot,
        model=model.name).to_dict())
    j.unit("extraction", lambda: extraction_rates(
        model, last, correct=correct, consistent=consistent, prompt_index=p,
        normed=cfg.lens == "normed", clusters=pararel_clusters(queries), n_boot=lim.n_boot,
        seed=cfg.seed).to_dict())

    def attributes() -> dict:
        if model.is_encoder_decoder:  # before any Wikipedia look-up: skipped, with the reason
            from interp.seq2seq import ATTRIBUTES_REASON, NotApplicable

            raise NotApplicable(f"attribute rate (Fig. 2) of {model.name!r}: {ATTRIBUTES_REASON}")
        if cfg.wikipedia is None:
            raise ValueError("no Wikipedia snippet cache configured ([sweep] wikipedia = DIR)")
        from interp.analyses.attributes import subject_attributes

        attrs = subject_attributes(model.tokenizer, [q.subject for q in queries],
                                   cache_dir=cfg.wikipedia, offline=cfg.wikipedia_offline)
        return attribute_rates(model, subj, queries, attrs, normed=cfg.lens == "normed",
                               n_boot=lim.n_boot, seed=cfg.seed).to_dict()

    j.unit("attributes", attributes)


def _query_consistent(queries: Sequence[Any], predictions: Sequence[str]) -> list[bool]:
    """A query is consistent when its prediction equals every paraphrase's prediction of its
    (relation, fact); queries of single-pattern relations count as consistent."""
    groups: dict[tuple[str, int], set[str]] = {}
    for q, pred in zip(queries, predictions):
        groups.setdefault((q.relation, q.fact_index), set()).add(pred)
    return [len(groups[(q.relation, q.fact_index)]) == 1 for q in queries]


# ------------------------------------------------------------------------ MRPC / TAPACO / MMLU


def _sentence_job(j: _Job) -> None:
    from interp.analyses import paraphrase_gap
    from interp.capture import capture

    cfg, p = j.ctx.cfg, int(j.job.prompt)
    model = j.ctx.model(j.job.model)
    if j.job.dataset == "mrpc":
        inputs = paraphrase_gap.mrpc_inputs(j.ctx.mrpc_pairs())
    else:
        inputs = paraphrase_gap.tapaco_inputs(j.ctx.tapaco_sets())
    keep = ("resid",) if cfg.representation == "pre_norm" else ()
    acts = j.timed("capture_s", lambda: capture(model, inputs.prompts(model, p), keep=keep,
                                                logits=False, batch_size=cfg.batch_size))
    j.unit("gap", lambda: paraphrase_gap.table1_unit(
        acts, inputs.sets, inputs.non_pairs, representation=cfg.representation, seed=cfg.seed,
        n_boot=cfg.limits.n_boot).to_dict())


def _mmlu_job(j: _Job) -> None:
    from interp.analyses.consistency import mmlu_setups
    from interp.data.mmlu import subject_name
    from interp.prompts import mmlu_prompt
    from interp.scoring import mmlu_letter_logprobs

    cfg, p = j.ctx.cfg, int(j.job.prompt)
    model = j.ctx.model(j.job.model)
    questions = j.ctx.mmlu_questions()
    if not questions:
        raise ValueError("no MMLU questions (check [limits] mmlu_subjects)")

    def compute() -> tuple[dict, dict]:
        setups = [(s, qs) for s, qs in mmlu_setups(questions, seed=cfg.seed) if s.instruction == p]
        arrays, meta = {}, []
        for s, qs in setups:
            prompts = [mmlu_prompt(model, s.instruction, subject_name(q.subject), q.question,
                                   q.choices) for q in qs]
            lp = mmlu_letter_logprobs(model, prompts, batch_size=cfg.batch_size)
            arrays[f"logprobs_o{s.ordering}"] = lp.numpy()
            meta.append({"instruction": s.instruction, "ordering": s.ordering})
        return {"setups": meta, "n_questions": len(questions)}, arrays

    j.unit("spread", compute)


def _becel_job(j: _Job) -> None:
    from interp.analyses.finetune import run_becel

    cfg, lim, task = j.ctx.cfg, j.ctx.cfg.limits, j.job.extra
    model = j.ctx.model(j.job.model)
    j.unit("consistency", lambda: run_becel(
        model, task, j.ctx.path("becel"), n_train=lim.becel_max_train, n_test=lim.becel_max_eval,
        n_pairs=lim.becel_max_eval, method=lim.becel_method,
        symmetric_max_share=lim.becel_symmetric_max_share, seed=cfg.seed,
        batch_size=cfg.batch_size, n_boot=lim.n_boot).to_dict())


# ----------------------------------------------------------------------------------- pooling


def _pool(j: _Job) -> None:
    """Units pooled over the prompts, from the stored per-prompt units (no model needed)."""
    cfg, prov = j.ctx.cfg, j.ctx.provenance
    for key in j.job.units:
        if not j.to_run(key):
            continue
        per_prompt = [UnitKey(key.model, key.dataset, key.analysis, p) for p in cfg.prompts]
        states = {k: prov.state(j.store, k) for k in per_prompt}
        absent = [str(k) for k, s in states.items() if s.status == "missing"]
        if absent:
            j.failed.append((str(key), "needs the per-prompt units " + ", ".join(absent)))
            continue
        stale: dict[str, list[str]] = {}  # reason -> prompts (kept stale, or failed to recompute)
        for k, s in states.items():
            if s.status == "stale":
                stale.setdefault(s.reason, []).append(str(k.prompt))
        j.stale_inputs[key] = [f"prompt {', '.join(ps)}: {why}" for why, ps in stale.items()]
        units = [j.store.load(k) for k in per_prompt]
        why = next((skipped_reason(u.payload) for u in units if skipped_reason(u.payload)), None)
        if why is not None:  # skipped per prompt: skipped pooled, for the same reason
            j.skip(key, why)
            continue
        j.unit(key.analysis, lambda: _POOLERS[(key.dataset, key.analysis)](j.ctx, units))


def _pool_with(cls_path: str, combine: str | None = None,
               boot: bool = True) -> Callable[[Context, list], dict]:
    """A pooler: rebuild the per-prompt results of class ``cls_path`` from their payloads and
    combine them with the function ``combine`` (a dotted path), or with ``cls.pool``."""
    def pool(ctx: Context, units: list) -> dict:
        import importlib

        mod, name = cls_path.rsplit(".", 1)
        cls = getattr(importlib.import_module(mod), name)
        if combine is None:
            fn = cls.pool
        else:
            mod_f, name_f = combine.rsplit(".", 1)
            fn = getattr(importlib.import_module(mod_f), name_f)
        results = [cls.from_dict(u.payload) for u in units]
        kwargs = {"n_boot": ctx.cfg.limits.n_boot, "seed": ctx.cfg.seed} if boot else {}
        return fn(results, **kwargs).to_dict()
    return pool


def _pool_mmlu(ctx: Context, units: list) -> dict:
    from interp.analyses.consistency import MMLUSetup, mmlu_setups, mmlu_spread

    questions = ctx.mmlu_questions()
    by_setup = {(s.instruction, s.ordering): qs for s, qs in mmlu_setups(questions,
                                                                        seed=ctx.cfg.seed)}
    setups, qs, lps = [], [], []
    for u in units:
        for s in u.payload["setups"]:
            setups.append(MMLUSetup(s["instruction"], s["ordering"]))
            qs.append(by_setup[(s["instruction"], s["ordering"])])
            lps.append(u.arrays[f"logprobs_o{s['ordering']}"])
    return mmlu_spread(qs, lps, setups, n_boot=ctx.cfg.limits.n_boot,
                       seed=ctx.cfg.seed).to_dict()


_GAP = _pool_with("interp.analyses.paraphrase_gap.GapResult",
                  "interp.analyses.paraphrase_gap.combine_prompts")
_POOLERS: dict[tuple[str, str], Callable[[Context, list], dict]] = {
    ("pararel", "consistency"): _pool_with("interp.analyses.consistency.ParaRelConsistency",
                                           "interp.analyses.consistency.combine_prompts"),
    ("pararel", "gap"): _GAP,
    ("mrpc", "gap"): _GAP,
    ("tapaco", "gap"): _GAP,
    ("pararel", "layer_gap"): _pool_with("interp.analyses.paraphrase_gap.SplitLayerGaps",
                                         "interp.analyses.paraphrase_gap.combine_prompts"),
    ("pararel", "relations"): _pool_with("interp.analyses.relations.RelationCurves",
                                         "interp.analyses.relations.combine_prompts"),
    ("pararel", "attributes"): _pool_with("interp.analyses.attributes.AttributeRates"),
    ("pararel", "extraction"): _pool_with("interp.analyses.extraction.ExtractionRates"),
    ("mmlu", "spread"): _pool_mmlu,
}

_RUNNERS: dict[str, Callable[[_Job], None]] = {
    "pararel": _pararel_job, "mrpc": _sentence_job, "tapaco": _sentence_job,
    "mmlu": _mmlu_job, "becel": _becel_job,
}


def run_job(ctx: Context, job: Any, store: ResultStore) -> tuple[list[UnitKey], list[tuple[str, str]]]:
    """Compute the missing units of ``job``; return (units saved, [(unit, reason) failed])."""
    j = _Job(ctx, job, store)
    if not any(j.to_run(u) for u in job.units):  # e.g. another sweep computed them meanwhile
        return [], []
    try:
        if job.pooled:
            _pool(j)
        else:
            _RUNNERS[job.dataset](j)
    except Exception as e:  # noqa: BLE001 - a job-level failure (e.g. data or model) is reported
        log.warning("job %s failed: %s", job.name, e)
        log.debug(traceback.format_exc())
        saved = {str(k) for k in j.done}
        j.failed += [(str(u), f"{type(e).__name__}: {e}") for u in job.units
                     if str(u) not in saved and j.to_run(u)]
    return j.done, j.failed


def locked_job(ctx: Context, job: Any, store: ResultStore
               ) -> tuple[list[UnitKey], list[tuple[str, str]], list[str]]:
    """:func:`run_job` holding the store's lock of ``job`` (two sweeps on one store never compute
    one job at the same time); returns (saved, failed, units another sweep computed while this one
    waited for the lock)."""
    before = {u for u in job.units if ctx.provenance.needs_run(store, u)}

    def waiting() -> None:
        log.info("waiting for another sweep on %s to finish %s", store.root, job.name)
    with store.lock(job.name, on_wait=waiting) as waited:
        done, failed = run_job(ctx, job, store)
    if not waited:
        return done, failed, []
    mine = {str(u) for u in done} | {u for u, _ in failed}
    elsewhere = [str(u) for u in job.units if u in before and str(u) not in mine
                 and not ctx.provenance.needs_run(store, u)]
    return done, failed, elsewhere


def ray_job(cfg: SweepConfig, job: Any, root: str,
            keep_stale: bool = False) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """The Ray task: one job in a worker process, results into the shared store."""
    ctx = Context(cfg, provenance=Provenance(cfg, keep_stale=keep_stale))
    done, failed, elsewhere = locked_job(ctx, job, ResultStore(root))
    return [str(k) for k in done], failed, elsewhere
