"""The offline demo (``interp demo``), timed per phase: wall seconds of each, in one run.

Phases (exclusive time: a phase nested in another, e.g. a model's load inside its first job, is
counted once, in its own row): dequantisation of each GGUF model (only when it is not cached),
model load, self-check, each dataset's per-prompt jobs per model, pooling, the cross-model
summaries and the report. Installing the package is not included. With the demo's default
executor (``processes``: each model in a worker process of its own) everything a worker does,
dequantisation, load, self-check and per-prompt jobs of both models at once, is one row; the
units' own timings (``meta.timings``) say where a worker's time went. ``--executor local`` runs
everything in this process and times each phase apart.

    python benchmarks/demo.py                        # models as cached in ~/.cache/interp
    python benchmarks/demo.py --fresh-cache          # dequantise too, into a temporary cache
    python benchmarks/demo.py --profile demo.prof    # and a cProfile of the whole run (this process)
    python benchmarks/demo.py --executor local       # one process: every phase timed apart

Results go to a new temporary directory (so every unit is computed) unless ``--results`` names
one; ``--report`` is where the HTML goes (default: inside the results directory).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch


class PhaseTimer:
    """Exclusive wall time per phase: time spent in a nested phase is not counted in its parent."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[list[float]] = []  # per open phase: [start, time of nested phases]

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block under ``name`` (added to earlier blocks of the same name)."""
        self._stack.append([time.perf_counter(), 0.0])
        try:
            yield
        finally:
            start, nested = self._stack.pop()
            total = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + total - nested
            if self._stack:
                self._stack[-1][1] += total

    def wrap(self, owner: Any, attr: str, name: Callable[..., str]) -> None:
        """Replace ``owner.attr`` by a wrapper timing each call under ``name(*args)``."""
        fn = getattr(owner, attr)

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name(*args, **kwargs)):
                return fn(*args, **kwargs)
        setattr(owner, attr, timed)


def _job_phase(ctx: Any, job: Any, store: Any) -> str:
    from interp.analysis import SWEEP

    if job.model == SWEEP:
        return "cross-model summaries"
    return f"{job.model}: {job.dataset} {'pooling' if job.pooled else 'jobs'}"


def instrument(timer: PhaseTimer) -> None:
    """Wrap the demo's phases (dequantisation, load, self-check, jobs, report) with ``timer``."""
    import interp.report
    from interp import models, pipeline, sweep

    timer.wrap(models, "_materialise_alias", lambda alias: f"{alias.name}: dequantisation (if not cached)")
    timer.wrap(models, "load_model", lambda spec, *a, **k: f"{k.get('name') or spec}: load")
    timer.wrap(pipeline.Context, "self_check", lambda ctx, model: f"{model.name}: self-check")
    timer.wrap(pipeline, "run_job", _job_phase)
    timer.wrap(interp.report, "build_report", lambda *a, **k: "report")
    timer.wrap(sweep, "_run_processes", lambda *a, **k: "model workers in parallel (dequantisation, "
               "load, self-check, per-prompt jobs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=None,
                    help="results directory (default: a new temporary one, so everything runs)")
    ap.add_argument("--report", type=Path, default=None, help="the HTML report's path")
    ap.add_argument("--fresh-cache", action="store_true",
                    help="dequantise the models into a temporary INTERP_CACHE (a new user's first run)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--profile", type=Path, default=None, help="write a cProfile of the run here")
    ap.add_argument("--executor", choices=("processes", "local"), default="processes",
                    help="the sweep's executor (default: the demo's, processes)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    tmp = tempfile.TemporaryDirectory(prefix="interp-demo-bench-")
    if a.fresh_cache:
        os.environ["INTERP_CACHE"] = str(Path(tmp.name) / "cache")
    results = a.results or Path(tmp.name) / "results"
    report = a.report or results / "report.html"

    from interp.demo import run_demo

    timer = PhaseTimer()
    instrument(timer)
    prof = cProfile.Profile() if a.profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    _, rep = run_demo(output=report, results=results, executor=a.executor)
    if prof:
        prof.disable()
        prof.dump_stats(a.profile)
    wall = time.perf_counter() - t0
    print(f"\ninterp demo, timed by {Path(__file__).name} (executor {a.executor}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, load average at the end "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}):")
    for name, s in timer.seconds.items():
        print(f"  {name:<55} {s:8.1f} s")
    rest = wall - sum(timer.seconds.values())
    print(f"  {'other (plan, config, imports of the run)':<55} {rest:8.1f} s")
    print(f"  {'total wall':<55} {wall:8.1f} s   ({len(rep.failed)} unit(s) failed)")
    if a.results is None and a.report is None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
