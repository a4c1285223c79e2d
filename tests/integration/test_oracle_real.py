"""The oracle suite on the two real offline models: capture and candidate scoring against plain
forwards of a separately loaded Hugging Face model (same weights, none of interp's code), over
hypothesis-generated prompt lists, in each model's own prompt format."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oracle"))
import oracle  # noqa: E402
from strategies import ANSWERS, positions_for, prompt_lists  # noqa: E402

pytestmark = pytest.mark.integration

#: fewer examples than the tiny families: each one runs a 30-layer model many times
EXAMPLES = max(3, settings().max_examples // 3)


@pytest.fixture(scope="module")
def real(offline_model):
    from transformers import AutoModelForCausalLM

    from interp.models import ALIASES, _alias_dir

    alias = next(a for a in ALIASES.values() if a.name == offline_model.name)
    hf = AutoModelForCausalLM.from_pretrained(str(_alias_dir(alias)), dtype=torch.float32).eval()
    added = ((lambda l: (l.post_attention_layernorm, l.post_feedforward_layernorm))
             if "gemma" in offline_model.name else (lambda l: (l.self_attn, l.mlp)))
    return offline_model, hf, added


def _close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    scale = want.abs().amax(dim=-1, keepdim=True).clamp(min=1.0)  # Gemma's residuals reach 1e4
    err = float(((got - want).abs() / scale).max())
    assert err < 1e-4, f"{what}: relative error {err:.2e}"


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_capture_equals_plain_forwards(real, data):
    from interp.capture import capture

    model, hf, added = real
    bodies = data.draw(prompt_lists(), label="prompts")
    chat = data.draw(st.booleans(), label="in the model's prompt format") and model.is_chat
    prompts = [model.chat_prefix(b) if chat else b for b in bodies]
    positions = [int(x[1] * len(model.tokenize(p))) if isinstance(x, tuple) else x
                 for p, x in zip(prompts, data.draw(positions_for(prompts)))]
    acts = capture(model, prompts, positions, batch_size=data.draw(st.integers(1, 4)),
                   progress=False)
    for i, (p, pos) in enumerate(zip(prompts, positions)):
        ids = model.tokenize(p)
        assert acts.tokens[i] == ids
        at = int(acts.token_index[i])
        if pos == "last":
            assert at == len(ids) - 1
        want = oracle.vectors(hf, hf.model.layers, added, ids, at)
        for kind in ("resid", "attn_out", "mlp_out", "final", "logits"):
            _close(getattr(acts, kind)[i], want[kind], f"{model.name} {kind} of {p!r}")


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_candidate_scores_equal_teacher_forcing(real, data):
    from interp.scoring import score_candidates

    model, hf, _ = real
    prompts = data.draw(prompt_lists(), label="prompts")
    cands = data.draw(st.lists(st.sampled_from(ANSWERS), min_size=2, max_size=5, unique=True))
    s = score_candidates(model, prompts, cands, batch_size=data.draw(st.integers(1, 4)),
                         exhaustive=True)
    for i, p in enumerate(prompts):
        want = [_teacher_forced(model, hf, p, c) for c in cands]
        assert s.scores[i] == pytest.approx(want, abs=2e-3, rel=1e-4)
        assert want[s.best[i]] == pytest.approx(max(want), abs=2e-3)


def _teacher_forced(model, hf, prompt: str, answer: str) -> float:
    head, joint = model.tokenize(prompt), model.tokenize(prompt + " " + answer)
    k = next((i for i, (a, b) in enumerate(zip(head, joint)) if a != b), len(head))
    with torch.no_grad():
        lp = torch.log_softmax(hf(input_ids=torch.tensor([joint])).logits[0].double(), -1)
    return float(sum(lp[t - 1, joint[t]] for t in range(max(k, 1), len(joint))))
