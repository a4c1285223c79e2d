"""Key/value cache reuse, checked: run a shared token prefix once and continue from copies of it.

:mod:`interp.capture` (the prompts' shared chat template and instruction) and
:mod:`interp.scoring` (each prompt's cache, continued by its candidate answers) both reuse a
cache. A cache that silently stays empty turns every cached forward into a forward *without its
prefix*: the numbers look plausible and are wrong. That happened with transformers 5.24, which
passes the cache to attention modules as ``cache=`` while TransformerLens 4.3's bridge attention
reads only ``past_key_values`` / ``layer_past``. So this module

* names the cache argument as the installed transformers spells it (:func:`cache_argument`);
* makes the bridge's attention see the cache under either name (:func:`patch_bridge_attention`,
  applied by :func:`interp.models.load_model`);
* checks after every cached forward that the cache holds exactly the positions fed to it
  (:func:`checked`), and raises :class:`CacheError` otherwise, so no cached path can drop its
  prefix unnoticed;
* probes each model once (:func:`cache_works`): a cached continuation must give the logits of a
  plain forward. Where it does not (a library version this code does not know), the callers take
  their uncached paths and say so once in the log.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("llama")
    >>> cache_works(model)
    True
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

log = logging.getLogger(__name__)


class CacheError(RuntimeError):
    """A key/value cache does not hold what was fed to the model."""


def cache_argument(hf_model: Any) -> str:
    """The keyword under which ``hf_model.forward`` takes a key/value cache: ``"cache"``
    (transformers >= 5.24) or ``"past_key_values"`` (earlier releases)."""
    params = inspect.signature(hf_model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def returned_cache(output: Any) -> Any:
    """The cache a forward returned (``output.cache`` or ``output.past_key_values``)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def seq_length(cache: Any) -> int:
    """Positions held by layer 0 of ``cache`` (0 for ``None``)."""
    return 0 if cache is None else int(cache.get_seq_length())


def fork(cache: Any, rows: Tensor) -> Any:
    """A copy of ``cache`` holding the given batch rows (repeats allowed); ``cache`` itself is
    left untouched (cache layers replace their tensors on update)."""
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    new.batch_select_indices(rows)
    return new


