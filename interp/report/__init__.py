"""The HTML report: one self-contained file (plotly.js inlined once, no network) built from a store.

The report is assembled from a registry of sections (:data:`SECTIONS`), in the paper's order. A
section is a function ``(ReportContext) -> content | Absent``: content is an HTML string, a
``go.Figure``, a :class:`Table`, or a list of those; :class:`Absent` carries the reason the artefact
is missing, which the report shows in place of the section. Adding or replacing a section (the
same id replaces it; ``order`` places it: Table 1 = 10, Table 2 = 20, Tables 4/5 = 25, Table 6 = 30, Fig. 2 = 40,
Fig. 3 = 50, Fig. 4 = 60, Fig. 5 = 70, Fig. 8 = 80, Table 7 = 90, base vs IFT = 100)::

    from interp.figures import fmt_interval
    from interp.report import SECTIONS, Absent, Table

    @SECTIONS.register("table5", "Table 5: extra models", order=25)
    def _table5(ctx):                                  # ctx: ReportContext
        units = ctx.units(analysis="gap", dataset="mrpc", prompt="all")  # marks them as used
        if not units:
            return Absent("no pooled `gap` results on mrpc in the store")
        return Table(["model", "MRPC"], [[u.key.model, fmt_interval(u.payload["gap"])] for u in units])

Sections that raise are shown as failed (with the error) unless ``build_report(strict=True)``.

Layout: :mod:`.context` (:class:`ReportContext`, model roles), :mod:`.registry` (:data:`SECTIONS`),
:mod:`.render` (content types, HTML rendering; the page is ``templates/report.html.j2`` with
``report.css``, ``error_sink.js``, ``status.js`` and ``download.js``, the CSV / JSON buttons),
:mod:`.build` (:func:`build_report`) and :mod:`.sections` (one module per paper artefact).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from interp.results import ResultStore
    >>> out = build_report(ResultStore(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "r.html")
    >>> "Table 1" in out.read_text()
    True
"""

from __future__ import annotations

from interp.report.build import build_report, check_results_dir, check_writable
from interp.report.context import BASE, IFT, UNKNOWN, ModelInfo, ReportContext, base_of, model_role, skipped_notes
from interp.report.registry import SECTIONS, Section, SectionBuilder, SectionRegistry
from interp.report.render import CONFIG_OPTIONS, OPTION_KEYS, Absent, Content, Html, Table, html_table
from interp.report import sections  # noqa: F401  (registers the paper's sections in SECTIONS)
from interp.report.sections._common import lens_name, mean_entries, model_families, unit_label, with_pooled
from interp.report.sections.extraction import extraction_classes

__all__ = [
    "BASE", "CONFIG_OPTIONS", "IFT", "OPTION_KEYS", "SECTIONS", "UNKNOWN", "Absent", "Content",
    "Html", "ModelInfo", "ReportContext", "Section", "SectionBuilder", "SectionRegistry", "Table",
    "base_of", "build_report", "check_results_dir", "check_writable", "extraction_classes",
    "html_table", "lens_name", "mean_entries", "model_families", "model_role",
    "sections", "skipped_notes", "unit_label", "with_pooled",
]
