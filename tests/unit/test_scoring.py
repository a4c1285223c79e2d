"""interp.scoring: the fast candidate-restricted argmax equals the naive loop; PARAREL and MMLU
runners on tiny random models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.capture import capture
from interp.data import demo_path, pararel
from interp.prompts import pararel_prompt
from interp.queries import pararel_queries
from interp.scoring import (
    CandidateScores,
    ParaRelPredictions,
    boundary_mismatches,
    candidate_token_ids,
    letter_token_ids,
    mmlu_letter_logprobs,
    naive_score_candidates,
    predict_pararel,
    score_candidates,
)
from interp.testing import tiny_model



CANDIDATES = ["Paris", "Rome", "New York", "Madrid", "Portuguese", "Japanese cheese",
              "Berlin Germany", "water"]
FACTS = [("The capital of [X] is [Y].", "France"), ("[X] is located in [Y]", "Paris"),
         ("People in [X] speak [Y]", "Japan"), ("The capital of [X] is [Y].", "Italy"),
         ("[X] was born in [Y]", "She")]


@pytest.fixture(scope="module", params=["tiny_llama", "tiny_gemma"])
def model(request):
    """A tiny chat Llama and a tiny base Gemma-3 (conftest, session-scoped)."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def prompts(model):
    # prompts of different lengths and Table 3 contexts: exercises padding and the shared prefix
    return [pararel_prompt(model, i % 3, pat, s)[0] for i, (pat, s) in enumerate(FACTS)]


@pytest.fixture(scope="module")
def naive(model, prompts):
    return naive_score_candidates(model, prompts, CANDIDATES)


def test_candidates_are_multi_token_in_the_tiny_vocabulary(model):
    lengths = [len(t) for t in candidate_token_ids(model, CANDIDATES)]
    assert min(lengths) == 1 and max(lengths) >= 4


def test_candidate_tokens_follow_the_prompt_tokens(model, prompts):
    assert boundary_mismatches(model, prompts, CANDIDATES) == 0


def test_candidate_token_ids_rejects_empty(model):
    with pytest.raises(ValueError, match="empty candidate"):
        candidate_token_ids(model, ["Paris", "  "])


def test_hf_model_logits_equal_bridge_logits(model, prompts):
    ids = torch.tensor([model.tokenize(prompts[0])])
    with torch.inference_mode():
        a = model.hf_model(input_ids=ids).logits
        b = model.bridge(ids, return_type="logits")
    torch.testing.assert_close(a, b)


def test_exhaustive_scores_equal_naive_loop(model, prompts, naive):
    fast = score_candidates(model, prompts, CANDIDATES, exhaustive=True, batch_size=2)
    np.testing.assert_allclose(fast.scores, naive.scores, atol=1e-4)
    assert fast.best == naive.best


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_pruned_argmax_equals_naive_argmax(model, prompts, naive, batch_size):
    fast = score_candidates(model, prompts, CANDIDATES, batch_size=batch_size)
    assert fast.best == naive.best
    np.testing.assert_allclose(fast.best_logprob, naive.best_logprob, atol=1e-4)


def test_first_token_logprobs_from_a_capture(model, prompts, naive):
    acts = capture(model, prompts, keep=())
    from_logits = score_candidates(model, prompts, CANDIDATES, acts.logits)
    from_logprobs = score_candidates(model, prompts, CANDIDATES, acts.logits.log_softmax(-1))
    assert from_logits.best == from_logprobs.best == naive.best
    np.testing.assert_allclose(from_logits.best_logprob, naive.best_logprob, atol=1e-4)


def test_pruning_scores_fewer_candidates(model, prompts):
    pruned = score_candidates(model, prompts, CANDIDATES)
    n_multi = sum(len(t) > 1 for t in candidate_token_ids(model, CANDIDATES))
    assert all(s <= n_multi for s in pruned.n_scored)
    naive_pruned = naive_score_candidates(model, prompts, CANDIDATES, prune=True)
    assert naive_pruned.best == pruned.best
    assert naive_pruned.n_scored == pruned.n_scored  # the same rule visits the same candidates


