"""Figure builders on synthetic data: traces, bands, legend groups, prompt dropdown, hover."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import pytest

from interp import figures
from interp.figures import Bar, Curve, bar_with_ci, fmt_interval, fmt_num, layer_curves
from interp.stats import Interval


def _curves(models=("base", "ift"), prompts=(0, 1, 2, "mean"), band=True) -> list[Curve]:
    out = []
    for k, m in enumerate(models):
        for p in prompts:
            y = [0.1 * k + 0.01 * i for i in range(4)]
            out.append(Curve(m, y, prompt=p, low=[v - 0.05 for v in y] if band else None,
                             high=[v + 0.05 for v in y] if band else None, n=[10, 11, 12, 13]))
    return out


def test_fmt_known_answers() -> None:
    assert fmt_num(0.1236) == "0.124" and fmt_num(None) == "n/a" and fmt_num("x") == "n/a"
    assert fmt_interval(Interval(0.123, 0.101, 0.14, 9)) == "0.123 [0.101, 0.140]"
    assert fmt_interval((0.5, 0.25, 0.75)) == "0.500 [0.250, 0.750]"
    assert fmt_interval({"estimate": 0.5, "low": None, "high": None, "n": 0}) == "0.500"
    assert fmt_interval(Interval(0.318, 0.3, 0.33, 5), 1, scale=100) == "31.8 [30.0, 33.0]"
    assert fmt_interval(math.nan) == "n/a"
    assert math.isnan(figures.interval_parts({"estimate": None})[0])


def test_layer_curves_traces_bands_and_legend_groups() -> None:
    fig = layer_curves(_curves(), title="t", yaxis="y")
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 2 * 4 * 2  # models x prompts x (band + line)
    bands = [t for t in fig.data if t.fill == "toself"]
    lines = [t for t in fig.data if t.fill != "toself"]
    assert len(bands) == len(lines) == 8
    for b in bands:
        assert b.showlegend is False and b.hoverinfo == "skip"
        assert len(b.x) == 8  # polygon: 4 points up, 4 back
        assert b.y[0] == pytest.approx(0.05 + 0.1 * (b.legendgroup == "ift"))  # high first
    assert {t.legendgroup for t in lines} == {"base", "ift"}
    # band and line of a series share the legend group (toggle together) and the color
    b0, l0 = fig.data[0], fig.data[1]
    assert b0.legendgroup == l0.legendgroup
    assert b0.line.color == l0.line.color and b0.fillcolor.startswith("rgba(") and b0.fillcolor.endswith(", 0.18)")
    assert fig.layout.legend.groupclick == "togglegroup"


def test_layer_curves_prompt_dropdown() -> None:
    fig = layer_curves(_curves(), title="t", yaxis="y")
    menu = fig.layout.updatemenus[0]
    assert [b.label for b in menu.buttons] == ["prompt 0", "prompt 1", "prompt 2", "mean over prompts"]
    assert menu.active == 3  # "mean" shown first
    visible = [t.visible for t in fig.data]
    assert sum(visible) == 4  # 2 models x (band + line) for the mean
    for i, button in enumerate(menu.buttons):
        mask = button.args[0]["visible"]
        assert len(mask) == len(fig.data) and sum(mask) == 4
        shown = {fig.data[j].legendgroup for j, v in enumerate(mask) if v}
        assert shown == {"base", "ift"}
    # prompt 1's button shows exactly the traces of prompt-1 curves (2nd of each model's 4)
    mask = menu.buttons[1].args[0]["visible"]
    assert [j for j, v in enumerate(mask) if v] == [2, 3, 10, 11]


def test_layer_curves_single_prompt_has_no_menu_and_hover() -> None:
    fig = layer_curves(_curves(prompts=("mean",)), title="t", yaxis="rate")
    assert not fig.layout.updatemenus
    line = fig.data[1]
    assert "[%{customdata[0]:.3f}, %{customdata[1]:.3f}]" in line.hovertemplate
    assert "n=%{customdata[2]}" in line.hovertemplate
    assert list(line.customdata[0][:3]) == pytest.approx([-0.05, 0.05, 10]) and line.customdata[0][3] == "0"
    assert fig.layout.yaxis.title.text == "rate" and fig.layout.xaxis.title.text == "layer k = block index (0-based)"


def test_layer_curves_without_band_and_relative_depth() -> None:
    fig = layer_curves([Curve("a", [1, 2, 3], x=[0, 1, 2]), Curve("b", [1, 2], x=[0, 4])],
                       title="t", yaxis="y", relative_depth=True, hline=0.0)
    assert len(fig.data) == 2 and all(t.fill != "toself" for t in fig.data)
    assert list(fig.data[0].x) == [0, 0.5, 1] and list(fig.data[1].x) == [0, 1]
    assert "customdata[0]" not in fig.data[0].hovertemplate
    assert fig.layout.xaxis.title.text == "relative depth k / k_last, layer k = block index (0-based)"
    assert "layer %{customdata[3]}" in fig.data[0].hovertemplate


def test_layer_curves_nan_points_are_dropped_from_band() -> None:
    fig = layer_curves([Curve("a", [1, None, 3], low=[0, None, 2], high=[2, None, 4])], title="t", yaxis="y")
    assert len(fig.data[0].x) == 4 and math.isnan(fig.data[1].y[1])


def test_layer_curves_bad_input() -> None:
    with pytest.raises(ValueError, match="curve 'a'.*len\\(low\\)"):
        layer_curves([Curve("a", [1, 2], low=[0], high=[1, 2])], title="t", yaxis="y")
    with pytest.raises(ValueError, match="both low and high"):
        layer_curves([Curve("a", [1, 2], low=[0, 1])], title="t", yaxis="y")
    with pytest.raises(ValueError, match="no curves"):
        layer_curves([], title="t", yaxis="y")


def test_layer_curves_accepts_dicts_and_explicit_colors() -> None:
    fig = layer_curves([{"model": "m", "y": [1, 2], "prompt": 0}], title="t", yaxis="y", colors={"m": "#000000"})
    assert fig.data[0].line.color == "#000000"


def test_bar_with_ci() -> None:
    bars = [Bar(ds, m, v, v - 0.1, v + 0.2, n=5, prompt=p)
            for m, v in (("base", 0.3), ("ift", 0.5)) for ds in ("MRPC", "TAPACO") for p in (0, "mean")]
    fig = bar_with_ci(bars, title="Table 1", yaxis="gap")
    assert len(fig.data) == 4 and fig.layout.barmode == "group"
    t = fig.data[0]
    assert t.name == "base" and list(t.x) == ["MRPC", "TAPACO"]
    assert list(t.error_y.array) == pytest.approx([0.2, 0.2]) and list(t.error_y.arrayminus) == pytest.approx([0.1, 0.1])
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["prompt 0", "mean over prompts"]
    assert [tr.visible for tr in fig.data] == [False, True, False, True]


def test_bar_without_ci_hides_error_bars() -> None:
    fig = bar_with_ci([Bar("x", "m", 1.0)], title="t", yaxis="y")
    assert fig.data[0].error_y.visible is False and "customdata[0]" not in fig.data[0].hovertemplate
    # mixed: bars without an interval get their own trace in the same slot, with no error caps
    fig = bar_with_ci([Bar("z", "m", 1.0), Bar("a", "m", 0.5, 0.4, 0.6), Bar("a", "k", 0.2, 0.1, 0.3)],
                      title="t", yaxis="y")
    assert [(t.name, t.offsetgroup, t.showlegend, t.error_y.visible, tuple(t.x)) for t in fig.data] == [
        ("m", "m", True, True, ("a",)), ("m", "m", False, False, ("z",)), ("k", "k", True, True, ("a",))]
    assert list(fig.layout.xaxis.categoryarray) == ["z", "a"]


def test_fig2_attribute_rate_from_analysis_result() -> None:
    from interp.analyses.attributes import AttributeRates

    def result(model, prompt, shift):
        rate = [Interval(0.1 + shift + 0.05 * l, 0.05 + shift, 0.3 + shift, 3) for l in range(3)]
        return AttributeRates(model=model, normed=True, top=50, layers=(0, 1, 2), rate=tuple(rate),
                              per_relation={}, items=(), item_rates=(), n_queries=3, n_distinct_prompts=3,
                              excluded_subjects=(), n_excluded_queries=0, n_short=0, prompt_index=prompt)

    res = [result("base", p, 0.0) for p in (0, 1)] + [result("ift", None, 0.1).to_dict()]
    fig = figures.fig2_attribute_rate(res)
    lines = [t for t in fig.data if t.fill != "toself"]
    assert [t.name for t in lines] == ["base", "base", "ift"]
    assert list(lines[2].y) == pytest.approx([0.2, 0.25, 0.3])
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["prompt 0", "prompt 1", "mean over prompts"]
    assert "Figure 2" in fig.layout.title.text


# the paper's artefacts, from real result types ----------------------------------------------------


def _extraction(model: str, counts_mhsa, counts_mlp, n: int, prompt=None):
    from interp.analyses.extraction import EventRates, ExtractionRates

    return ExtractionRates(model, len(counts_mhsa), False,
                           {"all": {"mhsa": EventRates(tuple(counts_mhsa), n), "mlp": EventRates(tuple(counts_mlp), n)}},
                           prompt_index=prompt)


def test_model_entries_shapes() -> None:
    r0, r1 = _extraction("a", [0, 1], [0, 0], 4, prompt=0), _extraction("a", [1, 1], [0, 0], 4, prompt=1)
    seq = figures.model_entries([r0, r1.to_dict()])
    assert [(m, p) for m, p, _ in seq] == [("a", "0"), ("a", "1")]
    assert [(m, p) for m, p, _ in figures.model_entries([r0], models=["x"], prompts=["all"])] == [("x", "mean")]
    nested = figures.model_entries({"base": {0: r0, "all": r1}, "ift": r0})
    assert [(m, p) for m, p, _ in nested] == [("base", "0"), ("base", "mean"), ("ift", "0")]
    with pytest.raises(ValueError, match="models: 1 labels for 2 results"):
        figures.model_entries([r0, r1], models=["x"])


def test_fig5_fig8_extraction_known_values_and_classes() -> None:
    res = [_extraction("base", [0, 2, 4], [1, 0, 0], 4), _extraction("ift", [0, 0, 4], [0, 0, 1], 4)]
    from interp.summaries import consistency_classes

    classes = consistency_classes({"base": 0.8, "ift": 0.85}, "base")
    fig = figures.fig5_mhsa_extraction(res, classes=classes)
    lines = [t for t in fig.data if t.fill != "toself"]
    assert [t.name for t in lines] == ["base (base)", "ift (higher)"]
    assert list(lines[0].y) == [0.0, 0.5, 1.0]
    assert lines[1].line.color == figures.CLASS_COLORS["higher"]
    assert lines[0].customdata[1][4] == "(2 events)" and lines[0].customdata[1][2] == 4
    band = fig.data[0]
    assert band.fill == "toself" and max(band.y) <= 1.0 and min(band.y) >= 0.0  # Wilson interval
    mlp = figures.fig8_mlp_extraction(res)
    assert list([t for t in mlp.data if t.fill != "toself"][0].y) == [0.25, 0.0, 0.0]
    assert "MLP" in mlp.layout.title.text
    assert mlp.layout.xaxis.title.text == "layer k = block index (0-based): MLP update of block k"
    assert fig.layout.xaxis.title.text == "layer k = block index (0-based): MHSA update of block k"


def test_consistency_classes_known_answer() -> None:
    """Base 0.5; IFT 0.6 and 0.7 are more than 1.4 points higher, 0.4 is lower."""
    from interp.summaries import CONSISTENCY_CLOSE, consistency_classes

    got = consistency_classes({"base": 0.5, "a": 0.6, "b": 0.4, "c": 0.7}, "base")
    assert got == {"base": "base", "a": "higher", "b": "lower", "c": "higher"}
    note = figures.consistency_classes_note(CONSISTENCY_CLOSE)
    for cls, color in figures.CLASS_COLOR_NAMES.items():  # every color is explained
        assert f"{color}: " in note, cls
    assert "1.4 points" in note


def test_consistency_classes() -> None:
    from interp.summaries import consistency_classes

    got = consistency_classes({"b": 0.5, "lo": 0.49, "eq": 0.5, "close": 0.513, "hi": 0.6,
                               "nan": float("nan")}, "b")
    assert got == {"b": "base", "lo": "lower", "eq": "lower", "close": "higher-close", "hi": "higher",
                   "nan": "unknown"}
    with pytest.raises(ValueError, match="base model 'x'"):
        consistency_classes({"b": 0.5}, "x")


def test_table1_rows_and_bars() -> None:
    import torch

    from interp.analyses.paraphrase_gap import cosine_gap

    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    g = cosine_gap(x, [[0, 1], [2, 3]], [(0, 2), (1, 3)], n_boot=50, representation="post_norm")
    header, rows = figures.table1_rows({"base": {"mrpc": g, "pararel": g.to_dict()}, "ift": {"mrpc": g}})
    assert header == ["model", "MRPC", "PARAREL"]
    assert rows == [["base", "1.000 [1.000, 1.000]", "1.000 [1.000, 1.000]"], ["ift", "1.000 [1.000, 1.000]", "n/a"]]
    fig = figures.table1({"base": {"mrpc": {0: g, "all": g}}, "ift": {"mrpc": g}})
    assert [t.name for t in fig.data] == ["base", "base", "ift"]
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["prompt 0", "mean over prompts"]


def test_fig3_and_fig4_from_analysis_results() -> None:
    import dataclasses

    import torch

    from interp.analyses.paraphrase_gap import SplitLayerGaps, gap_by_layer
    from interp.analyses.relations import RelationCurves

    iv = lambda v: Interval(v, v - 0.1, v + 0.1, 5)  # noqa: E731
    rc = [RelationCurves(tuple(iv(0.5) for _ in range(n)), tuple(iv(0.7) for _ in range(n)), ("P1", "P2"), (),
                         (5, 5), (5, 5), (1, 2), model=m) for m, n in (("a", 3), ("b", 5))]
    fig = figures.fig3_relations(rc)  # depths differ: no band across models (interp.summaries stores none)
    names = [t.name for t in fig.data if t.fill != "toself"]
    assert names == ["a: same relation", "a: different relations", "b: same relation", "b: different relations"]
    assert fig.layout.xaxis.title.text.startswith("relative depth")  # depths differ
    same_a = [t for t in fig.data if t.name == "a: same relation"][0]
    assert same_a.legendgroup == "a" and same_a.line.dash is None
    assert [t for t in fig.data if t.name == "a: different relations"][0].line.dash == "dash"
    assert len(figures.fig3_relations(rc[:1]).data) == 4  # one model: no across-model mean
    from interp.analyses.relations import combine_models

    same = [dataclasses.replace(r, model=m) for r, m in zip([rc[0], rc[0]], "xy")]
    names = [t.name for t in figures.fig3_relations(same, across={"all": combine_models(same, align="layer")}).data
             if t.fill != "toself"]
    assert names[-2:] == ["mean ± std over models: same relation", "mean ± std over models: different relations"]

    resid = torch.randn(4, 3, 8, generator=torch.Generator().manual_seed(0))
    lg = gap_by_layer(resid, [[0, 1], [2, 3]], [(0, 2), (1, 3)], n_boot=20)
    split = SplitLayerGaps(lg, dataclasses.replace(lg, split="consistent"), dataclasses.replace(lg, split="inconsistent"))
    f4 = figures.fig4_paraphrase_gap_by_layer({"m": {0: split, "all": split.to_dict()}}, split="inconsistent")
    assert "Figure 7" in f4.layout.title.text
    line = [t for t in f4.data if t.fill != "toself"][0]
    assert list(line.y) == pytest.approx(lg.curve()[0]) and line.customdata[0][2] == lg.n_pairs


def test_table7_rows_and_figure() -> None:
    from interp.analyses.extraction import extraction_consistency_correlation

    rates = {m: _extraction(m, c, [0, 0], 10) for m, c in (("a", [1, 2]), ("b", [2, 4]), ("c", [3, 7]))}
    table = extraction_consistency_correlation(rates, {"a": 0.1, "b": 0.2, "c": 0.3})
    header, rows = figures.table7_rows(table)
    assert header[:4] == ["Block", "Layer: block index (0-based)", "Pearson", "P-value"]
    assert rows[0][:3] == ["MHSA", "0", "1.000"]  # exactly linear at layer 0
    fig = figures.table7_correlation(table)
    assert [t.name for t in fig.data] == ["MHSA", "MLP"] and fig.data[0].marker.symbol[0] == "star"
    assert fig.layout.xaxis.title.text == "layer k = block index (0-based): MHSA / MLP update of block k"
    few = extraction_consistency_correlation({"a": rates["a"]}, {"a": 0.1})
    assert figures.table7_rows(few)[1] == [] and "at least 3 models" in figures.table7_correlation(few).layout.title.text


def test_base_vs_ift_rows() -> None:
    row = {"metric": "gap", "base": "b", "ift": "i", "base_value": 0.1, "ift_value": 0.3,
           "diff": Interval(0.2, 0.1, 0.3, 8).to_dict(), "p_value": 0.01, "q_value": 0.04, "n": 8}
    header, body = figures.base_vs_ift_rows([row])
    assert len(header) == len(body[0])
    assert body[0] == ["gap", "b", "i", "0.100", "0.300", "0.200 [0.100, 0.300]", "0.010", "0.040 *", "8"]


def test_table2_becel_negation_is_the_papers_flip_rate():
    """The paper's LLaMA rows of Table 6 (Sem, Neg = flip rate) give its Table 2 BECEL column:
    (0.843 + 0.847 + 0.797 + 0.900) / 4 = 84.7 and (0.834 + 0.471 + 0.321 + 0.069) / 4 = 42.4
    (printed 42.3); the label-aware reading differs on WiC (1 - 0.069): 63.9."""
    from interp.analyses.consistency import BecelTask
    from interp.figures import table2_rows, table6_rows
    from interp.stats import Interval

    def iv(x: float) -> Interval:
        return Interval(x, x, x, 10)

    paper = {"snli": (0.843, 0.834), "rte": (0.847, 0.471), "mrpc": (0.797, 0.321),
             "wic": (0.900, 0.069)}
    tasks = [BecelTask(t, iv(0.9), iv(sem), iv(1 - flip if t == "wic" else flip), iv(flip), iv(0.8))
             for t, (sem, flip) in paper.items()]
    from interp.analyses.consistency import becel_summary

    header, rows = table2_rows({"llama": {"becel": becel_summary(tasks)}})  # the pipeline's unit pooled over tasks
    row = dict(zip(header, rows[0]))
    assert row["BECEL ↑ Cons. (paraphrase / negation: flip rate, paper)"] == "84.7 / 42.4"
    assert row["BECEL negation, label-aware"] == "63.9"
    h6, r6 = table6_rows({"llama": tasks})
    wic = dict(zip(h6, r6[-1]))
    assert wic["Neg (flip rate, paper)"].startswith("0.069") and wic["Neg (label-aware)"].startswith("0.931")


def test_layer_numbering_known_answers() -> None:
    assert figures.layer_label() == "block index (0-based)"
    assert figures.layer_label(embeddings=True) == "block index (0-based; -1 = embeddings)"
    assert figures.layer_axis_title(figures.RESID_AT) == "layer k = block index (0-based): residual stream after block k"
    assert figures.block_indices(3) == [0, 1, 2] and figures.block_indices(3, embeddings=True) == [-1, 0, 1]
    assert figures.EMBEDDINGS_INDEX == -1 and "0-based" in figures.LAYER_NUMBERING_NOTE


def test_layer_axes_say_what_the_number_is() -> None:
    """Fig. 2 / 3 / 4: x = block index; a result with the embeddings puts them at -1 and says so."""
    import dataclasses

    import torch

    from interp.analyses.attributes import EMBEDDING_LAYER
    from interp.analyses.paraphrase_gap import SplitLayerGaps, gap_by_layer
    from interp.analyses.relations import RelationCurves

    assert figures.EMBEDDINGS_INDEX == EMBEDDING_LAYER
    resid = torch.randn(4, 3, 8, generator=torch.Generator().manual_seed(0))
    lg = dataclasses.replace(gap_by_layer(resid, [[0, 1], [2, 3]], [(0, 2), (1, 3)], n_boot=20), embeddings=True)
    f4 = figures.fig4_paraphrase_gap_by_layer({"m": SplitLayerGaps(lg, lg, lg)}, split="all")
    assert list([t for t in f4.data if t.fill != "toself"][0].x) == [-1, 0, 1]
    assert f4.layout.xaxis.title.text == ("layer k = block index (0-based; -1 = embeddings): "
                                          "residual stream after block k")

    iv = lambda v: Interval(v, v - 0.1, v + 0.1, 5)  # noqa: E731
    rc = [RelationCurves(tuple(iv(0.5) for _ in range(4)), tuple(iv(0.7) for _ in range(4)), ("P1", "P2"), (),
                         (5, 5), (5, 5), (1, 2), model=m) for m in ("a", "b")]
    from interp.analyses.relations import combine_models

    f3 = figures.fig3_relations(rc, across={"all": combine_models(rc, align="layer")})  # same depth: absolute layers
    assert "relative" not in f3.layout.xaxis.title.text and "block index (0-based)" in f3.layout.xaxis.title.text
    mean = [t for t in f3.data if t.name == "mean ± std over models: same relation"][0]
    assert list(mean.x) == pytest.approx([0, 1, 2, 3])

    r = {"model": "m", "layers": [-1, 0], "prompt_index": None, "top": 50, "normed": True,
         "rate": [{"estimate": 0.1, "low": 0.05, "high": 0.2, "n": 4}] * 2}
    assert "-1 = embeddings" in figures.fig2_attribute_rate([r]).layout.xaxis.title.text


def test_hover_shows_the_absolute_layer_and_legends_the_role() -> None:
    from interp.figures import label_roles

    fig = layer_curves([Curve("m", [1, 2], x=[-1, 0], low=[0, 1], high=[2, 3], n=5),
                        Curve("b", [1, 2, 3], x=[0, 1, 2], name="b: same relation", group="b")],
                       title="t", yaxis="y", relative_depth=True)
    line = fig.data[1]
    assert line.hovertemplate.startswith("m<br>layer %{customdata[3]}: %{y:.3f}")
    assert [c[3] for c in line.customdata] == ["-1", "0"]  # absolute layers on a relative axis
    label_roles(fig, {"m": "base", "b": "IFT"})
    assert [t.name for t in fig.data] == ["m (95% interval)", "m (base)", "b (IFT): same relation"]
    assert fig.data[1].hovertemplate.startswith("m (base)<br>layer")
    fig = bar_with_ci([Bar("x", "m [snli]", 0.2, 0.1, 0.3)], title="t", yaxis="y")
    assert label_roles(fig, {"m": "IFT"}).data[0].name == "m [snli] (IFT)"


def test_long_titles_wrap_and_the_dropdown_has_its_own_row() -> None:
    from interp.figures import wrap_title

    title = "Figures 4 / 6: cos(paraphrases) − cos(non-paraphrases) per layer (consistent predictions)"
    assert all(len(line) <= 72 for line in wrap_title(title)) and " ".join(wrap_title(title)) == title
    one = layer_curves(_curves(prompts=("mean",)), title="short", yaxis="y")
    menu = layer_curves(_curves(), title=title, yaxis="y")
    assert one.layout.margin.t == 70 and "<br>" not in one.layout.title.text
    assert menu.layout.title.text.count("<br>") == 1 and menu.layout.margin.t >= 24 + 2 * 22 + 36
    assert menu.layout.title.yref == "container" and menu.layout.updatemenus[0].yanchor == "bottom"
