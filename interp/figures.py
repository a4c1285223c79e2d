"""Plotly figures for notebooks and the HTML report: every function returns a ``go.Figure``.

Generic builders:

* :func:`layer_curves` — one line per model across layers with a shaded interval band; clicking a
  legend entry toggles the model (line and band together); a dropdown chooses the prompt
  (0 / 1 / 2 / mean); hover shows the value, its interval and the count n.
* :func:`bar_with_ci` — grouped bars with asymmetric error bars (same legend / prompt behaviour).
* :func:`table_figure` — a ``go.Table``.

Formatting helpers shared with :mod:`interp.report`: :func:`fmt_num`, :func:`fmt_interval`,
:func:`model_colors`.

Example:
    >>> fig = layer_curves([Curve("base", [0.1, 0.3, 0.2], low=[0, 0.2, 0.1], high=[0.2, 0.4, 0.3]),
    ...                     Curve("ift", [0.2, 0.4, 0.5])], title="Attribute rate", yaxis="rate")
    >>> [t.name for t in fig.data if t.showlegend is not False]
    ['base', 'ift']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.colors as pc
import plotly.graph_objects as go

MEAN = "mean"
PALETTE: tuple[str, ...] = tuple(pc.qualitative.Plotly) + tuple(pc.qualitative.D3)

# ----------------------------------------------------------------------------------- formatting


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def fmt_num(x: Any, digits: int = 3, *, scale: float = 1.0) -> str:
    """``0.123``; ``n/a`` for None / NaN / non-numbers.

    Example:
        >>> fmt_num(0.12345), fmt_num(float("nan")), fmt_num(0.5, 1, scale=100)
        ('0.123', 'n/a', '50.0')
    """
    try:
        v = float(x) * scale
    except (TypeError, ValueError):
        return "n/a"
    return f"{v:.{digits}f}" if math.isfinite(v) else "n/a"


def interval_parts(x: Any) -> tuple[float, float, float, int | None]:
    """(estimate, low, high, n) of an ``Interval``, its dict, a tuple or a bare number (NaN bounds)."""
    if x is None:
        return math.nan, math.nan, math.nan, None
    if isinstance(x, Mapping):
        return _f(x.get("estimate")), _f(x.get("low")), _f(x.get("high")), x.get("n")
    if hasattr(x, "estimate"):
        return _f(x.estimate), _f(getattr(x, "low", None)), _f(getattr(x, "high", None)), getattr(x, "n", None)
    if isinstance(x, (tuple, list)):
        vals = [_f(v) for v in x[:3]] + [math.nan] * (3 - min(len(x), 3))
        return vals[0], vals[1], vals[2], (int(x[3]) if len(x) > 3 else None)
    return _f(x), math.nan, math.nan, None


def _f(x: Any) -> float:
    """float(x); NaN for None and non-numbers (JSON stores NaN as null in some results)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def fmt_interval(x: Any, digits: int = 3, *, scale: float = 1.0) -> str:
    """``0.123 [0.101, 0.140]`` from an Interval / dict / (est, low, high) / number.

    Example:
        >>> from interp.stats import Interval
        >>> fmt_interval(Interval(0.1234, 0.1012, 0.1398, 50))
        '0.123 [0.101, 0.140]'
        >>> fmt_interval({"estimate": 0.5, "low": float("nan"), "high": 0.6}), fmt_interval(None)
        ('0.500', 'n/a')
    """
    est, low, high, _ = interval_parts(x)
    text = fmt_num(est, digits, scale=scale)
    if text != "n/a" and math.isfinite(low) and math.isfinite(high):
        text += f" [{fmt_num(low, digits, scale=scale)}, {fmt_num(high, digits, scale=scale)}]"
    return text


def model_colors(models: Sequence[str], colors: Mapping[str, str] | None = None) -> dict[str, str]:
    """A stable color per model label (explicit ``colors`` win, the rest from :data:`PALETTE`)."""
    out = dict(colors or {})
    free = [c for c in PALETTE if c not in out.values()] or list(PALETTE)
    i = 0
    for m in models:
        if m not in out:
            out[m] = free[i % len(free)]
            i += 1
    return out


