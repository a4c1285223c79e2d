"""Table 6: BECEL symmetric / semantic / negation consistency per task."""

from __future__ import annotations

from interp import figures, paper_values
from interp.report.context import ReportContext
from interp.report.registry import SECTIONS
from interp.report.render import Content, Table
from interp.report.sections._common import add_paper_column, becel_tasks, needs, sanity_badge


@SECTIONS.register("table6", "Table 6: BECEL symmetric / semantic / negation consistency per task", order=30)
def _table6(ctx: ReportContext) -> Content:
    missing = needs(ctx, "consistency", "Table 6", "becel")
    if missing:
        return missing
    tasks = becel_tasks(ctx)
    ordered = {m.label: tasks[m.label] for m in ctx.models if m.label in tasks}
    header, rows = figures.table6_rows(ordered)
    paper_note = add_paper_column(ctx, header, rows, lambda m, row: paper_values.becel_task_cell(m, row[1]))
    return [sanity_badge(ctx, "table6"),
            Table(header, rows, note="95% bootstrap intervals over pairs / test examples. Neg (flip rate, paper) = "
                                     "the fraction of negated pairs whose prediction changed: the paper's Table 6 "
                                     "column, whose task mean is Table 2's. Neg (label-aware) = the prediction "
                                     "changed exactly when the gold label changed (equal to the flip rate on "
                                     "SNLI/RTE/MRPC, where every negated pair changes label; 1 - flip rate on WiC, "
                                     "where none does). Train (excluded): the classifier's training examples and the "
                                     "training rows removed because they are evaluation rows (a test example or "
                                     "either side of an evaluated pair, in either order): no evaluation row is "
                                     "trained on. RTE/MRPC/WiC's symmetric pairs are swapped training rows, so at "
                                     "most [limits] becel_symmetric_max_share of the training split is held out "
                                     "for them." + paper_note),
            figures.table6(ordered, colors=ctx.colors)]
