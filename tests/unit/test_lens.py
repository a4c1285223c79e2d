from __future__ import annotations

import torch

from interp import capture, lens


def test_project_and_topk_agree(tiny):
    acts = capture(tiny, ["The capital of France is", "Rome is"])
    logits = lens.project(tiny, acts.attn_out)
    assert logits.shape == (2, tiny.n_layers, tiny.d_vocab)
    top = lens.top_k(tiny, acts.attn_out, k=3)
    assert top.ids.shape == (2, tiny.n_layers, 3)
    torch.testing.assert_close(top.ids[..., 0], logits.argmax(-1))
    torch.testing.assert_close(lens.argmax(tiny, acts.attn_out), logits.argmax(-1))
    probs = torch.softmax(logits, -1).topk(3, -1).values
    torch.testing.assert_close(top.probs, probs, atol=1e-5, rtol=1e-4)
    assert len(top.strings) == 2 and len(top.strings[0]) == tiny.n_layers
    assert top.strings[0][0][0] == tiny.tokenizer.decode([int(top.ids[0, 0, 0])])


def test_normed_last_resid_is_model_logits(tiny):
    acts = capture(tiny, ["It is widely known that water is"])
    torch.testing.assert_close(lens.project(tiny, acts.resid[:, -1], normed=True), acts.logits,
                               atol=1e-4, rtol=1e-4)
    # final (already normed) projected without norm gives the same logits
    torch.testing.assert_close(lens.project(tiny, acts.final), acts.logits, atol=1e-4, rtol=1e-4)


def test_known_answer_unembedding(tiny_llama):
    """project(x) = W_U x: with a one-hot x the logits are a column of W_U."""
    w_u = tiny_llama.hf_model.get_output_embeddings().weight  # [vocab, d]
    x = torch.zeros(1, tiny_llama.d_model)
    x[0, 3] = 2.0
    torch.testing.assert_close(lens.project(tiny_llama, x)[0], 2.0 * w_u[:, 3].detach())
