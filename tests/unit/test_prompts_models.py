from __future__ import annotations

import pytest
import torch

from interp.models import ModelLoadError, load_model, resolve_dtype
from interp.prompts import CASINGS, mmlu_prompt, pararel_prompt, sentence_prompt


def test_base_pararel_prompts(tiny_gemma):
    got = [pararel_prompt(tiny_gemma, i, "The capital of [X] is [Y] .", "France") for i in range(3)]
    assert [p for p, _ in got] == ["The capital of France is",
                                   "Everyone knows that the capital of France is",
                                   "It is widely known that the capital of France is"]
    for p, span in got:
        assert p[span.start:span.end] == "France"
    p, span = pararel_prompt(tiny_gemma, 1, "[X] is located in [Y].", "Rome")
    assert p == "Everyone knows that Rome is located in" and p[span.start:span.end] == "Rome"


def test_pararel_casing_known_answers(tiny_gemma, tiny_llama):
    """``casing="pattern"`` keeps the pattern's capital after base prompts 1 and 2; prompt 0,
    patterns that start with the subject and chat prompts are the same under both casings."""
    pattern = "The capital of [X] is [Y] ."
    got = {c: [pararel_prompt(tiny_gemma, i, pattern, "France", casing=c) for i in range(3)]
           for c in CASINGS}
    assert [p for p, _ in got["pattern"]] == ["The capital of France is",
                                              "Everyone knows that The capital of France is",
                                              "It is widely known that The capital of France is"]
    assert [p for p, _ in got["lower"]] == ["The capital of France is",
                                            "Everyone knows that the capital of France is",
                                            "It is widely known that the capital of France is"]
    assert all(p[s.start:s.end] == "France" for c in CASINGS for p, s in got[c])
    for c in CASINGS:
        assert pararel_prompt(tiny_gemma, 1, "[X] is located in [Y].", "rome", casing=c)[0] == (
            "Everyone knows that rome is located in")
        assert pararel_prompt(tiny_llama, 1, pattern, "France", casing=c)[0] == (
            "<|im_start|>user\nProvide concise info to complete sentence.<|im_end|>\n"
            "<|im_start|>assistant\nThe capital of France is")
    with pytest.raises(ValueError, match="casing must be one of .* got 'upper'"):
        pararel_prompt(tiny_gemma, 1, pattern, "France", casing="upper")


def test_pararel_queries_record_casing_and_take_first_facts(tiny_gemma):
    from dataclasses import replace

    from interp.analyses.consistency import ParaRelConsistency, pararel_consistency
    from interp.data.pararel import Fact, Relation
    from interp.queries import ParaRelQuery, pararel_queries, sample_facts

    facts = tuple(Fact(f"S{i}", f"O{i}", f"u{i}") for i in range(6))
    rel = Relation("P1", "r", "1-1", ("The city of [X] is [Y].", "[X] lies in [Y]."), facts)
    assert sample_facts(6, 3, fact_order="first") == [0, 1, 2]
    assert sample_facts(6, 3, seed=1, fact_order="first") == [0, 1, 2]
    assert sample_facts(6, 9, fact_order="first") == list(range(6))
    with pytest.raises(ValueError, match="fact_order must be one of .* got 'last'"):
        sample_facts(6, 3, fact_order="last")
    qs = pararel_queries(tiny_gemma, [rel], 1, max_facts=3, fact_order="first", casing="pattern")
    assert [(q.fact_index, q.pattern_index) for q in qs] == [(0, 0), (0, 1), (1, 0), (1, 1),
                                                             (2, 0), (2, 1)]
    assert qs[0].prompt == "Everyone knows that The city of S0 is" and qs[0].casing == "pattern"
    assert ParaRelQuery.from_dict(qs[0].to_dict()) == qs[0]
    old = {k: v for k, v in qs[0].to_dict().items() if k != "casing"}  # stored before the field
    assert ParaRelQuery.from_dict(old).casing == "lower"
    sampled = pararel_queries(tiny_gemma, [rel], 1, max_facts=3, seed=0)
    assert sorted({q.fact_index for q in sampled}) == sample_facts(6, 3, 0)
    assert sampled[0].casing == "lower" and sampled[0].prompt.startswith("Everyone knows that the")
    result = pararel_consistency(qs, [q.object for q in qs], n_boot=10)
    assert result.casing == "pattern"
    assert ParaRelConsistency.from_dict(result.to_dict()).casing == "pattern"
    with pytest.raises(ValueError, match="different casings"):
        pararel_consistency(qs[:2] + [replace(q, casing="lower") for q in qs[2:]],
                            [q.object for q in qs], n_boot=10)


