"""Plotting primitives shared by the paper's figures, notebooks and the report.

* :func:`layer_curves` — one line per model across layers with a shaded interval band; clicking a
  legend entry toggles the model (line and band together); a dropdown chooses the prompt
  (0 / 1 / 2 / mean); hover shows the layer (its absolute block index, also on a relative-depth
  axis), the value, its interval and the count n.
* :func:`bar_with_ci` — grouped bars with asymmetric error bars (same legend / prompt behaviour).
* :func:`title_layout` (a wrapped title with the prompt dropdown below it), :func:`label_roles`
  (base / IFT in legends and hovers).
* formatting shared with :mod:`interp.report`: :func:`fmt_num`, :func:`fmt_interval`,
  :func:`interval_parts`, :func:`model_colors`; the layer numbering (:func:`layer_label`,
  :func:`layer_axis_title`, :data:`LAYER_NUMBERING_NOTE`).

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
        return to_float(x.get("estimate")), to_float(x.get("low")), to_float(x.get("high")), x.get("n")
    if hasattr(x, "estimate"):
        return to_float(x.estimate), to_float(getattr(x, "low", None)), to_float(getattr(x, "high", None)), getattr(x, "n", None)
    if isinstance(x, (tuple, list)):
        vals = [to_float(v) for v in x[:3]] + [math.nan] * (3 - min(len(x), 3))
        return vals[0], vals[1], vals[2], (int(x[3]) if len(x) > 3 else None)
    return to_float(x), math.nan, math.nan, None


def to_float(x: Any) -> float:
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


#: the longest title line before :func:`title_layout` wraps (fits a figure in a 900 px page)
TITLE_WIDTH = 72


def wrap_title(title: str, width: int = TITLE_WIDTH) -> list[str]:
    """``title`` in lines of at most ``width`` characters, broken at spaces (a longer word stays whole).

    Example:
        >>> wrap_title("Figure 2: subject-attribute rate per layer", 20)
        ['Figure 2:', 'subject-attribute', 'rate per layer']
    """
    lines: list[str] = []
    for word in title.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def title_layout(fig: go.Figure, title: str, *, top: int = 70) -> go.Figure:
    """Put ``title`` (wrapped, :func:`wrap_title`) at the top left and the prompt dropdown, if any,
    in its own row below it, with the top margin both need (at least ``top``): at 900 px the
    dropdown does not overlap the title."""
    lines = wrap_title(title)
    has_menu = bool(fig.layout.updatemenus)
    fig.update_layout(title=dict(text="<br>".join(lines), x=0.0, xanchor="left", xref="paper",
                                 y=1.0, yanchor="top", yref="container", pad={"t": 12}),
                      margin=dict(t=max(top, 24 + 22 * len(lines) + (36 if has_menu else 8))))
    return fig


def label_roles(fig: go.Figure, roles: Mapping[str, str]) -> go.Figure:
    """Add each model's role to its legend entries and hovers: a trace of legend group ``g`` (a model
    label, or ``"label [variant]"``) named ``g`` or ``"g: ..."`` becomes ``"g (role)"`` /
    ``"g (role): ..."``; ``roles`` maps model labels to "base" / "IFT" (others are left as they are).

    Example:
        >>> fig = go.Figure(go.Scatter(y=[1], name="m: same", legendgroup="m", hovertemplate="m: %{y}"))
        >>> t = label_roles(fig, {"m": "IFT"}).data[0]
        >>> t.name, t.hovertemplate
        ('m (IFT): same', 'm (IFT): %{y}')
    """
    def tagged(text: str | None, group: str, role: str) -> str | None:
        if not text or not text.startswith(group):
            return text
        rest = text[len(group):]
        return f"{group} ({role}){rest}" if rest == "" or rest.startswith((":", "<br>")) else text

    for t in fig.data:
        group = getattr(t, "legendgroup", None)
        role = (roles.get(group) or roles.get(group.split(" [")[0])) if group else None
        if role:
            t.name = tagged(t.name, group, role)
            if getattr(t, "hovertemplate", None):
                t.hovertemplate = tagged(t.hovertemplate, group, role)
    return fig


# --------------------------------------------------------------------------------------- curves


@dataclass(frozen=True)
class Curve:
    """One series of :func:`layer_curves`: a model's values per layer for one prompt (or the mean).

    ``low`` / ``high`` draw a band; ``n`` (one count or one per point) and ``text`` (one string per
    point) are shown on hover; ``name`` is the legend label (default: the model); ``group`` is the
    legend group toggled together (default: the label); ``color`` / ``dash`` override the style
    (default color: per ``group``); ``band_is_ci=False`` for a band that is not an interval.
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
    #: whether the band is an interval (hover "[low, high]"); False for a spread such as ± sd, which
    #: ``text`` then states
    band_is_ci: bool = True

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


def to_floats(v: Sequence[Any]) -> list[float]:
    """:func:`to_float` of each value."""
    return [to_float(a) for a in v]


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
        y = to_floats(c.y)
        layer = to_floats(c.x) if c.x is not None else [float(i) for i in range(len(y))]
        x = layer
        if relative_depth:
            top = max((a for a in layer if math.isfinite(a)), default=0.0)
            x = [a / top for a in layer] if top > 0 else layer
        color = c.color or palette[c.legendgroup]
        p = prompt_label(c.prompt)
        has_band = c.low is not None
        low, high = (to_floats(c.low), to_floats(c.high)) if has_band else ([math.nan] * len(y),) * 2
        if has_band:
            fig.add_trace(_band_trace(x, low, high, color, c.legendgroup, c.label))
            prompts.append(p)
        counts = c.n if not isinstance(c.n, (int, type(None))) else [c.n] * len(y)
        texts = list(c.text) if c.text is not None else [""] * len(y)
        hover = f"{c.label}<br>layer %{{customdata[3]}}: %{{y:.3f}}"  # the absolute layer, also on a relative axis
        if has_band and c.band_is_ci:
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
        height=height, template="plotly_white", hovermode=hovermode,
        xaxis_title=xaxis if xaxis is not None else layer_axis_title(relative=relative_depth), yaxis_title=yaxis,
        legend=dict(groupclick="togglegroup", title_text="click to toggle"), margin=dict(r=20),
    )
    return title_layout(fig, title)


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
                   and math.isfinite(to_float(b.low)) and math.isfinite(to_float(b.high))]
        without = [b for b in group if b not in with_ci]
        # bars without an interval go in their own trace (same offset group, so the same slot):
        # plotly would draw empty error caps on them otherwise
        for k, items in enumerate(part for part in (with_ci, without) if part):
            has_ci = items is with_ci
            vals = [to_float(b.value) for b in items]
            lows, highs = [to_float(b.low) for b in items], [to_float(b.high) for b in items]
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
    fig.update_layout(barmode="group", height=height, template="plotly_white",
                      xaxis=dict(title=xaxis, categoryorder="array",
                                 categoryarray=list(dict.fromkeys(b.category for b in bs))),
                      yaxis_title=yaxis, margin=dict(r=20))
    return title_layout(fig, title)
