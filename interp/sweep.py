"""A resumable sweep over models x datasets x analyses x prompts.

The sweep plans *units* (one stored result each: ``UnitKey(model, dataset, analysis, prompt)``)
and groups them into *jobs*: the units that share one forward. A PARAREL job (model, prompt)
captures the queries once (last token + last subject token) and computes every missing PARAREL
analysis from that one capture; an MRPC/TAPACO job captures the sentences once; an MMLU job
captures the 3 answer orderings of one instruction; a BECEL job fits and evaluates one task's
probe. Pooled units (``prompt="all"``) are computed from the stored per-prompt units.

Each unit is written atomically as soon as it is computed, so a sweep killed at any point and
run again recomputes nothing that is stored, and ends with the same results as an
uninterrupted run (every computation is seeded). A stored unit is reused only when what produced
it is unchanged (:mod:`interp.provenance`); a *stale* one is recomputed, or kept on purpose with
``keep_stale`` (``interp sweep --keep-stale``) and then marked in the report.

Example:
    >>> from interp.config import load_config
    >>> cfg = load_config("configs/paper.toml")  # doctest: +SKIP
    >>> print(format_plan(plan(cfg), ResultStore(cfg.output), cfg))  # doctest: +SKIP
    >>> run(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from interp.config import SweepConfig
from interp.provenance import Provenance, UnitState
from interp.results import ResultStore, UnitKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Units that share one forward (or one fitted probe)."""

    model: str
    dataset: str
    prompt: int | str
    extra: str
    units: tuple[UnitKey, ...]

    @property
    def pooled(self) -> bool:
        """Whether the job pools other jobs' stored units (per prompt, per variant, or across
        models: the summaries); it runs no model."""
        return self.prompt == "all" and not self.extra

    @property
    def name(self) -> str:
        from interp.analysis import SWEEP

        if self.model == SWEEP:
            return "cross-model summaries"
        tail = f" {self.extra}" if self.extra else ""
        return f"{self.model} / {self.dataset} / prompt {self.prompt}{tail}"


@dataclass
class SweepReport:
    """What a sweep did: units computed, skipped (already stored and fresh), stale (recomputed, or
    kept with ``keep_stale``) and failed, with reasons."""

    computed: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: (unit, what changed) of the stale units recomputed (``keep_stale`` off)
    stale: list[tuple[str, str]] = field(default_factory=list)
    #: (unit, what changed) of the stale units kept on purpose (``keep_stale``)
    kept_stale: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: model label -> its self-check (:class:`interp.selfcheck.SelfCheck`), local and processes executors
    self_checks: dict[str, Any] = field(default_factory=dict)
    #: units another sweep on the same store computed while this one waited for their job
    elsewhere: list[str] = field(default_factory=list)
    #: leftovers of killed runs removed from the store before the sweep (temporary files, orphan arrays)
    cleaned: list[str] = field(default_factory=list)
    #: (unit, reason): units stored as skipped, their analysis not being defined for the model
    #: (e.g. Fig. 2 for an encoder-decoder); also in ``computed``; local and processes executors
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        s = (f"{len(self.computed)} units computed, {len(self.stored)} already stored, "
             f"{len(self.failed)} failed in {self.seconds:.1f} s")
        if self.stale:
            s += f"\n  {len(self.stale)} stale unit(s) recomputed (the plan says what changed)"
        if self.kept_stale:
            s += (f"\n  {len(self.kept_stale)} stale unit(s) kept (--keep-stale); the report "
                  "marks them")
        if self.elsewhere:
            s += f"\n  {len(self.elsewhere)} unit(s) computed meanwhile by another sweep on this store"
        if self.cleaned:
            s += f"\n  {len(self.cleaned)} leftover(s) of killed runs removed: {', '.join(self.cleaned)}"
        for label, check in self.self_checks.items():
            s += (f"\n  self-check of {label}: {'passed' if check.passed else 'FAILED'} in "
                  f"{check.seconds:.1f} s ({check.n_prompts} prompts; "
                  + ", ".join(c.name for c in check.checks) + ")")
        if self.skipped:
            s += f"\n  {len(self.skipped)} units skipped (not defined for the model):"
            for unit, why in self.skipped:
                s += f"\n  SKIPPED {unit}: {why}"
        for unit, why in self.failed:
            s += f"\n  FAILED {unit}: {why}"
        return s


