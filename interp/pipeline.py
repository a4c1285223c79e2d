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
    >>> cfg = load_config("configs/paper.toml")  # doctest: +SKIP
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

from interp.analysis import SWEEP, Skipped
from interp.config import SweepConfig
from interp.provenance import Provenance, stale_inputs_reason
from interp.results import ResultStore, UnitKey

log = logging.getLogger(__name__)

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

    def records(self, dataset: str) -> Any:
        """The dataset's records under the config's limits (loaded once per process)."""
        from interp import registry

        if dataset not in self._data:
            self._data[dataset] = registry.dataset(dataset).load(self.cfg, self.path(dataset))
        return self._data[dataset]


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
        "mrpc": lambda: paraphrase_gap.mrpc_inputs(ctx.records("mrpc")[:n]),
        "tapaco": lambda: paraphrase_gap.tapaco_inputs(ctx.records("tapaco")[:1]),
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
                rels = ctx.records("pararel")
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

                q = ctx.records("mmlu")[0]
                letters.append(mmlu_prompt(model, p, subject_name(q.subject), q.question,
                                           q.choices))
            except Exception as e:  # noqa: BLE001
                log.debug("self-check: no MMLU sample: %s", e)
    if not prompts and not letters:
        prompts = {"default": ["The capital of France is", "Rome is the capital of"]}
    return prompts, candidates, letters


def _config_slice(cfg: SweepConfig, key: UnitKey) -> dict:
    common = {"dataset": key.dataset, "dataset_path": cfg.datasets.get(key.dataset),
              "analysis": key.analysis, "prompt": key.prompt, "extra": key.extra,
              "limits": asdict(cfg.limits), "batch_size": cfg.batch_size,
              "representation": cfg.representation, "lens": cfg.lens, "device": cfg.device,
              "dtype": cfg.dtype, "source": cfg.source, "notes": list(cfg.notes)}
    if key.model == SWEEP:
        return {"models": [asdict(m) for m in cfg.models], **common}
    return {"model": asdict(cfg.model(key.model)), **common}


class _Job:
    """Bookkeeping of one job run: saves units, records timings and failures."""

    def __init__(self, ctx: Context, job: Any, store: ResultStore):
        self.ctx, self.job, self.store = ctx, job, store
        self.done: list[UnitKey] = []
        self.failed: list[tuple[str, str]] = []
        self.shared_s: dict[str, float] = {}
        #: unit -> the stale units it is computed from (pooled units under keep_stale)
        self.stale_inputs: dict[UnitKey, list[str]] = {}

    def to_run(self, key: UnitKey) -> bool:
        return self.ctx.provenance.needs_run(self.store, key)

    def fresh(self, key: UnitKey) -> bool:
        """Whether ``key`` is stored and fresh (so it may be used as an input)."""
        return self.ctx.provenance.state(self.store, key).status == "fresh"

    def save(self, key: UnitKey, payload: dict, seconds: float,
             arrays: dict[str, np.ndarray] | None = None) -> None:
        cfg = self.ctx.cfg
        check = self.ctx.checks.get(key.model)
        stale_inputs = self.stale_inputs.get(key, [])
        self.store.save(key, payload, config=_config_slice(cfg, key),
                        model_spec="" if key.model == SWEEP else cfg.model(key.model).spec,
                        seed=cfg.seed, timings={**self.shared_s, "analysis_s": round(seconds, 3)},
                        arrays=arrays,
                        self_check=None if check is None or self.job.pooled else check.to_dict(),
                        provenance=self.ctx.provenance.record(key, stale_inputs=stale_inputs,
                                                              store=self.store),
                        stale=stale_inputs_reason(stale_inputs) if stale_inputs else None)
        self.done.append(key)

    def unit(self, key: UnitKey, compute: Callable[[], Any]) -> Any:
        """Compute and save ``key``; return its result, or ``None`` when it was skipped or failed
        (a failure is recorded with its reason and does not stop the other units)."""
        from interp.registry import dump_result
        from interp.seq2seq import NotApplicable

        t0 = time.perf_counter()
        try:
            result = compute()
        except NotApplicable as e:  # not defined for this model: stored as skipped, counted
            self.skip(key, str(e), time.perf_counter() - t0)
            return None
        except Exception as e:  # noqa: BLE001 - reported per unit, the sweep goes on
            log.warning("unit %s failed: %s", key, e)
            log.debug(traceback.format_exc())
            self.failed.append((str(key), f"{type(e).__name__}: {e}"))
            return None
        payload, arrays = dump_result(result)
        self.save(key, payload, time.perf_counter() - t0, arrays)
        return result

    def skip(self, key: UnitKey, reason: str, seconds: float = 0.0) -> None:
        """Store ``key`` as skipped (its analysis is not defined for the model), with why."""
        log.info("unit %s skipped: %s", key, reason)
        self.ctx.skipped.append((str(key), reason))
        self.save(key, Skipped(reason).to_dict(), seconds)