def _rgba(color: str, alpha: float) -> str:
    if color.startswith("rgb"):
        r, g, b = pc.unlabel_rgb(color)[:3]
    else:
        r, g, b = pc.hex_to_rgb(color)
    return f"rgba({int(r)}, {int(g)}, {int(b)}, {alpha})"


# ------------------------------------------------------------------------------ layer numbering
#
# Every per-layer figure and table counts transformer blocks from 0: layer k is block k (the
# residual stream after it, or its MHSA / MLP update); the embeddings, when a result includes them,
# are layer -1. The wording lives here only: :func:`layer_label`, :func:`layer_axis_title`,
# :data:`LAYER_NUMBERING_NOTE`.

#: the layer number of the embeddings in every figure and table (as
#: ``interp.analyses.attributes.EMBEDDING_LAYER``; results with ``embeddings=True`` store them at index 0)
EMBEDDINGS_INDEX = -1

#: what a layer axis shows at k, per kind of curve
RESID_AT = "residual stream after block k"

LAYER_NUMBERING_NOTE = ("Layer numbers are 0-based transformer block indices: layer k is block k (the residual "
                        f"stream after it, or its MHSA / MLP update); {EMBEDDINGS_INDEX} is the embeddings where a "
                        "result includes them. The paper's “layers 13–21” (§5, Table 7) do not say whether "
                        "they count from 0 or 1.")


def layer_label(*, embeddings: bool = False) -> str:
    """What a layer number is, for axis titles and table headers.

    Example:
        >>> layer_label(), layer_label(embeddings=True)
        ('block index (0-based)', 'block index (0-based; -1 = embeddings)')
    """
    return f"block index (0-based; {EMBEDDINGS_INDEX} = embeddings)" if embeddings else "block index (0-based)"


def layer_axis_title(at: str | None = None, *, embeddings: bool = False, relative: bool = False) -> str:
    """The x-axis title of every per-layer figure: layer k as a 0-based block index, what is
    plotted at k (``at``), -1 = embeddings when a curve includes them; ``relative``: relative depth.

    Example:
        >>> layer_axis_title(RESID_AT, embeddings=True)
        'layer k = block index (0-based; -1 = embeddings): residual stream after block k'
        >>> layer_axis_title(relative=True)
        'relative depth k / k_last, layer k = block index (0-based)'
    """
    text = ("relative depth k / k_last, " if relative else "") + f"layer k = {layer_label(embeddings=embeddings)}"
    return f"{text}: {at}" if at else text


def block_index(i: int, *, embeddings: bool = False) -> int:
    """The layer number (0-based block index) of a per-layer result's array index ``i``
    (index 0 is the embeddings when ``embeddings``).

    Example:
        >>> block_index(3), block_index(0, embeddings=True), block_index(3, embeddings=True)
        (3, -1, 2)
    """
    return i + EMBEDDINGS_INDEX if embeddings else i


def block_indices(n: int, *, embeddings: bool = False) -> list[int]:
    """The layer numbers of a per-layer result with ``n`` entries (see :func:`block_index`)."""
    return [block_index(i, embeddings=embeddings) for i in range(n)]


def prompt_label(prompt: Any) -> str:
    """``0`` -> ``"0"``, ``None`` / ``"all"`` / ``"mean"`` -> ``"mean"``."""
    return MEAN if prompt in (None, "all", MEAN) else str(prompt)


def _prompt_order(labels: Sequence[str]) -> list[str]:
    uniq = list(dict.fromkeys(labels))
    return sorted(uniq, key=lambda p: (p == MEAN, not p.isdigit(), int(p) if p.isdigit() else 0, p))


def _menu_label(p: str) -> str:
    return "mean over prompts" if p == MEAN else f"prompt {p}"


def add_prompt_menu(fig: go.Figure, trace_prompts: Sequence[str | None], *, default: str = MEAN) -> str | None:
    """Show only the traces of one prompt, with a dropdown to switch prompt; traces whose prompt is
    None are always shown. Returns the prompt shown first (None if there is no choice)."""
    labels = _prompt_order([p for p in trace_prompts if p is not None])
    if not labels:
        return None
    first = default if default in labels else labels[0]
    for trace, p in zip(fig.data, trace_prompts):
        trace.visible = p is None or p == first
    if len(labels) > 1:
        buttons = [dict(label=_menu_label(p), method="restyle",
                        args=[{"visible": [q is None or q == p for q in trace_prompts]}]) for p in labels]
        fig.update_layout(updatemenus=[dict(type="dropdown", buttons=buttons, active=labels.index(first),
                                            direction="down", showactive=True, x=1.0, xanchor="right",
                                            y=1.0, yanchor="bottom", pad={"b": 4})])
    return first


