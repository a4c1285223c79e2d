"""The paper's figures and table rows, built on :mod:`interp.figures.plotting`.

Each takes the analyses' result objects or their dicts (``to_dict()``, as stored), in one of two
shapes: a sequence of results (model read from the result's ``model`` field or ``models=``,
prompt from its ``prompt_index`` or ``prompts=``), or a mapping ``{model: result}`` /
``{model: {prompt: result}}`` (prompt ``"mean"`` / ``"all"`` / None = pooled over prompts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from interp.figures.plotting import (
    EMBEDDINGS_INDEX, MEAN, PALETTE, RESID_AT, Bar, Curve, bar_with_ci, block_index, block_indices, fmt_interval,
    fmt_num, interval_parts, layer_axis_title, layer_curves, layer_label, prompt_label, title_layout, to_float,
    to_floats,
)

CLASS_COLORS: dict[str, str] = {"base": "#333333", "lower": "#e6a700", "higher-close": "#74a9cf",
                                "higher": "#08519c"}
#: the colors of :data:`CLASS_COLORS` in words, for notes
CLASS_COLOR_NAMES: dict[str, str] = {"base": "dark grey", "lower": "yellow", "higher-close": "light blue",
                                     "higher": "dark blue"}


def as_dict(result: Any) -> dict:
    """A result dataclass (``to_dict()``) or its dict, as a dict."""
    if isinstance(result, Mapping):
        return dict(result)
    if hasattr(result, "to_dict"):
        return result.to_dict()
    raise ValueError(f"expected a result object with to_dict() or its dict, got {type(result).__name__}")


def _is_result(x: Any) -> bool:
    """A result (object or dict), as opposed to a container ``{model or prompt: result}``: a
    container's values are all results; a SplitLayerGaps dict (keys all / consistent /
    inconsistent) is a result."""
    if hasattr(x, "to_dict"):
        return True
    if not isinstance(x, Mapping):
        return False
    if set(x) == {"all", "consistent", "inconsistent"}:
        return True
    return not x or not all(isinstance(v, Mapping) or hasattr(v, "to_dict") for v in x.values())


def model_entries(results: Any, *, models: Sequence[str] | None = None,
                  prompts: Sequence[Any] | None = None) -> list[tuple[str, str, dict]]:
    """Normalise the accepted input shapes to ``[(model, prompt label, result dict)]``.

    Example:
        >>> model_entries({"m": {0: {"model": "m", "rate": []}, "all": {"model": "m", "rate": []}}})
        [('m', '0', {'model': 'm', 'rate': []}), ('m', 'mean', {'model': 'm', 'rate': []})]
    """
    out: list[tuple[str, str, dict]] = []
    if isinstance(results, Mapping) and not _is_result(results):
        for model, v in results.items():
            if isinstance(v, Mapping) and not _is_result(v):
                out += [(str(model), prompt_label(p), as_dict(r)) for p, r in v.items()]
            else:
                d = as_dict(v)
                out.append((str(model), prompt_label(d.get("prompt_index")), d))
        return out
    ds = [as_dict(r) for r in results]
    for name, given in (("models", models), ("prompts", prompts)):
        if given is not None and len(given) != len(ds):
            raise ValueError(f"{name}: {len(given)} labels for {len(ds)} results")
    for i, d in enumerate(ds):
        model = models[i] if models is not None else str(d.get("model") or f"model {i}")
        prompt = prompts[i] if prompts is not None else d.get("prompt_index")
        out.append((model, prompt_label(prompt), d))
    return out


def _auto_depth(relative_depth: bool | None, lengths: Sequence[int]) -> bool:
    return len(set(lengths)) > 1 if relative_depth is None else relative_depth


def _interval_curve(model: str, prompt: str, intervals: Sequence[Any], x: Sequence[float], **kw: Any) -> Curve:
    parts = [interval_parts(iv) for iv in intervals]
    return Curve(model, [p[0] for p in parts], x=list(x), prompt=prompt, low=[p[1] for p in parts],
                 high=[p[2] for p in parts], **kw)


def fig2_attribute_rate(
    results: Any,
    *,
    models: Sequence[str] | None = None,
    prompts: Sequence[Any] | None = None,
    relative_depth: bool | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Figure 2: subject-attribute rate per layer (:class:`~interp.analyses.attributes.AttributeRates`),
    one curve per model and prompt, 95% band, n = (relation, subject) items.

    Example:
        >>> r = {"model": "m", "layers": [0, 1], "prompt_index": None, "top": 50, "normed": True,
        ...      "rate": [{"estimate": 0.1, "low": 0.05, "high": 0.2, "n": 4},
        ...               {"estimate": 0.3, "low": 0.2, "high": 0.4, "n": 4}]}
        >>> fig2_attribute_rate([r]).data[1].y
        (0.1, 0.3)
    """
    entries = model_entries(results, models=models, prompts=prompts)
    curves = [_interval_curve(m, p, d["rate"], d["layers"], n=[interval_parts(iv)[3] for iv in d["rate"]])
              for m, p, d in entries]
    top = entries[0][2].get("top", 50) if entries else 50
    rel = _auto_depth(relative_depth, [len(d["layers"]) for _, _, d in entries])
    embeddings = any(EMBEDDINGS_INDEX in d["layers"] for _, _, d in entries)
    return layer_curves(curves, title=f"Figure 2: subject-attribute rate (top-{top} tokens at the last subject token)",
                        yaxis=f"attribute rate (of top {top})", colors=colors, relative_depth=rel,
                        xaxis=layer_axis_title(RESID_AT, embeddings=embeddings, relative=rel))


