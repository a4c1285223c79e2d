from __future__ import annotations

import pytest
import torch

from interp.models import ModelLoadError, load_model, resolve_dtype
from interp.prompts import mmlu_prompt, pararel_prompt, sentence_prompt


def test_base_pararel_prompts(tiny_gemma):
    got = [pararel_prompt(tiny_gemma, i, "The capital of [X] is [Y] .", "France") for i in range(3)]
    assert [p for p, _ in got] == ["The capital of France is",
                                   "Everyone knows that the capital of France is",
                                   "It is widely known that the capital of France is"]
    for p, span in got:
        assert p[span.start:span.end] == "France"
    p, span = pararel_prompt(tiny_gemma, 1, "[X] is located in [Y].", "Rome")
    assert p == "Everyone knows that Rome is located in" and p[span.start:span.end] == "Rome"


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
