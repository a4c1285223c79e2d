"""Batched, hooked forwards that keep only the positions an analysis needs.

:func:`capture` is the one place that runs a model forward for the analyses (``interp.scoring``
runs the continuation forwards of candidate scoring). Prompts are tokenized by the model's own
tokenizer, sorted by length, left-padded with an attention mask and run under
``torch.inference_mode()``. Hooks on ``blocks.{l}.hook_resid_post``, ``blocks.{l}.hook_attn_out``
and ``blocks.{l}.hook_mlp_out`` gather the requested positions only, so memory is
O(prompts x layers x d_model), never O(tokens x layers x d_model).

The forward is stopped at the final norm: the final norm and the unembedding are applied to the
kept positions only, which for a large vocabulary (Gemma-3: 262k) makes capture cheaper than a
plain forward.

Example:
    >>> from interp import load_model, capture
    >>> model = load_model("smollm2-135m-instruct")  # doctest: +SKIP
    >>> acts = capture(model, ["The Eiffel Tower is in", "Rome is the capital of"])  # doctest: +SKIP
    >>> acts.resid.shape  # [n_prompts, n_layers + 1, d_model]  # doctest: +SKIP
    torch.Size([2, 31, 576])
"""

from __future__ import annotations

import copy
import operator
import warnings
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from interp.kv_cache import SharedPrefix, checked
from interp.models import Model


@dataclass(frozen=True)
class Span:
    """A character span ``[start, end)`` of a prompt, resolved to the last token overlapping it.

    Example:
        >>> text = "The capital of France is"
        >>> Span.of(text, "France")
        Span(start=15, end=21)
    """

    start: int
    end: int

    @classmethod
    def of(cls, text: str, substring: str, occurrence: int = -1) -> "Span":
        """The span of ``substring`` in ``text`` (the last occurrence by default).

        Raises ``ValueError`` naming both strings when ``substring`` is absent."""
        starts = []
        i = text.find(substring)
        while i != -1 and substring:
            starts.append(i)
            i = text.find(substring, i + 1)
        if not starts:
            raise ValueError(f"{substring!r} not found in prompt {text!r}")
        s = starts[occurrence]
        return cls(s, s + len(substring))


Position = Union[str, int, Span, tuple]
PositionsArg = Union[Position, Sequence[Position], Mapping[str, Union[Position, Sequence[Position]]]]


@dataclass
class Activations:
    """What one capture kept, in the caller's prompt order (float32, CPU).

    Attributes:
        resid: the residual stream: index 0 is the embedding (``blocks.0.hook_resid_pre``),
            index ``l + 1`` is ``blocks.{l}.hook_resid_post``.
        attn_out: the MHSA update a_l actually added to the residual stream (``hook_attn_out``).
        mlp_out: the MLP update f_l actually added to the residual stream (``hook_mlp_out``).
        final: the last layer's residual after the final norm: the model's "outermost
            representation" (Hugging Face's last ``hidden_states`` entry).
        logits: the model's final logits at the kept position (``None`` if not requested).
        token_index: index of the kept token in each prompt's (unpadded) token list.
        tokens: each prompt's token ids.
        cross_attn_out: encoder-decoder only: the cross-attention part of ``attn_out`` (which
            is self- plus cross-attention there); ``None`` for a causal model.
        encoder_mean: encoder-decoder only: the encoder's final-normed output mean-pooled over
            the prompt's tokens (``representation="encoder_mean"``); ``None`` for a causal model.

    For an encoder-decoder the kept "last" position is the decoder's first position and the
    layers are the decoder's (see :mod:`interp.seq2seq`).
    """

    resid: Float[Tensor, "n n_layers_plus_1 d_model"] | None
    attn_out: Float[Tensor, "n n_layers d_model"] | None
    mlp_out: Float[Tensor, "n n_layers d_model"] | None
    final: Float[Tensor, "n d_model"]
    logits: Float[Tensor, "n d_vocab"] | None
    token_index: Int[Tensor, " n"]
    tokens: list[list[int]] = field(repr=False)
    cross_attn_out: Float[Tensor, "n n_layers d_model"] | None = None
    encoder_mean: Float[Tensor, "n d_model"] | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def resid_post(self) -> Float[Tensor, "n n_layers d_model"]:
        """``blocks.{l}.hook_resid_post`` for every layer (the residual without the embedding)."""
        if self.resid is None:
            raise ValueError("resid was not captured (keep=...)")
        return self.resid[:, 1:]

    @property
    def predictions(self) -> Int[Tensor, " n"]:
        """The model's top-1 next token at the kept position."""
        if self.logits is None:
            raise ValueError("logits were not captured (logits=False)")
        return self.logits.argmax(-1)

    def select(self, index: Sequence[int] | Tensor) -> "Activations":
        """The activations of a subset of prompts, in the given order."""
        idx = torch.as_tensor(index, dtype=torch.long)
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        return Activations(
            resid=pick(self.resid), attn_out=pick(self.attn_out), mlp_out=pick(self.mlp_out),
            final=self.final[idx], logits=pick(self.logits), token_index=self.token_index[idx],
            tokens=[self.tokens[i] for i in idx.tolist()],
            cross_attn_out=pick(self.cross_attn_out), encoder_mean=pick(self.encoder_mean),
        )


