"""capture(): batching, padding, positions, decomposition and bad input on tiny random models."""

from __future__ import annotations

import pytest
import torch

from interp import capture, lens
from interp.capture import Span

PROMPTS = [
    "The capital of France is",
    "Hi",
    "Everyone knows that the Eiffel Tower is in",
    "Rome is located in",
    "It is widely known that water is",
    "I ate the cheese. I eat cheese. She was born in London and died in",
    "Paris",
]


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_batch_invariance(tiny, batch_size):
    """A mixed-length batch equals one-prompt-at-a-time capture within 1e-4."""
    batched = capture(tiny, PROMPTS, batch_size=batch_size)
    for i, p in enumerate(PROMPTS):
        single = capture(tiny, [p])
        for name in ("resid", "attn_out", "mlp_out", "final", "logits"):
            torch.testing.assert_close(getattr(batched, name)[i], getattr(single, name)[0],
                                       atol=1e-4, rtol=1e-4, msg=f"{name} of prompt {i}")


def test_shapes_and_order(tiny):
    acts = capture(tiny, PROMPTS, batch_size=2)
    n, L, d = len(PROMPTS), tiny.n_layers, tiny.d_model
    assert acts.resid.shape == (n, L + 1, d)
    assert acts.attn_out.shape == acts.mlp_out.shape == (n, L, d)
    assert acts.final.shape == (n, d) and acts.logits.shape == (n, tiny.d_vocab)
    assert acts.resid.dtype == torch.float32
    assert acts.tokens == [tiny.tokenize(p) for p in PROMPTS]
    assert acts.token_index.tolist() == [len(t) - 1 for t in acts.tokens]
    assert acts.resid_post.shape == (n, L, d)