def test_chat_pararel_and_sentence_prompts(tiny_llama):
    p, span = pararel_prompt(tiny_llama, 2, "The capital of [X] is [Y].", "France")
    assert p == ("<|im_start|>user\nPlease finish the sentence.<|im_end|>\n"
                 "<|im_start|>assistant\nThe capital of France is")
    assert p[span.start:span.end] == "France"
    s = sentence_prompt(tiny_llama, 1, "I ate the cheese.")
    assert s == ("<|im_start|>user\nWhat does this sentence mean?\nI ate the cheese.<|im_end|>\n"
                 "<|im_start|>assistant\n")


def test_pattern_must_end_in_object(tiny_gemma):
    with pytest.raises(ValueError, match="at the end"):
        pararel_prompt(tiny_gemma, 0, "[Y] is the capital of [X].", "France")


def test_mmlu_prompt_known_answer(tiny_gemma, tiny_llama):
    args = ("astronomy", "What is the Sun?", ("A star", "A planet", "A moon", "A comet"))
    assert mmlu_prompt(tiny_gemma, 0, *args) == (
        "The following are multiple choice questions (with answers) about astronomy.\n\n"
        "What is the Sun?\nA. A star\nB. A planet\nC. A moon\nD. A comet\nAnswer:")
    chat = mmlu_prompt(tiny_llama, 2, *args)
    assert chat.startswith("<|im_start|>user\nAnswer to the best of your abilities")
    assert chat.endswith("D. A comet<|im_end|>\n<|im_start|>assistant\nAnswer:")


def test_unknown_spec_lists_aliases():
    with pytest.raises(ModelLoadError, match="smollm2-135m-instruct") as e:
        load_model("definitely not a model!")
    assert "gemma3-270m" in str(e.value)


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(str(tmp_path))


def test_dtype_names():
    cpu = torch.device("cpu")
    assert resolve_dtype(None, cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("int3", cpu)


def test_tokenizer_not_mutated_and_bos(tiny_llama):
    assert tiny_llama.tokenizer.padding_side == "left"
    assert tiny_llama.prepends_bos
    from interp.testing import tiny_model

    no_bos = tiny_model("llama", add_bos=False)
    assert not no_bos.prepends_bos
    assert no_bos.tokenize("Paris")[0] != no_bos.tokenizer.bos_token_id


def test_bridge_tokenizer_copy_is_independent():
    """The bridge's copy shares the vocabulary backend only where the bridge adds no tokens;
    what the bridge sets on it (padding side, pad / BOS names, init kwargs) never reaches ours."""
    from interp.models import _bridge_tokenizer
    from interp.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    before = (tok.padding_side, tok.pad_token, tok.bos_token, dict(tok.init_kwargs), len(tok))
    cp = _bridge_tokenizer(tok)
    assert cp._tokenizer is tok._tokenizer  # EOS, pad and BOS have ids: shallow
    cp.padding_side = "right" if tok.padding_side == "left" else "left"
    cp.pad_token, cp.bos_token = tok.eos_token, tok.eos_token
    cp.init_kwargs["add_bos_token"] = "changed"
    assert (tok.padding_side, tok.pad_token, tok.bos_token, dict(tok.init_kwargs), len(tok)) == before
    assert cp("Paris is")["input_ids"] == tok("Paris is")["input_ids"][-len(cp("Paris is")["input_ids"]):]
    no_eos = tiny_tokenizer()
    no_eos.eos_token = None  # the bridge would add "<|endoftext|>" to the vocabulary: a deep copy
    deep = _bridge_tokenizer(no_eos)
    assert deep._tokenizer is not no_eos._tokenizer
