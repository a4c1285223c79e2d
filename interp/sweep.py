"""A resumable sweep over models x datasets x analyses x prompts.

The sweep plans *units* (one stored result each: ``UnitKey(model, dataset, analysis, prompt)``)
and groups them into *jobs*: the units that share one forward. A PARAREL job (model, prompt)
captures the queries once (last token + last subject token) and computes every missing PARAREL
analysis from that one capture; an MRPC/TAPACO job captures the sentences once; an MMLU job
captures the 3 answer orderings of one instruction; a BECEL job fits and evaluates one task's
probe. Pooled units (``prompt="all"``) are computed from the stored per-prompt units.

Each unit is written atomically as soon as it is computed, so a sweep killed at any point and
run again recomputes nothing that is stored, and ends with the same results as an
uninterrupted run (every computation is seeded).

Example:
    >>> from interp.config import load_config
    >>> cfg = load_config("configs/demo.toml")  # doctest: +SKIP
    >>> print(format_plan(plan(cfg), ResultStore(cfg.output)))  # doctest: +SKIP
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
        """Whether the job pools other jobs' stored per-prompt units (runs no model)."""
        return self.prompt == "all" and not self.extra

    @property
    def name(self) -> str:
        tail = f" {self.extra}" if self.extra else ""
        return f"{self.model} / {self.dataset} / prompt {self.prompt}{tail}"


@dataclass
class SweepReport:
    """What a sweep did: units computed, skipped (already stored) and failed, with reasons."""

    computed: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: model label -> its self-check (:class:`interp.selfcheck.SelfCheck`), local executor
    self_checks: dict[str, Any] = field(default_factory=dict)
    #: (unit, reason): units stored as skipped, their analysis not being defined for the model
    #: (e.g. Fig. 2 for an encoder-decoder); also in ``computed``; local executor
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        s = (f"{len(self.computed)} units computed, {len(self.stored)} already stored, "
             f"{len(self.failed)} failed in {self.seconds:.1f} s")
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
    """Every job of the sweep, in execution order (grouped by model, so each loads once)."""
    from interp.pipeline import pooled_units

    jobs: list[Job] = []
    for m in cfg.models:
        for dataset in cfg.datasets:
            analyses = cfg.wanted(dataset)
            if not analyses:
                continue
            if dataset == "becel":
                for task in cfg.limits.becel_tasks:
                    jobs.append(Job(m.label, dataset, "all", task, (
                        UnitKey(m.label, dataset, "consistency", "all", task),)))
                continue
            for p in cfg.prompts:
                units = tuple(UnitKey(m.label, dataset, a, p) for a in analyses)
                jobs.append(Job(m.label, dataset, p, "", units))
            pooled = pooled_units(m.label, dataset, analyses)
            if pooled:
                jobs.append(Job(m.label, dataset, "all", "", pooled))
    return jobs


def pending(jobs: Sequence[Job], store: ResultStore) -> list[Job]:
    """The jobs with at least one unit not (validly) stored."""
    return [j for j in jobs if any(not store.has(u) for u in j.units)]


def format_plan(jobs: Sequence[Job], store: ResultStore) -> str:
    """A human-readable plan: one line per job with its units and what is already stored."""
    lines = []
    n_units = n_done = 0
    for j in jobs:
        done = [u for u in j.units if store.has(u)]
        n_units += len(j.units)
        n_done += len(done)
        state = "done" if len(done) == len(j.units) else f"{len(j.units) - len(done)} to run"
        lines.append(f"  [{state:>8}] {j.name}: " + ", ".join(u.analysis for u in j.units))
    head = f"plan: {len(jobs)} jobs, {n_units} units ({n_done} stored, {n_units - n_done} to run)"
    return "\n".join([head, *lines])


def _run_local(cfg: SweepConfig, jobs: Sequence[Job], store: ResultStore,
               report: SweepReport, progress: bool, n_units: int) -> None:
    from interp.pipeline import Context, run_job

    ctx = Context(cfg)
    bar = tqdm(total=n_units, desc="sweep", unit="unit", disable=not progress)
    try:
        for job in jobs:
            bar.set_postfix_str(job.name)
            done, failed = run_job(ctx, job, store)
            report.computed += [str(u) for u in done]
            report.failed += failed
            bar.update(len(done) + len(failed))
            ctx.release_unless(next_model=_next_model(jobs, job))
    finally:
        bar.close()
        report.self_checks.update(ctx.checks)
        report.skipped += ctx.skipped


def _next_model(jobs: Sequence[Job], job: Job) -> str | None:
    i = list(jobs).index(job)
    return jobs[i + 1].model if i + 1 < len(jobs) else None


def _run_ray(cfg: SweepConfig, jobs: Sequence[Job], store: ResultStore, report: SweepReport,
             progress: bool, address: str | None, stored: set[str]) -> None:
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
    refs = {remote.remote(cfg, j, str(store.root)): j for j in per_prompt}
    bar = tqdm(total=len(refs), desc="sweep (ray)", unit="job", disable=not progress)
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1)
        job = refs.pop(ready[0])
        done, failed = ray.get(ready[0])
        report.computed += done
        report.failed += failed
        bar.set_postfix_str(job.name)
        bar.update(1)
    bar.close()
    _run_local(cfg, pooled, store, report, progress,
               sum(str(u) not in stored for j in pooled for u in j.units))


def run(cfg: SweepConfig, *, executor: str = "local", address: str | None = None,
        progress: bool = True, only: Callable[[Job], bool] | None = None) -> SweepReport:
    """Run every job with a missing unit; return what was computed, stored and failed.

    Args:
        executor: ``"local"`` (default, no Ray import) or ``"ray"`` (one task per job, one GPU
            per task when the cluster has GPUs; results go to the same store).
        address: the Ray cluster address (default: start a local Ray instance).
        only: a filter on jobs (e.g. ``lambda j: j.model == "x"``).
    """
    t0 = time.perf_counter()
    store = ResultStore(cfg.output)
    jobs = [j for j in plan(cfg) if only is None or only(j)]
    report = SweepReport()
    report.stored = [str(u) for j in jobs for u in j.units if store.has(u)]  # validates each once
    stored = set(report.stored)
    todo = [j for j in jobs if any(str(u) not in stored for u in j.units)]
    if executor == "local":
        _run_local(cfg, todo, store, report, progress,
                   sum(str(u) not in stored for j in todo for u in j.units))
    elif executor == "ray":
        _run_ray(cfg, todo, store, report, progress, address, stored)
    else:
        raise ValueError(f"unknown executor {executor!r}; use 'local' or 'ray'")
    report.seconds = time.perf_counter() - t0
    return report
