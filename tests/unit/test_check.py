"""``interp check``: passes on the tiny families (encoder-decoders included, with the checks that
do not apply shown as skipped), and fails with a clear line (exit code 1) on models broken on
purpose: a key/value cache the bridge ignores, logits that differ from the Hugging Face model's
own (causal or encoder-decoder), a real configuration the bridge gets wrong (ALiBi Falcon, as
Falcon-RW) or cannot wrap (Falcon-40B's new decoder architecture); an error inside a check fails
that check, it does not crash the report."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from interp import models
from interp.cli import main
from test_kv_cache import _ignore_cache

CHECKS = ["loads", "hooks", "residual", "hf_logits", "logit_lens", "bos_once", "capture",
          "answer_tokens", "letters", "kv_cache", "boundary"]


def rows(out: str) -> dict[str, str]:
    """``{check: "PASS" | "FAIL" | "SKIP"}`` from the printed table."""
    got = {}
    for line in out.splitlines():
        parts = line.split()
        if (len(parts) >= 2 and not line[0].isspace() and parts[1] in ("PASS", "FAIL", "SKIP")):
            got[parts[0]] = parts[1]
    return got


def break_after_boot(monkeypatch: pytest.MonkeyPatch, breaker: Callable[[object], None]) -> None:
    """Models loaded from now on are broken by ``breaker(bridge)`` right after the bridge wraps
    them (the untouched model's reference outputs are recorded before)."""
    boot = models._boot

    def broken_boot(*args, **kwargs):
        bridge = boot(*args, **kwargs)
        breaker(bridge)
        return bridge

    monkeypatch.setattr(models, "_boot", broken_boot)


@pytest.mark.parametrize("spec", ["tiny:llama-chat", "tiny:gemma3", "tiny:falcon"])
def test_passes_on_the_tiny_families(spec: str, capsys):
    assert main(["check", spec]) == 0
    out = capsys.readouterr().out
    assert rows(out) == dict.fromkeys(CHECKS, "PASS"), out
    assert f"PASSED: {len(CHECKS)} checks" in out
    assert "a_l (MHSA)     blocks.{l}.hook_attn_out = output of" in out
    if spec == "tiny:gemma3":  # the post-norms' outputs are what is added
        assert "output of model.layers.{l}.post_attention_layernorm" in out
        assert "output of model.layers.{l}.post_feedforward_layernorm" in out
    if spec == "tiny:falcon":
        assert "ParallelBlockBridge: parallel attention and MLP" in out
        assert "output of transformer.h.{l}.self_attention" in out
        assert "output of transformer.h.{l}.mlp" in out
    assert ("the tokenizer's chat template" if "chat" in spec else "plain text") in out


@pytest.mark.parametrize("spec", ["tiny:t5", "tiny:t5tied"])
def test_encoder_decoders_pass_with_the_cache_probe_skipped(spec: str, capsys):
    """T5 v1.1 / FlanT5-like and original-T5-like (tied, output-scaled) tiny models: every check
    runs in its encoder-decoder form; the key/value-cache probe is skipped, visibly."""
    chat = spec == "tiny:t5tied"  # as FlanT5: IFT prompts as plain text, no chat template
    assert main(["check", spec] + ["--chat"] * chat) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    assert rows(out) == {**dict.fromkeys(CHECKS, "PASS"), "kv_cache": "SKIP"}, out
    assert f"PASSED: {len(CHECKS)} checks (1 skipped: kv_cache)" in out
    assert "kv_cache SKIP skipped (encoder-decoder, no key/value cache is reused" in flat
    assert "hook_cross_attn_out" in rows_text(out, "hooks") and "encoder_blocks.{0..1}" in flat
    assert "resid_post = resid_pre + attn_out + cross_attn_out + mlp_out" in flat
    assert "decoder_input_ids = the start token 0" in flat and "encoder resid at 3" in flat
    assert "targets without EOS" in flat and "sample objects as decoder targets" in flat
    # the facts name the encoder-decoder's vectors
    assert ("a_l (MHSA) the decoder's self- + cross-attention: decoder_blocks.{l}.hook_attn_out + "
            "decoder_blocks.{l}.hook_cross_attn_out = output of "
            "decoder.block.{l}.layer.0.SelfAttention + output of "
            "decoder.block.{l}.layer.1.EncDecAttention") in flat
    assert ("f_l (MLP) the decoder's MLP: decoder_blocks.{l}.hook_mlp_out = output of "
            "decoder.block.{l}.layer.2.DenseReluDense") in flat
    assert ("outermost post_norm (default): the decoder's first position after the final norm = "
            "output of decoder.final_layer_norm") in flat
    assert "decoder start '<pad>' (id 0)" in flat
    assert ("d_model ** -0.5" in flat) == chat  # the tied model's output scale
    assert ("Table 3's IFT prompts as plain text" if chat else "plain text (base model)") in flat


def rows_text(out: str, name: str) -> str:
    """The measured text of check ``name`` (its wrapped lines joined)."""
    lines = out.splitlines()
    i = next(k for k, line in enumerate(lines) if line.split()[:1] == [name])
    body = [lines[i]]
    for x in lines[i + 1:]:
        if not x[:1].isspace() or not x.strip():
            break
        body.append(x)
    return "".join(b.strip() for b in body)


def test_a_broken_encoder_decoder_fails(monkeypatch, capsys):
    """The cross-attention update of decoder layer 0 is scaled after the bridge wraps the model:
    every fast path agrees with the (wrong) bridged forward; the untouched model's logits do not."""
    def perturb(bridge):
        bridge.hook_dict["decoder_blocks.0.hook_cross_attn_out"].register_forward_hook(
            lambda m, i, o: o * 1.5)

    break_after_boot(monkeypatch, perturb)
    assert main(["check", "tiny:t5"]) == 1
    out = capsys.readouterr().out
    got = rows(out)
    assert got["hf_logits"] == "FAIL" and got["kv_cache"] == "SKIP", out
    assert got["residual"] == got["capture"] == got["logit_lens"] == "PASS", out
    assert "hf_logits      FAIL    max |interp - Hugging Face| / max(1, |HF|) =" in out
    assert "FAILED: 1 of 11 checks (hf_logits)" in out


def test_an_error_inside_a_check_fails_that_check(monkeypatch, capsys):
    """No crash: an exception in a check (or in describing the model) is a FAIL line naming the
    check and the error; the other checks still run."""
    from interp import check as check_module
    from interp import lens

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(lens, "project", boom)
    monkeypatch.setattr(check_module, "_facts", boom)
    assert main(["check", "tiny:t5"]) == 1
    out = capsys.readouterr().out
    got = rows(out)
    assert got["logit_lens"] == "FAIL" and got["facts"] == "FAIL" and got["hf_logits"] == "PASS"
    assert "logit_lens     FAIL    RuntimeError: boom" in out
    assert "facts          FAIL    the vectors could not be described: RuntimeError: boom" in out
    assert "prompt format" in out  # the other facts are still there
    assert "FAILED: 2 of 12 checks (logit_lens, facts)" in out


def test_chat_and_base_flags_choose_the_prompt_format(capsys):
    assert main(["check", "tiny:llama-chat", "--base"]) == 0
    out = capsys.readouterr().out
    assert "prompt format  plain text (base model)" in out
    assert "example        'The capital of France is'" in out


def test_an_ignored_kv_cache_fails(monkeypatch, capsys):
    from transformer_lens.model_bridge.generalized_components.attention import AttentionBridge

    def ignore_cache(bridge):
        for m in bridge.modules():
            if isinstance(m, AttentionBridge):
                m.register_forward_pre_hook(_ignore_cache, with_kwargs=True)

    break_after_boot(monkeypatch, ignore_cache)
    assert main(["check", "tiny:llama"]) == 1
    out = capsys.readouterr().out
    assert rows(out)["kv_cache"] == "FAIL"
    assert "kv_cache       FAIL    the key/value cache is not filled or not used" in out
    assert "FAILED: 1 of" in out and "(kv_cache)" in out


def test_logits_that_differ_from_hugging_face_fail(monkeypatch, capsys):
    def perturb(bridge):  # the MLP update of layer 0 is scaled: the bridge is no longer HF's model
        bridge.hook_dict["blocks.0.hook_mlp_out"].register_forward_hook(lambda m, i, o: o * 1.5)

    break_after_boot(monkeypatch, perturb)
    assert main(["check", "tiny:falcon"]) == 1
    out = capsys.readouterr().out
    assert rows(out)["hf_logits"] == "FAIL" and rows(out)["residual"] == "PASS"
    assert "hf_logits      FAIL    max |interp - Hugging Face| / max(1, |HF|) =" in out
    assert "(hf_logits)" in out


def _save_falcon(path: Path, **config) -> Path:
    from transformers import FalconConfig, FalconForCausalLM

    from interp.testing import tiny_tokenizer

    tok = tiny_tokenizer(chat=False)
    torch.manual_seed(0)
    cfg = FalconConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       vocab_size=len(tok), parallel_attn=True, new_decoder_architecture=False,
                       multi_query=True, alibi=False, bias=False, bos_token_id=tok.bos_token_id,
                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    for k, v in config.items():
        setattr(cfg, k, v)
    FalconForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_alibi_falcon_is_caught(tmp_path, capsys):
    """Falcon-RW's ALiBi positions are lost in TransformerLens 4.3's bridge: every fast path
    agrees with the (wrong) bridged forward; only the untouched model's logits show it. Such a
    model is refused when it loads, so that no sweep analyses it; with the refusal lifted,
    ``hf_logits`` is the check that catches it."""
    spec = _save_falcon(tmp_path / "falcon-rw", alibi=True)
    assert main(["check", str(spec)]) == 1
    out = capsys.readouterr().out
    assert rows(out)["loads"] == "FAIL" and "ALiBi" in out, out
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "known_wrong", lambda config: None)
        assert main(["check", str(spec)]) == 1
    out = capsys.readouterr().out
    got = rows(out)
    assert got["hf_logits"] == "FAIL", out
    assert got["capture"] == "PASS" and got["residual"] == "PASS"


def test_a_model_the_bridge_cannot_wrap_fails_at_loads(tmp_path, capsys):
    spec = _save_falcon(tmp_path / "falcon-40b-like", new_decoder_architecture=True,
                        num_kv_heads=2)
    assert main(["check", str(spec)]) == 1
    out = capsys.readouterr().out
    assert rows(out) == {"loads": "FAIL"}
    assert ("the Hugging Face model (FalconForCausalLM) loaded, but the TransformerLens bridge "
            "could not wrap it") in " ".join(out.split())


def test_an_unloadable_spec_fails_at_loads(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert rows(out) == {"loads": "FAIL"} and "config.json" in out
