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


#: run in the page after it loaded: where the findings table is, what one table's CSV button and
#: the JSON button download (the Blob each click saves; the download itself is not started), and
#: the hover label of a Figure 2 point; the results are written into <pre id="probe">
PROBE = """<script>
window.addEventListener("load", function () { setTimeout(function () {
  var out = {sections: Array.prototype.map.call(document.querySelectorAll("main > section"), function (s) { return s.id; })};
  var table = document.querySelector("section#findings table");
  out.findings_top = table ? table.getBoundingClientRect().top + window.scrollY : null;
  out.viewport = window.innerHeight;
  var blobs = [], names = [], create = URL.createObjectURL;
  URL.createObjectURL = function (b) { blobs.push(b); return create.call(URL, b); };
  HTMLAnchorElement.prototype.click = function () { names.push(this.download); };
  document.querySelector("section#table1 button.csv").click();
  document.getElementById("download-json").click();
  var gd = document.querySelector("section#fig2 div.plotly-graph-div");
  var i = gd.data.findIndex(function (t) { return t.visible !== false && t.hoverinfo !== "skip"; });
  Plotly.Fx.hover(gd, [{curveNumber: i, pointNumber: 2}]);
  out.hover = (gd.querySelector(".hoverlayer") || {}).textContent || "";
  Promise.all(blobs.map(function (b) { return b.text(); })).then(function (texts) {
    out.names = names;
    out.texts = texts;
    var pre = document.createElement("pre");
    pre.id = "probe";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
}, 200); });
</script>"""


def test_findings_first_csv_download_and_hover(report_html: Path, tmp_path: Path) -> None:
    """What a reader does first: the findings table is on the first screen, a table's CSV button
    downloads that table, the JSON button every table's numbers, and a hover shows value, interval,
    n and the layer."""
    import csv
    import html
    import io
    import json
    import re

    page = tmp_path / "probed.html"
    page.write_text(report_html.read_text().replace("</body>", PROBE + "</body>"))
    result = shot.render(page, window=(1400, 900))
    assert result.problems == [], result.problems
    m = re.search(r'<pre id="probe">(.*?)</pre>', result.dom, re.S)
    assert m, "the probe did not finish"
    out = json.loads(html.unescape(m.group(1)))
    assert out["sections"][0] == "findings"
    assert out["findings_top"] is not None and out["findings_top"] < out["viewport"]  # on the first screen
    assert out["names"] == ["table1-t1.csv", "report-numbers.json"]
    rows = list(csv.reader(io.StringIO(out["texts"][0])))
    assert rows[0] == ["model", "role", "MRPC", "TAPACO", "PARAREL"]
    assert [r[:2] for r in rows[1:]] == [["gemma3-270m", "base"], ["smollm2-135m-instruct", "IFT"]]
    assert all(re.fullmatch(r"-?\d\.\d{3} \[-?\d\.\d{3}, -?\d\.\d{3}\]", c) for r in rows[1:] for c in r[2:])
    numbers = json.loads(out["texts"][1])
    table1 = next(s for s in numbers["sections"] if s["id"] == "table1")
    assert table1["tables"][0]["rows"] == [r for r in rows[1:]]
    assert any(f.startswith("gemma3-270m/mrpc/gap/") for f in table1["unit_files"])
    assert "base_vs_ift" in numbers["summaries"]
    # e.g. "gemma3-270m (base)layer 2: 0.231 [0.190, 0.270] n=8"
    assert re.search(r"\((base|IFT)\).*layer \d+: \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] n=\d+", out["hover"]), out["hover"]
