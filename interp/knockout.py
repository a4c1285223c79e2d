"""Attention knockout at the last position (Geva et al. 2023, §5): block the attention edges from
the last token to chosen earlier tokens in chosen layers, and read the next-token distribution.

**Hook.** ``blocks.{l}.attn.hook_attn_scores`` of the ``TransformerBridge``: the bridge's
reconstructed attention (``PositionEmbeddingsAttentionBridge`` and its joint-QKV variant: LLaMA,
Gemma, Qwen, Phi, Falcon, ...) fires it on the **pre-softmax** scores ``[batch, head, query,
key]``, after the causal / padding / sliding-window mask is added and before the softmax, in every
head. The hook sets the scores of the blocked ``(last, j)`` entries to the dtype's minimum (the
value Hugging Face masks with), so the softmax gives them exactly zero weight and renormalises
over the keys left: the knockout of Geva et al. ``hook_pattern`` (post-softmax) is not used:
zeroing a weight there without renormalising is not a knockout, and renormalising by hand
duplicates the softmax. Where the bridge only *fires* ``hook_attn_scores`` after a fused kernel
(the post-hoc path of ``AttentionBridge``: edits are ignored), :func:`check_reachable` sees that a
full block changes nothing and raises :class:`KnockoutUnsupported` naming the architecture.

**Only the last position is recomputed.** Blocking edges *from* the last position changes nothing
at earlier positions (causal attention), so each query's tokens but the last run once (a
key/value cache, :mod:`interp.kv_cache`), and every condition (a set of blocked tokens in a window
of layers) is a one-token forward of the last token on a copy of that cache, batched over
conditions and queries. Where the cache does not work with the installed libraries, or a sliding
window could be exceeded, whole sequences are run instead (same numbers, slower). The logits come
from the final norm and unembedding of :mod:`interp.capture` (Gemma's soft-capping included).

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("llama")
    >>> ids = [model.tokenize("The capital of France is")]
    >>> n = len(ids[0])
    >>> out = knockout_probs(model, ids, [[Knockout(), Knockout((0, 1), tuple(range(1, n - 1)))]])
    >>> out.probs.shape, bool(out.probs[0, 0] == out.clean[0])
    (torch.Size([1, 2]), True)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from interp import kv_cache
from interp.models import Model

HOOK = "blocks.{layer}.attn.hook_attn_scores"


class KnockoutUnsupported(RuntimeError):
    """The bridge's attention hooks cannot block attention edges of this model."""


@dataclass(frozen=True)
class Knockout:
    """One condition: in ``layers``, the last position may not attend to the token indices
    ``positions`` (of the query's unpadded tokens). ``Knockout()`` blocks nothing.

    >>> Knockout((3, 4), (1, 2)).blocks(4)
    True
    """

    layers: tuple[int, ...] = ()
    positions: tuple[int, ...] = ()

    def blocks(self, layer: int) -> bool:
        return bool(self.positions) and layer in self.layers


@dataclass(frozen=True)
class KnockoutProbs:
    """Per query: its target token (o*: the unablated top-1 unless given), the target's
    unablated probability, and its probability under each of the query's conditions."""

    target: Int[Tensor, " n"]
    clean: Float[Tensor, " n"]
    probs: Float[Tensor, "n c"]