def plan(cfg: SweepConfig) -> list[Job]:
    """Every job of the sweep, in execution order: per model (so each loads once) its per-prompt
    (or per-variant) jobs, then the units pooled over them (:func:`model_jobs`); last the
    cross-model summaries. All of it derives from :mod:`interp.registry`."""
    from interp import registry
    from interp.analysis import SWEEP

    jobs = model_jobs(cfg)
    summaries = tuple(s.key for s in registry.summaries().values() if s.inputs(cfg))
    if summaries:
        jobs.append(Job(SWEEP, summaries[0].dataset, "all", "", summaries))
    return jobs


def model_jobs(cfg: SweepConfig) -> list[Job]:
    """The per-model jobs of :func:`plan` (every job but the cross-model summaries'), in order."""
    from interp import registry

    jobs: list[Job] = []
    for m in cfg.models:
        for dataset in cfg.datasets:
            analyses = cfg.wanted(dataset)
            if not analyses:
                continue
            ds = registry.dataset(dataset)
            for p, v in ds.parts(cfg):
                jobs.append(Job(m.label, dataset, p, v, tuple(UnitKey(m.label, dataset, a, p, v) for a in analyses)))
            pooled = tuple(UnitKey(m.label, dataset, a, "all") for a in analyses
                           if registry.analysis(dataset, a).pool is not None)
            if pooled:
                jobs.append(Job(m.label, dataset, "all", "", pooled))
    return jobs


def unit_states(jobs: Sequence[Job], store: ResultStore, cfg: SweepConfig | None = None, *,
                provenance: Provenance | None = None) -> dict[UnitKey, UnitState]:
    """The state of every unit of ``jobs``: missing, fresh or stale (with what changed), judged
    by :class:`interp.provenance.Provenance` of ``cfg``. Without ``cfg`` (nor ``provenance``)
    only presence is checked: every stored unit counts as fresh."""
    if provenance is None and cfg is not None:
        provenance = Provenance(cfg)
    units = [u for j in jobs for u in j.units]
    if provenance is None:
        return {u: UnitState("fresh" if store.has(u) else "missing") for u in units}
    return {u: provenance.state(store, u) for u in units}


def _to_run(state: UnitState, keep_stale: bool) -> bool:
    return state.status == "missing" or (state.status == "stale" and not keep_stale)


def pending(jobs: Sequence[Job], store: ResultStore, cfg: SweepConfig | None = None, *,
            keep_stale: bool = False) -> list[Job]:
    """The jobs with at least one unit missing (or invalid), or stale unless ``keep_stale``."""
    states = unit_states(jobs, store, cfg)
    return [j for j in jobs if any(_to_run(states[u], keep_stale) for u in j.units)]


def format_plan(jobs: Sequence[Job], store: ResultStore, cfg: SweepConfig | None = None, *,
                keep_stale: bool = False,
                states: dict[UnitKey, UnitState] | None = None) -> str:
    """A human-readable plan: one line per job with its units and what is already stored, and,
    under it, its stale units with what changed (``stale: seed 0 -> 1``). Pass ``cfg`` to judge
    staleness (see :func:`unit_states`)."""
    states = states if states is not None else unit_states(jobs, store, cfg)
    lines = []
    n_units = n_fresh = n_stale = n_run = 0
    for j in jobs:
        run_here = [u for u in j.units if _to_run(states[u], keep_stale)]
        stale = [u for u in j.units if states[u].status == "stale"]
        n_units += len(j.units)
        n_fresh += sum(states[u].status == "fresh" for u in j.units)
        n_stale += len(stale)
        n_run += len(run_here)
        state = f"{len(run_here)} to run" if run_here else "done"
        lines.append(f"  [{state:>8}] {j.name}: " + ", ".join(u.analysis for u in j.units))
        by_reason: dict[str, list[str]] = {}
        for u in stale:
            by_reason.setdefault(states[u].reason, []).append(u.analysis)
        how = "stale, kept" if keep_stale else "stale"
        lines += [f"      {how}: {why} [{', '.join(names)}]" for why, names in by_reason.items()]
    stale_part = (f", {n_stale} stale{' kept (--keep-stale)' if keep_stale else ''}"
                  if n_stale else "")
    head = (f"plan: {len(jobs)} jobs, {n_units} units ({n_fresh} stored{stale_part}, "
            f"{n_run} to run)")
    return "\n".join([head, *lines])