# --------------------------------------------------------------------------------------- curves


@dataclass(frozen=True)
class Curve:
    """One series of :func:`layer_curves`: a model's values per layer for one prompt (or the mean).

    ``low`` / ``high`` draw a band; ``n`` (one count or one per point) and ``text`` (one string per
    point) are shown on hover; ``name`` is the legend label (default: the model); ``group`` is the
    legend group toggled together (default: the label); ``color`` / ``dash`` override the style
    (default color: per ``group``).
    """

    model: str
    y: Sequence[float]
    x: Sequence[float] | None = None
    prompt: int | str | None = MEAN
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None
    n: Sequence[int] | int | None = None
    name: str | None = None
    group: str | None = None
    color: str | None = None
    dash: str | None = None
    text: Sequence[str] | None = None

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def legendgroup(self) -> str:
        return self.group or self.label

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Curve":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def checked(self) -> "Curve":
        """ValueError naming the series if the lengths disagree."""
        n = len(self.y)
        for name in ("x", "low", "high", "text"):
            v = getattr(self, name)
            if v is not None and len(v) != n:
                raise ValueError(f"curve {self.label!r} (prompt {self.prompt}): len({name}) = {len(v)} != len(y) = {n}")
        if not isinstance(self.n, (int, type(None))) and len(self.n) != n:
            raise ValueError(f"curve {self.label!r} (prompt {self.prompt}): len(n) = {len(self.n)} != len(y) = {n}")
        if (self.low is None) != (self.high is None):
            raise ValueError(f"curve {self.label!r}: give both low and high, or neither")
        return self


def _floats(v: Sequence[Any]) -> list[float]:
    return [_f(a) for a in v]


def _band_trace(x: list[float], low: list[float], high: list[float], color: str, group: str,
                name: str) -> go.Scatter:
    pts = [(a, lo, hi) for a, lo, hi in zip(x, low, high) if math.isfinite(lo) and math.isfinite(hi)]
    xs = [p[0] for p in pts]
    return go.Scatter(
        x=xs + xs[::-1], y=[p[2] for p in pts] + [p[1] for p in pts][::-1], fill="toself",
        fillcolor=_rgba(color, 0.18), line=dict(width=0, color=color), mode="lines", hoverinfo="skip",
        showlegend=False, legendgroup=group, name=f"{name} (95% interval)",
    )