def test_residual_decomposition(tiny):
    """resid_post(l) = resid_pre(l) + attn_out(l) + mlp_out(l): the updates are what is added
    (Gemma-3's post-attention / post-MLP norms included)."""
    acts = capture(tiny, PROMPTS)
    r = acts.resid
    torch.testing.assert_close(r[:, 1:], r[:, :-1] + acts.attn_out + acts.mlp_out,
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(r[:, -1], r[:, 0] + acts.attn_out.sum(1) + acts.mlp_out.sum(1),
                               atol=1e-4, rtol=1e-4)


def test_logits_match_hf_and_lens(tiny):
    acts = capture(tiny, PROMPTS, batch_size=4)
    with torch.inference_mode():
        for i, p in enumerate(PROMPTS):
            ids = torch.tensor([tiny.tokenize(p)])
            out = tiny.hf_model(ids, output_hidden_states=True)
            torch.testing.assert_close(acts.logits[i], out.logits[0, -1], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(acts.final[i], out.hidden_states[-1][0, -1],
                                       atol=1e-4, rtol=1e-4)
            for layer in range(tiny.n_layers - 1):  # HF's last entry is after the final norm
                torch.testing.assert_close(acts.resid[i, layer + 1],
                                           out.hidden_states[layer + 1][0, -1],
                                           atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(lens.project(tiny, acts.resid[:, -1], normed=True), acts.logits,
                               atol=1e-4, rtol=1e-4)


def test_positions_index_span_and_mapping(tiny):
    text = "The capital of France is"
    span = Span.of(text, "France")
    assert (span.start, span.end) == (15, 21)
    acts = capture(tiny, [text, text], positions={"last": "last", "subj": [span, 1], "neg": -2})
    ids = tiny.tokenize(text)
    enc = tiny.tokenizer(text, return_offsets_mapping=True)
    want = max(t for t, (s, e) in enumerate(enc["offset_mapping"]) if s < 21 and e > 15)
    assert acts["subj"].token_index.tolist() == [want, 1]
    assert acts["neg"].token_index.tolist() == [len(ids) - 2] * 2
    full = capture(tiny, [text], positions=[want])
    torch.testing.assert_close(acts["subj"].resid[0], full.resid[0])
    # one forward serves every position set: "last" equals a separate last-token capture
    torch.testing.assert_close(acts["last"].resid[1], capture(tiny, [text]).resid[0])


def test_token_id_prompts(tiny):
    ids = tiny.tokenize("Rome is located in")
    a = capture(tiny, [ids])
    b = capture(tiny, ["Rome is located in"])
    torch.testing.assert_close(a.resid, b.resid)


def test_keep_subset_and_no_logits(tiny):
    acts = capture(tiny, PROMPTS[:2], keep=("attn_out",), logits=False)
    assert acts.resid is None and acts.mlp_out is None and acts.logits is None
    assert acts.attn_out.shape[1] == tiny.n_layers
    with pytest.raises(ValueError, match="logits"):
        acts.predictions


def test_select(tiny):
    acts = capture(tiny, PROMPTS)
    sub = acts.select([2, 0])
    torch.testing.assert_close(sub.resid[0], acts.resid[2])
    assert sub.tokens[1] == acts.tokens[0]


@pytest.mark.parametrize(
    "prompts, positions, match",
    [
        ([], "last", "empty"),
        (["ok", "The capital of France is"], [0, Span(100, 104)], r"prompt 1 \('The capital"),
        (["ok", "abc"], [0, 50], r"prompt 1 \('abc'\).*out of range"),
        (["ok"], "first", "unknown position"),
        (["a", "b"], [0], "2 prompts"),
        ([[1, 2], [3]], [Span(0, 1), 0], "needs a string prompt"),
        (["ok", "abc"], [0, ("index", 0.5)], r"prompt 1 \('abc'\).*two ints"),
    ],
)
def test_bad_input(tiny, prompts, positions, match):
    with pytest.raises(ValueError, match=match):
        capture(tiny, prompts, positions=positions)


def test_span_not_found_names_prompt():
    with pytest.raises(ValueError, match="'Berlin' not found in prompt 'The capital of France is'"):
        Span.of("The capital of France is", "Berlin")


def test_prompt_longer_than_context(tiny):
    long = "cheese " * 400
    with pytest.raises(ValueError, match=r"prompt 1 .*longer than the model's context"):
        capture(tiny, ["ok", long])


def test_shared_prefix_equals_full_forward(tiny_llama):
    """Chat prompts share template + instruction: running that prefix once (its key/value cache
    reused) gives the same activations as full forwards."""
    from interp.prompts import pararel_prompt

    items = [pararel_prompt(tiny_llama, 1, "The capital of [X] is [Y].", s)
             for s in ("France", "Italy", "the United Kingdom", "Peru")]
    prompts = [p for p, _ in items]
    positions = {"last": "last", "subject": [s for _, s in items]}
    shared = capture(tiny_llama, prompts, positions, batch_size=3, share_prefix=True)
    full = capture(tiny_llama, prompts, positions, batch_size=3, share_prefix=False)
    for k in positions:
        for name in ("resid", "attn_out", "mlp_out", "final", "logits"):
            torch.testing.assert_close(getattr(shared[k], name), getattr(full[k], name),
                                       atol=1e-4, rtol=1e-4)


def test_prefix_not_shared_past_a_kept_position(tiny_llama):
    """A kept position inside the common prefix disables sharing (it must be computed)."""
    prompts = ["The capital of France is", "The capital of Italy is"]
    a = capture(tiny_llama, prompts, positions=1)
    b = capture(tiny_llama, prompts, positions=1, share_prefix=False)
    torch.testing.assert_close(a.resid, b.resid)


def test_keep_and_logits_per_position_set(tiny_llama):
    text = "The capital of France is"
    pos = {"last": "last", "subject": [Span.of(text, "France")]}
    acts = capture(tiny_llama, [text], pos, keep={"last": ("resid", "mlp_out"), "subject": ("resid",)},
                   logits=["last"])
    full = capture(tiny_llama, [text], pos)
    assert acts["subject"].attn_out is None and acts["subject"].mlp_out is None
    assert acts["subject"].logits is None and acts["last"].attn_out is None
    torch.testing.assert_close(acts["subject"].resid, full["subject"].resid)
    torch.testing.assert_close(acts["last"].mlp_out, full["last"].mlp_out)
    torch.testing.assert_close(acts["last"].logits, full["last"].logits)
    with pytest.raises(ValueError, match="unknown position sets"):
        capture(tiny_llama, [text], pos, logits=["nope"])
    with pytest.raises(ValueError, match="needs a mapping of positions"):
        capture(tiny_llama, [text], keep={"last": ("resid",)})


@pytest.mark.parametrize(
    "prompts, match",
    [
        ("The capital of France is",
         r"^prompts: expected a sequence of strings, got a str \(wrap one prompt in a list\)$"),
        (["ok", None], r"^prompts\[1\]: expected a string or a sequence of token ids, got NoneType$"),
        (["ok", 3.5], r"^prompts\[1\]: expected a string or a sequence of token ids, got float$"),
        ([5, 6], r"^prompts\[0\]: .*got int \(one prompt of token ids goes in a list"),
        (["ok", [1, "x"]], r"^prompts\[1\]\[1\]: expected an integer token id, got str$"),
        ((p for p in ["a"]), r"^prompts: expected a sequence of strings, got generator"),
        (torch.tensor([1, 2, 3]), r"^prompts: .*got a 1-d Tensor \(wrap one prompt's ids in a list\)"),
        ([torch.tensor([1.0, 2.0])], r"^prompts\[0\]: expected a 1-d sequence of integer token ids, got a 1-d Tensor of torch.float32"),
    ],
)
def test_prompt_types_are_checked(tiny, prompts, match):
    with pytest.raises(TypeError, match=match):
        capture(tiny, prompts)


def test_token_ids_outside_the_vocabulary(tiny):
    v = tiny.d_vocab
    with pytest.raises(ValueError, match=rf"^prompts\[1\]: token id {v} at position 2 is outside the vocabulary .*\(size {v}: ids 0\.\.{v - 1}\)"):
        capture(tiny, [[1, 2], [1, 2, v]])
    with pytest.raises(ValueError, match=rf"^prompts\[0\]: token id -1 at position 0 .*size {v}"):
        capture(tiny, [torch.tensor([-1, 2])])
    # token ids as tensors, arrays and numpy ints are fine
    import numpy as np

    ok = capture(tiny, [torch.tensor([1, 2, 3]), np.array([1, 2]), [np.int64(1), 2]], keep=())
    assert ok.tokens == [[1, 2, 3], [1, 2], [1, 2]]


def test_bfloat16_model_head_runs_in_float32():
    """A bfloat16 model's final norm, unembedding (capture, lens) and its own forwards' logits
    (scoring) are float32, from the same bfloat16 residual: identical to each other."""
    from interp.capture import float32_head
    from interp.testing import tiny_model

    model = tiny_model("llama", d_model=64, seed=5)
    model.hf_model.to(torch.bfloat16)
    prompts = ["The capital of France is", "Rome is the capital of"]
    acts = capture(model, prompts)
    assert acts.logits.dtype == torch.float32 and acts.final.dtype == torch.float32
    one = capture(model, prompts[:1])  # unpadded, as the plain forward below
    with torch.inference_mode(), float32_head(model):
        own = model.hf_model(input_ids=torch.tensor([model.tokenize(prompts[0])])).logits[0, -1]
    # a bfloat16 head would differ by ~1e-3 (bf16 keeps 3 digits of logits ~1)
    assert own.dtype == torch.float32
    torch.testing.assert_close(own, one.logits[0], rtol=1e-5, atol=1e-6)
    lin = model.bridge.unembed.original_component
    assert not lin._forward_hooks and lin.weight.dtype == torch.bfloat16  # left as it was
