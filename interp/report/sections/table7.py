"""Table 7: Pearson r of extraction rate vs PARAREL consistency across IFT models (the stored
``table7`` summary, :mod:`interp.summaries`)."""

from __future__ import annotations

from interp import figures
from interp.report.context import IFT, ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Table


@SECTIONS.register("table7", "Table 7: Pearson r of extraction rate vs PARAREL consistency across IFT models",
                   order=90)
def _table7(ctx: ReportContext) -> Content:
    ift = ctx.models_with(IFT)
    if len(ift) < 3:
        return Absent(f"Table 7 needs >= 3 IFT models (a correlation across models); {len(ift)} present")
    table = ctx.summary("table7")
    if table is None:
        return Absent("Table 7 needs the correlation the sweep stores once >= 3 IFT models have extraction and "
                      "PARAREL consistency results (run the sweep)")
    if table.reason:
        return Absent(f"Table 7: {table.reason}")
    header, rows = figures.table7_rows(table.to_dict())
    note = (f"Layers with uncorrected p ≤ {table.alpha}, as the paper lists them; q = p adjusted over all "
            f"{table.n_tests} tests of the table (2 blocks × layers; Benjamini–Hochberg false discovery rate), "
            f"* q ≤ {table.alpha}: only those survive the correction (at {table.n_tests} tests about "
            f"{table.expected_false_positives:.1f} uncorrected false positives are expected by chance). "
            f"Models: {', '.join(table.models)}.")
    return [Table(header, rows, note=note if rows else f"No layer has p ≤ {table.alpha}."),
            figures.table7_correlation(table.to_dict())]