def layer_curves(
    curves: Sequence[Curve | Mapping[str, Any]],
    *,
    title: str,
    yaxis: str,
    xaxis: str | None = None,
    relative_depth: bool = False,
    hline: float | None = None,
    colors: Mapping[str, str] | None = None,
    default_prompt: str = MEAN,
    hovermode: str = "closest",
    height: int = 460,
) -> go.Figure:
    """Lines per model across layers, with interval bands, model toggles and a prompt dropdown.

    ``relative_depth`` rescales each curve's x to ``x / max(x)`` (to compare models of different
    depth; hover still shows the layer). ``xaxis`` (default :func:`layer_axis_title`, relative when
    ``relative_depth``) titles the x axis. ``colors`` maps legend groups (models) to colors.

    Example:
        >>> fig = layer_curves([Curve("m", [1, 2], prompt=p, low=[0, 1], high=[2, 3]) for p in (0, 1, "mean")],
        ...                    title="t", yaxis="y")
        >>> len(fig.data), [b.label for b in fig.layout.updatemenus[0].buttons]
        (6, ['prompt 0', 'prompt 1', 'mean over prompts'])
    """
    cs = [(c if isinstance(c, Curve) else Curve.from_dict(c)).checked() for c in curves]
    if not cs:
        raise ValueError("layer_curves: no curves given")
    palette = model_colors(list(dict.fromkeys(c.legendgroup for c in cs)), colors)
    fig = go.Figure()
    prompts: list[str] = []
    shown_in_legend: set[tuple[str, str]] = set()
    for c in cs:
        y = _floats(c.y)
        layer = _floats(c.x) if c.x is not None else [float(i) for i in range(len(y))]
        x = layer
        if relative_depth:
            top = max((a for a in layer if math.isfinite(a)), default=0.0)
            x = [a / top for a in layer] if top > 0 else layer
        color = c.color or palette[c.legendgroup]
        p = prompt_label(c.prompt)
        has_band = c.low is not None
        low, high = (_floats(c.low), _floats(c.high)) if has_band else ([math.nan] * len(y),) * 2
        if has_band:
            fig.add_trace(_band_trace(x, low, high, color, c.legendgroup, c.label))
            prompts.append(p)
        counts = c.n if not isinstance(c.n, (int, type(None))) else [c.n] * len(y)
        texts = list(c.text) if c.text is not None else [""] * len(y)
        hover = (f"{c.label}<br>layer %{{customdata[3]}}: " if relative_depth else f"{c.label}: ") + "%{y:.3f}"
        if has_band:
            hover += " [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
        if c.n is not None:
            hover += " n=%{customdata[2]}"
        if c.text is not None:
            hover += " %{customdata[4]}"
        first_of_group = (c.label, p) not in shown_in_legend
        shown_in_legend.add((c.label, p))
        fig.add_trace(go.Scatter(
            x=x, y=y, name=c.label, legendgroup=c.legendgroup, mode="lines+markers", showlegend=first_of_group,
            line=dict(color=color, dash=c.dash), marker=dict(size=4),
            customdata=[[lo, hi, n if n is not None else "", fmt_num(lv, 0), t]
                        for lo, hi, n, lv, t in zip(low, high, counts, layer, texts)],
            hovertemplate=hover + "<extra></extra>",
        ))
        prompts.append(p)
    if hline is not None:
        fig.add_hline(y=hline, line=dict(color="#888", width=1, dash="dot"))
    add_prompt_menu(fig, prompts, default=default_prompt)
    fig.update_layout(
        title=title, height=height, template="plotly_white", hovermode=hovermode,
        xaxis_title=xaxis if xaxis is not None else layer_axis_title(relative=relative_depth), yaxis_title=yaxis,
        legend=dict(groupclick="togglegroup", title_text="click to toggle"), margin=dict(t=70, r=20),
    )
    return fig


# ----------------------------------------------------------------------------------------- bars


