"""Logit lens: project residual-stream vectors (or block updates) onto the vocabulary.

``project(model, x)`` computes ``W_U x`` (plus the model's logit soft-capping, if any). One
documented default is used everywhere: **no final norm** (``normed=False``), as in the paper's
reference code and Geva et al. (2023), which project the raw MHSA/MLP update ``E a_l``. Pass
``normed=True`` to apply the model's final norm first; for the last layer's residual that gives
exactly the model's own logits.

Weights are the raw Hugging Face weights (no folding of the final norm into the unembedding:
the bridge is used without compatibility mode), so ``project(..., normed=True)`` equals
``lm_head(norm(x))``; a test checks this against the Hugging Face model.

``argmax`` (the top-1 token of each projection, as the extraction analysis needs it) avoids most
of the full float32 matmul on big vocabularies, with identical results (``method="pruned"``).

Example:
    >>> acts = capture(model, ["The Eiffel Tower is located in the city of"])  # doctest: +SKIP
    >>> top_k(model, acts.resid[:, -1], k=3, normed=True).strings  # doctest: +SKIP
    [[' Paris', ' London', ' the']]
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from interp.capture import final_norm, unembed
from interp.models import Model

DEFAULT_NORMED = False


def project(
    model: Model,
    x: Float[Tensor, "... d_model"],
    *,
    normed: bool = DEFAULT_NORMED,
    chunk_size: int = 4096,
) -> Float[Tensor, "... d_vocab"]:
    """Vocabulary logits of vectors ``x`` (any leading shape), float32 on the CPU.

    Rows are projected in chunks of ``chunk_size`` so that the whole ``[..., d_vocab]`` result
    is the only large allocation.

    Example:
        >>> project(model, acts.attn_out).shape  # [n, n_layers, d_vocab]  # doctest: +SKIP
    """
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    out = torch.empty((flat.shape[0], model.d_vocab), dtype=torch.float32)
    with torch.inference_mode():
        for i in range(0, flat.shape[0], chunk_size):
            v = flat[i:i + chunk_size]
            if normed:
                v = final_norm(model, v)
            out[i:i + chunk_size] = _logits(model, v).float().cpu()
    return out.reshape(*lead, model.d_vocab)


def argmax(
    model: Model,
    x: Float[Tensor, "... d_model"],
    *,
    normed: bool = DEFAULT_NORMED,
    chunk_size: int = 512,
    method: str = "auto",
) -> Int[Tensor, "..."]:
    """Top-1 token id of each projected vector, without materialising all logits at once.

    The result is identical to ``project(model, x, normed=normed).argmax(-1)``: the argmax of the
    float32 logits of the full matmul, ties going to the first (lowest) token id, as
    ``torch.argmax`` breaks them, whatever the method and ``chunk_size``.

    Args:
        normed: apply the model's final norm first (see the module docstring).
        chunk_size: rows projected at once (memory: ``chunk_size x d_vocab`` float32 logits for
            ``"full"``, bfloat16 first-pass values for ``"pruned"``).
        method: ``"full"`` computes every logit in float32. ``"pruned"`` computes every logit in
            bfloat16 (a third of the time on CPUs with native bfloat16), keeps the tokens whose
            float32 logit could still be the maximum under a rigorous bound on the rounding
            errors of both matmuls (a handful per row), and recomputes those in float32 exactly
            as the full matmul does (the proof is in the comment above
            :data:`PRUNE_MIN_VOCAB`); rows that are not finite, near bfloat16's range, or keep
            more than 4,096 candidates are computed in full. It caches a bfloat16 copy of the
            unembedding per model (built on first use, about 2 s and 335 MB for Gemma-3).
            ``"auto"`` (default) uses ``"pruned"`` where it applies and pays off: a plain float32
            ``Linear`` unembedding on the CPU without logit soft-capping or hooks, native
            bfloat16 (AVX512-BF16 or AMX), a vocabulary of at least :data:`PRUNE_MIN_VOCAB`
            tokens, and a call of at least 64 rows or a copy already built; ``"full"``
            otherwise. ``"pruned"`` raises ``ValueError`` where it does not apply.
            ``benchmarks/lens.py`` times both on Gemma-3's 262,144-token vocabulary.

    Example:
        >>> argmax(model, acts.attn_out).shape  # [n, n_layers]  # doctest: +SKIP
    """
    return _top(model, x, None, normed=normed, chunk_size=chunk_size, method=method,
                caller="argmax")


def _top(model: Model, x: Float[Tensor, "... d_model"], k: int | None, *, normed: bool,
         chunk_size: int, method: str, caller: str,
         allowed: Bool[Tensor, " d_vocab"] | None = None) -> Int[Tensor, "..."]:
    """:func:`argmax` (``k=None``) or :func:`top_ids` (among ``allowed`` tokens): checks, then the
    full or pruned path."""
    if method not in ("auto", "full", "pruned"):
        raise ValueError(f"{caller}: method must be 'auto', 'full' or 'pruned', got {method!r}")
    if chunk_size < 1:
        raise ValueError(f"{caller}: chunk_size must be >= 1, got {chunk_size}")
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    linear = _pruned_linear(model, flat.shape[0], method, caller)
    if method == "auto" and k is not None and k * 256 > model.d_vocab:
        # the exact pass's cost grows with k: on SmolLM2's 49k tokens the full matmul is faster
        # for k = 500 (benchmarks/lens.py --top 500), the pruned path for k = 100
        linear = None
    with torch.inference_mode():
        if linear is None or flat.shape[0] == 0:
            out = _argmax_full(model, flat, normed=normed, chunk_size=chunk_size, k=k,
                               allowed=allowed)
        else:
            out = _argmax_pruned(model, linear, flat, normed=normed, chunk_size=chunk_size, k=k,
                                 allowed=allowed)
    return out.reshape(lead if k is None else (*lead, k))


def _pruned_linear(model: Model, n_rows: int, method: str, caller: str) -> torch.nn.Linear | None:
    """The unembedding for the pruned path under ``method``, or None for the full matmul."""
    if method == "full":
        return None
    linear, why = _prunable_unembedding(model)
    if linear is None and method == "pruned":
        raise ValueError(f"{caller}(method='pruned') does not apply to {model.name!r}: {why}")
    if method == "auto" and linear is not None and (
            model.d_vocab < PRUNE_MIN_VOCAB or not _native_bf16()
            or (n_rows < _MIN_ROWS_TO_PREPARE and linear not in _FIRST_PASS)):
        return None  # small vocabulary, bf16 emulated, or too few rows to pay for the setup
    return linear


def _argmax_full(model: Model, flat: Float[Tensor, "n d_model"], *, normed: bool,
                 chunk_size: int, k: int | None = None,
                 allowed: Bool[Tensor, " d_vocab"] | None = None) -> Int[Tensor, "n ..."]:
    """Argmax (``k=None``) or top ``k`` (:func:`top_ids`' order, among ``allowed`` tokens) of
    the full float32 logits, ``chunk_size`` rows at a time (the reference)."""
    out = torch.empty((flat.shape[0],) if k is None else (flat.shape[0], k), dtype=torch.long)
    for i in range(0, flat.shape[0], chunk_size):
        v = flat[i:i + chunk_size]
        if normed:
            v = final_norm(model, v)
        lg = _logits(model, v).float()
        if allowed is not None:
            lg = lg.masked_fill(~allowed.to(lg.device), -math.inf)
        out[i:i + chunk_size] = (lg.argmax(-1) if k is None else _ordered_top(lg, k)).cpu()
    return out


def _ordered_top(lg: Float[Tensor, "g V"], k: int) -> Int[Tensor, "g k"]:
    """Ids of the ``k`` largest logits of each row, largest first, equal logits by lowest id."""
    vals, idx = lg.topk(k, dim=-1)
    kth = vals[:, -1:]
    out = torch.empty_like(idx)
    ties = (lg >= kth).sum(-1) > k  # equal logits at the k-th place: the lowest ids are kept
    for r in ties.nonzero().squeeze(1).tolist():
        ids = (lg[r] >= kth[r]).nonzero().squeeze(1)
        out[r] = ids[lg[r, ids].sort(descending=True, stable=True).indices[:k]]
    rest = (~ties).nonzero().squeeze(1)
    sid = idx[rest].sort(-1).values
    order = lg[rest].gather(-1, sid).sort(dim=-1, descending=True, stable=True).indices
    out[rest] = sid.gather(-1, order)
    return out


# --- pruned argmax --------------------------------------------------------------------------
#
# Notation, per row x (after the final norm when normed) and token v with unembedding row w_v and
# bias b_v (0 when the model has none): the reference logit is f_v = fl32(x . w_v + b_v), the
# float32 matmul's value; l_v = x . w_v + b_v is the exact real value. With K = d_model terms
# (K + 1 with a bias), any float32 summation order, with or without fused multiply-adds, gives
#     |f_v - l_v| <= gamma(K + 1) * (sum_i |x_i w_vi| + |b_v|) <= gamma(K + 1) ||x'|| ||w'_v||
# (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), gamma(n) = n u / (1 - n u),
# u = 2^-24, x' = [x, 1] and w'_v = [w_v, b_v]. The first pass rounds x' and w'_v to bfloat16
# (x^, w^_v), multiplies them exactly (8 x 8 significant bits fit in float32), accumulates in
# float32 (at most 2K' roundings, so gamma(2K') sum |x^_i w^_vi| <= gamma(2K') ||x^|| ||w^_v||;
# denormals flushed to zero add less than TINY) and rounds the sum s_v to a bfloat16 a_v. Any
# faithful rounding (nearest or toward zero) has |a_v - s_v| < 2^-7 |s_v|, so
# |a_v - s_v| <= rho |a_v| with rho = 2^-7 / (1 - 2^-7). And
#     |l_v - x^ . w^_v| <= ||x' - x^|| ||w'_v|| + ||x^|| ||w'_v - w^_v||.
# So f_v lies in [lo(a_v) - C, hi(a_v) + C] with lo(a) = a - rho|a|, hi(a) = a + rho|a| (both
# increasing) and C the per-row sum of the three additive bounds, each with the maximum over v of
# the vocabulary's norms. With a* = max_v a_v, max_v f_v >= lo(a*) - C, so a token with
# hi(a_v) + C < lo(a*) - C, i.e. a_v < t = hi^-1(lo(a*) - 2C), has f_v < max f: it can be neither
# the maximum nor tied with it. Every other token (the candidates, a_v >= t with t rounded down)
# is recomputed in float32 with the same matmul routine as the full pass; the argmax over the
# sorted candidate ids then equals the full argmax, ties included (a_v of the padding rows of the
# bf16 weights is -inf). All the norms are upper bounds. The recomputed logits equal
# the full matmul's bit for bit (checked by tests): the float32 GEMM's value of one entry does not
# depend on which other rows and columns are computed with it, as long as the matmul is not
# degenerate (one or two rows take another kernel), so every float32 matmul here, the full ones
# included (_logits), has at least _MIN_ROWS rows and _MIN_COLS columns. Rows that are not finite
# or so large that bf16 could overflow (||x^|| max||w^|| >= 2^120) are computed in full.

PRUNE_MIN_VOCAB = 32_768
"""Smallest vocabulary for which ``argmax(method="auto")`` uses the pruned path."""

_U32 = 2.0 ** -24
_RHO = 2.0 ** -7 / (1.0 - 2.0 ** -7)
_TINY = 2.0 ** -90
_SUB = 128           # first-pass maxima are kept per segment of this many tokens
_MAX_CANDIDATES = 4096  # more candidates than this in a row: the row is computed in full
_GROUP = 128         # rows per exact float32 recomputation (at most) ...
_GROUP_COLS = 2048   # ... and candidates per recomputation (about)
_MIN_ROWS = 16       # the exact pass's matmuls have at least this many rows ...
_MIN_COLS = 32       # ... and columns, so they use the same kernel as the full matmul
_MIN_ROWS_TO_PREPARE = 64  # "auto" builds the bf16 weights for calls of at least this many rows


def _gamma(n: int) -> float:
    return n * _U32 / (1.0 - n * _U32)


@dataclass(frozen=True)
class _FirstPass:
    """The bfloat16 unembedding and the vocabulary-wide norms the bound needs (cached per
    unembedding module; rebuilt when its weights change)."""

    key: tuple
    weight: Tensor   # [V', K'] bfloat16 rows [w_v | b_v | 0...], zero rows from V to V' (a multiple
                     # of _SUB); prepacked for oneDNN where torch can
    packed: bool     # prepacked (torch.ops.mkldnn._linear_pointwise multiplies it)
    k_pad: int       # K' = K, or K + 1 (bias) rounded up to a multiple of 16
    with_bias: bool  # the bias column is there (only when some b_v != 0)
    w_norm: float    # max_v ||w'_v||
    wh_norm: float   # max_v ||w^_v||
    dw_norm: float   # max_v ||w'_v - w^_v||
    wh_abs: float    # max |w^|


_FIRST_PASS: "weakref.WeakKeyDictionary[torch.nn.Linear, _FirstPass]" = weakref.WeakKeyDictionary()


def _prunable_unembedding(model: Model) -> tuple[torch.nn.Linear | None, str]:
    """The model's unembedding ``Linear`` if the pruned argmax applies, else (None, why)."""
    lin, why = _plain_unembedding(model)
    if lin is not None and not (torch.backends.mkldnn.is_available()
                                and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return None, "this CPU has no fast bfloat16 matmul"
    return lin, why


def _plain_unembedding(model: Model) -> tuple[torch.nn.Linear | None, str]:
    """The model's unembedding if it is a plain float32 ``torch.nn.Linear`` on the CPU without
    soft-capping or hooks (so a subset of its logits can be recomputed bit for bit), else
    (None, why)."""
    if model.device.type != "cpu":
        return None, f"it runs on {model.device}, the pruned argmax on the CPU only"
    if getattr(model.hf_model.config, "final_logit_softcapping", None):
        return None, "its logits are soft-capped"
    bridge_unembed = getattr(model.bridge, "unembed", None)
    lin = getattr(bridge_unembed, "original_component", None)
    if not isinstance(lin, torch.nn.Linear) or type(lin).forward is not torch.nn.Linear.forward:
        return None, "its unembedding is not a plain torch.nn.Linear"
    if any(p.dtype != torch.float32 for p in (lin.weight, lin.bias) if p is not None):
        return None, f"its unembedding is {lin.weight.dtype}, not float32"
    if any(m._forward_hooks or m._forward_pre_hooks for m in bridge_unembed.modules()):
        return None, "its unembedding has hooks"
    return lin, ""


def _native_bf16() -> bool:
    """The CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); oneDNN emulates it otherwise,
    and the first pass would then be no faster than the float32 matmul."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def _first_pass(lin: torch.nn.Linear) -> _FirstPass:
    """The cached :class:`_FirstPass` of ``lin`` (built on first use: about 2 s and a bf16 copy
    of the weights, 335 MB for Gemma-3's unembedding)."""
    w, b = lin.weight, lin.bias
    key = (w.data_ptr(), w._version, tuple(w.shape),
           None if b is None else (b.data_ptr(), b._version))
    fp = _FIRST_PASS.get(lin)
    if fp is not None and fp.key == key:
        return fp
    V, K = w.shape
    with torch.inference_mode():
        with_bias = b is not None and bool(b.detach().ne(0).any())
        k_pad = -(-(K + 1) // 16) * 16 if with_bias else K
        wh = torch.zeros((-(-V // _SUB) * _SUB, k_pad), dtype=torch.bfloat16)
        w_norm = wh_norm = dw_norm = wh_abs = 0.0
        for i in range(0, V, 32768):
            wi = w.detach()[i:i + 32768]
            if with_bias:
                wi = torch.cat([wi, b.detach()[i:i + 32768, None]], 1)
            n = wi.shape[0]
            wh[i:i + n, :wi.shape[1]] = wi
            whi = wh[i:i + n, :wi.shape[1]].float()
            w_norm = max(w_norm, _max_row_norm(wi))
            wh_norm = max(wh_norm, _max_row_norm(whi))
            dw_norm = max(dw_norm, _max_row_norm(wi - whi))  # exact: w^ is w rounded
            wh_abs = max(wh_abs, _max_abs(whi))
        try:  # prepacked weights skip oneDNN's reordering of the weights at every call (~10%)
            packed = torch.ops.mkldnn._reorder_linear_weight(wh, 512)
            probe = _first_pass_mm(torch.ones((2, k_pad), dtype=torch.bfloat16), packed, True)
            ok = probe.shape == (2, wh.shape[0]) and probe.dtype == torch.bfloat16
        except (AttributeError, RuntimeError):
            ok = False
    fp = _FirstPass(key=key, weight=packed if ok else wh, packed=ok, k_pad=k_pad,
                    with_bias=with_bias, w_norm=w_norm, wh_norm=wh_norm, dw_norm=dw_norm,
                    wh_abs=wh_abs)
    _FIRST_PASS[lin] = fp
    return fp


def _max_abs(t: Tensor) -> float:
    return max(t.max().item(), -t.min().item()) if t.numel() else 0.0


def _max_row_norm(t: Float[Tensor, "n k"]) -> float:
    """An upper bound of ``max_v ||t_v||``: float32, scaled by a power of two where squares could
    overflow or underflow, and inflated by far more than its rounding error."""
    top = _max_abs(t)
    if top == 0.0 or not math.isfinite(top):
        return top if top == top else math.inf
    scale = 1.0 if 2.0 ** -40 <= top <= 2.0 ** 40 else 2.0 ** -math.frexp(top)[1]
    norm = (t if scale == 1.0 else t * scale).norm(dim=1).max().item()
    return norm / scale * (1.0 + 2.0 ** -10)


def _first_pass_mm(xh: Tensor, weight: Tensor, packed: bool) -> Tensor:
    """``xh @ weight.T`` in bfloat16 (oneDNN; float32 accumulation)."""
    if packed:
        return torch.ops.mkldnn._linear_pointwise(xh, weight, None, "none", [], "")
    return torch.nn.functional.linear(xh, weight)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run the bookkeeping around the big matmuls on one thread: its many small operations gain
    nothing from more, and on a loaded machine each would wait for a descheduled thread. The
    thread count is torch's global: with several Python threads inside at once, the first saves
    it and the last restores it (a counter under a lock), so it never ends up at 1."""
    global _saved_threads, _inside
    with _threads_lock:
        if _inside == 0:
            _saved_threads = torch.get_num_threads()
            torch.set_num_threads(1)
        _inside += 1
    try:
        yield
    finally:
        with _threads_lock:
            _inside -= 1
            if _inside == 0:
                torch.set_num_threads(_saved_threads)


_threads_lock = threading.Lock()
_inside = 0
_saved_threads = 1


def _threshold(a_max: Float[Tensor, " m"], c: Float[Tensor, " m"]) -> Float[Tensor, " m"]:
    """float32 ``t`` per row, rounded down: tokens with a first-pass value below it are out."""
    a = a_max.double()
    z = a - _RHO * a.abs() - 2.0 * c
    t = torch.where(z >= 0, z / (1.0 + _RHO), z / (1.0 - _RHO))
    t = t - (a.abs() + 2.0 * c + t.abs()) * 2.0 ** -40 - _TINY  # float64 rounding of the above
    t32 = t.float()
    return torch.where(t32.double() > t, torch.nextafter(t32, t32.new_tensor(-math.inf)), t32)


def _argmax_pruned(model: Model, lin: torch.nn.Linear, flat: Float[Tensor, "n d_model"], *,
                   normed: bool, chunk_size: int, k: int | None = None,
                   allowed: Bool[Tensor, " d_vocab"] | None = None) -> Int[Tensor, "n ..."]:
    """Exact argmax (``k=None``) or top ``k``: bfloat16 first pass, rigorous bound, float32
    recomputation of the candidates (:func:`_pruned_chunk`); rows it leaves out are computed in
    full (:func:`_argmax_full`)."""
    fp = _first_pass(lin)
    out = torch.empty((flat.shape[0],) if k is None else (flat.shape[0], k), dtype=torch.long)
    for i in range(0, flat.shape[0], chunk_size):
        v = flat[i:i + chunk_size]
        if normed:
            v = final_norm(model, v)
        v = v.to(torch.float32)
        res, full = _pruned_chunk(v, lin, fp, k, allowed)
        dense = full.nonzero().squeeze(1)
        if dense.numel():
            res[dense] = _argmax_full(model, v[dense], normed=False, chunk_size=chunk_size, k=k,
                                      allowed=allowed)
        out[i:i + v.shape[0]] = res
    return out


def _bound(v: Float[Tensor, "m K"], fp: _FirstPass
           ) -> tuple[Tensor, Float[Tensor, " m"], Float[Tensor, " m"]]:
    """``(xh, c, nxh)``: the bf16 rows of the first pass (with the bias column), the per-row
    additive bound C of the comment above :data:`PRUNE_MIN_VOCAB`, and ``||x^||``."""
    K = v.shape[1]
    with _one_thread():
        xh = torch.zeros((v.shape[0], fp.k_pad), dtype=torch.bfloat16)
        xh[:, :K] = v
        if fp.with_bias:
            xh[:, K] = 1.0
        x64, xh64 = v.double(), xh[:, :K].double()
        nx = x64.norm(dim=1)
        if fp.with_bias:
            nx = (nx * nx + 1.0).sqrt()
        nxh = xh.double().norm(dim=1)
        ndx = (x64 - xh64).norm(dim=1)
        c = (ndx * fp.w_norm + nxh * fp.dw_norm                # inputs rounded to bf16
             + _gamma(2 * fp.k_pad) * fp.wh_norm * nxh         # float32 accumulation, bf16 pass
             + _gamma(K + 1) * fp.w_norm * nx                  # the reference float32 matmul
             + _TINY * (2.0 + fp.wh_abs + xh64.abs().amax(1)))  # denormals flushed to zero
        c = c * (1.0 + 2.0 ** -30)  # float64 rounding of the norms and sums above
    return xh, c, nxh


def _first_pass_values(v: Float[Tensor, "m K"], lin: torch.nn.Linear, fp: _FirstPass, sub: int,
                       allowed: Bool[Tensor, " V"] | None = None
                       ) -> tuple[Tensor, Tensor, Float[Tensor, " m"], Bool[Tensor, " m"]]:
    """``(a, seg_max, c, full)``: the bf16 logits of every token (padding rows and tokens not
    ``allowed`` -inf), their maxima per segment of ``sub`` tokens, the bound C per row, and the
    rows to compute in full (not finite, or so large that a first-pass value could overflow
    bf16)."""
    V = lin.weight.shape[0]
    xh, c, nxh = _bound(v, fp)
    a = _first_pass_mm(xh, fp.weight, fp.packed)
    a[:, V:] = -math.inf  # padding rows
    if allowed is not None:
        a[:, :V].masked_fill_(~allowed, -math.inf)
    seg_max = a.view(v.shape[0], -1, sub).amax(-1)
    with _one_thread():
        a_max = seg_max.amax(1).float()
        full = ~(torch.isfinite(v).all(1) & torch.isfinite(c) & torch.isfinite(a_max)
                 & (nxh * fp.wh_norm < 2.0 ** 120))
    return a, seg_max, c, full


def _candidates(a: Tensor, seg_max: Tensor, t: Float[Tensor, " m"], full: Bool[Tensor, " m"],
                V: int, allowed: Bool[Tensor, " V"] | None = None
                ) -> tuple[Int[Tensor, " c"], Int[Tensor, " c"]]:
    """``(rows, cols)`` of the ``allowed`` tokens with a first-pass value ``>= t`` of their row
    (rows not flagged ``full``), looked for in the segments whose maximum is ``>= t``; ordered by
    row."""
    m, sub = a.shape[0], a.shape[1] // seg_max.shape[1]
    r, s = ((seg_max >= t[:, None]) & ~full[:, None]).nonzero(as_tuple=True)
    segs = a.view(m, -1, sub)[r, s]
    p, off = (segs >= t[r, None]).nonzero(as_tuple=True)
    rows, cols = r[p], s[p] * sub + off
    keep = cols < V
    if allowed is not None:  # a threshold of -inf lets the masked tokens' -inf through
        keep &= allowed[cols.clamp(max=V - 1)]
    return rows[keep], cols[keep]


def _pruned_chunk(v: Float[Tensor, "m K"], lin: torch.nn.Linear, fp: _FirstPass,
                  k: int | None = None, allowed: Bool[Tensor, " V"] | None = None
                  ) -> tuple[Int[Tensor, "m ..."], Bool[Tensor, " m"]]:
    """Argmax (``k=None``) or top ``k`` of ``lin(v)`` per row as the full float32 matmul gives
    it, for every row not flagged in the returned mask; flagged rows (not finite, too large for
    bf16, or too many candidates) must be computed in full. See the comment above
    :data:`PRUNE_MIN_VOCAB` for the bound; for the top ``k`` the row's maximum a* is replaced by
    its k-th largest first-pass value (k tokens reach it, so the k-th largest float32 logit is at
    least lo(a_k) - C), first bounded from below by the k-th largest segment maximum, then found
    exactly among the tokens that bound keeps. With ``allowed``, tokens outside it are left out
    (first-pass value -inf, never candidates, masked in the exact pass)."""
    w, b = lin.weight.detach(), None if lin.bias is None else lin.bias.detach()
    V = w.shape[0]
    sub = _SUB
    while k is not None and sub > 1 and -(-V // _SUB) * _SUB // sub < k:
        sub //= 2  # at least k segments
    a, seg_max, c, full = _first_pass_values(v, lin, fp, sub, allowed)
    with _one_thread():
        if k is None:
            rows, cols = _candidates(a, seg_max, _threshold(seg_max.amax(1).float(), c), full, V,
                                     allowed)
        else:
            kk = min(k, seg_max.shape[1])
            lower = seg_max.topk(kk, dim=1).values[:, -1].float()
            rows, cols = _candidates(a, seg_max, _threshold(lower, c), full, V, allowed)
            rows, cols = _refine(a, rows, cols, c, full, k)
        del a
        return _exact_pass(v, w, b, rows, cols, full, k, allowed)


def _refine(a: Tensor, rows: Int[Tensor, " c"], cols: Int[Tensor, " c"], c: Float[Tensor, " m"],
            full: Bool[Tensor, " m"], k: int) -> tuple[Int[Tensor, " c"], Int[Tensor, " c"]]:
    """Keep the candidates above the threshold of each row's exact k-th largest first-pass value
    (the candidates include the row's k largest); rows with too many candidates or fewer than
    ``k`` are flagged in ``full`` (in place) and lose theirs."""
    m = a.shape[0]
    counts = torch.bincount(rows, minlength=m)
    full |= (counts < k) | (counts > 4 * max(_MAX_CANDIDATES, 2 * k))
    keep = ~full[rows]
    rows, cols, counts = rows[keep], cols[keep], counts.masked_fill(full, 0)
    if rows.numel() == 0:
        return rows, cols
    vals = a[rows, cols].float()
    pos = torch.arange(rows.numel()) - (torch.cumsum(counts, 0) - counts)[rows]  # rows ascending
    table = torch.full((m, int(counts.max())), -math.inf)
    table[rows, pos] = vals
    kth = table.topk(k, dim=1).values[:, -1]
    keep = vals >= _threshold(kth, c)[rows]
    return rows[keep], cols[keep]


def _exact_pass(v: Float[Tensor, "m K"], w: Tensor, b: Tensor | None, rows: Int[Tensor, " c"],
                cols: Int[Tensor, " c"], full: Bool[Tensor, " m"], k: int | None = None,
                allowed: Bool[Tensor, " V"] | None = None
                ) -> tuple[Int[Tensor, "m ..."], Bool[Tensor, " m"]]:
    """The float32 argmax (``k=None``) or top ``k`` (:func:`top_ids`' order) over each row's
    candidates ``(rows, cols)``, in groups of rows; rows with no candidates, fewer than ``k`` or
    too many are flagged in ``full``."""
    m = v.shape[0]
    counts = torch.bincount(rows, minlength=m)
    full |= (counts < (k or 1)) | (counts > max(_MAX_CANDIDATES, 2 * (k or 1)))
    cols = cols[torch.argsort(rows, stable=True)]
    starts, n_of = (torch.cumsum(counts, 0) - counts).tolist(), counts.tolist()
    res = torch.zeros((m,) if k is None else (m, k), dtype=torch.long)
    grp: list[int] = []
    width = 0
    for r in (~full).nonzero().squeeze(1).tolist() + [None]:
        # groups of rows whose candidates are recomputed in one matmul: at most _GROUP rows and
        # about _GROUP_COLS candidates (the union's columns x the group's rows is the cost)
        if r is None or (grp and (len(grp) == _GROUP or width + n_of[r] > _GROUP_COLS)):
            if grp:
                ids = torch.cat([cols[starts[g]:starts[g] + n_of[g]] for g in grp])
                res[grp] = _exact_top(v[grp], w, b, ids, k, allowed)
            grp, width = [], 0
        if r is not None:
            grp.append(r)
            width += n_of[r]
    return res, full


def _pad_rows(v: Tensor) -> Tensor:
    """At least _MIN_ROWS rows (the first row repeated)."""
    if v.shape[0] >= _MIN_ROWS or v.shape[0] == 0:
        return v
    return torch.cat([v, v[:1].expand(_MIN_ROWS - v.shape[0], -1)])


def _logits(model: Model, v: Float[Tensor, "n d_model"]) -> Float[Tensor, "n d_vocab"]:
    """``unembed(model, v)`` computed with at least _MIN_ROWS rows: a float32 matmul of one or two
    rows takes another kernel whose last bits differ, so padding keeps every logit independent
    of how the rows are chunked (and equal to the pruned argmax's recomputation)."""
    return unembed(model, _pad_rows(v))[:v.shape[0]]


def _subset_logits(v: Float[Tensor, "g d_model"], w: Tensor, b: Tensor | None,
                   ids: Int[Tensor, " c"]) -> tuple[Int[Tensor, " u"], Float[Tensor, "g u"]]:
    """``(u, logits)``: the sorted distinct ``ids`` (with the first :data:`_MIN_COLS` token ids
    added, so the matmul has its minimum width) and their float32 logits, bit for bit the full
    matmul's (rows padded to :data:`_MIN_ROWS`)."""
    extra = torch.arange(min(_MIN_COLS, w.shape[0]))
    u = torch.unique(torch.cat([ids, extra]))  # sorted
    logits = torch.nn.functional.linear(_pad_rows(v), w[u], None if b is None else b[u])
    return u, logits[:v.shape[0]]


def _exact_top(v: Float[Tensor, "g d_model"], w: Tensor, b: Tensor | None,
               ids: Int[Tensor, " c"], k: int | None,
               allowed: Bool[Tensor, " V"] | None = None) -> Int[Tensor, "g ..."]:
    """Argmax (``k=None``) or top ``k`` over the union of the rows' candidates, in float32 as the
    full matmul computes it.

    Tokens in the union that are not a row's candidates are provably below that row's maximum
    (its k-th largest logit), so they change neither the maximum nor the top ``k`` and their
    order; ids are sorted, so the first index among equal logits is the lowest token id, as in
    the full argmax (and :func:`top_ids`). The extra columns that only give the matmul its
    minimum width are masked when not ``allowed``.
    """
    u, logits = _subset_logits(v, w, b, ids)
    if allowed is not None:
        logits.masked_fill_(~allowed[u], -math.inf)
    if k is None:
        return u[logits.argmax(-1)]
    return u[logits.sort(dim=-1, descending=True, stable=True).indices[:, :k]]


def top_ids(
    model: Model,
    x: Float[Tensor, "... d_model"],
    k: int,
    *,
    normed: bool = DEFAULT_NORMED,
    chunk_size: int = 512,
    method: str = "auto",
    allowed: Bool[Tensor, " d_vocab"] | None = None,
) -> Int[Tensor, "... k"]:
    """Ids of the ``k`` highest float32 logits of each projected vector, highest first, equal
    logits ordered by lowest token id: exactly those of the full float32 matmul, at a fraction of
    its cost on big vocabularies (what the attribute rate needs; :func:`top_k` also returns the
    probabilities, which need every logit).

    ``method`` as :func:`argmax`'s: ``"pruned"`` bounds the k-th largest logit from a bfloat16
    pass and recomputes in float32 only the tokens that could reach it (a few hundred more than
    ``k`` per row); ``"auto"`` uses it where :func:`argmax` would and ``k`` is at most 1/256 of the
    vocabulary. ``benchmarks/lens.py --top 500`` times both.

    ``allowed`` (a boolean mask over the vocabulary) keeps only those tokens: the result is the
    full top ``k``'s order with every other token removed, i.e. the first ``k`` allowed ids of
    the full matmul's stable descending sort (``k`` at most the number of allowed tokens).

    Example:
        >>> top_ids(model, acts.resid[:, -1], k=5).shape  # [n, 5]  # doctest: +SKIP
    """
    if allowed is not None:
        if allowed.dtype != torch.bool or tuple(allowed.shape) != (model.d_vocab,):
            raise ValueError(f"top_ids: allowed must be a bool mask of shape ({model.d_vocab},), "
                             f"got {allowed.dtype} {tuple(allowed.shape)}")
        n_allowed = int(allowed.sum())
        if not 1 <= k <= n_allowed:
            raise ValueError(f"top_ids: k must be in 1..{n_allowed} (the allowed tokens), got {k}")
        allowed = allowed.cpu()
    elif not 1 <= k <= model.d_vocab:
        raise ValueError(f"top_ids: k must be in 1..{model.d_vocab}, got {k}")
    return _top(model, x, k, normed=normed, chunk_size=chunk_size, method=method,
                caller="top_ids", allowed=allowed)


def is_argmax(
    model: Model,
    x: Float[Tensor, "... d_model"],
    ids: Int[Tensor, "..."],
    *,
    normed: bool = DEFAULT_NORMED,
    chunk_size: int = 512,
    method: str = "auto",
    probe: int = 1024,
) -> Bool[Tensor, "..."]:
    """Whether ``ids`` (broadcast to ``x``'s leading shape) is the top-1 token of each projection:
    exactly ``argmax(model, x, normed=normed) == ids``, usually at a small fraction of its cost.

    Most rows are decided by a witness: the exact :func:`argmax` of ``probe`` evenly spaced rows
    gives a small set of tokens that are often on top; the float32 logits of that set and of the
    target are computed for every row (bit for bit the full matmul's, as in the pruned argmax),
    and a row where some token beats the target (a higher logit, or an equal one at a lower id,
    which ``torch.argmax`` would pick first) cannot have it as its argmax. Only the undecided rows
    (the true events and rows whose maximum is elsewhere) go through :func:`argmax`. This applies
    to a plain float32 ``Linear`` unembedding on the CPU (as the pruned argmax); elsewhere, and
    with ``method="full"`` or fewer than ``2 * probe`` rows, it is ``argmax(...) == ids``.

    Example:
        >>> preds = acts.logits.argmax(-1)  # the model's own next token per prompt  # doctest: +SKIP
        >>> is_argmax(model, acts.attn_out, preds[:, None]).shape  # [n, n_layers]  # doctest: +SKIP
    """
    lead = x.shape[:-1]
    target = torch.broadcast_to(torch.as_tensor(ids, dtype=torch.long), lead).reshape(-1).cpu()
    if target.numel() and not (0 <= int(target.min()) and int(target.max()) < model.d_vocab):
        raise ValueError(f"is_argmax: ids must be token ids in 0..{model.d_vocab - 1}")
    flat = x.reshape(-1, x.shape[-1])
    n = flat.shape[0]
    lin = _plain_unembedding(model)[0] if method != "full" else None
    if lin is None or n < 2 * probe:
        top = _top(model, flat, None, normed=normed, chunk_size=chunk_size, method=method,
                   caller="is_argmax")
        return (top == target).reshape(lead)
    sample = torch.linspace(0, n - 1, probe).round().long().unique()
    top = _top(model, flat[sample], None, normed=normed, chunk_size=chunk_size, method=method,
               caller="is_argmax")
    out = torch.zeros(n, dtype=torch.bool)
    decided = torch.zeros(n, dtype=torch.bool)
    out[sample], decided[sample] = top == target[sample], True
    witnesses = torch.unique(top)
    w, b = lin.weight.detach(), None if lin.bias is None else lin.bias.detach()
    with torch.inference_mode():
        for i in range(0, n, _WITNESS_ROWS):
            v = flat[i:i + _WITNESS_ROWS]
            if normed:
                v = final_norm(model, v)
            t = target[i:i + _WITNESS_ROWS]
            u, lg = _subset_logits(v.to(torch.float32), w, b, torch.cat([witnesses, t]))
            f_t = lg.gather(1, torch.searchsorted(u, t)[:, None])
            beaten = ((lg > f_t) | ((lg == f_t) & (u[None, :] < t[:, None]))).any(1)
            decided[i:i + _WITNESS_ROWS] |= beaten
    rest = (~decided).nonzero().squeeze(1)
    if rest.numel():
        out[rest] = _top(model, flat[rest], None, normed=normed, chunk_size=chunk_size,
                         method=method, caller="is_argmax") == target[rest]
    return out.reshape(lead)


_WITNESS_ROWS = 4096  # rows per witness matmul in is_argmax


@dataclass
class TopK:
    """Top-k tokens of projected vectors: ids, decoded strings, probabilities (softmax over the
    whole vocabulary) and logits; leading shape as the input's."""

    ids: Int[Tensor, "... k"]
    probs: Float[Tensor, "... k"]
    logits: Float[Tensor, "... k"]
    strings: list


def top_k(
    model: Model,
    x: Float[Tensor, "... d_model"],
    k: int = 10,
    *,
    normed: bool = DEFAULT_NORMED,
    chunk_size: int = 1024,
    decode: bool = True,
) -> TopK:
    """The ``k`` highest-scoring tokens of each vector's projection.

    Every logit is computed in float32 (the probabilities need the softmax over the whole
    vocabulary, and the order of tied values within the top ``k`` is ``torch.topk``'s), so
    ``argmax``'s pruned path does not apply here; :func:`top_ids` gives the ids alone, exactly
    and faster.

    Example:
        >>> top_k(model, acts.final, k=1, normed=False).strings  # acts.final is already normed  # doctest: +SKIP
        [[' Paris']]
    """
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    ids = torch.empty((flat.shape[0], k), dtype=torch.long)
    probs = torch.empty((flat.shape[0], k))
    logits = torch.empty((flat.shape[0], k))
    with torch.inference_mode():
        for i in range(0, flat.shape[0], chunk_size):
            v = flat[i:i + chunk_size]
            if normed:
                v = final_norm(model, v)
            lg = _logits(model, v).float()
            top = lg.topk(k, dim=-1)
            ids[i:i + chunk_size] = top.indices.cpu()
            logits[i:i + chunk_size] = top.values.cpu()
            probs[i:i + chunk_size] = (top.values - lg.logsumexp(-1, keepdim=True)).exp().cpu()
    strings: list = []
    if decode:
        flat_strings = [[model.tokenizer.decode([t]) for t in row] for row in ids.tolist()]
        strings = _reshape_list(flat_strings, tuple(lead))
    return TopK(ids=ids.reshape(*lead, k), probs=probs.reshape(*lead, k),
                logits=logits.reshape(*lead, k), strings=strings)


def _reshape_list(items: list, shape: tuple[int, ...]) -> list:
    if len(shape) <= 1:
        return items
    step = len(items) // shape[0]
    return [_reshape_list(items[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]