def _run_local(cfg: SweepConfig, jobs: Sequence[Job], store: ResultStore, report: SweepReport,
               progress: bool, n_units: int, provenance: Provenance) -> None:
    from interp.pipeline import Context, locked_job

    ctx = Context(cfg, provenance=provenance)
    bar = tqdm(total=n_units, desc="sweep", unit="unit", disable=not progress)
    try:
        for job in jobs:
            bar.set_postfix_str(job.name)
            done, failed, elsewhere = locked_job(ctx, job, store)
            report.computed += [str(u) for u in done]
            report.failed += failed
            report.elsewhere += elsewhere
            bar.update(len(done) + len(failed) + len(elsewhere))
            ctx.release_unless(next_model=_next_model(jobs, job))
    finally:
        bar.close()
        report.self_checks.update(ctx.checks)
        report.skipped += ctx.skipped


def _next_model(jobs: Sequence[Job], job: Job) -> str | None:
    i = list(jobs).index(job)
    return jobs[i + 1].model if i + 1 < len(jobs) else None


def _run_ray(cfg: SweepConfig, jobs: Sequence[Job], store: ResultStore, report: SweepReport,
             progress: bool, address: str | None, to_run: set[UnitKey],
             provenance: Provenance) -> None:
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: pip install 'interp[ray]'") from None
    from interp.pipeline import ray_job

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    remote = ray.remote(num_gpus=1 if has_gpu else 0, num_cpus=1)(ray_job)
    # pooled units need the per-prompt units of every other job: run them last, locally
    per_prompt = [j for j in jobs if not j.pooled]
    pooled = [j for j in jobs if j.pooled]
    refs = {remote.remote(cfg, j, str(store.root), provenance.keep_stale): j for j in per_prompt}
    bar = tqdm(total=len(refs), desc="sweep (ray)", unit="job", disable=not progress)
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1)
        job = refs.pop(ready[0])
        done, failed, elsewhere = ray.get(ready[0])
        report.computed += done
        report.failed += failed
        report.elsewhere += elsewhere
        bar.set_postfix_str(job.name)
        bar.update(1)
    bar.close()
    _run_local(cfg, pooled, store, report, progress,
               sum(u in to_run for j in pooled for u in j.units), provenance)


def _worker_init(threads: int) -> None:
    """A worker process of the ``processes`` executor: its share of the CPU threads, and no
    progress bars of its own (the parent shows one for all)."""
    import os
    import sys

    import torch
    import tqdm.auto

    class Silent(tqdm.auto.tqdm):  # interp's bars pass ``disable`` themselves: force it
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    tqdm.auto.tqdm = Silent
    for name, module in list(sys.modules.items()):  # modules imported before this ran
        if name.startswith("interp") and getattr(module, "tqdm", None) is not None:
            module.tqdm = Silent
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(threads)


