"""The oracle suite: capture, candidate scoring, MMLU letters and the unrestricted prediction
against plain, unpadded, uncached Hugging Face forwards (``oracle.py``), on tiny random models of
seven families with their real tokenizers, over random prompt lists (hypothesis).

Profiles (``tests/conftest.py``): ``quick`` (the default, inside CI's budget) and ``thorough``
(``INTERP_HYPOTHESIS_PROFILE=thorough``, run by hand)."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import given, strategies as st

import families
import oracle
from strategies import ANSWERS, positions_for, prompt_lists

pytestmark = pytest.mark.skipif(not families.TOKENIZERS.is_dir(),
                                reason=f"real tokenizers not found at {families.TOKENIZERS}")

# the two big-vocabulary families (Llama 3: 128k, Qwen2: 151k tokens; ~20 s of setup each on CI's
# 2 cores) run in the thorough tier only, to keep CI's budget
THOROUGH = os.environ.get("INTERP_HYPOTHESIS_PROFILE") == "thorough"
FAMILIES = [f for f in families.GGUF if THOROUGH or f not in ("llama3", "qwen2")]
ATOL = 1e-4


@pytest.fixture(scope="module", params=FAMILIES)
def fam(request):
    pytest.importorskip("gguf")
    return families.family(request.param)


def _resolve(model, prompt: str, pos):
    if isinstance(pos, tuple) and pos[0] == "index":
        n = len(model.tokenize(prompt))
        return int(pos[1] * n)
    return pos


def _oracle_index(tok, prompt: str, pos) -> int:
    from interp.capture import Span

    if pos == "last":
        return len(oracle.encode(tok, prompt)) - 1
    if isinstance(pos, Span):
        return len(oracle.encode(tok, prompt[: pos.end])) - 1
    return pos


@given(data=st.data())
def test_capture_equals_plain_forwards(fam, data):
    from interp.capture import capture

    prompts = data.draw(prompt_lists(), label="prompts")
    positions = [_resolve(fam.model, p, x) for p, x in zip(prompts, data.draw(positions_for(prompts)))]
    batch_size = data.draw(st.integers(1, 5), label="batch_size")
    share = data.draw(st.booleans(), label="share_prefix")
    acts = capture(fam.model, prompts, positions, batch_size=batch_size, share_prefix=share,
                   progress=False)
    tok = fam.model.tokenizer
    for i, (p, pos) in enumerate(zip(prompts, positions)):
        ids = oracle.encode(tok, p)
        assert acts.tokens[i] == ids, "capture tokenized differently from the tokenizer"
        at = _oracle_index(tok, p, pos)
        assert int(acts.token_index[i]) == at
        want = oracle.vectors(fam.oracle, fam.layers(fam.oracle), fam.added, ids, at)
        for kind in ("resid", "attn_out", "mlp_out", "final", "logits"):
            got = getattr(acts, kind)[i]
            torch.testing.assert_close(got, want[kind], atol=ATOL, rtol=ATOL,
                                       msg=lambda m: f"{fam.name} {kind} of prompt {i}: {m}")


def _oracle_best(totals: list[float]) -> int:
    return max(range(len(totals)), key=lambda j: (totals[j], -j))


@given(data=st.data())
def test_candidate_scores_equal_teacher_forcing(fam, data):
    from interp.capture import capture
    from interp.scoring import score_candidates

    prompts = data.draw(prompt_lists(), label="prompts")
    cands = data.draw(st.lists(st.sampled_from(ANSWERS), min_size=1, max_size=6, unique=True),
                      label="candidates")
    batch_size = data.draw(st.integers(1, 5), label="batch_size")
    with_logits = data.draw(st.booleans(), label="first-token logits from a capture")
    lp = capture(fam.model, prompts, keep=(), progress=False).logits if with_logits else None
    fast = score_candidates(fam.model, prompts, cands, lp, batch_size=batch_size)
    full = score_candidates(fam.model, prompts, cands, lp, batch_size=batch_size, exhaustive=True)
    tok = fam.model.tokenizer
    for i, p in enumerate(prompts):
        want = [oracle.teacher_forced(fam.oracle, tok, p, " " + c) for c in cands]
        best = _oracle_best(want)
        assert full.scores[i] == pytest.approx(want, abs=ATOL, rel=ATOL)
        assert fast.best_logprob[i] == pytest.approx(want[best], abs=ATOL, rel=ATOL)
        # the same winner, unless two candidates tie within float error
        assert want[fast.best[i]] == pytest.approx(want[best], abs=ATOL, rel=ATOL)


@given(data=st.data())
def test_mmlu_letters_and_unrestricted_prediction(fam, data):
    from interp.capture import capture
    from interp.scoring import mmlu_letter_logprobs

    bodies = data.draw(prompt_lists(), label="questions")
    prompts = [f"{b}\nA. one\nB. two\nC. three\nD. four\nAnswer:" for b in bodies]
    tok = fam.model.tokenizer
    try:
        letters = [oracle.letter_token(tok, prompts[0], x) for x in "ABCD"]
    except AssertionError:
        pytest.skip(f"{fam.name}: ' A' is not one token after 'Answer:'")
    got = mmlu_letter_logprobs(fam.model, prompts, batch_size=data.draw(st.integers(1, 4)))
    acts = capture(fam.model, prompts, keep=(), progress=False)
    for i, p in enumerate(prompts):
        lp = oracle.next_token_logprobs(fam.oracle, oracle.encode(tok, p))
        torch.testing.assert_close(got[i], lp[letters], atol=ATOL, rtol=ATOL)
        assert int(acts.predictions[i]) == int(lp.argmax()) or \
            float(lp.max() - lp[int(acts.predictions[i])]) < ATOL


def test_cache_reuse_works_on_every_family(fam):
    """The fast paths above ran cached: the probe must pass on each family (or the fallback,
    tested in tests/unit/test_kv_cache.py, would hide a broken cache behind slower numbers)."""
    from interp.kv_cache import SharedPrefix, cache_works

    assert cache_works(fam.model)
    ids = [fam.model.tokenize("Answer briefly, please. The capital of France is " + w)
           for w in ("Paris", "Rome")]
    assert SharedPrefix(fam.model, ids).length >= 4