@dataclass(frozen=True)
class Bar:
    """One bar of :func:`bar_with_ci`: ``series`` (legend, usually the model) at ``category``."""

    category: str
    series: str
    value: float
    low: float | None = None
    high: float | None = None
    n: int | None = None
    prompt: int | str | None = MEAN
    color: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Bar":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def bar_with_ci(
    bars: Sequence[Bar | Mapping[str, Any]],
    *,
    title: str,
    yaxis: str,
    xaxis: str | None = None,
    hline: float | None = None,
    colors: Mapping[str, str] | None = None,
    default_prompt: str = MEAN,
    height: int = 420,
) -> go.Figure:
    """Grouped bars (one trace per series and prompt) with asymmetric 95% error bars.

    Example:
        >>> fig = bar_with_ci([Bar("MRPC", "base", 0.2, 0.1, 0.3), Bar("MRPC", "ift", 0.4, 0.35, 0.5)],
        ...                   title="gap", yaxis="cos gap")
        >>> [t.name for t in fig.data], [round(v, 3) for v in fig.data[1].error_y.arrayminus]
        (['base', 'ift'], [0.05])
    """
    bs = [b if isinstance(b, Bar) else Bar.from_dict(b) for b in bars]
    if not bs:
        raise ValueError("bar_with_ci: no bars given")
    series = list(dict.fromkeys(b.series for b in bs))
    palette = model_colors(series, colors)
    groups: dict[tuple[str, str], list[Bar]] = {}
    for b in bs:
        groups.setdefault((b.series, prompt_label(b.prompt)), []).append(b)
    fig = go.Figure()
    prompts = []
    for (s, p), group in groups.items():
        with_ci = [b for b in group if b.low is not None and b.high is not None
                   and math.isfinite(_f(b.low)) and math.isfinite(_f(b.high))]
        without = [b for b in group if b not in with_ci]
        # bars without an interval go in their own trace (same offset group, so the same slot):
        # plotly would draw empty error caps on them otherwise
        for k, items in enumerate(part for part in (with_ci, without) if part):
            has_ci = items is with_ci
            vals = [_f(b.value) for b in items]
            lows, highs = [_f(b.low) for b in items], [_f(b.high) for b in items]
            hover = f"{s}: %{{y:.3f}}" + (" [%{customdata[0]:.3f}, %{customdata[1]:.3f}]" if has_ci else "")
            if any(b.n is not None for b in items):
                hover += " n=%{customdata[2]}"
            fig.add_trace(go.Bar(
                x=[b.category for b in items], y=vals, name=s, legendgroup=s, offsetgroup=s, showlegend=k == 0,
                marker_color=items[0].color or palette[s],
                error_y=dict(type="data", symmetric=False, visible=has_ci,
                             array=[h - v for h, v in zip(highs, vals)] if has_ci else None,
                             arrayminus=[v - lo for lo, v in zip(lows, vals)] if has_ci else None),
                customdata=[[lo, hi, b.n if b.n is not None else ""] for lo, hi, b in zip(lows, highs, items)],
                hovertemplate=hover + "<extra>%{x}</extra>",
            ))
            prompts.append(p)
    if hline is not None:
        fig.add_hline(y=hline, line=dict(color="#888", width=1, dash="dot"))
    add_prompt_menu(fig, prompts, default=default_prompt)
    fig.update_layout(title=title, barmode="group", height=height, template="plotly_white",
                      xaxis=dict(title=xaxis, categoryorder="array",
                                 categoryarray=list(dict.fromkeys(b.category for b in bs))),
                      yaxis_title=yaxis, margin=dict(t=70, r=20))
    return fig


# ---------------------------------------------------------------------------------------- table


def table_figure(header: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None,
                 height: int | None = None) -> go.Figure:
    """A ``go.Table`` of strings (numbers formatted with :func:`fmt_num`).

    Example:
        >>> table_figure(["model", "gap"], [["base", 0.1], ["ift", 0.25]]).data[0].cells.values
        (['base', 'ift'], ['0.100', '0.250'])
    """
    if any(len(r) != len(header) for r in rows):
        raise ValueError(f"table_figure: every row needs {len(header)} cells (the header's length)")
    cells = [[c if isinstance(c, str) else fmt_num(c) for c in col] for col in zip(*rows)] if rows \
        else [[] for _ in header]
    fig = go.Figure(go.Table(
        header=dict(values=[f"<b>{h}</b>" for h in header], fill_color="#e8edf3", align="left"),
        cells=dict(values=cells, align="left", fill_color="white", line_color="#ddd"),
    ))
    fig.update_layout(title=title, height=height or 80 + 28 * (len(rows) + 1), margin=dict(t=50 if title else 10,
                      b=10, l=10, r=10))
    return fig


# ------------------------------------------------------------------------- the paper's artefacts
#
# Each takes the analyses' result objects or their dicts (``to_dict()``, as stored), in one of two
# shapes: a sequence of results (model read from the result's ``model`` field or ``models=``,
# prompt from its ``prompt_index`` or ``prompts=``), or a mapping ``{model: result}`` /
# ``{model: {prompt: result}}`` (prompt ``"mean"`` / ``"all"`` / None = pooled over prompts).

CLASS_COLORS: dict[str, str] = {"base": "#333333", "lower": "#e6a700", "higher-close": "#74a9cf",
                                "higher": "#08519c"}
#: the colors of :data:`CLASS_COLORS` in words, for notes
CLASS_COLOR_NAMES: dict[str, str] = {"base": "dark grey", "lower": "yellow", "higher-close": "light blue",
                                     "higher": "dark blue"}
