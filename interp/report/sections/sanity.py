"""Sanity checks: every flag of the stored ``sanity`` summary (:mod:`interp.sanity`), near the top
of the page; each flag is also shown in its own section beside the numbers."""

from __future__ import annotations

from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Html, Table

#: what each check looks for, in the note under the list
CHECKS = ("a standard deviation over prompts of exactly 0; per-prompt results identical across prompts; more than "
          "half of Fig. 2's subjects excluded; Fig. 3's same-relation cosine below the different-relation cosine at "
          "most layers while relation layers are named; MMLU accuracy whose interval holds chance; units computed "
          "under a setting (seed, limits, dtype, lens, package versions, ...) unlike the rest of the sweep's")


@SECTIONS.register("sanity", "Sanity checks: numbers that look wrong by construction", order=2)
def _sanity(ctx: ReportContext) -> Content:
    flags = ctx.summary("sanity")
    if flags is None:
        return Absent("needs the sweep's `sanity` summary (`interp sweep` computes it from the stored units)")
    titles = {s.id: s.title.split(":")[0] for s in SECTIONS}
    note = f"Checked {flags.n_units} unit(s) for: {CHECKS}."
    if not flags.flags:
        return Html(f'<p>No flag raised.</p><p class="note">{note}</p>')
    rows = [[", ".join(titles.get(s, s) for s in f.sections if s in titles) or "–", f.model or "sweep", f.what, f.why,
             "; ".join(f.units)] for f in flags.flags]
    return Table(["shown in", "model", "number", "why it looks wrong", "unit files"], rows, note=note)