class _StopForward(Exception):
    """Raised in the final-norm hook: nothing after it is needed."""


_KEEPABLE = ("resid", "attn_out", "mlp_out")


def _describe(i: int, prompt: Any) -> str:
    text = prompt if isinstance(prompt, str) else f"<{len(prompt)} token ids>"
    if len(text) > 200:
        text = text[:200] + "..."
    return f"prompt {i} ({text!r})"


def _resolve_position(model: Model, i: int, prompt: Any, ids: list[int], pos: Position) -> int:
    n = len(ids)
    if isinstance(pos, str):
        if pos != "last":
            raise ValueError(f"{_describe(i, prompt)}: unknown position {pos!r}; use 'last', a "
                             "token index, or a Span(start, end) of characters")
        return n - 1
    if isinstance(pos, bool):
        raise ValueError(f"{_describe(i, prompt)}: position must not be a bool")
    if isinstance(pos, int):
        if not -n <= pos < n:
            raise ValueError(f"{_describe(i, prompt)}: token position {pos} out of range for "
                             f"{n} tokens")
        return pos % n
    if isinstance(pos, tuple):
        if len(pos) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in pos):
            raise ValueError(f"{_describe(i, prompt)}: a position tuple must be a character span "
                             f"(start, end) of two ints, got {pos!r}")
        pos = Span(*pos)
    if isinstance(pos, Span):
        if not isinstance(prompt, str):
            raise ValueError(f"{_describe(i, prompt)}: a character span needs a string prompt")
        if not 0 <= pos.start < pos.end <= len(prompt):
            raise ValueError(f"{_describe(i, prompt)}: span {pos.start}:{pos.end} is not inside "
                             f"the prompt ({len(prompt)} characters)")
        enc = model.encode(prompt, return_offsets_mapping=True)
        hits = [t for t, (s, e) in enumerate(enc["offset_mapping"])
                if e > s and s < pos.end and e > pos.start]
        if not hits:
            raise ValueError(f"{_describe(i, prompt)}: no token covers the span "
                             f"{prompt[pos.start:pos.end]!r}")
        return hits[-1]
    raise ValueError(f"{_describe(i, prompt)}: unsupported position {pos!r}")


def _normalise_positions(positions: PositionsArg, n: int) -> tuple[dict[str, list[Position]], bool]:
    """-> ({set name: one position per prompt}, whether the caller asked for a mapping)."""
    def per_prompt(p: Any, label: str) -> list[Position]:
        if isinstance(p, (str, int, Span)) or (isinstance(p, tuple) and len(p) == 2
                                               and all(isinstance(x, int) for x in p)):
            return [p] * n
        p = list(p)
        if len(p) != n:
            raise ValueError(f"positions{label}: got {len(p)} positions for {n} prompts")
        return p
    if isinstance(positions, Mapping):
        if not positions:
            raise ValueError("positions: empty mapping")
        return {k: per_prompt(v, f"[{k!r}]") for k, v in positions.items()}, True
    return {"_": per_prompt(positions, "")}, False


def _type_name(x: Any) -> str:
    return type(x).__name__


