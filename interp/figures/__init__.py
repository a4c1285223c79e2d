"""Plotly figures for notebooks and the HTML report: every figure function returns a ``go.Figure``.

* :mod:`interp.figures.plotting` — primitives: colors, number / interval formatting, the layer
  numbering, :func:`layer_curves` (lines with interval bands, model toggles, a prompt dropdown) and
  :func:`bar_with_ci` (grouped bars with error bars);
* :mod:`interp.figures.paper` — the paper's figures and table rows (``fig2_attribute_rate`` ...
  ``table7_rows``), from the analyses' results or their stored dicts.

Everything is re-exported here: ``from interp import figures; figures.fig2_attribute_rate(...)``.
"""

from __future__ import annotations

from interp.figures.paper import (
    BECEL_COLUMNS, BECEL_METHODS, CLASS_COLOR_NAMES, CLASS_COLORS, as_dict, base_vs_ift_rows,
    consistency_classes_note, fig2_attribute_rate, fig3_relations,
    fig4_paraphrase_gap_by_layer, fig5_mhsa_extraction, fig8_mlp_extraction, mmlu_letters_rows, model_entries,
    table1, table1_rows, table2, table2_rows, table6, table6_rows, table7_correlation, table7_rows,
)
from interp.figures.plotting import (
    EMBEDDINGS_INDEX, LAYER_NUMBERING_NOTE, MEAN, PALETTE, RESID_AT, Bar, Curve, add_prompt_menu, bar_with_ci,
    block_index, block_indices, fmt_interval, fmt_num, interval_parts, label_roles, layer_axis_title, layer_curves,
    layer_label, model_colors, prompt_label, title_layout, to_float, to_floats, wrap_title,
)

__all__ = [
    "BECEL_COLUMNS", "BECEL_METHODS", "CLASS_COLORS", "CLASS_COLOR_NAMES", "EMBEDDINGS_INDEX",
    "LAYER_NUMBERING_NOTE", "MEAN", "PALETTE", "RESID_AT", "Bar", "Curve", "add_prompt_menu", "as_dict",
    "bar_with_ci", "base_vs_ift_rows", "block_index", "block_indices",
    "consistency_classes_note", "fig2_attribute_rate", "fig3_relations", "fig4_paraphrase_gap_by_layer",
    "fig5_mhsa_extraction", "fig8_mlp_extraction", "fmt_interval", "fmt_num", "interval_parts", "label_roles",
    "layer_axis_title",
    "layer_curves", "layer_label", "mmlu_letters_rows", "model_colors", "model_entries", "prompt_label", "table1",
    "table1_rows", "table2", "table2_rows", "table6", "table6_rows", "table7_correlation", "table7_rows",
    "title_layout", "to_float", "to_floats", "wrap_title",
]