#: "higher-close" bound of :func:`consistency_classes`: 1.4 points, the paper's footnote 4 (the sd of the
#: base model's PARAREL consistency over prompts)
CONSISTENCY_CLOSE = 0.014


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
    across_models: bool = True,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Figure 3: per-layer cosine of same-relation (solid) vs different-relation (dashed) query
    pairs (:class:`~interp.analyses.relations.RelationCurves`), one color per model, 95% bands; with
    ``across_models`` and 2+ models, also the mean ± std over models (the paper's plot), on relative depth."""
    entries = model_entries(results, models=models, prompts=prompts)
    rel = _auto_depth(relative_depth, [len(d["same"]) for _, _, d in entries])
    embeddings = any(d.get("embeddings") for _, _, d in entries)
    curves = []
    for m, p, d in entries:
        x = block_indices(len(d["same"]), embeddings=bool(d.get("embeddings")))
        for which, dash, what in (("same", None, "same relation"), ("different", "dash", "different relations")):
            curves.append(_interval_curve(m, p, d[which], x, name=f"{m}: {what}", group=m, dash=dash))
    if across_models:
        from interp.analyses.relations import RelationCurves, combine_models

        by_prompt: dict[str, list[dict]] = {}
        for _, p, d in entries:
            by_prompt.setdefault(p, []).append(d)
        for p, ds in by_prompt.items():
            if len(ds) < 2:
                continue
            mc = combine_models([RelationCurves.from_dict(d) for d in ds], align="relative")
            # relative depth in [0, 1] -> the layer numbers of the deepest model (the models' x units)
            first, last = block_index(0, embeddings=embeddings), block_index(len(mc.x) - 1, embeddings=embeddings)
            for which, dash, what in (("same", None, "same relation"), ("different", "dash", "different relations")):
                mean, std = _floats(getattr(mc, f"{which}_mean")), _floats(getattr(mc, f"{which}_std"))
                curves.append(Curve("mean over models", mean, x=[first + v * (last - first) for v in mc.x], prompt=p,
                                    low=[a - b for a, b in zip(mean, std)], high=[a + b for a, b in zip(mean, std)],
                                    name=f"mean ± std over models: {what}", group="mean over models", dash=dash,
                                    color="#555555"))
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


def consistency_classes(consistency: Mapping[str, float], base: str, *,
                        close: float = CONSISTENCY_CLOSE) -> dict[str, str]:
    """Fig. 5 / 8's coloring: each model's PARAREL consistency vs the base model's: ``"lower"`` (or equal),
    ``"higher-close"`` (higher by at most ``close``; the paper: 1.4 points) or ``"higher"``.

    Example:
        >>> consistency_classes({"b": 0.80, "x": 0.79, "y": 0.81, "z": 0.85}, "b")
        {'b': 'base', 'x': 'lower', 'y': 'higher-close', 'z': 'higher'}
    """
    if base not in consistency:
        raise ValueError(f"consistency_classes: no consistency for the base model {base!r}")
    ref = float(consistency[base])
    out = {}
    for m, c in consistency.items():
        if m == base:
            out[m] = "base"
        elif not math.isfinite(float(c)) or not math.isfinite(ref):
            out[m] = "unknown"
        else:
            d = float(c) - ref
            out[m] = "lower" if d <= 0 else "higher-close" if d <= close else "higher"
    return out


def consistency_classes_note(close: float = CONSISTENCY_CLOSE) -> str:
    """What the colors of :func:`consistency_classes` mean, for a figure's note.

    Example:
        >>> consistency_classes_note().split("; ")[1]
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
        curves.append(Curve(m, _floats(ev["rates"]), x=list(range(len(ev["rates"]))), prompt=p,
                            low=_floats(ev["low"]), high=_floats(ev["high"]), n=ev["n"], name=name, group=m,
                            color=color, text=[f"({c} events)" for c in ev["counts"]]))
    rel = _auto_depth(relative_depth, [d["n_layers"] for _, _, d in entries])
    return layer_curves(curves, title=title, yaxis=f"{block.upper()} extraction rate", colors=colors,
                        relative_depth=rel, xaxis=layer_axis_title(f"{block.upper()} update of block k", relative=rel))


def fig5_mhsa_extraction(results: Any, *, models: Sequence[str] | None = None, prompts: Sequence[Any] | None = None,
                         split: str = "all", classes: Mapping[str, str] | None = None,
                         relative_depth: bool | None = None, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Figure 5: MHSA extraction rate per layer (:class:`~interp.analyses.extraction.ExtractionRates`),
    95% bands (a cluster bootstrap over PARAREL items, or Wilson for results stored without per-query
    events: the payload's ``interval``), event counts on hover; ``classes`` (:func:`consistency_classes`) colors the
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
            if not significant_only or (r["p_value"] is not None and _f(r["p_value"]) <= d["alpha"])]
    name = {"bh": "BH", "holm": "Holm"}.get(d.get("correction", "bh"), d.get("correction"))

    def q_cell(r: Mapping[str, Any]) -> str:
        q = r.get("q_value")
        return fmt_num(q) + (" *" if q is not None and _f(q) <= d["alpha"] else "")
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
        sig = [r.get("q_value") is not None and _f(r["q_value"]) <= d["alpha"] for r in rows]
        fig.add_trace(go.Scatter(
            x=[r["layer"] for r in rows], y=[_f(r["r"]) for r in rows], name=block.upper(), legendgroup=block,
            mode="lines+markers", line=dict(color=color),
            marker=dict(size=[10 if s else 5 for s in sig], symbol=["star" if s else "circle" for s in sig]),
            customdata=[[fmt_num(r["p_value"]), r["n"], fmt_num(r.get("q_value"))] for r in rows],
            hovertemplate=f"{block.upper()} layer %{{x}}: r = %{{y:.3f}}, p = %{{customdata[0]}}, "
                          "q = %{customdata[2]} (n = %{customdata[1]} models)<extra></extra>"))
    fig.add_hline(y=0.0, line=dict(color="#888", width=1, dash="dot"))
    fig.update_layout(title=f"Table 7: Pearson r of extraction rate vs PARAREL consistency "
                            f"(stars: q ≤ {d['alpha']} after multiple-testing correction; "
                            f"models: {', '.join(d['models'])})",
                      xaxis_title=layer_axis_title("MHSA / MLP update of block k"), yaxis_title="Pearson r",
                      yaxis_range=[-1.05, 1.05], template="plotly_white", height=420)
    return fig


def base_vs_ift_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The base-vs-IFT comparison as (header, rows); ``rows`` as made by
    :func:`interp.report.compare_base_ift` (metric, base, ift, values, diff interval, p, and ``q_value``
    when the p-values were adjusted over the table: "*" marks q <= 0.05)."""
    header = ["metric", "base", "IFT", "base value", "IFT value", "IFT − base [95% CI]", "p", "q (BH)", "n"]
    body = []
    for r in rows:
        q = r.get("q_value")
        body.append([r["metric"], r["base"], r["ift"], fmt_num(r["base_value"]), fmt_num(r["ift_value"]),
                     fmt_interval(r["diff"]), fmt_num(r["p_value"]),
                     fmt_num(q) + (" *" if q is not None and _f(q) <= 0.05 else ""),
                     f"{r.get('n', '')} {r.get('unit', '')}".strip()])
    return header, body


def base_vs_ift_table(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """:func:`base_vs_ift_rows` as a ``go.Table``."""
    header, body = base_vs_ift_rows(rows)
    return table_figure(header, body, title="Base vs IFT (* q ≤ 0.05 after Benjamini–Hochberg)")


def _becel_summary(becel: Any) -> dict | None:
    """A BecelConsistency dict from one (object or dict) or from a sequence of BecelTask results."""
    if becel is None:
        return None
    if isinstance(becel, Sequence) and not isinstance(becel, (str, Mapping)):
        from interp.analyses.consistency import BecelTask, becel_summary

        tasks = [t if isinstance(t, BecelTask) else BecelTask.from_dict(as_dict(t)) for t in becel]
        return becel_summary(tasks).to_dict() if tasks else None
    return as_dict(becel)


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
            bars += [Bar(f"BECEL {name}", model, _f(bec[k])) for k, name in
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
    for model, r in results.items():
        for s in as_dict(r)["setups"]:
            counts = list(s["letter_counts"])
            total = max(sum(counts), 1)
            rows.append([model, str(s["instruction"]), str(s["ordering"]), fmt_interval(s["accuracy"])]
                        + [str(c) for c in counts] + [fmt_num(max(counts) / total, 2)])
    return header, rows