def check_prompts(prompts: Any, name: str = "prompts", *, token_ids: bool = True) -> None:
    """Raise ``TypeError`` unless ``prompts`` is a sequence of strings (or, with ``token_ids``,
    of token-id sequences); the message names the argument and the index of a bad prompt.

    Cheap: one ``isinstance`` per prompt (token ids are checked in :func:`tokenize_prompts`).

    >>> check_prompts("The capital of France is")
    Traceback (most recent call last):
    TypeError: prompts: expected a sequence of strings, got a str (wrap one prompt in a list)
    >>> check_prompts(["ok", None])
    Traceback (most recent call last):
    TypeError: prompts[1]: expected a string or a sequence of token ids, got NoneType
    """
    if isinstance(prompts, str):
        raise TypeError(f"{name}: expected a sequence of strings, got a str (wrap one prompt in a list)")
    if not isinstance(prompts, (Sequence, Tensor, np.ndarray)) or isinstance(prompts, (bytes, bytearray)):
        raise TypeError(f"{name}: expected a sequence of strings, got {_type_name(prompts)} (pass a list)")
    if isinstance(prompts, (Tensor, np.ndarray)) and (not token_ids or prompts.ndim != 2):
        raise TypeError(f"{name}: expected a sequence of strings{' or a 2-d array of token ids' * token_ids}, "
                        f"got a {prompts.ndim}-d {_type_name(prompts)} (wrap one prompt's ids in a list)")
    kinds = "a string or a sequence of token ids" if token_ids else "a string"
    for i, p in enumerate(prompts):
        if isinstance(p, str):
            continue
        if token_ids and (isinstance(p, (Tensor, np.ndarray)) or
                          (isinstance(p, Sequence) and not isinstance(p, (bytes, bytearray)))):
            continue
        hint = " (one prompt of token ids goes in a list: [[id, id, ...]])" if (
            token_ids and isinstance(p, (int, np.integer))) else ""
        raise TypeError(f"{name}[{i}]: expected {kinds}, got {_type_name(p)}{hint}")


def _token_ids(model: Model, i: int, prompt: Any) -> list[int]:
    """One prompt's token ids: a string tokenized by the model, ids checked against its vocabulary."""
    if isinstance(prompt, str):
        return model.tokenize(prompt)
    if isinstance(prompt, (Tensor, np.ndarray)):
        integral = (not prompt.is_floating_point() and not prompt.is_complex() and prompt.dtype != torch.bool
                    if isinstance(prompt, Tensor) else np.issubdtype(prompt.dtype, np.integer))
        if prompt.ndim != 1 or not integral:
            raise TypeError(f"prompts[{i}]: expected a 1-d sequence of integer token ids, got a "
                            f"{prompt.ndim}-d {_type_name(prompt)} of {prompt.dtype}")
        ids = [int(t) for t in prompt.tolist()]
    else:
        try:
            ids = [operator.index(t) for t in prompt]
        except TypeError:
            j, t = next((j, t) for j, t in enumerate(prompt) if not _is_index(t))
            raise TypeError(f"prompts[{i}][{j}]: expected an integer token id, got {_type_name(t)}") from None
    if ids:
        lo, hi = min(ids), max(ids)
        if lo < 0 or hi >= model.d_vocab:
            bad = lo if lo < 0 else hi
            raise ValueError(f"prompts[{i}]: token id {bad} at position {ids.index(bad)} is outside the "
                             f"vocabulary of {model.name} (size {model.d_vocab}: ids 0..{model.d_vocab - 1})")
    return ids


def _is_index(t: Any) -> bool:
    try:
        operator.index(t)
        return True
    except TypeError:
        return False


def tokenize_prompts(model: Model, prompts: Sequence[str | Sequence[int]]) -> list[list[int]]:
    """Token ids of each prompt (strings via the model's tokenizer; id lists kept as given),
    checked against the model's vocabulary and context length.

    Raises ``TypeError`` for a bare string or a prompt of another type (:func:`check_prompts`),
    ``ValueError`` for an empty list, an empty prompt, a token id outside the vocabulary or a
    prompt longer than the context (naming the prompt's index)."""
    check_prompts(prompts)
    if len(prompts) == 0:
        raise ValueError("capture: the prompt list is empty")
    out: list[list[int]] = []
    for i, p in enumerate(prompts):
        ids = _token_ids(model, i, p)
        if not ids:
            raise ValueError(f"{_describe(i, p)}: the prompt has no tokens")
        if len(ids) > model.n_ctx:
            raise ValueError(f"{_describe(i, p)}: {len(ids)} tokens, longer than the model's "
                             f"context of {model.n_ctx}")
        out.append(ids)
    return out