def _model_job(j: _Job) -> None:
    """One model on one dataset at one prompt (or variant): every missing unit of the job from
    one forward that keeps what they need (:class:`interp.analysis.Needs`)."""
    from interp import registry
    from interp.analysis import JobInputs

    cfg, job = j.ctx.cfg, j.job
    ds = registry.dataset(job.dataset)
    keys = {u.analysis: u for u in job.units}
    key = lambda name: keys.get(name) or UnitKey(job.model, job.dataset, name, job.prompt, job.extra)  # noqa: E731

    # what runs: the missing units and, recursively, what they require that is not stored fresh
    run: list[str] = []

    def visit(name: str, wanted: bool) -> None:
        a = registry.analysis(job.dataset, name)
        if name in run or (not wanted and j.fresh(key(name))):
            return
        for r in a.requires:
            visit(r, False)
        run.append(name)
    for u in job.units:
        if j.to_run(u):
            visit(u.analysis, True)
    needs = None
    for name in run:
        n = registry.analysis(job.dataset, name).needs_for(cfg)
        needs = n if needs is None else needs.merge(n)

    results: dict[str, Any] = {}
    failures: dict[str, Exception] = {}

    def result(name: str) -> Any:
        if name in failures:
            raise RuntimeError(f"{name} of this job failed: {failures[name]}")
        if name not in results:
            if name in run:
                raise RuntimeError(f"{name} is not computed yet (declare it in `requires`)")
            results[name] = j.store.result(key(name))
        if results[name] is None or isinstance(results[name], Skipped):
            raise RuntimeError(f"{name} of this job was skipped or failed")
        return results[name]

    inputs = JobInputs(cfg, ds, job.prompt, job.extra, model=lambda: j.ctx.model(job.model),
                       records=lambda: j.ctx.records(job.dataset), needs=needs, result=result,
                       timings=j.shared_s)
    for name in run:
        a = registry.analysis(job.dataset, name)
        if name in keys and j.to_run(keys[name]):
            results[name] = j.unit(keys[name], lambda: a.compute(inputs))
        else:  # required by another unit, not itself wanted (or kept stale): computed, not saved
            try:
                results[name] = a.compute(inputs)
            except Exception as e:  # noqa: BLE001 - the units that need it report it
                failures[name] = e


def _pool(j: _Job) -> None:
    """Units pooled over the prompts (or a dataset's variants), from the stored per-prompt units
    (no model needed), by the analysis's ``pool``."""
    from interp import registry
    from interp.analysis import JobInputs

    cfg, prov = j.ctx.cfg, j.ctx.provenance
    for key in j.job.units:
        if not j.to_run(key):
            continue
        ds = registry.dataset(key.dataset)
        a = registry.analysis(key.dataset, key.analysis)
        parts = [UnitKey(key.model, key.dataset, key.analysis, p, v) for p, v in ds.parts(cfg)]
        states = {k: prov.state(j.store, k) for k in parts}
        absent = [str(k) for k, s in states.items() if s.status == "missing"]
        if absent:
            j.failed.append((str(key), "needs the per-prompt units " + ", ".join(absent)))
            continue
        stale: dict[str, list[str]] = {}  # reason -> prompts (kept stale, or failed to recompute)
        for k, s in states.items():
            if s.status == "stale":
                stale.setdefault(s.reason, []).append(str(k.extra or k.prompt))
        j.stale_inputs[key] = [f"prompt {', '.join(ps)}: {why}" for why, ps in stale.items()]
        results = [j.store.result(k) for k in parts]  # read once each
        why = next((r.reason for r in results if isinstance(r, Skipped)), None)
        if why is not None:  # skipped per prompt: skipped pooled, for the same reason
            j.skip(key, why)
            continue
        inputs = JobInputs(cfg, ds, "all", records=lambda d=key.dataset: j.ctx.records(d))
        j.unit(key, lambda: a.pool(results, inputs))  # noqa: B023 - called at once


def _summaries(j: _Job) -> None:
    """Cross-model units (:class:`interp.analysis.Summary`) from the stored units they read."""
    from interp import registry

    for key in j.job.units:
        if not j.to_run(key):
            continue
        s = registry.summaries()[key.analysis]
        units = {k: j.store.load(k) for k in s.inputs(j.ctx.cfg) if j.store.has(k)}
        j.unit(key, lambda: s.compute(j.ctx.cfg, units))


def run_job(ctx: Context, job: Any, store: ResultStore) -> tuple[list[UnitKey], list[tuple[str, str]]]:
    """Compute the missing units of ``job``; return (units saved, [(unit, reason) failed])."""
    j = _Job(ctx, job, store)
    if not any(j.to_run(u) for u in job.units):  # e.g. another sweep computed them meanwhile
        return [], []
    try:
        if job.model == SWEEP:
            _summaries(j)
        elif job.pooled:
            _pool(j)
        else:
            _model_job(j)
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


def model_worker(cfg: SweepConfig, jobs: list[Any], root: str, keep_stale: bool,
                 queue: Any = None, share: tuple[Any, Any, int, int] | None = None) -> dict[str, Any]:
    """One model's per-prompt jobs in a worker process (``executor="processes"``): in order,
    with one :class:`Context` (the model is loaded and self-checked once); each finished job's
    unit count goes to ``queue`` (the parent's progress bar). ``share`` = (count of models not
    finished, its lock, the CPU threads in all, worker processes): before each job the worker takes
    its share of the threads among the workers that can still be busy (at most one per unfinished
    model), so the last one running gets them all. Returns what the parent's report
    needs: computed, failed, computed elsewhere, self-checks, skipped."""
    import torch

    ctx = Context(cfg, provenance=Provenance(cfg, keep_stale=keep_stale))
    store = ResultStore(root)
    out: dict[str, Any] = {"computed": [], "failed": [], "elsewhere": []}
    try:
        for job in jobs:
            if share is not None:
                active, _, total, slots = share
                torch.set_num_threads(max(1, total // max(1, min(slots, active.value))))
            done, failed, elsewhere = locked_job(ctx, job, store)
            out["computed"] += [str(k) for k in done]
            out["failed"] += failed
            out["elsewhere"] += elsewhere
            if queue is not None:
                queue.put((job.name, len(done) + len(failed) + len(elsewhere)))
    finally:  # a worker that fails still hands its threads to the others
        if share is not None:
            active, lock = share[:2]
            with lock:
                active.value -= 1
    out["checks"], out["skipped"] = ctx.checks, ctx.skipped
    return out
