"""``interp check`` passes on a checkpoint directory of every tiny family with its real
tokenizer (as a user would bring a model)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import families

pytestmark = pytest.mark.skipif(not families.TOKENIZERS.is_dir(),
                                reason=f"real tokenizers not found at {families.TOKENIZERS}")


#: families whose 128k-151k vocabularies make a tiny model's check take ~25 s each: checked in
#: the thorough tier (their answer tokenization is covered by test_oracle.py in every run)
BIG_VOCAB = {"llama3", "qwen2"}


@pytest.mark.parametrize("name", list(families.GGUF))
def test_interp_check_passes_on_every_family(name: str, tmp_path: Path, capsys):
    """``interp check`` on a checkpoint directory of each tiny family with its real tokenizer;
    Falcon also as an IFT model (open-instruct format, its tokenizer has no chat template)."""
    if name in BIG_VOCAB and os.environ.get("INTERP_HYPOTHESIS_PROFILE") != "thorough":
        pytest.skip(f"{name}: big vocabulary, checked with INTERP_HYPOTHESIS_PROFILE=thorough (CI budget)")
    pytest.importorskip("gguf")
    from interp.cli import main

    path = families.save(families.family(name), tmp_path / name)
    for flags in (["--chat"], []) if name == "falcon" else ([],):
        assert main(["check", str(path), *flags]) == 0, capsys.readouterr().out
        out = capsys.readouterr().out
        assert "PASSED: 11 checks" in out
        if flags:
            assert "the open-instruct (Tulu) format" in out and "<|user|>" in out