def _gap_of(d: Mapping[str, Any]) -> Any:
    return d.get("gap")


def table1_rows(results: Mapping[str, Mapping[str, Any]], *, datasets: Sequence[str] = ("mrpc", "tapaco", "pararel"),
                digits: int = 3) -> tuple[list[str], list[list[str]]]:
    """Table 1 as (header, rows): per model, cos(paraph.) - cos(not paraph.) per dataset with its
    95% interval. ``results[model][dataset]`` is a :class:`~interp.analyses.paraphrase_gap.GapResult`
    (the prompt average) or its dict.

    Example:
        >>> g = {"gap": {"estimate": 0.1, "low": 0.05, "high": 0.15, "n": 9}}
        >>> table1_rows({"m": {"mrpc": g}})
        (['model', 'MRPC'], [['m', '0.100 [0.050, 0.150]']])
    """
    present = [ds for ds in datasets if any(ds in per for per in results.values())]
    header = ["model"] + [ds.upper() for ds in present]
    rows = [[model] + [fmt_interval(_gap_of(as_dict(per[ds])), digits) if ds in per else "n/a" for ds in present]
            for model, per in results.items()]
    return header, rows


def table1(results: Mapping[str, Mapping[str, Any]], *, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Table 1 as grouped bars: the gap per dataset (x) and model (color) with 95% error bars;
    ``results[model][dataset]`` is a GapResult (prompt average) or ``{prompt: GapResult}``."""
    bars = []
    for model, per in results.items():
        for ds, r in per.items():
            items = r.items() if isinstance(r, Mapping) and not _is_result(r) else [(MEAN, r)]
            for p, res in items:
                est, low, high, n = interval_parts(_gap_of(as_dict(res)))
                bars.append(Bar(ds.upper(), model, est, low, high, n, prompt=prompt_label(p)))
    rep = {as_dict(r).get("representation") for per in results.values() for r in per.values()
           if not (isinstance(r, Mapping) and not _is_result(r))} - {None}
    sub = f" ({', '.join(sorted(rep))} outermost representation)" if rep else ""
    return bar_with_ci(bars, title=f"Table 1: cos(paraphrases) − cos(non-paraphrases){sub}",
                       yaxis="cos gap", colors=colors, hline=0.0)


def fig3_relations(
    results: Any,
    *,
    models: Sequence[str] | None = None,
    prompts: Sequence[Any] | None = None,
    relative_depth: bool | None = None,
    across: Mapping[str, Any] | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Figure 3: per-layer cosine of same-relation (solid) vs different-relation (dashed) query
    pairs (:class:`~interp.analyses.relations.RelationCurves`), one color per model, 95% bands; and
    the mean ± std over models (the paper's plot) from ``across``: prompt label ("0", ..., "all") ->
    :class:`~interp.analyses.relations.ModelsCurves` (the stored ``relations_across_models``
    summary, layer-aligned)."""
    entries = model_entries(results, models=models, prompts=prompts)
    rel = _auto_depth(relative_depth, [len(d["same"]) for _, _, d in entries])
    embeddings = any(d.get("embeddings") for _, _, d in entries)
    curves = []
    for m, p, d in entries:
        x = block_indices(len(d["same"]), embeddings=bool(d.get("embeddings")))
        for which, dash, what in (("same", None, "same relation"), ("different", "dash", "different relations")):
            curves.append(_interval_curve(m, p, d[which], x, name=f"{m}: {what}", group=m, dash=dash))
    for p, mc in (across or {}).items():
        x = [block_index(int(v), embeddings=embeddings) for v in mc.x]
        for which, dash, what in (("same", None, "same relation"), ("different", "dash", "different relations")):
            mean, std = to_floats(getattr(mc, f"{which}_mean")), to_floats(getattr(mc, f"{which}_std"))
            curves.append(Curve("mean over models", mean, x=x, prompt=prompt_label(p),
                                low=[a - b for a, b in zip(mean, std)], high=[a + b for a, b in zip(mean, std)],
                                name=f"mean ± std over models: {what}", group="mean over models", dash=dash,
                                color="#555555", band_is_ci=False,
                                text=[f"± {fmt_num(v)} sd over {k} models" for v, k in zip(std, mc.n_models)]))
    return layer_curves(curves, title="Figure 3: cosine of query pairs, same vs different relation",
                        yaxis="cosine similarity", relative_depth=rel, colors=colors,
                        xaxis=layer_axis_title(RESID_AT, embeddings=embeddings, relative=rel))


def _layer_gap_of(d: Mapping[str, Any], split: str) -> dict:
    return dict(d[split]) if split in d and isinstance(d[split], Mapping) else dict(d)


def fig4_paraphrase_gap_by_layer(
    results: Any,
    *,
    split: str = "consistent",
    models: Sequence[str] | None = None,
    prompts: Sequence[Any] | None = None,
    relative_depth: bool | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Figures 4, 6, 7: cos(paraph.) − cos(not paraph.) per layer on PARAREL for the paraphrase
    pairs with consistent predictions (``split="consistent"``: Fig. 4, and per prompt Fig. 6),
    inconsistent ones (Fig. 7) or all; results are :class:`~interp.analyses.paraphrase_gap.SplitLayerGaps`
    (or a single ``LayerGap``), n = paraphrase pairs."""
    entries = model_entries(results, models=models, prompts=prompts)
    gaps = [(m, p, _layer_gap_of(d, split)) for m, p, d in entries]
    curves = [_interval_curve(m, p, lg["gap"], block_indices(len(lg["gap"]), embeddings=bool(lg.get("embeddings"))),
                              n=lg.get("n_pairs")) for m, p, lg in gaps]
    fig_name = {"consistent": "Figures 4 / 6", "inconsistent": "Figure 7"}.get(split, "Paraphrase gap")
    rel = _auto_depth(relative_depth, [len(lg["gap"]) for _, _, lg in gaps])
    embeddings = any(lg.get("embeddings") for _, _, lg in gaps)
    return layer_curves(
        curves, title=f"{fig_name}: cos(paraphrases) − cos(non-paraphrases) per layer ({split} predictions)",
        yaxis="cos gap", hline=0.0, colors=colors, relative_depth=rel,
        xaxis=layer_axis_title(RESID_AT, embeddings=embeddings, relative=rel))


def consistency_classes_note(close: float) -> str:
    """What the colors of :func:`interp.summaries.consistency_classes` mean, for a figure's note.

    Example:
        >>> consistency_classes_note(0.014).split("; ")[1]
        'yellow: lower or equal'
    """
    what = {"base": "the base model", "lower": "lower or equal",
            "higher-close": f"higher by at most {fmt_num(close, 1, scale=100)} points (the paper's footnote 4)",
            "higher": "higher by more"}
    return ("Colored as the paper: each IFT model by its PARAREL consistency compared with its base model's "
            "(the class is in the legend) — " + "; ".join(f"{CLASS_COLOR_NAMES[k]}: {v}" for k, v in what.items())
            + ".")


def _extraction_fig(results: Any, block: str, title: str, *, models, prompts, split, classes, relative_depth,
                    colors) -> go.Figure:
    entries = model_entries(results, models=models, prompts=prompts)
    curves = []
    for m, p, d in entries:
        ev = d["splits"][split][block]
        color = CLASS_COLORS.get((classes or {}).get(m, ""), None)
        name = f"{m} ({classes[m]})" if classes and m in classes else m
        curves.append(Curve(m, to_floats(ev["rates"]), x=list(range(len(ev["rates"]))), prompt=p,
                            low=to_floats(ev["low"]), high=to_floats(ev["high"]), n=ev["n"], name=name, group=m,
                            color=color, text=[f"({c} events)" for c in ev["counts"]]))
    rel = _auto_depth(relative_depth, [d["n_layers"] for _, _, d in entries])
    return layer_curves(curves, title=title, yaxis=f"{block.upper()} extraction rate", colors=colors,
                        relative_depth=rel, xaxis=layer_axis_title(f"{block.upper()} update of block k", relative=rel))


def fig5_mhsa_extraction(results: Any, *, models: Sequence[str] | None = None, prompts: Sequence[Any] | None = None,
                         split: str = "all", classes: Mapping[str, str] | None = None,
                         relative_depth: bool | None = None, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Figure 5: MHSA extraction rate per layer (:class:`~interp.analyses.extraction.ExtractionRates`),
    95% bands (a cluster bootstrap over PARAREL items, or Wilson for results stored without per-query
    events: the payload's ``interval``), event counts on hover; ``classes`` (:func:`interp.summaries.consistency_classes`) colors the
    models as the paper (lower / higher-close / higher consistency than the base)."""
    return _extraction_fig(results, "mhsa", "Figure 5: MHSA extraction rate (argmax(E a_l) = final prediction)",
                           models=models, prompts=prompts, split=split, classes=classes,
                           relative_depth=relative_depth, colors=colors)


def fig8_mlp_extraction(results: Any, *, models: Sequence[str] | None = None, prompts: Sequence[Any] | None = None,
                        split: str = "all", classes: Mapping[str, str] | None = None,
                        relative_depth: bool | None = None, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Figure 8: MLP extraction rate per layer (as :func:`fig5_mhsa_extraction`)."""
    return _extraction_fig(results, "mlp", "Figure 8: MLP extraction rate (argmax(E f_l) = final prediction)",
                           models=models, prompts=prompts, split=split, classes=classes,
                           relative_depth=relative_depth, colors=colors)


def table7_rows(table: Any, *, significant_only: bool = True) -> tuple[list[str], list[list[str]]]:
    """Table 7 as (header, rows): block, layer, Pearson r, p-value, the p-value adjusted over the
    table's tests (q, "*" where q <= alpha), for the rows with uncorrected p <= alpha (as the paper)
    or all; empty rows when the table has a ``reason``."""
    d = as_dict(table)
    rows = [r for r in d.get("rows", [])
            if not significant_only or (r["p_value"] is not None and to_float(r["p_value"]) <= d["alpha"])]
    name = {"bh": "BH", "holm": "Holm"}.get(d.get("correction", "bh"), d.get("correction"))

    def q_cell(r: Mapping[str, Any]) -> str:
        q = r.get("q_value")
        return fmt_num(q) + (" *" if q is not None and to_float(q) <= d["alpha"] else "")
    return (["Block", f"Layer: {layer_label()}", "Pearson", "P-value", f"q ({name})", "n models"],
            [[r["block"].upper(), str(r["layer"]), fmt_num(r["r"]), fmt_num(r["p_value"]), q_cell(r), str(r["n"])]
             for r in rows])


def table7_correlation(table: Any) -> go.Figure:
    """Table 7 as a figure: Pearson r of extraction rate vs PARAREL consistency per layer, one line
    per block, significant layers (p <= alpha) marked; the reason as the title when there is none."""
    d = as_dict(table)
    fig = go.Figure()
    if d.get("reason"):
        fig.update_layout(title=f"Table 7: {d['reason']}", template="plotly_white", height=200)
        return fig
    for block, color in (("mhsa", PALETTE[0]), ("mlp", PALETTE[1])):
        rows = [r for r in d["rows"] if r["block"] == block]
        sig = [r.get("q_value") is not None and to_float(r["q_value"]) <= d["alpha"] for r in rows]
        fig.add_trace(go.Scatter(
            x=[r["layer"] for r in rows], y=[to_float(r["r"]) for r in rows], name=block.upper(), legendgroup=block,
            mode="lines+markers", line=dict(color=color),
            marker=dict(size=[10 if s else 5 for s in sig], symbol=["star" if s else "circle" for s in sig]),
            customdata=[[fmt_num(r["p_value"]), r["n"], fmt_num(r.get("q_value"))] for r in rows],
            hovertemplate=f"{block.upper()} layer %{{x}}: r = %{{y:.3f}}, p = %{{customdata[0]}}, "
                          "q = %{customdata[2]} (n = %{customdata[1]} models)<extra></extra>"))
    fig.add_hline(y=0.0, line=dict(color="#888", width=1, dash="dot"))
    fig.update_layout(xaxis_title=layer_axis_title("MHSA / MLP update of block k"), yaxis_title="Pearson r",
                      yaxis_range=[-1.05, 1.05], template="plotly_white", height=420)
    return title_layout(fig, f"Table 7: Pearson r of extraction rate vs PARAREL consistency "
                             f"(stars: q ≤ {d['alpha']} after multiple-testing correction; "
                             f"models: {', '.join(d['models'])})", top=0)


def base_vs_ift_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The base-vs-IFT comparison as (header, rows); ``rows`` as made by
    :func:`interp.summaries.compare` (metric, base, ift, values, diff interval, p, and ``q_value``
    when the p-values were adjusted over the table: "*" marks q <= 0.05)."""
    header = ["metric", "base", "IFT", "base value", "IFT value", "IFT − base [95% CI]", "p", "q (BH)", "n"]
    body = []
    for r in rows:
        q = r.get("q_value")
        body.append([r["metric"], r["base"], r["ift"], fmt_num(r["base_value"]), fmt_num(r["ift_value"]),
                     fmt_interval(r["diff"]), fmt_num(r["p_value"]),
                     fmt_num(q) + (" *" if q is not None and to_float(q) <= 0.05 else ""),
                     f"{r.get('n', '')} {r.get('unit', '')}".strip()])
    return header, body


def _becel_summary(becel: Any) -> dict | None:
    """The BECEL means over tasks (the pooled unit's ``BecelConsistency``, object or dict)."""
    return None if becel is None else as_dict(becel)


def _pct(x: Any, digits: int = 1) -> str:
    return fmt_interval(x, digits, scale=100.0)


def table2_rows(results: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Table 2 as (header, rows), in percent with 95% intervals. ``results[model]`` has any of
    ``"mmlu"`` (:class:`~interp.analyses.consistency.MMLUSpread`), ``"pararel"``
    (``ParaRelConsistency`` or ``ParaRelOverPrompts``: then "± sd" over prompts, as footnote 4) and
    ``"becel"`` (``BecelConsistency`` or a list of ``BecelTask``: consistency under paraphrase / negation).

    Example:
        >>> iv = {"estimate": 0.5, "low": 0.4, "high": 0.6, "n": 10}
        >>> table2_rows({"m": {"pararel": {"accuracy": iv, "consistency": iv}}})[1]
        [['m', 'n/a', 'n/a', 'n/a', '50.0 [40.0, 60.0]', '50.0 [40.0, 60.0]', 'n/a', 'n/a', 'n/a']]
    """
    header = ["model", "MMLU Acc.", "MMLU ↓ Spread (paper: over instructions)",
              "MMLU spread, other readings (per ordering / over 9 setups)", "PARAREL Acc.", "PARAREL ↑ Cons.", "BECEL Acc.",
              "BECEL ↑ Cons. (paraphrase / negation: flip rate, paper)",
              "BECEL negation, label-aware"]
    rows = []
    for model, per in results.items():
        mmlu = as_dict(per["mmlu"]) if per.get("mmlu") is not None else None
        par = as_dict(per["pararel"]) if per.get("pararel") is not None else None
        bec = _becel_summary(per.get("becel"))
        row = [model]
        if mmlu:
            acc = _pct(mmlu["accuracy"]) + (" (chance)" if mmlu.get("at_chance") else "")
            test = mmlu.get("spread_test") or {}
            null = (f" (no-effect {fmt_num(test.get('null_mean'), 1, scale=100)}, p {fmt_num(test.get('p_value'))})"
                    if test else "")
            row += [acc, _pct(mmlu["spread"]) + null,
                    f"{_pct(mmlu.get('spread_orderings'))} / {_pct(mmlu['spread_setups'])}"]
        else:
            row += ["n/a", "n/a", "n/a"]
        if par:
            sd = lambda k: f" ± {fmt_num(par[k], 1, scale=100)} sd" if k in par else ""  # noqa: E731
            row += [_pct(par["accuracy"]) + sd("accuracy_std"), _pct(par["consistency"]) + sd("consistency_std")]
        else:
            row += ["n/a", "n/a"]
        if bec:  # the paper's Table 2 negation column is the mean of Table 6's flip rates
            row += [fmt_num(bec["accuracy"], 1, scale=100),
                    f"{fmt_num(bec['semantic'], 1, scale=100)} / "
                    f"{fmt_num(bec['negation_flip'], 1, scale=100)}",
                    fmt_num(bec["negation"], 1, scale=100)]
        else:
            row += ["n/a", "n/a", "n/a"]
        rows.append(row)
    return header, rows


def table2(results: Mapping[str, Mapping[str, Any]], *, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Table 2 as grouped bars (one color per model) with 95% error bars where the analysis gives
    an interval (BECEL's task averages have none)."""
    bars = []
    for model, per in results.items():
        if per.get("mmlu") is not None:
            m = as_dict(per["mmlu"])
            bars += [Bar("MMLU acc.", model, *interval_parts(m["accuracy"])),
                     Bar("MMLU spread ↓", model, *interval_parts(m["spread"]))]
        if per.get("pararel") is not None:
            p = as_dict(per["pararel"])
            bars += [Bar("PARAREL acc.", model, *interval_parts(p["accuracy"])),
                     Bar("PARAREL cons. ↑", model, *interval_parts(p["consistency"]))]
        bec = _becel_summary(per.get("becel"))
        if bec:
            bars += [Bar(f"BECEL {name}", model, to_float(bec[k])) for k, name in
                     (("accuracy", "accuracy"), ("semantic", "semantic"),
                      ("negation_flip", "negation (flip rate)"))]
    if not bars:
        raise ValueError("table2: no MMLU, PARAREL or BECEL result given")
    return bar_with_ci(bars, title="Table 2: consistency and spread", yaxis="fraction", colors=colors)


#: Table 6's columns: the paper's Neg is the flip rate (the prediction changed under negation);
#: the label-aware variant (changed exactly when the gold label changed) stands beside it
BECEL_COLUMNS = (("symmetric", "Sym"), ("semantic", "Sem"), ("negation_flip", "Neg (flip rate, paper)"),
                 ("negation", "Neg (label-aware)"), ("accuracy", "Acc."))


#: how a BECEL classifier was trained (``BecelTask.method``), as the tables name it
BECEL_METHODS = {"probe": "probe", "finetune": "fine-tuned (paper)"}


def table6_rows(results: Mapping[str, Sequence[Any]]) -> tuple[list[str], list[list[str]]]:
    """Table 6 as (header, rows): one row per model and task (``BecelTask`` results), each metric
    with its 95% interval ("n/a" where the perturbation set is absent), and the training examples
    with the evaluation rows excluded from them ("n/a" where not recorded).

    Example:
        >>> iv = {"estimate": 0.9, "low": 0.8, "high": 1.0, "n": 5}
        >>> t = {"task": "mrpc", "symmetric": iv, "semantic": iv, "negation": iv, "negation_flip": iv, "accuracy": iv}
        >>> table6_rows({"m": [t]})[1][0][:4]
        ['m', 'MRPC', 'probe', '0.900 [0.800, 1.000]']
    """
    header = ["model", "task", "classifier"] + [name for _, name in BECEL_COLUMNS] + ["train (excluded)"]
    rows = []
    for model, tasks in results.items():
        for t in tasks:
            d = as_dict(t)
            n, excl = d.get("n_train"), d.get("n_excluded")
            rows.append([model, d["task"].upper(), BECEL_METHODS[d.get("method", "probe")]]
                        + [fmt_interval(d.get(k)) for k, _ in BECEL_COLUMNS]
                        + ["n/a" if n is None else f"{n} ({'?' if excl is None else excl} excl.)"])
    return header, rows


def table6(results: Mapping[str, Sequence[Any]], *, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Table 6 as grouped bars: task × perturbation (x), model (color), 95% error bars."""
    bars = [Bar(f"{as_dict(t)['task'].upper()} {name}", model, *interval_parts(as_dict(t).get(k)))
            for model, tasks in results.items() for t in tasks for k, name in BECEL_COLUMNS if k != "negation"]
    if not bars:
        raise ValueError("table6: no BECEL task results given")
    return bar_with_ci(bars, title="Table 6: BECEL consistency (symmetric / semantic / negation) and accuracy",
                       yaxis="fraction", colors=colors)


def mmlu_letters_rows(results: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per model and MMLU setup (instruction, ordering): accuracy with its interval and the
    distribution of predicted letters, which shows letter bias when a model is at chance."""
    header = ["model", "instruction", "ordering", "accuracy", "A", "B", "C", "D", "top letter share"]
    rows = []
    from interp.analyses.consistency import MMLUSpread

    for model, r in results.items():
        for s in (r if isinstance(r, MMLUSpread) else MMLUSpread.from_dict(as_dict(r))).setups:
            rows.append([model, str(s.instruction), str(s.ordering), fmt_interval(s.accuracy)]
                        + [str(c) for c in s.letter_counts] + [fmt_num(s.top_letter_share, 2)])
    return header, rows


#: the knockout figure's colors (one per blocked set) and line styles (one per split)
KNOCKOUT_COLORS = {"subject": PALETTE[0], "non_subject": PALETTE[1], "last": PALETTE[2]}
KNOCKOUT_DASH = {"all": "solid", "consistent": "solid", "inconsistent": "dash", "correct": "solid",
                 "incorrect": "dot"}


def knockout_curves(results: Sequence[Any], *, model: str, prompts: Sequence[Any] | None = None,
                    splits: Sequence[str] = ("consistent", "inconsistent")) -> go.Figure:
    """Attention knockout in Geva et al.'s style (their Fig. 7) for one model: the mean relative
    drop in p(o*) (%) against the centre layer of the blocked window, one color per blocked set
    (subject / non-subject / last → last), one line style per split (consistent solid, inconsistent
    dashed), 95% bands, a prompt dropdown (``prompts``: one label per result; "mean" = pooled).

    Example:
        >>> fig = knockout_curves([r], model="m")  # doctest: +SKIP
    """
    from interp.analyses.knockout import SET_LABELS, SETS

    prompts = list(prompts) if prompts is not None else [MEAN] * len(results)
    curves, k = [], None
    for res, p in zip(results, prompts):
        d = as_dict(res)
        k = d["k"]
        for split in splits:
            for s in SETS:
                c = d["curves"].get(split, {}).get(s)
                if c is None:
                    continue
                pct = lambda v: [100 * to_float(x) for x in v]  # noqa: E731
                curves.append(Curve(model, pct(c["mean"]), x=list(d["centres"]), prompt=prompt_label(p),
                                    low=pct(c["low"]), high=pct(c["high"]), n=c["n"],
                                    name=f"{SET_LABELS[s]} ({split}, {c['n']} queries)", group=s,
                                    color=KNOCKOUT_COLORS[s], dash=KNOCKOUT_DASH.get(split)))
    return layer_curves(curves, title=f"Attention knockout, {model}: relative drop in p(o*) when the last position "
                                      f"cannot attend to a token set in a window of {k} layers",
                        yaxis="relative drop in p(o*) (%)",
                        xaxis=f"centre of the blocked window ({layer_label()})", hline=0.0)
