"""Other analyses: every registered analysis that declares no report section of its own
(``Analysis.sections`` empty, e.g. one just added as CONTRIBUTING.md shows) gets a table of its
stored results' numbers, so a new analysis is in the report the moment it is registered."""

from __future__ import annotations

import html
import math
from dataclasses import fields, is_dataclass
from typing import Any

from interp import registry
from interp.figures import fmt_interval, fmt_num
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Html, Table
from interp.report.sections._common import role_of, unit_label
from interp.stats import Interval


def _cell(v: Any) -> str | None:
    """A field shown as a cell: a number or an interval (other fields are left out)."""
    if isinstance(v, Interval):
        return fmt_interval(v)
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return fmt_num(v) if isinstance(v, float) and not math.isnan(v) else str(v)
    return None


@SECTIONS.register("other", "Other analyses (registered without a section of their own)", order=110)
def _other(ctx: ReportContext) -> Content:
    out: list[Content] = []
    for a in registry.analyses():
        if a.sections:
            continue
        for ds in a.datasets:
            units = ctx.units(analysis=a.name, dataset=ds)
            if not units:
                continue
            rows, header = [], None
            for u in units:
                r = ctx.store.result(u.key)
                cells = {f.name: c for f in fields(r) if (c := _cell(getattr(r, f.name))) is not None} \
                    if is_dataclass(r) else {}
                header = header or list(cells)
                rows.append([unit_label(u), role_of(ctx, unit_label(u)), str(u.key.prompt)]
                            + [cells.get(h, "–") for h in header])
            out += [Html(f"<h3>{html.escape(a.name)} on {html.escape(ds)}</h3>"), Table(["model", "role", "prompt", *(header or [])], rows)]
    return out or Absent("every stored analysis has a section of its own")