def forward(hf_model: Any, input_ids: Tensor, *, past: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """One cached forward of the Hugging Face model: ``(output, cache)``.

    The returned cache must hold ``seq_length(past) + input_ids.shape[1]`` positions; otherwise
    :class:`CacheError` (the forward ignored the cache it was given or did not fill it)."""
    before = seq_length(past)
    out = hf_model(input_ids=input_ids, use_cache=True, **{cache_argument(hf_model): past}, **kwargs)
    cache = returned_cache(out)
    return out, checked(cache, before + int(input_ids.shape[1]))


def checked(cache: Any, expected: int) -> Any:
    """``cache``, after checking that it holds ``expected`` positions (else :class:`CacheError`)."""
    got = seq_length(cache)
    if got != expected:
        raise CacheError(f"the key/value cache holds {got} positions after a forward that should "
                         f"have left {expected}: this transformers/transformer-lens pair does not "
                         "fill the cache through the bridge")
    return cache


def _rename_cache(module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    if kwargs.get("cache") is not None and kwargs.get("past_key_values") is None:
        kwargs = dict(kwargs)
        kwargs["past_key_values"] = kwargs.pop("cache")
    return args, kwargs


def patch_bridge_attention(bridge: Any) -> int:
    """Let the bridge's attention modules read a cache passed as ``cache=``.

    TransformerLens 4.3's attention bridges update ``kwargs["past_key_values"]`` only; from
    transformers 5.24 on, decoder layers pass ``cache=``. A forward pre-hook renames the argument.
    Idempotent; returns how many modules were patched (0 when nothing needs it)."""
    from transformer_lens.model_bridge.generalized_components.attention import AttentionBridge

    if getattr(bridge, "_interp_cache_patch", False):
        return 0
    n = 0
    for module in bridge.modules():
        if isinstance(module, AttentionBridge):
            module.register_forward_pre_hook(_rename_cache, with_kwargs=True)
            n += 1
    bridge._interp_cache_patch = True
    return n


def cache_works(model: Any) -> bool:
    """Whether a cached continuation gives a plain forward's logits (checked once per model).

    A 6-token sequence is run whole, and as a 3-token prefix plus a 3-token continuation from its
    cache; the last logits must agree within 1e-3 (float32) and the cache must be filled."""
    flag = getattr(model, "_cache_works", None)
    if flag is not None:
        return flag
    if getattr(model, "is_encoder_decoder", False):
        # interp.seq2seq reuses the encoder's output, not a key/value cache: nothing to probe
        model._cache_works = False
        return False
    hf = model.hf_model
    ids = model.tokenize("The capital of France is Paris, and")[:6]
    ids = ids + [ids[-1]] * (6 - len(ids))
    toks = torch.tensor([ids], device=model.device)
    try:
        with torch.inference_mode():
            plain = hf(input_ids=toks).logits[0, -1].float()
            _, past = forward(hf, toks[:, :3])
            out, _ = forward(hf, toks[:, 3:], past=past,
                             position_ids=torch.arange(3, 6, device=model.device)[None])
            ok = bool(torch.allclose(out.logits[0, -1].float(), plain, atol=1e-3,
                                     rtol=1e-3 if model.dtype == torch.float32 else 5e-2))
            why = "its logits differ from a plain forward's"
    except CacheError as e:
        ok, why = False, str(e)
    if not ok:
        log.warning("%s: key/value cache reuse does not work with this library stack (%s); "
                    "capture and scoring take their uncached paths (correct, slower)",
                    model.name, why)
    model._cache_works = ok
    return ok


# --------------------------------------------------------------------------------------------
# batches that continue a shared prefix


def pad_left(ids: Sequence[Sequence[int]], pad_id: int,
             device: torch.device) -> tuple[Int[Tensor, "b pos"], Int[Tensor, "b pos"]]:
    """Left-pad token lists into ``(tokens, attention_mask)``."""
    width = max(len(x) for x in ids)
    toks = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, x in enumerate(ids):
        toks[r, width - len(x):] = torch.tensor(x, dtype=torch.long)
        mask[r, width - len(x):] = 1
    return toks.to(device), mask.to(device)


def common_prefix_length(ids: Sequence[Sequence[int]]) -> int:
    """Length of the longest common token prefix, leaving every sequence >= 1 own token.

    Example:
        >>> common_prefix_length([[1, 2, 3, 4], [1, 2, 5]])
        2
    """
    n = min(len(x) for x in ids) - 1
    first = ids[0]
    for x in ids[1:]:
        k = 0
        while k < n and x[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


def sliding_window(model: Any) -> int | None:
    """The model's attention window, if it has sliding-window layers."""
    w = getattr(model.hf_model.config, "sliding_window", None)
    return int(w) if w else None


@dataclass
class Batch:
    """The inputs of one forward over a batch's own tokens, after the shared prefix.

    Padding sits between the prefix and each row's own tokens (masked out, with explicit position
    ids), so every token keeps its true position: the same numbers as an unpadded forward."""

    tokens: Int[Tensor, "b width"]
    attention_mask: Int[Tensor, "b kv"]  # over prefix + own tokens
    position_ids: Int[Tensor, "b width"]
    past: Any  # a fork of the prefix cache, or None
    ends: Int[Tensor, " b"]  # position id of each row's next token

    def kwargs(self, argument: str = "past_key_values") -> dict[str, Any]:
        """Keyword arguments of the forward (the cache under ``argument``, when there is one)."""
        kw: dict[str, Any] = {"attention_mask": self.attention_mask, "position_ids": self.position_ids}
        if self.past is not None:
            kw[argument] = self.past
        return kw


class SharedPrefix:
    """The token prefix shared by all sequences, run once; every batch continues its cache.

    Chat prompts share their template and instruction (SmolLM2: ~35 tokens before a ~10-token
    query), so this removes most of the work. Not used (``length == 0``) when disabled, when the
    prefix is shorter than ``min_tokens``, when the model's cache does not work
    (:func:`cache_works`), or when a sliding window could be exceeded (the window counts cache
    slots, so the padding gap between prefix and suffix would shift it).

    Args:
        model: the model.
        ids: every sequence's tokens.
        limit: the prefix ends at or before this token index (e.g. the first kept position).
        extra: tokens that may be appended to the longest sequence later (continuations).
    """

    def __init__(self, model: Any, ids: Sequence[Sequence[int]], *, limit: int | None = None,
                 extra: int = 0, enabled: bool = True, min_tokens: int = 1):
        self.model, self.length, self.cache = model, 0, None
        window = sliding_window(model)
        if not enabled or (window is not None and max(len(x) for x in ids) + extra > window):
            return
        p = common_prefix_length(ids)
        if limit is not None:
            p = min(p, limit)
        if p < max(min_tokens, 1) or not cache_works(model):
            return
        toks = torch.tensor([list(ids[0][:p])], device=model.device)
        with torch.inference_mode():
            _, self.cache = forward(model.hf_model, toks, logits_to_keep=1)
        self.length = p

    def batch(self, own: Sequence[Sequence[int]]) -> Batch:
        """The inputs for the rows' own tokens (each row's tokens after the prefix)."""
        device = self.model.device
        toks, own_mask = pad_left(own, self.model.pad_token_id, device)
        b, width = toks.shape
        lengths = torch.tensor([len(x) for x in own], device=device)
        mask = torch.cat([torch.ones(b, self.length, dtype=torch.long, device=device), own_mask], 1)
        pos = self.length + torch.arange(width, device=device)[None] - (width - lengths)[:, None]
        past = None
        if self.cache is not None:
            past = fork(self.cache, torch.zeros(b, dtype=torch.long, device=device))
        return Batch(toks, mask, pos.clamp(min=0), past, self.length + lengths)
