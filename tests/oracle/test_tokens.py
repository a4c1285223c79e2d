"""The answer's tokens are the ones the model would see, and BOS comes exactly once: checked with
the real tokenizers of LLaMA-1/2 (SentencePiece), Phi-3 (SentencePiece with a prefix space) and
GPT-2 (byte-level BPE)."""

from __future__ import annotations

import copy

import pytest

import families
import oracle

pytestmark = pytest.mark.skipif(not families.TOKENIZERS.is_dir(),
                                reason=f"real tokenizers not found at {families.TOKENIZERS}")


@pytest.fixture(scope="module")
def phi3():
    pytest.importorskip("gguf")
    return families.family("phi3")


def test_phi3_answer_tokens_are_the_joint_tail(phi3):
    from interp.scoring import candidate_token_ids, continuation_tokens

    tok = phi3.model.tokenizer
    alone = tok.convert_ids_to_tokens(tok(" Paris", add_special_tokens=False)["input_ids"])
    assert alone == ["▁", "▁Paris"]  # the trap: a prefix space, then the word
    c = continuation_tokens(phi3.model, "The capital of France is", [" Paris", " New York"])
    assert [tok.convert_ids_to_tokens(t) for t in c.tokens] == [["▁Paris"], ["▁New", "▁York"]]
    assert c.merged == [False, False]
    assert tok.convert_ids_to_tokens(candidate_token_ids(phi3.model, ["Paris"])[0]) == ["▁Paris"]


def test_phi3_letters_and_unrestricted_gold(phi3):
    from interp.capture import Span
    from interp.queries import ParaRelQuery
    from interp.scoring import letter_token_ids, predict_pararel

    tok = phi3.model.tokenizer
    assert tok.convert_ids_to_tokens(letter_token_ids(phi3.model, "Q?\nAnswer:")) == \
        ["▁A", "▁B", "▁C", "▁D"]
    q = ParaRelQuery(relation="P36", pattern_index=0, pattern="The capital of [X] is [Y]",
                     fact_index=0, subject="France", object="Paris", prompt_index=0,
                     prompt="The capital of France is", subject_span=Span(15, 21))
    pred = predict_pararel(phi3.model, [q], restrict=False)
    gold = tok.convert_tokens_to_ids("▁Paris")
    top = int(oracle.next_token_logprobs(phi3.oracle, oracle.encode(tok, q.prompt)).argmax())
    assert pred.correct == [top == gold]


def test_a_merged_boundary_is_scored_from_the_joint_tokens():
    from interp.scoring import naive_score_candidates, score_candidates

    fam = families.family("llama")
    prompts = ["Numbers: 12 ", "Numbers: 7 and 12"]  # "12 " + " 34": '▁' + '▁' merge to '▁▁'
    cands = ["34", "5", "New York"]
    fast = score_candidates(fam.model, prompts, cands, exhaustive=True)
    assert fast.n_merged[0] > 0 and fast.n_merged[1] == 0
    for i, p in enumerate(prompts):
        want = [oracle.teacher_forced(fam.oracle, fam.model.tokenizer, p, " " + c) for c in cands]
        assert fast.scores[i] == pytest.approx(want, abs=1e-4)
    assert naive_score_candidates(fam.model, prompts, cands).best == fast.best


def test_bos_exactly_once_with_a_template_that_renders_it():
    from interp.models import from_hf

    fam = families.family("llama")
    tok = copy.deepcopy(fam.model.tokenizer)
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}<|user|>\n{{ m['content'] }}\n"
                         "{% endfor %}<|assistant|>\n")
    hf = copy.deepcopy(fam.oracle)
    model = from_hf(hf, tok, name="tiny-llama-bos-template", is_chat=True)
    text = model.chat_prefix("The capital of France is")
    assert text.startswith(tok.bos_token)
    ids = model.tokenize(text)
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    plain = model.tokenize("The capital of France is")
    assert plain[0] == tok.bos_token_id and plain.count(tok.bos_token_id) == 1
    assert [list(x) for x in model.tokenize_many([text, "x"])] == [ids, model.tokenize("x")]
