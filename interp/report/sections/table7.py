"""Table 7: Pearson r of extraction rate vs PARAREL consistency across IFT models."""

from __future__ import annotations

from interp import figures
from interp.report.context import IFT, ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Table
from interp.report.sections._common import mean_entries, pararel_consistency, pool_extraction, with_pooled


@SECTIONS.register("table7", "Table 7: Pearson r of extraction rate vs PARAREL consistency across IFT models",
                   order=90)
def _table7(ctx: ReportContext) -> Content:
    ift = ctx.models_with(IFT)
    if len(ift) < 3:
        return Absent(f"Table 7 needs >= 3 IFT models (a correlation across models); {len(ift)} present")
    rates = mean_entries(with_pooled(ctx.units(analysis="extraction", dataset="pararel", model=ift), pool_extraction))
    cons = {label: pararel_consistency(d) for label, d in mean_entries(
        with_pooled(ctx.units(analysis="consistency", dataset="pararel", model=ift))).items()}
    have = [m for m in ift if m in rates and m in cons]
    if len(have) < 3:
        return Absent(f"Table 7 needs extraction and PARAREL consistency results for >= 3 IFT models; "
                      f"{len(have)} have both ({', '.join(have) or 'none'})")
    from interp.analyses.extraction import ExtractionRates, extraction_consistency_correlation

    table = extraction_consistency_correlation({m: ExtractionRates.from_dict(rates[m]) for m in have},
                                               {m: cons[m] for m in have}).to_dict()
    if table.get("reason"):
        return Absent(f"Table 7: {table['reason']}")
    header, rows = figures.table7_rows(table)
    n_tests = sum(r["p_value"] is not None for r in table["rows"])
    note = (f"Layers with uncorrected p ≤ {table['alpha']}, as the paper lists them; q = p adjusted over all "
            f"{n_tests} tests of the table (2 blocks × layers; Benjamini–Hochberg false discovery rate), "
            f"* q ≤ {table['alpha']}: only those survive the correction (at {n_tests} tests about "
            f"{n_tests * table['alpha']:.1f} uncorrected false positives are expected by chance). "
            f"Models: {', '.join(table['models'])}.")
    return [Table(header, rows, note=note if rows else f"No layer has p ≤ {table['alpha']}."),
            figures.table7_correlation(table)]
