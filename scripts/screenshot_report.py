#!/usr/bin/env python
"""Open an interp HTML report in headless Chromium: check it and take a screenshot.

Checks (exit status 1 and a list of problems if any fails):

* the page loads with no JavaScript errors: no ``Uncaught ...`` / ``...Error`` console line in
  Chromium's log (``--enable-logging=stderr``), and none recorded by the report's own error sink
  (which also catches ``console.error``; the report writes them into ``#report-errors``);
* every figure rendered: each ``div.plotly-graph-div`` of the DOM after JavaScript ran
  (``--dump-dom``) holds a ``.plot-container`` with an ``svg.main-svg`` -- plotly draws these only
  when its script runs, so this proves plotly.js executed for every figure;
* nothing is fetched from the network: the DNS resolver is disabled (``--host-resolver-rules``),
  and the report's error sink records every failed resource load and every http(s) resource
  request (Resource Timing) in ``#report-errors``.

Usage::

    python scripts/screenshot_report.py report.html -o report.png [--window 1400,2000]

Chromium: Debian's ``chromium`` (``apt-get install -y chromium``), or the binary in ``$CHROMIUM``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
)
_CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*\"(?P<msg>.*)\", source: (?P<src>.*)$")
_ERRORISH = re.compile(r"Uncaught|\b\w*Error\b|Failed to load|net::ERR_")


def find_chromium() -> str | None:
    """Path of a Chromium binary ($CHROMIUM first), or None."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env if Path(env).exists() else shutil.which(env)
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _FigureScan(HTMLParser):
    """Collects each plotly figure div's id and whether it holds .plot-container > svg.main-svg."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.figures: dict[str, bool] = {}
        self._current: str | None = None
        self._depth = 0  # <div> nesting inside the current figure div
        self._in_container = 0
        self.errors_text = ""
        self._in_errors = False
        self.status: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if a.get("id") == "report-status":
            self.status = {k[5:]: v for k, v in a.items() if k.startswith("data-")}
        if a.get("id") == "report-errors":
            self._in_errors = "hidden" not in a
        if tag == "div" and "plotly-graph-div" in classes and self._current is None:
            self._current, self._depth, self._in_container = a.get("id", f"#{len(self.figures)}"), 0, 0
            self.figures[self._current] = False
            return
        if self._current is None:
            return
        if tag == "div":
            self._depth += 1
            if "plot-container" in classes and not self._in_container:
                self._in_container = self._depth
        if tag == "svg" and "main-svg" in classes and self._in_container:
            self.figures[self._current] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._in_errors = False
        if self._current is None or tag != "div":
            return
        if self._depth == 0:
            self._current = None
            return
        if self._in_container == self._depth:
            self._in_container = 0
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_errors:
            self.errors_text += data


@dataclass
class RenderResult:
    """What headless Chromium saw: the DOM after scripts ran, console lines, and per-figure status."""

    dom: str
    console: list[str]
    console_errors: list[str]
    figures: dict[str, bool]
    page_errors: str
    status: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        out = [f"console error: {m}" for m in self.console_errors]
        if self.page_errors.strip():
            out.append(f"errors recorded by the page: {self.page_errors.strip()}")
        if not self.figures:
            out.append("no plotly figure divs in the DOM")
        out += [f"figure {fid} did not render (no .plot-container svg.main-svg)"
                for fid, ok in self.figures.items() if not ok]
        if self.status.get("errors", "0") not in ("0", ""):
            out.append(f"the page counted {self.status['errors']} JavaScript errors")
        return out


def _run(chromium: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="interp-chromium-") as profile:
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "HOME": profile})


def render(report: str | Path, *, chromium: str | None = None, timeout: float = 180,
           budget_ms: int = 20000, window: tuple[int, int] | None = None) -> RenderResult:
    """Load ``report`` in headless Chromium and return the DOM after its scripts ran.

    ``budget_ms`` of virtual time lets timers (plotly's layout, the report's status) finish;
    ``window``: (width, height) of the window (default: Chromium's).
    """
    chromium = chromium or find_chromium()
    if not chromium:
        raise FileNotFoundError("no Chromium found (apt-get install -y chromium, or set $CHROMIUM)")
    url = Path(report).resolve().as_uri()
    size = [f"--window-size={window[0]},{window[1]}"] if window else []
    proc = _run(chromium, ["--enable-logging=stderr", "--v=0", f"--virtual-time-budget={budget_ms}", *size,
                           "--dump-dom", url], timeout)
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise RuntimeError(f"chromium failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    console = []
    for line in proc.stderr.splitlines():
        m = _CONSOLE.search(line)
        if m:
            console.append(f"{m.group('msg')} ({m.group('src')})")
    errors = [c for c in console if _ERRORISH.search(c)]
    scan = _FigureScan()
    scan.feed(proc.stdout)
    return RenderResult(proc.stdout, console, errors, scan.figures, scan.errors_text, scan.status)


def screenshot(report: str | Path, png: str | Path, *, window: tuple[int, int] = (1400, 2000),
               chromium: str | None = None, timeout: float = 180, budget_ms: int = 20000) -> Path:
    """Save a PNG of the top ``window`` pixels of ``report``."""
    chromium = chromium or find_chromium()
    if not chromium:
        raise FileNotFoundError("no Chromium found (apt-get install -y chromium, or set $CHROMIUM)")
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(chromium, [f"--window-size={window[0]},{window[1]}", f"--virtual-time-budget={budget_ms}",
                           f"--screenshot={png}", Path(report).resolve().as_uri()], timeout)
    if proc.returncode != 0 or not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium screenshot failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("-o", "--output", type=Path, help="PNG to write (default: REPORT with .png)")
    ap.add_argument("--window", default="1400,2000", help="WIDTH,HEIGHT in pixels")
    ap.add_argument("--no-check", action="store_true", help="only take the screenshot")
    args = ap.parse_args(argv)
    if not args.report.is_file():
        ap.error(f"no such report: {args.report}")
    w, h = (int(v) for v in args.window.split(","))
    status = 0
    if not args.no_check:
        result = render(args.report)
        print(f"{sum(result.figures.values())} of {len(result.figures)} figures rendered, "
              f"{len(result.console_errors)} console errors")
        for p in result.problems:
            print("PROBLEM:", p, file=sys.stderr)
        status = 1 if result.problems else 0
    png = screenshot(args.report, args.output or args.report.with_suffix(".png"), window=(w, h))
    print(f"wrote {png}")
    return status


if __name__ == "__main__":
    sys.exit(main())
