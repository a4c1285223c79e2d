"""The foundation on the real offline models: the facts DESIGN.md checked, kept as tests."""

from __future__ import annotations

import pytest
import torch

from interp import capture, lens

pytestmark = pytest.mark.integration

EIFFEL = "The Eiffel Tower is located in the city of"
MIXED = [EIFFEL, "Hi", "The capital of France is",
         "A much longer prompt about the many things that happen every day in the world of"]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def test_paris(offline_model):
    acts = capture(offline_model, [EIFFEL])
    assert offline_model.tokenizer.decode([int(acts.predictions[0])]) == " Paris"
    assert lens.top_k(offline_model, acts.final, k=1).strings == [[" Paris"]]


def test_bos_follows_tokenizer_config(smollm2, gemma3):
    assert not smollm2.prepends_bos  # SmolLM2's GGUF tokenizer config: add_bos_token false
    assert gemma3.prepends_bos


def test_residual_decomposition_and_hf_hidden_states(offline_model):
    acts = capture(offline_model, MIXED, batch_size=4)
    r = acts.resid
    # each block adds exactly attn_out + mlp_out (Gemma-3: post-norm outputs)
    assert rel_err(r[:, 1:], r[:, :-1] + acts.attn_out + acts.mlp_out) < 1e-5
    # last-layer resid_post = embeddings + all updates
    assert rel_err(r[:, -1], r[:, 0] + acts.attn_out.sum(1) + acts.mlp_out.sum(1)) < 1e-5
    with torch.inference_mode():
        for i, p in enumerate(MIXED):
            out = offline_model.hf_model(torch.tensor([offline_model.tokenize(p)]),
                                         output_hidden_states=True)
            hs = torch.stack([h[0, -1] for h in out.hidden_states])  # [L+1, d]
            # equal to HF's hidden_states for all but the last entry (after the final norm)
            assert rel_err(r[i, :-1], hs[:-1]) < 1e-4
            assert rel_err(acts.final[i], hs[-1]) < 1e-4
            assert rel_err(acts.logits[i], out.logits[0, -1]) < 1e-4
    # the lens with the final norm on the last resid_post reproduces the model's logits
    assert rel_err(lens.project(offline_model, r[:, -1], normed=True), acts.logits) < 1e-4


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_batch_invariance_real(smollm2, batch_size):
    batched = capture(smollm2, MIXED, batch_size=batch_size)
    for i, p in enumerate(MIXED):
        single = capture(smollm2, [p])
        for name in ("resid", "attn_out", "mlp_out", "logits"):
            assert rel_err(getattr(batched, name)[i], getattr(single, name)[0]) < 1e-4, name


def test_shared_prefix_real_chat_model(smollm2):
    from interp.prompts import pararel_prompt

    items = [pararel_prompt(smollm2, 0, "[X] is located in [Y].", s) for s in ("Rome", "Kyoto")]
    prompts = [p for p, _ in items]
    a = capture(smollm2, prompts, {"subject": [s for _, s in items]}, share_prefix=True)
    b = capture(smollm2, prompts, {"subject": [s for _, s in items]}, share_prefix=False)
    for name in ("resid", "attn_out", "mlp_out", "logits"):
        assert rel_err(getattr(a["subject"], name), getattr(b["subject"], name)) < 1e-4, name