def _run_processes(cfg: SweepConfig, jobs: Sequence[Job], store: ResultStore,
                   report: SweepReport, progress: bool, to_run: set[UnitKey],
                   provenance: Provenance, workers: int | None) -> None:
    """Each model's per-prompt jobs in a worker process of its own (up to ``workers`` at once,
    default: one per model, at most one per CPU core), the CPU threads shared among the workers
    still running (re-divided before each job); then the pooled units and cross-model summaries
    here. The results equal the local executor's:
    each job computes the same units from the same inputs (a test compares every payload)."""
    import multiprocessing as mp
    import os
    import queue as queue_mod
    from concurrent.futures import ProcessPoolExecutor, wait

    import torch

    from interp.pipeline import model_worker

    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    by_model: dict[str, list[Job]] = {}
    for j in jobs:
        if not j.pooled:  # the cross-model summaries are pooled jobs too
            by_model.setdefault(j.model, []).append(j)
    rest = [j for j in jobs if j.pooled]
    n = min(workers or (os.cpu_count() or 1), len(by_model))
    if n <= 1:
        _run_local(cfg, jobs, store, report, progress, sum(u in to_run for j in jobs for u in j.units),
                   provenance)
        return
    total = torch.get_num_threads()
    threads = max(1, total // n)
    ctx = mp.get_context("spawn")  # a fresh interpreter: no torch thread pool or locks inherited
    n_units = sum(u in to_run for js in by_model.values() for j in js for u in j.units)
    bar = tqdm(total=n_units, desc=f"sweep ({n} processes)", unit="unit", disable=not progress)
    with ctx.Manager() as manager, ProcessPoolExecutor(
            n, mp_context=ctx, initializer=_worker_init, initargs=(threads,)) as pool:
        q = manager.Queue()
        # models still to finish (more than n while some wait for a worker): a worker that
        # outlives the others takes their threads
        share = (manager.Value("i", len(by_model)), manager.Lock(), total, n)
        futures = {pool.submit(model_worker, cfg, js, str(store.root), provenance.keep_stale, q,
                               share): m
                   for m, js in by_model.items()}
        pending_ = set(futures)
        while pending_:
            finished, pending_ = wait(pending_, timeout=0.5)
            while True:
                try:
                    name, k = q.get_nowait()
                except queue_mod.Empty:
                    break
                bar.set_postfix_str(name)
                bar.update(k)
            for f in finished:
                try:
                    out = f.result()
                except Exception as e:  # the worker died (e.g. out of memory): its units failed
                    m = futures[f]
                    report.failed += [(str(u), f"worker process for {m} failed: {type(e).__name__}: {e}")
                                      for j in by_model[m] for u in j.units if u in to_run]
                    continue
                report.computed += out["computed"]
                report.failed += out["failed"]
                report.elsewhere += out["elsewhere"]
                report.self_checks.update(out["checks"])
                report.skipped += out["skipped"]
    bar.close()
    _run_local(cfg, rest, store, report, progress, sum(u in to_run for j in rest for u in j.units),
               provenance)


def _sync_stale_marks(store: ResultStore, states: dict[UnitKey, UnitState]) -> None:
    """Mark every stale stored unit with why (``meta["stale"]``, shown by the report), before
    anything is recomputed (a unit whose recomputation fails stays marked), and unmark fresh ones
    (a config reverted to the one they were computed under)."""
    for u, s in states.items():
        want = s.reason if s.status == "stale" else None
        if s.status != "missing" and s.mark != want:
            try:
                store.set_meta(u, "stale", want)
            except (KeyError, ValueError) as e:  # removed or corrupted meanwhile: it is recomputed
                log.warning("could not update the stale mark of %s: %s", u, e)


def run(cfg: SweepConfig, *, executor: str = "local", address: str | None = None,
        progress: bool = True, only: Callable[[Job], bool] | None = None,
        keep_stale: bool = False, workers: int | None = None) -> SweepReport:
    """Run every job with a unit to compute; return what was computed, stored, stale and failed.

    A stored unit is reused only when its provenance equals today's (:mod:`interp.provenance`);
    a *stale* one is recomputed, or kept with ``keep_stale`` (then marked in its meta, and so
    in the report).

    Args:
        executor: ``"local"`` (default: this process, jobs in order, no Ray import),
            ``"processes"`` (each model's jobs in a worker process of its own, the CPU threads
            shared among them: faster on a multi-core CPU, where a small model's forward uses
            the cores only in part; the pooled units and summaries then run here) or ``"ray"``
            (one task per job, one GPU per task when the cluster has GPUs). Results go to the
            same store and are the same.
        workers: the ``processes`` executor's worker count (default: one per model, at most
            one per CPU core).
        address: the Ray cluster address (default: start a local Ray instance).
        only: a filter on jobs (e.g. ``lambda j: j.model == "x"``).
        keep_stale: keep stale units instead of recomputing them.
    """
    t0 = time.perf_counter()
    store = ResultStore(cfg.output)
    jobs = [j for j in plan(cfg) if only is None or only(j)]
    report = SweepReport()
    report.cleaned = [p.name for p in store.cleanup()]
    prov = Provenance(cfg, keep_stale=keep_stale)
    states = unit_states(jobs, store, provenance=prov)  # validates each unit once
    report.stored = [str(u) for u, s in states.items() if s.status == "fresh"]
    stale = [(str(u), s.reason) for u, s in states.items() if s.status == "stale"]
    if keep_stale:
        report.kept_stale = stale
    else:
        report.stale = stale
    _sync_stale_marks(store, states)
    to_run = {u for u, s in states.items() if _to_run(s, keep_stale)}
    todo = [j for j in jobs if any(u in to_run for u in j.units)]
    if executor == "local":
        _run_local(cfg, todo, store, report, progress,
                   sum(u in to_run for j in todo for u in j.units), prov)
    elif executor == "processes":
        _run_processes(cfg, todo, store, report, progress, to_run, prov, workers)
    elif executor == "ray":
        _run_ray(cfg, todo, store, report, progress, address, to_run, prov)
    else:
        raise ValueError(f"unknown executor {executor!r}; use 'local', 'processes' or 'ray'")
    report.seconds = time.perf_counter() - t0
    return report
