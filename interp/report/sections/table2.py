"""Table 2: consistency and spread on MMLU, PARAREL and BECEL (the main model family);
:func:`table2_for` also builds the Table 5 blocks."""

from __future__ import annotations

from collections.abc import Sequence

from interp import figures, paper_values
from interp.report.context import ReportContext, role_label
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Html, Table
from interp.report.sections._common import (
    add_paper_column, main_family, mean_entries, other_families_note, sanity_badge, unit_label, with_pooled,
)


def table2_for(ctx: ReportContext, models: Sequence[str] | None, what: str = "Table 2",
               extra_note: str = "") -> Content:
    """Table 2 (or a Table 5 block) for ``models`` (``None``: every model)."""
    have = [ctx.units(analysis="spread", dataset="mmlu", model=models, mark_used=False),
            ctx.units(analysis="consistency", dataset=("pararel", "becel"), model=models, mark_used=False)]
    if not any(have):
        return Absent(f"{what} needs `spread` results on mmlu or `consistency` results on pararel / becel; "
                      "none in the store (run the sweep with them)")
    mmlu_units = ctx.units(analysis="spread", dataset="mmlu", model=models)
    mmlu: dict[str, dict] = {}
    notes = []
    for label in dict.fromkeys(unit_label(u) for u in mmlu_units):
        us = [u for u in mmlu_units if unit_label(u) == label]
        pooled = [u for u in us if u.key.prompt == "all"]
        if pooled or len(us) == 1:
            mmlu[label] = (pooled or us)[0].payload
        else:
            notes.append(f"{label}: MMLU has only per-prompt units (no pooled unit with the 3 instructions)")
    pararel = mean_entries(with_pooled(ctx.units(analysis="consistency", dataset="pararel", model=models)))
    # BECEL: the unit pooled over tasks (Table 2's means; Table 6 has the tasks)
    becel = {u.key.model: u.payload for u in ctx.units(analysis="consistency", dataset="becel", model=models,
                                                       prompt="all", extra="")}
    if not becel and ctx.units(analysis="consistency", dataset="becel", model=models, mark_used=False):
        notes.append("BECEL: per-task units only (no unit pooled over the tasks; run the sweep again)")
    results = {m.label: {"mmlu": mmlu.get(m.label), "pararel": pararel.get(m.label), "becel": becel.get(m.label)}
               for m in ctx.models if m.label in mmlu or m.label in pararel or m.label in becel}
    header, rows = figures.table2_rows(results)
    header.insert(1, "role")
    for row in rows:
        row.insert(1, role_label(ctx.role(row[0])))
    paper_note = add_paper_column(ctx, header, rows, lambda m, _: paper_values.consistency_cell(m))
    note = ("Percent, 95% bootstrap intervals. MMLU: mean over 3 instructions × 3 answer orderings; spread (the "
            "paper's, App. C.1) = max − min over instructions of the accuracy averaged over orderings. A max − min of "
            "noisy accuracies exceeds zero even when the instruction does not matter: “no-effect” is the spread "
            "expected with the instructions shuffled within each question, p the one-sided permutation p-value of "
            "the observed spread against it. Other readings: the mean over orderings of each ordering's spread over "
            "instructions, and max − min over all 9 setups. PARAREL: mean over prompts ± sd over prompts "
            "(footnote 4). BECEL: mean over tasks (Table 6 has the intervals). “(chance)”: 25% lies inside the "
            "accuracy interval — then the spread over orderings measures letter bias, see the letter distribution.")
    methods = {label: sorted({figures.BECEL_METHODS[t.get("method", "probe")] for t in d.get("tasks", [])})
               for label, d in becel.items()}
    if methods:
        note += (" BECEL classifier: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in methods.items())
                 + " (probe = logistic regression on frozen last-token features; the paper fine-tunes).")
    if notes:
        note += " " + "; ".join(notes) + "."
    note += paper_note + extra_note
    out: list[Content] = [sanity_badge(ctx, "table2", models), Table(header, rows, note=note),
                          figures.table2(results, colors=ctx.colors)]
    if mmlu:
        lh, lr = figures.mmlu_letters_rows(mmlu)
        out += [Html("<details><summary>MMLU: accuracy and predicted-letter distribution per setup</summary>"),
                Table(lh, lr), Html("</details>")]
    return out


@SECTIONS.register("table2", "Table 2: consistency and spread (MMLU, PARAREL, BECEL), with 95% intervals", order=20)
def _table2(ctx: ReportContext) -> Content:
    """Table 2 for the main model family (every model when the store has one family)."""
    return table2_for(ctx, main_family(ctx), "Table 2", other_families_note(ctx))
