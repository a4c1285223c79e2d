"""The report in a real headless browser (Debian's chromium): it loads with no JavaScript errors,
every plotly figure renders, nothing is fetched from the network, and a screenshot can be taken.
Skipped when chromium is not installed (``apt-get install -y chromium``)."""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest

from interp.report import Section, SectionRegistry, build_report

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


shot = _load("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
CHROMIUM = shot.find_chromium()
if CHROMIUM is None:
    pytest.skip("chromium not installed (apt-get install -y chromium, or set $CHROMIUM)", allow_module_level=True)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fixtures = _load("_report_fixtures", ROOT / "tests" / "unit" / "test_report.py")
    tmp = tmp_path_factory.mktemp("report")
    store = fixtures.synthetic_store(tmp / "results", analyses=fixtures.ALL_ANALYSES)
    return build_report(store, tmp / "report.html", notes=["synthetic results"])


def test_report_renders_without_errors(report_html: Path) -> None:
    result = shot.render(report_html)
    n_divs = report_html.read_text().count('class="plotly-graph-div"')
    assert n_divs == 9  # Tables 1, 2, 6, Fig. 2, 3, 4 + 7, 5, 8 (Table 7 needs 3 IFT models)
    assert len(result.figures) == n_divs
    assert result.problems == [], result.problems
    assert all(result.figures.values())
    assert result.status == {"figures": str(n_divs), "rendered": str(n_divs), "errors": "0"}


def test_checker_catches_errors_and_unrendered_figures(tmp_path: Path) -> None:
    """A negative control: the same checks flag a script error, a console.error, a figure div
    plotly never drew, and an attempt to load from the network."""
    broken = SectionRegistry([Section("broken", "Broken", lambda ctx: [
        "<script>undefinedFunction();</script>",
        "<script>console.error('bad thing happened');</script>",
        '<div class="plotly-graph-div" id="never-drawn"></div>',
        '<img src="https://example.com/x.png">',
    ])])
    page = build_report(tmp_path / "none", tmp_path / "broken.html", sections=broken)
    result = shot.render(page)
    text = "\n".join(result.problems)
    assert "undefinedFunction is not defined" in text
    assert "bad thing happened" in text
    assert "figure never-drawn did not render" in text
    assert "Network request https://example.com/x.png" in text


def test_screenshot(report_html: Path, tmp_path: Path) -> None:
    png = shot.screenshot(report_html, tmp_path / "report.png", window=(1400, 2000))
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 2000)
    assert len(data) > 20_000  # not a blank page