def test_without_shared_prefix(model, prompts, naive):
    fast = score_candidates(model, prompts, CANDIDATES, exhaustive=True, share_prefix=False)
    np.testing.assert_allclose(fast.scores, naive.scores, atol=1e-4)


def test_prompts_without_bos_and_no_common_prefix():
    m = tiny_model("llama", chat=False, add_bos=False)
    ps = ["The capital of France is", "Rome is the capital of", "water is"]
    fast = score_candidates(m, ps, CANDIDATES, exhaustive=True)
    ref = naive_score_candidates(m, ps, CANDIDATES)
    np.testing.assert_allclose(fast.scores, ref.scores, atol=1e-4)


def test_ties_go_to_the_first_candidate(model, prompts):
    s = score_candidates(model, prompts, ["Rome", "Paris", "Rome"])
    assert all(b in (0, 1) for b in s.best)
    s = score_candidates(model, prompts, ["New York", "New York"])
    assert s.best == [0] * len(prompts)


def test_per_prompt_candidate_lists(model, prompts, naive):
    per = [CANDIDATES if i % 2 == 0 else CANDIDATES[::-1] for i in range(len(prompts))]
    s = score_candidates(model, prompts, per)
    for i, b in enumerate(s.best):
        assert per[i][b] == CANDIDATES[naive.best[i]]


def test_bad_inputs(model, prompts):
    with pytest.raises(ValueError, match="first_token_logprobs"):
        score_candidates(model, prompts, CANDIDATES, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="candidate lists"):
        score_candidates(model, prompts, [CANDIDATES])
    with pytest.raises(ValueError, match="empty"):
        score_candidates(model, prompts, [])


def test_candidate_scores_round_trip():
    s = CandidateScores([1], [-0.5], [2], [3], [[-1.0, -0.5, -2.0]])
    assert CandidateScores.from_dict(s.to_dict()) == s


def test_predict_pararel_restricted_and_unrestricted(model):
    rels = pararel.load(demo_path("pararel"), relations=["P36", "P103"])
    qs = pararel_queries(model, rels, 0, max_facts=2)
    acts = capture(model, [q.prompt for q in qs], keep=())
    with_acts = predict_pararel(model, qs, acts, candidates=rels)
    alone = predict_pararel(model, qs, candidates=rels)
    assert with_acts.objects == alone.objects
    assert all(o in rels[q.relation].candidates for o, q in zip(with_acts.objects, qs))
    assert with_acts.correct == [o == q.object for o, q in zip(with_acts.objects, qs)]
    some = [q for q in qs if q.relation == "P103"][:4]  # the naive loop is slow
    ref = naive_score_candidates(model, [q.prompt for q in some], rels["P103"].candidates)
    assert [o for o, q in zip(with_acts.objects, qs) if q in some] == \
        [rels["P103"].candidates[b] for b in ref.best]

    free = predict_pararel(model, qs, acts, restrict=False)
    top = acts.logits.argmax(-1).tolist()
    assert free.objects == [model.tokenizer.decode([t]) for t in top]
    gold = [candidate_token_ids(model, [q.object])[0][0] for q in qs]
    assert free.correct == [t == g for t, g in zip(top, gold)]
    assert ParaRelPredictions.from_dict(free.to_dict()) == free


def test_predict_pararel_errors(model):
    rels = pararel.load(demo_path("pararel"), relations=["P36"])
    qs = pararel_queries(model, rels, 0, max_facts=2)
    with pytest.raises(ValueError, match="candidates"):
        predict_pararel(model, qs)
    with pytest.raises(ValueError, match="no candidate set"):
        predict_pararel(model, qs, candidates={"P17": ["x"]})
    acts = capture(model, [q.prompt for q in qs[:1]], keep=())
    with pytest.raises(ValueError, match="acts_last"):
        predict_pararel(model, qs, acts, candidates=rels)


