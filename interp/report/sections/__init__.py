"""The paper's report sections, one module per artefact; importing this package registers them in
:data:`interp.report.SECTIONS` (order: findings 1, sanity checks 2, Table 1 = 10, Table 2 = 20,
PARAREL per relation = 22, PARAREL example facts = 23, Tables 4/5 = 25, Table 6 = 30, Fig. 2 = 40,
Fig. 3 = 50, Fig. 4 = 60, Fig. 5 = 70, Fig. 8 = 80, Table 7 = 90, base vs IFT = 100, other analyses =
110). Shared helpers: :mod:`._common` (a figure's entries, model families, the paper's column, the
sanity badges). Sections render stored results only: the pipeline pools and stores the cross-model
summaries (:mod:`interp.summaries`)."""

from __future__ import annotations

from interp.report.sections import (  # noqa: F401  (imported to register the sections)
    base_vs_ift, extraction, fig2, fig3, fig4, findings, other, pararel_drill, sanity, table1, table2, table6, table7,
    table45,
)
from interp.report.sections import knockout  # noqa: F401,E402  (attention knockout)