def windows(n_layers: int, k: int) -> list[tuple[int, ...]]:
    """One window of ``k`` layers centred on each layer, clipped at both ends (Geva et al.'s
    code: layers ``l - k//2 .. l - k//2 + k - 1``).

    >>> windows(4, 3)
    [(0, 1), (0, 1, 2), (1, 2, 3), (2, 3)]
    """
    return [tuple(range(max(0, c - k // 2), min(n_layers, c - k // 2 + k))) for c in range(n_layers)]


def window_size(n_layers: int) -> int:
    """The window ``k``: 9 layers for 30+ layer models (Geva et al.; LLaMA-7B's 32 layers), else
    the same share of the depth, ``round(0.3 * n_layers)``, at least 1 (Gemma-3-270M's 18 -> 5).

    >>> window_size(32), window_size(30), window_size(18), window_size(2)
    (9, 9, 5, 1)
    """
    return 9 if n_layers >= 30 else max(1, round(0.3 * n_layers))


def _architecture(model: Model) -> str:
    archs = getattr(model.hf_model.config, "architectures", None) or [type(model.hf_model).__name__]
    attn = type(model.bridge.blocks[0].attn).__name__ if hasattr(model.bridge, "blocks") else "?"
    return f"{archs[0]} (attention bridge {attn})"


def _mask_hook(masks: dict[int, Bool[Tensor, "b k"]], fired: set[int]) -> Any:
    def fn(scores: Tensor, hook: Any) -> Tensor:
        layer = int(hook.name.split(".")[1])
        m = masks[layer]
        if scores.ndim != 4 or scores.shape[0] != m.shape[0] or scores.shape[-1] != m.shape[1]:
            raise KnockoutUnsupported(f"{hook.name} gave scores of shape {list(scores.shape)}; "
                                      f"expected [{m.shape[0]}, heads, query, {m.shape[1]}]")
        fired.add(layer)
        last = scores[:, :, -1:, :].masked_fill(m[:, None, None, :], torch.finfo(scores.dtype).min)
        return torch.cat([scores[:, :, :-1], last], dim=2)
    return fn


def _last_logits(model: Model, toks: Tensor, kwargs: dict, masks: dict[int, Tensor]) -> Tensor:
    """Final logits at the last column of ``toks`` with the blocked scores of ``masks``."""
    from interp.capture import _StopForward, final_norm, unembed

    kept: list[Tensor] = []

    def stop(t: Tensor, hook: Any) -> Tensor:
        kept.append(t[:, -1])
        raise _StopForward

    fired: set[int] = set()
    hooks = [(HOOK.format(layer=l), _mask_hook(masks, fired)) for l in masks]
    hooks.append(("ln_final.hook_in", stop))
    with torch.inference_mode(), model.bridge.hooks(fwd_hooks=hooks), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
        try:
            model.bridge(toks, return_type=None, **kwargs)
        except _StopForward:
            pass
    if not kept or fired != set(masks):
        raise KnockoutUnsupported(f"{model.name}: {_architecture(model)}: the attention-score hooks "
                                  f"of layers {sorted(set(masks) - fired)} did not fire")
    with torch.inference_mode():
        return unembed(model, final_norm(model, kept[0])).float()


def _key_masks(conds: Sequence[Knockout], lengths: Sequence[int], width: int,
               n_layers: int) -> dict[int, Bool[Tensor, "b k"]]:
    """Per layer with a block, the ``[rows, width]`` blocked key columns (rows left-padded: token
    ``j`` of a row of ``n`` tokens is column ``width - n + j``)."""
    out: dict[int, Tensor] = {}
    for layer in range(n_layers):
        rows = [r for r, c in enumerate(conds) if c.blocks(layer)]
        if not rows:
            continue
        m = torch.zeros(len(conds), width, dtype=torch.bool)
        for r in rows:
            n = lengths[r]
            cols = [width - n + j for j in conds[r].positions if 0 <= j < n]
            if len(cols) != len(conds[r].positions):
                raise ValueError(f"knockout positions {conds[r].positions} outside a query of {n} tokens")
            m[r, cols] = True
        out[layer] = m
    return out


def _rows_cached(model: Model, ids: Sequence[Sequence[int]], queries: Sequence[int],
                 conds: Sequence[Knockout], prefix: tuple[Any, Tensor, int]) -> Tensor:
    cache, pmask, width = prefix
    device = model.device
    q = torch.tensor(queries, device=device)
    lengths = [len(ids[i]) for i in queries]
    toks = torch.tensor([[ids[i][-1]] for i in queries], device=device)
    past = kv_cache.fork(cache, q)
    kwargs = {"attention_mask": torch.cat([pmask[q], torch.ones(len(q), 1, dtype=pmask.dtype,
                                                                device=device)], 1),
              "position_ids": torch.tensor([[n - 1] for n in lengths], device=device),
              "past_key_values": past}
    masks = {l: m.to(device) for l, m in _key_masks(conds, lengths, width + 1, model.n_layers).items()}
    logits = _last_logits(model, toks, kwargs, masks)
    kv_cache.checked(past, width + 1)
    return logits


def _rows_plain(model: Model, ids: Sequence[Sequence[int]], queries: Sequence[int],
                conds: Sequence[Knockout]) -> Tensor:
    rows = [list(ids[i]) for i in queries]
    toks, mask = kv_cache.pad_left(rows, model.pad_token_id, model.device)
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    masks = {l: m.to(model.device) for l, m in
             _key_masks(conds, [len(r) for r in rows], toks.shape[1], model.n_layers).items()}
    return _last_logits(model, toks, {"attention_mask": mask, "position_ids": pos}, masks)


def _prefix(model: Model, ids: Sequence[Sequence[int]]) -> tuple[Any, Tensor, int]:
    """The key/value cache of every query's tokens but its last, left-padded."""
    heads = [list(x[:-1]) for x in ids]
    toks, mask = kv_cache.pad_left(heads, model.pad_token_id, model.device)
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.inference_mode():
        _, cache = kv_cache.forward(model.hf_model, toks, attention_mask=mask, position_ids=pos,
                                    logits_to_keep=1)
    return cache, mask, toks.shape[1]


def knockout_probs(
    model: Model,
    ids: Sequence[Sequence[int]],
    conditions: Sequence[Sequence[Knockout]],
    *,
    targets: Sequence[int] | None = None,
    batch_size: int = 16,
    rows_per_forward: int = 64,
    use_cache: bool | None = None,
) -> KnockoutProbs:
    """The probability of each query's target at its last position under each of its conditions.

    Args:
        ids: each query's token ids (at least 2 tokens).
        conditions: per query, its :class:`Knockout` conditions (``probs[:, c]``; every query the
            same number).
        targets: the token whose probability is read, per query; default o*, the top-1 token of
            the unablated forward.
        batch_size: queries whose prefix runs in one forward.
        rows_per_forward: (query, condition) rows per one-token forward.
        use_cache: force (True) or forbid (False) the cached path; default: when the model's
            cache works and no sliding window can be exceeded.
    """
    n = len(ids)
    if n == 0 or len(conditions) != n or len({len(c) for c in conditions}) != 1:
        raise ValueError(f"knockout_probs: {n} queries and {len(conditions)} condition lists "
                         "(one list per query, all of one length)")
    if min(len(x) for x in ids) < 2:
        raise ValueError("knockout_probs: every query needs at least 2 tokens")
    if use_cache is None:
        window = kv_cache.sliding_window(model)
        use_cache = kv_cache.cache_works(model) and (window is None or max(map(len, ids)) <= window)
    C = len(conditions[0])
    target = torch.empty(n, dtype=torch.long)
    clean = torch.empty(n)
    probs = torch.empty(n, C)
    for start in range(0, n, batch_size):
        batch = list(range(start, min(n, start + batch_size)))
        sub = [ids[i] for i in batch]
        prefix = _prefix(model, sub) if use_cache else None

        def run(rows: list[tuple[int, Knockout]]) -> Tensor:
            qs, cs = [r for r, _ in rows], [c for _, c in rows]
            if prefix is not None:
                return _rows_cached(model, sub, qs, cs, prefix)
            return _rows_plain(model, sub, qs, cs)
        lp = torch.log_softmax(run([(r, Knockout()) for r in range(len(batch))]), -1)
        tgt = lp.argmax(-1) if targets is None else torch.tensor([targets[i] for i in batch])
        target[batch] = tgt.cpu()
        clean[batch] = lp.gather(1, tgt.to(lp.device)[:, None])[:, 0].exp().cpu()
        rows = [(r, c) for r in range(len(batch)) for c in conditions[batch[r]]]
        got = []
        for s in range(0, len(rows), rows_per_forward):
            chunk = rows[s:s + rows_per_forward]
            lp = torch.log_softmax(run(chunk), -1)
            t = tgt.to(lp.device)[[r for r, _ in chunk]]
            got.append(lp.gather(1, t[:, None])[:, 0].exp().cpu())
        probs[batch] = torch.cat(got).reshape(len(batch), C)
    return KnockoutProbs(target, clean, probs)


def check_reachable(model: Model) -> None:
    """Raise :class:`KnockoutUnsupported` (naming the architecture) unless blocking every earlier
    token in every layer changes the last position's distribution: the hooks must fire on the
    pre-softmax scores *inside* the computation. Encoder-decoders raise
    :class:`interp.seq2seq.NotApplicable`."""
    from interp.seq2seq import NotApplicable

    if model.is_encoder_decoder:
        raise NotApplicable("attention knockout is defined for causal LMs (the last prompt token); "
                            f"{model.name} is an encoder-decoder")
    flag = getattr(model, "_knockout_ok", None)
    if flag is True:
        return
    if not hasattr(model.bridge, "blocks") or f"{HOOK.format(layer=0)}" not in model.bridge.hook_dict:
        raise KnockoutUnsupported(f"{model.name}: {_architecture(model)} exposes no {HOOK} hook: "
                                  "attention knockout cannot reach its attention scores")
    ids = model.tokenize("The capital of France is Paris, and the capital of Italy is")[:8]
    if len(ids) < 3:
        ids = ids + ids[-1:] * (3 - len(ids))
    every = Knockout(tuple(range(model.n_layers)), tuple(range(len(ids) - 1)))
    out = knockout_probs(model, [ids], [[every]], use_cache=False)
    if torch.isclose(out.probs[0, 0], out.clean[0], rtol=1e-6, atol=0):
        raise KnockoutUnsupported(
            f"{model.name}: {_architecture(model)}: editing {HOOK} does not change the forward (the "
            "bridge fires it after a fused attention kernel), so attention knockout cannot be run")
    model._knockout_ok = True


__all__ = ("Knockout", "KnockoutProbs", "KnockoutUnsupported", "check_reachable", "knockout_probs",
           "window_size", "windows")
