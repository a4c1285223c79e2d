"""Logit lens: project residual-stream vectors (or block updates) onto the vocabulary.

``project(model, x)`` computes ``W_U x`` (plus the model's logit soft-capping, if any). One
documented default is used everywhere: **no final norm** (``normed=False``), as in the paper's
reference code and Geva et al. (2023), which project the raw MHSA/MLP update ``E a_l``. Pass
``normed=True`` to apply the model's final norm first; for the last layer's residual that gives
exactly the model's own logits.

Weights are the raw Hugging Face weights (no folding of the final norm into the unembedding:
the bridge is used without compatibility mode), so ``project(..., normed=True)`` equals
``lm_head(norm(x))``; a test checks this against the Hugging Face model.

Example:
    >>> acts = capture(model, ["The Eiffel Tower is located in the city of"])  # doctest: +SKIP
    >>> top_k(model, acts.resid[:, -1], k=3, normed=True).strings  # doctest: +SKIP
    [[' Paris', ' London', ' the']]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
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
            out[i:i + chunk_size] = unembed(model, v).float().cpu()
    return out.reshape(*lead, model.d_vocab)


def argmax(
    model: Model,
    x: Float[Tensor, "... d_model"],
    *,
    normed: bool = DEFAULT_NORMED,
    chunk_size: int = 512,
) -> Int[Tensor, "..."]:
    """Top-1 token id of each projected vector, without materialising all logits at once.

    Example:
        >>> argmax(model, acts.attn_out).shape  # [n, n_layers]  # doctest: +SKIP
    """
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    out = torch.empty(flat.shape[0], dtype=torch.long)
    with torch.inference_mode():
        for i in range(0, flat.shape[0], chunk_size):
            v = flat[i:i + chunk_size]
            if normed:
                v = final_norm(model, v)
            out[i:i + chunk_size] = unembed(model, v).argmax(-1).cpu()
    return out.reshape(lead)


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
            lg = unembed(model, v).float()
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
