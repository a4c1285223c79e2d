"""The oracle: plain Hugging Face forwards of an untouched model, one prompt at a time, no
padding, no cache, no pruning, and none of interp's capture or scoring code."""

from __future__ import annotations

from typing import Any, Callable

import torch


def encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text)["input_ids"])


def vectors(oracle: Any, layers: list, added: Callable, ids: list[int], pos: int) -> dict:
    """Every captured kind at token ``pos`` of one unpadded forward: the embedding and each
    decoder layer's output (forward hooks), the attention / MLP updates as added to the residual
    stream, HF's last ``hidden_states`` entry (after the final norm) and the logits."""
    got: dict[str, list] = {"resid": [], "attn_out": [], "mlp_out": []}
    handles = []
    for layer in layers:
        a, m = added(layer)
        handles.append(layer.register_forward_hook(
            lambda mod, i, o: got["resid"].append(_first(o)[0, pos].float().clone())))
        handles.append(a.register_forward_hook(
            lambda mod, i, o: got["attn_out"].append(_first(o)[0, pos].float().clone())))
        handles.append(m.register_forward_hook(
            lambda mod, i, o: got["mlp_out"].append(_first(o)[0, pos].float().clone())))
    try:
        with torch.no_grad():
            out = oracle(input_ids=torch.tensor([ids]), output_hidden_states=True, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    hs = out.hidden_states
    return {
        "resid": torch.stack([hs[0][0, pos].float()] + got["resid"]),
        "attn_out": torch.stack(got["attn_out"]),
        "mlp_out": torch.stack(got["mlp_out"]),
        "final": hs[-1][0, pos].float(),
        "logits": out.logits[0, pos].float(),
    }


def _first(x: Any) -> torch.Tensor:
    return x[0] if isinstance(x, tuple) else x


def next_token_logprobs(oracle: Any, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return torch.log_softmax(oracle(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1].float(), -1)


def teacher_forced(oracle: Any, tokenizer: Any, prompt: str, answer: str) -> float:
    """log P(answer | prompt): the tokens of the joint tokenization ``prompt + answer`` after
    the prompt's own tokens (from the first differing token, where the two merge)."""
    head, joint = encode(tokenizer, prompt), encode(tokenizer, prompt + answer)
    k = 0
    while k < min(len(head), len(joint)) and head[k] == joint[k]:
        k += 1
    k = max(k, 1)
    with torch.no_grad():
        lp = torch.log_softmax(oracle(input_ids=torch.tensor([joint]), use_cache=False).logits[0].double(), -1)
    return float(sum(lp[t - 1, joint[t]] for t in range(k, len(joint))))


def letter_token(tokenizer: Any, prompt: str, letter: str) -> int:
    head, joint = encode(tokenizer, prompt), encode(tokenizer, prompt + " " + letter)
    assert joint[: len(head)] == head and len(joint) == len(head) + 1, (prompt, letter)
    return joint[-1]
