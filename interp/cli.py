"""The ``interp`` command.

    interp demo [-o report.html] [--results DIR] [--real-data ../shared/data]
    interp sweep CONFIG [--executor local|processes|ray] [--workers N] [--address ADDR] [--dry-run] [--keep-stale]
    interp report RESULTS_DIR [-o report.html] [--title TITLE] [--note NOTE]
    interp models
    interp check MODEL [--chat|--base] [--device DEV] [--dtype DTYPE]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from interp.config import ConfigError


def _cmd_sweep(a: argparse.Namespace) -> int:
    from interp.config import load_config, resolve_models
    from interp.results import ResultStore
    from interp.sweep import format_plan, plan, run

    cfg = load_config(a.config)
    print(format_plan(plan(cfg), ResultStore(cfg.output), cfg, keep_stale=a.keep_stale))
    if a.dry_run:
        # every spec resolved as load_model will, no weights loaded; the files of a Ray sweep
        # are on the workers, so only the specs' form is checked for one
        local = a.executor != "ray"
        resolved = resolve_models(cfg, check_files=local)
        print("models:")
        for label, r in resolved.items():
            print(f"  {label}: " + (f"{r.spec} -> {r.describe()}" if not isinstance(r, str)
                                    else "CANNOT LOAD (below)"))
        if not local:
            print("  (only the specs' form is checked: the Ray workers hold the files)")
        bad = [r for r in resolved.values() if isinstance(r, str)]
        for why in bad:
            print(f"interp sweep: {why}", file=sys.stderr)
        return 2 if bad else 0
    rep = run(cfg, executor=a.executor, address=a.address, keep_stale=a.keep_stale,
              workers=a.workers)
    print(rep.summary())
    print(f"results in {cfg.output}; make the report with: interp report {cfg.output}")
    return 1 if rep.failed else 0


def _cmd_report(a: argparse.Namespace) -> int:
    """Exit 2 with one line for a missing, unreadable or empty results dir or an unwritable output."""
    from interp.report import build_report

    out = build_report(Path(a.results_dir), a.output, title=a.title, notes=a.note or (), require_units=True)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    from interp.demo import run_demo

    t0 = time.perf_counter()
    out, rep = run_demo(output=Path(a.output), results=Path(a.results), real_data=a.real_data,
                        executor=a.executor)
    print(f"demo finished in {time.perf_counter() - t0:.0f} s: open {out}")
    if rep.failed:
        print(f"interp demo: {len(rep.failed)} unit(s) failed (listed above); the report shows "
              "them as absent", file=sys.stderr)
        return 1
    return 0


def _cmd_models(a: argparse.Namespace) -> int:
    from interp.models import ALIASES, TINY_ARCHS, cache_dir

    print("Offline aliases (any Hugging Face id or local checkpoint directory works too):")
    for al in ALIASES.values():
        cached = (cache_dir() / "models" / al.name / "interp_alias.json").exists()
        print(f"  {al.name:24s} {'IFT ' if al.is_chat else 'base'}  {al.description}"
              f"{'  [cached]' if cached else ''}\n  {'':24s}       install: {al.install}")
    print(f"Tiny random models (tests, dry runs): tiny:<arch>[-chat][-seed<N>], arch one of "
          f"{', '.join(TINY_ARCHS)}")
    return 0


def _cmd_check(a: argparse.Namespace) -> int:
    from interp.check import check

    report = check(a.model, chat=a.chat, device=a.device, dtype=a.dtype)
    print(report.format())
    return 0 if report.passed else 1


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a clear usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="interp", description="Does instruction tuning make a "
                                 "language model more consistent, and why?")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND",
                            help="one of the commands below; `interp COMMAND -h` lists its options")

    s = sub.add_parser("sweep", help="plan and run the missing units of a sweep config (TOML)")
    s.add_argument("config", help="the sweep's TOML file (see configs/paper.toml)")
    s.add_argument("--executor", choices=("local", "processes", "ray"), default="local",
                   help="local: one process, jobs in order (default); processes: each model's jobs "
                        "in a worker process of its own, the CPU threads shared (faster for small "
                        "models on a multi-core CPU); ray: one Ray task per job")
    s.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes of --executor processes (default: one per model, at "
                        "most one per CPU core)")
    s.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    s.add_argument("--dry-run", action="store_true",
                   help="print the plan and check every model spec (no weights are loaded)")
    s.add_argument("--keep-stale", action="store_true",
                   help="keep stored units computed under a different configuration (stale) "
                        "instead of recomputing them; the report marks them")
    s.set_defaults(fn=_cmd_sweep)

    r = sub.add_parser("report", help="write the self-contained HTML report of a results dir")
    r.add_argument("results_dir", help="the sweep's output directory (its [sweep] output)")
    r.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default: report.html)")
    r.add_argument("--note", action="append", help="a note shown at the top (repeatable)")
    r.add_argument("--title", default=None,
                   help="the report's title (kept in RESULTS_DIR/report.json; default: the title kept there, "
                        "e.g. the demo's, else the paper's question)")
    r.set_defaults(fn=_cmd_report)

    d = sub.add_parser("demo", help="run the offline demo sweep (two small models) and report")
    d.add_argument("-o", "--output", default="report.html", help="the HTML report to write (default: report.html)")
    d.add_argument("--results", default="results/demo",
                   help="where the demo's results are stored (default: results/demo; rerunning resumes)")
    d.add_argument("--real-data", default=None,
                   help="a directory with the real PARAREL/MRPC/MMLU/BECEL (e.g. ../shared/data):"
                        " small subsets of them are used instead of the demo data")
    d.add_argument("--executor", choices=("local", "processes", "ray"), default="processes",
                   help="processes: each model in a worker process of its own, the CPU threads "
                        "shared (default); local: one process, jobs in order; ray: one Ray task "
                        "per job")
    d.set_defaults(fn=_cmd_demo)

    m = sub.add_parser("models", help="list the offline model aliases")
    m.set_defaults(fn=_cmd_models)

    c = sub.add_parser("check", help="conformance report of a model spec before a sweep uses it "
                       "(exit 1 on any failed check)")
    c.add_argument("model", help="an offline alias, a checkpoint directory, a hub id or tiny:<arch>")
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--chat", dest="chat", action="store_const", const=True, default=None,
                     help="use the chat (IFT) prompt format")
    fmt.add_argument("--base", dest="chat", action="store_const", const=False,
                     help="use the base (plain text) prompt format")
    c.add_argument("--device", default=None, help="default: CUDA, then MPS, then CPU")
    c.add_argument("--dtype", default=None, help="default: float32 on CPU, bfloat16 elsewhere")
    c.set_defaults(fn=_cmd_check)
    return ap


class _OncePerMessage(logging.Filter):
    """Lets each distinct warning message through once (a library warns once per job otherwise)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg in self.seen:
            return False
        self.seen.add(msg)
        return True


@contextlib.contextmanager
def warnings_via_logging() -> Iterator[None]:
    """Route library warnings (e.g. transformers' FutureWarning) through logging (the ``py.warnings``
    logger, WARNING level, each distinct message once) and write log lines through tqdm, so that
    progress bars stay whole; restored on exit."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    once = _OncePerMessage()
    wlog = logging.getLogger("py.warnings")
    logging.captureWarnings(True)
    wlog.addFilter(once)
    console = any(isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in (sys.stdout, sys.stderr)
                  for h in logging.root.handlers)
    try:  # only a console handler is redirected (tqdm's helper would add one where there is none)
        with logging_redirect_tqdm() if console else contextlib.nullcontext():
            yield
    finally:
        wlog.removeFilter(once)
        logging.captureWarnings(False)


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        with warnings_via_logging():
            return int(a.fn(a) or 0)
    except (ConfigError, OSError, ValueError) as e:  # OSError: e.g. an unwritable output path
        print(f"interp {a.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
