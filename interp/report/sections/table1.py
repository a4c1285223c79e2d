"""Table 1: cos(paraphrases) − cos(non-paraphrases) per model and dataset (the main model family);
:func:`table1_for` also builds the Table 4 blocks."""

from __future__ import annotations

from collections.abc import Sequence

from interp import figures, paper_values
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Absent, Content, Table
from interp.report.sections._common import (
    add_paper_column, main_family, mean_entries, needs, other_families_note, role_of, sanity_badge, with_pooled,
)


def table1_for(ctx: ReportContext, models: Sequence[str] | None, what: str = "Table 1",
               extra_note: str = "") -> Content:
    """Table 1 (or a Table 4 block) for ``models`` (``None``: every model)."""
    datasets = ("mrpc", "tapaco", "pararel")
    missing = needs(ctx, "gap", what, datasets)
    if missing:
        return missing
    if models is not None and not ctx.units(analysis="gap", dataset=datasets, model=models, mark_used=False):
        return Absent(f"{what} needs `gap` results of {', '.join(models)}; none in the store")
    per_model: dict[str, dict[str, dict]] = {}
    per_prompt: dict[str, dict[str, dict]] = {}
    reps: set[str] = set()
    for ds in datasets:
        entries = with_pooled(ctx.units(analysis="gap", dataset=ds, model=models))
        for label, d in mean_entries(entries).items():
            per_model.setdefault(label, {})[ds] = d
            reps.add(str(d.get("representation")))
        for label, p, d in entries:
            per_prompt.setdefault(label, {}).setdefault(ds, {})[p] = d
    header, rows = figures.table1_rows(per_model)
    header.insert(1, "role")
    for row in rows:
        row.insert(1, role_of(ctx, row[0]))
    paper_note = add_paper_column(ctx, header, rows, lambda m, _: paper_values.gap_cell(m))
    names = {"post_norm": "after the final norm (HF's last hidden state)", "pre_norm": "before the final norm",
             "encoder_mean": "the encoder's final-normed output, mean-pooled (encoder-decoder option)"}
    rep = "; ".join(names.get(r, r) for r in sorted(reps))
    table = Table(header, rows, note=f"Mean over prompts, 95% bootstrap interval. Representation: the last token's "
                                     f"outermost representation {rep} (an encoder-decoder's last token: the decoder's "
                                     f"first position).{paper_note}{extra_note}")
    return [sanity_badge(ctx, "table1", models), table, figures.table1(per_prompt, colors=ctx.colors)]


@SECTIONS.register("table1", "Table 1: cos(paraphrases) − cos(non-paraphrases), outermost representation", order=10)
def _table1(ctx: ReportContext) -> Content:
    """Table 1 for the main model family (every model when the store has one family)."""
    return table1_for(ctx, main_family(ctx), "Table 1", other_families_note(ctx))