#: dtypes whose final norm, unembedding and log-softmax run in float32 (:func:`float32_head`)
HALF_DTYPES = (torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class _Head32:
    """float32 copies of a half-precision model's final norm and unembedding."""

    norm: torch.nn.Module
    unembed: torch.nn.Module


_HEAD32: "weakref.WeakKeyDictionary[torch.nn.Module, _Head32]" = weakref.WeakKeyDictionary()


def _head32(model: Model) -> _Head32 | None:
    """The cached float32 head of a half-precision causal model, or ``None`` (float32 models and
    encoder-decoders use the model's own modules)."""
    if model.dtype not in HALF_DTYPES or model.is_encoder_decoder:
        return None
    norm, lin = model.bridge.ln_final.original_component, model.bridge.unembed.original_component
    head = _HEAD32.get(lin)
    if head is None:
        head = _HEAD32[lin] = _Head32(copy.deepcopy(norm).float().eval(),
                                      copy.deepcopy(lin).float().eval())
    return head


def _softcap(model: Model, logits: Tensor) -> Tensor:
    cap = getattr(model.hf_model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def unembed(model: Model, final: Float[Tensor, "n d_model"]) -> Float[Tensor, "n d_vocab"]:
    """Logits of already final-normed vectors, exactly as the model computes them (in float32
    for a bfloat16 / float16 model: :func:`float32_head`)."""
    if model.is_encoder_decoder:
        from interp.seq2seq import unembed as unembed_decoder

        return unembed_decoder(model, final)
    head = _head32(model)
    if head is not None:
        return _softcap(model, head.unembed(final.to(model.device, torch.float32)))
    return _softcap(model, model.bridge.unembed(final.to(model.device, model.dtype)))


def final_norm(model: Model, resid: Float[Tensor, "n d_model"]) -> Float[Tensor, "n d_model"]:
    """The model's final normalisation applied to residual-stream vectors (an
    encoder-decoder's: the decoder's final norm; float32 for a half-precision model)."""
    if model.is_encoder_decoder:
        from interp.seq2seq import final_norm as decoder_final_norm

        return decoder_final_norm(model, resid)
    head = _head32(model)
    if head is not None:
        return head.norm(resid.to(model.device, torch.float32))
    return model.bridge.ln_final(resid.to(model.device, model.dtype))


@contextmanager
def float32_head(model: Model) -> Iterator[None]:
    """Within the block, the Hugging Face model's own forwards of a bfloat16 / float16 model give
    float32 logits: its final norm and unembedding are recomputed in float32 from the
    half-precision residual (the half-precision values are discarded). A no-op for float32
    models. :func:`capture`'s logits (:func:`final_norm`, :func:`unembed`) are float32 always."""
    head = _head32(model)
    if head is None:
        yield
        return
    norm, lin = model.bridge.ln_final.original_component, model.bridge.unembed.original_component
    normed: list[Tensor] = []

    def keep_norm(module: Any, args: tuple, out: Tensor) -> None:
        normed[:] = [head.norm(args[0].float())]

    def redo_unembed(module: Any, args: tuple, out: Tensor) -> Tensor:
        x = normed[0]
        return head.unembed(x[:, x.shape[1] - args[0].shape[1]:] if x.dim() == 3 else x)

    handles = [norm.register_forward_hook(keep_norm), lin.register_forward_hook(redo_unembed)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def capture(
    model: Model,
    prompts: Sequence[str | Sequence[int]],
    positions: PositionsArg = "last",
    *,
    batch_size: int = 16,
    keep: Sequence[str] | Mapping[str, Sequence[str]] = _KEEPABLE,
    logits: bool | Sequence[str] = True,
    progress: bool | None = None,
    share_prefix: bool = True,
) -> Activations | dict[str, Activations]:
    """Run ``prompts`` through ``model`` once and keep the requested positions.

    Args:
        model: a loaded :class:`~interp.models.Model`.
        prompts: strings (tokenized by the model's tokenizer, BOS per its configuration) or
            lists of token ids (used as given).
        positions: ``"last"``, a token index (negative counts from the end), a
            :class:`Span` of characters (resolved to the last token overlapping it), a sequence
            with one such position per prompt, or a mapping ``{name: positions}`` to keep
            several positions per prompt from the same forward (then a ``dict`` of
            :class:`Activations` is returned).
        batch_size: prompts per forward. Results do not depend on it.
        keep: which of ``"resid"``, ``"attn_out"``, ``"mlp_out"`` to keep (all by default); with
            a mapping of positions, also a mapping ``{name: kinds}`` (missing names keep nothing).
        logits: whether to keep the final logits at the kept positions; with a mapping of
            positions, also the names of the position sets that need them. Logits are
            ``[n, d_vocab]`` float32 per set (1 MB per prompt for a 262k vocabulary).
        progress: show a tqdm bar (default: when there is more than one batch).
        share_prefix: run the prompts' common token prefix (chat template, instruction) once
            and reuse its key/value cache, when every kept position lies after it and the
            model's cache works (:mod:`interp.kv_cache`; checked after every batch).

    Encoder-decoder models (T5, FlanT5): the prompt is the encoder's input; ``"last"`` keeps the
    decoder's first position (decoder layers; ``attn_out`` = self- plus cross-attention, with
    ``cross_attn_out`` apart), other positions keep encoder tokens (encoder layers, no logits);
    every :class:`Activations` also carries ``encoder_mean``; ``token_index`` of a "last" set is
    the query's last encoder token (before T5's ``</s>``). ``share_prefix`` does not apply (no
    key/value cache is used). See :mod:`interp.seq2seq`.

    Returns:
        :class:`Activations` (or ``{name: Activations}`` for a mapping of positions).

    Raises:
        TypeError: ``prompts`` a bare string or not a sequence, or a prompt neither a string nor
            a sequence of integer token ids (the message names its index and type).
        ValueError: empty prompt list, a token id outside the vocabulary, a prompt longer than
            the context, a span not found in its prompt or a position out of range; the message
            names the prompt's index (and text).

    Example:
        >>> acts = capture(model, ["The capital of France is"],
        ...                positions={"last": "last", "subject": [Span(15, 21)]})  # doctest: +SKIP
        >>> acts["subject"].resid.shape  # doctest: +SKIP
        torch.Size([1, 31, 576])
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    ids = tokenize_prompts(model, prompts)
    sets, as_mapping = _normalise_positions(positions, len(ids))
    names = list(sets)
    keep_of, logit_sets = _normalise_keep(keep, logits, names, as_mapping)
    if model.is_encoder_decoder:  # a separate path (interp.seq2seq); the causal one is below
        from interp.seq2seq import capture_encoder_decoder

        return capture_encoder_decoder(model, prompts, ids, sets, keep_of, logit_sets,
                                       as_mapping, batch_size, progress)
    kinds = [k for k in _KEEPABLE if any(k in keep_of[name] for name in names)]
    # per kind, the position sets (columns of ``tok_index``) that keep it
    sel = {k: [s for s, name in enumerate(names) if k in keep_of[name]] for k in kinds}
    tok_index = torch.tensor(
        [[_resolve_position(model, i, prompts[i], ids[i], sets[k][i]) for k in names]
         for i in range(len(ids))], dtype=torch.long)  # [n, n_sets]

    n, L, S = len(ids), model.n_layers, len(names)
    order = sorted(range(n), key=lambda i: len(ids[i]))
    stores: dict[str, list[Tensor]] = {k: [] for k in kinds}
    final_resid: list[Tensor] = []
    hook_names = {"resid": "hook_resid_post", "attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out"}
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    show = progress if progress is not None else len(batches) > 1
    device = model.device

    # the shared prefix (chat template, instruction) runs once, when every kept position is after it
    prefix = SharedPrefix(model, ids, limit=int(tok_index.min()), enabled=share_prefix,
                          min_tokens=4)
    P = prefix.length

    for batch in tqdm(batches, desc=f"capture {model.name}", unit="batch", disable=not show):
        own = [ids[i][P:] for i in batch]
        inputs = prefix.batch(own)
        toks = inputs.tokens
        offset = toks.shape[1] - torch.tensor([len(x) for x in own]) - P
        gather = (tok_index[batch] + offset[:, None]).to(device)  # [b, S] padded coordinates
        rows = torch.arange(len(batch), device=device)[:, None]
        got: dict[str, list[Tensor | None]] = {k: [None] * (L + (k == "resid")) for k in kinds}
        last: list[Tensor] = []
        where = {k: gather[:, sel[k]] for k in kinds}

        def keeper(kind: str, slot: int):
            def fn(t: Tensor, hook: Any) -> Tensor:
                got[kind][slot] = t[rows, where[kind]].float()
                return t
            return fn

        def stop(t: Tensor, hook: Any) -> Tensor:
            last.append(t[rows, gather])
            raise _StopForward

        hooks: list[tuple[str, Any]] = []
        for kind in kinds:
            if kind == "resid":
                hooks.append(("blocks.0.hook_resid_pre", keeper("resid", 0)))
            for layer in range(L):
                hooks.append((f"blocks.{layer}.{hook_names[kind]}",
                              keeper(kind, layer + (kind == "resid"))))
        hooks.append(("ln_final.hook_in", stop))
        with torch.inference_mode(), model.bridge.hooks(fwd_hooks=hooks), warnings.catch_warnings():
            # the bridge's forward names the cache ``past_key_values``; transformers >= 5.24
            # renames it (FutureWarning), and the bridge attention is patched to read either
            warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
            try:
                model.bridge(toks, return_type=None, **inputs.kwargs())
            except _StopForward:
                pass
        if inputs.past is not None:  # the stopped forward has filled every layer's cache
            checked(inputs.past, P + toks.shape[1])
        if not last:
            raise RuntimeError("the final-norm hook did not fire: unsupported architecture?")
        for kind in kinds:
            stores[kind].append(torch.stack(got[kind], dim=2).cpu())  # [b, S_kind, L(+1), d]
        final_resid.append(last[0])

    inverse = torch.empty(n, dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(n)
    kept = {k: torch.cat(v)[inverse] for k, v in stores.items()}
    with torch.inference_mode():
        fr = torch.cat(final_resid)[inverse.to(device)]  # [n, S, d]
        normed = final_norm(model, fr.reshape(n * S, -1)).reshape(n, S, -1)
        lg = {name: _chunked_unembed(model, normed[:, s]) for s, name in enumerate(names)
              if name in logit_sets}
        normed = normed.float().cpu()

    def column(kind: str, s: int) -> Tensor | None:
        return kept[kind][:, sel[kind].index(s)] if kind in kept and s in sel[kind] else None

    out = {
        name: Activations(
            resid=column("resid", s), attn_out=column("attn_out", s),
            mlp_out=column("mlp_out", s), final=normed[:, s], logits=lg.get(name),
            token_index=tok_index[:, s].clone(), tokens=ids,
        )
        for s, name in enumerate(names)
    }
    return out if as_mapping else out["_"]


def _normalise_keep(keep: Sequence[str] | Mapping[str, Sequence[str]],
                    logits: bool | Sequence[str], names: list[str],
                    as_mapping: bool) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    """-> ({position set: kinds kept}, position sets that keep logits)."""
    if isinstance(keep, Mapping):
        if not as_mapping:
            raise ValueError("keep: a mapping {name: kinds} needs a mapping of positions")
        extra = set(keep) - set(names)
        if extra:
            raise ValueError(f"keep: unknown position sets {sorted(extra)}; positions are {names}")
        keep_of = {name: tuple(keep.get(name, ())) for name in names}
    else:
        keep_of = {name: tuple(keep) for name in names}
    for name, kinds in keep_of.items():
        unknown = set(kinds) - set(_KEEPABLE)
        if isinstance(kinds, str) or unknown:
            raise ValueError(f"keep: unknown {sorted(unknown) or kinds!r}; choose from {_KEEPABLE}")
    if isinstance(logits, bool):
        return keep_of, set(names) if logits else set()
    if isinstance(logits, str) or not as_mapping:
        raise ValueError("logits: True/False, or the names of position sets (with a mapping of "
                         "positions)")
    extra = set(logits) - set(names)
    if extra:
        raise ValueError(f"logits: unknown position sets {sorted(extra)}; positions are {names}")
    return keep_of, set(logits)


def _chunked_unembed(model: Model, normed: Tensor, chunk: int = 256) -> Tensor:
    """float32 CPU logits of final-normed vectors, ``chunk`` rows at a time (bounded memory)."""
    out = torch.empty((normed.shape[0], model.d_vocab), dtype=torch.float32)
    for i in range(0, normed.shape[0], chunk):
        out[i:i + chunk] = unembed(model, normed[i:i + chunk]).float().cpu()
    return out