def test_mmlu_letter_logprobs_are_the_capture_logits(model):
    ps = ["Question one?\nA. x\nB. y\nC. z\nD. w\nAnswer:", "Is water wet?\nA. a\nB. b\nC. c\nD. d\nAnswer:"]
    lp = mmlu_letter_logprobs(model, ps, chunk=1)
    acts = capture(model, ps, keep=())
    ref = acts.logits.log_softmax(-1)[:, letter_token_ids(model)]
    torch.testing.assert_close(lp, ref)
    assert lp.shape == (2, 4) and (lp <= 0).all()


def test_sliding_window_shorter_than_the_prompts():
    # Gemma-3's sliding window counts cache slots: a shared prefix with padding after it would
    # shift the window, so the prefix is not shared when the sequences could exceed it.
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from interp.models import from_hf
    from interp.testing import tiny_tokenizer

    tok = tiny_tokenizer(add_bos=True, chat=False)
    torch.manual_seed(0)
    cfg = Gemma3TextConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                           vocab_size=len(tok), max_position_embeddings=256, sliding_window=6,
                           bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                           pad_token_id=tok.pad_token_id)
    cfg.architectures = ["Gemma3ForCausalLM"]
    m = from_hf(Gemma3ForCausalLM(cfg), tok, name="tiny-gemma-window-6", is_chat=False)
    ps = ["The capital of France is", "Everyone knows that the capital of Italy is",
          "It is widely known that people in Japan speak"]
    fast = score_candidates(m, ps, CANDIDATES, exhaustive=True)
    ref = naive_score_candidates(m, ps, CANDIDATES)
    np.testing.assert_allclose(fast.scores, ref.scores, atol=1e-4)


def test_input_types_are_checked(model, prompts):
    with pytest.raises(TypeError, match=r"^prompts: expected a sequence of strings, got a str \(wrap one prompt in a list\)$"):
        score_candidates(model, "The capital of France is", CANDIDATES)
    with pytest.raises(TypeError, match=r"^prompts: expected a sequence of strings, got a str"):
        naive_score_candidates(model, "The capital of France is", CANDIDATES)
    with pytest.raises(TypeError, match=r"^prompts\[1\]: expected a string or a sequence of token ids, got int"):
        score_candidates(model, ["a", 7], CANDIDATES)
    with pytest.raises(ValueError, match=rf"^prompts\[0\]: token id {model.d_vocab} .*size {model.d_vocab}"):
        score_candidates(model, [[1, model.d_vocab]], CANDIDATES)
    with pytest.raises(TypeError, match=r"^candidates: expected a sequence of strings, got a str \(wrap one candidate in a list\)$"):
        score_candidates(model, prompts, "Paris")
    with pytest.raises(TypeError, match=r"^candidates\[1\]: expected a string candidate, got int$"):
        score_candidates(model, prompts, ["Paris", 3])
    with pytest.raises(TypeError, match=r"^candidates\[1\]: expected a sequence of strings, got a str"):
        score_candidates(model, prompts[:2], [["Paris"], "Rome"])
    with pytest.raises(TypeError, match=r"^first_token_logprobs: expected a tensor"):
        score_candidates(model, prompts, CANDIDATES, [[0.0]])
    with pytest.raises(TypeError, match=r"^prompts: expected a sequence of strings, got a str"):
        mmlu_letter_logprobs(model, "Question?\nAnswer:")
    with pytest.raises(TypeError, match=r"^prompts\[0\]: expected a string, got list"):
        mmlu_letter_logprobs(model, [[1, 2, 3]])


def test_pararel_input_types_are_checked(model):
    rels = pararel.load(demo_path("pararel"), relations=["P36"])
    with pytest.raises(TypeError, match=r"^queries\[0\]: expected a ParaRelQuery"):
        predict_pararel(model, ["The capital of France is"], candidates=rels)
