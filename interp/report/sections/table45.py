"""Tables 4 and 5: Tables 1 and 2 for each model family but the main one."""

from __future__ import annotations

import html

from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Html
from interp.report.sections._common import model_families
from interp.report.sections.table1 import table1_for
from interp.report.sections.table2 import table2_for


@SECTIONS.register("table45", "Tables 4 and 5: the other model families (e.g. T5-XL / FlanT5-XL, Falcon-7b / "
                             "Falcon-7b-instruct)", order=25)
def _table45(ctx: ReportContext) -> Content:
    """Tables 1 and 2's content for each model family but the main one (:func:`model_families`),
    one block per family, as the paper's Tables 4 and 5 (App. B.3, C.3)."""
    others = model_families(ctx)[1:]
    if not others:
        return Absent("one model family in the store (a base model and its IFT models): Tables 1 and 2 show it; "
                      "Tables 4 and 5 show further families (another base model with its IFT models)")
    out: list[Content] = []
    for fam in others:
        out.append(Html(f"<h3>{html.escape(fam[0])} and its IFT models ({html.escape(', '.join(fam[1:]) or 'none')})"
                        "</h3>"))
        out.append(Html("<h4>Table 4: cos(paraphrases) − cos(non-paraphrases)</h4>"))
        out.append(table1_for(ctx, fam, "Table 4"))
        out.append(Html("<h4>Table 5: consistency and spread</h4>"))
        out.append(table2_for(ctx, fam, "Table 5"))
    return out
