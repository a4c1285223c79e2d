"""Tiny random models of seven families, each with the REAL tokenizer of its family (vocabulary-
only GGUF files in ``../shared/tokenizers``), and an untouched copy of the Hugging Face model as
the oracle: the bridge wraps (and replaces modules of) the model it is given, so the oracle must
be a separate instance with the same weights."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import torch

TOKENIZERS = Path(__file__).resolve().parents[2].parent / "shared" / "tokenizers"


@dataclass
class Family:
    """A tiny model of one family: the project's :class:`~interp.models.Model` and the oracle."""

    name: str
    model: Any  # interp.models.Model
    oracle: Any  # a plain transformers model with the same weights
    layers: Callable[[Any], list]  # oracle -> its decoder layers
    added: Callable[[Any], tuple[Any, Any]]  # layer -> (module whose output is a_l, ... f_l)


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


def _llama_like(layer: Any) -> tuple[Any, Any]:
    return layer.self_attn, layer.mlp


def _gemma3(layer: Any) -> tuple[Any, Any]:  # the post-norms' outputs are what is added
    return layer.post_attention_layernorm, layer.post_feedforward_layernorm


def _gpt2(layer: Any) -> tuple[Any, Any]:
    return layer.attn, layer.mlp


def _falcon(layer: Any) -> tuple[Any, Any]:
    return layer.self_attention, layer.mlp


def _config(family: str, vocab: int, tok: Any) -> tuple[Any, Callable, Callable]:
    import transformers as tf

    special = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                   pad_token_id=tok.pad_token_id)
    common = dict(vocab_size=vocab, num_hidden_layers=2, num_attention_heads=4, **special)
    if family in ("llama", "llama3"):
        cfg = tf.LlamaConfig(hidden_size=64, intermediate_size=128, num_key_value_heads=2,
                             max_position_embeddings=512, **common)
        return tf.LlamaForCausalLM(cfg), (lambda m: m.model.layers), _llama_like
    if family == "qwen2":
        cfg = tf.Qwen2Config(hidden_size=64, intermediate_size=128, num_key_value_heads=2,
                             max_position_embeddings=512, **common)
        return tf.Qwen2ForCausalLM(cfg), (lambda m: m.model.layers), _llama_like
    if family == "phi3":
        cfg = tf.Phi3Config(hidden_size=64, intermediate_size=128, num_key_value_heads=4,
                            max_position_embeddings=512, original_max_position_embeddings=512,
                            **common)
        return tf.Phi3ForCausalLM(cfg), (lambda m: m.model.layers), _llama_like
    if family == "gemma3":
        cfg = tf.Gemma3TextConfig(hidden_size=64, intermediate_size=128, num_key_value_heads=1,
                                  head_dim=16, max_position_embeddings=512, sliding_window=64,
                                  **common)
        cfg.architectures = ["Gemma3ForCausalLM"]
        hf = tf.Gemma3ForCausalLM(cfg)
        with torch.no_grad():  # random norm weights, so the post-norms really matter
            for name, p in hf.named_parameters():
                if "norm" in name:
                    p.normal_(0.0, 0.5)
        return hf, (lambda m: m.model.layers), _gemma3
    if family == "gpt2":
        cfg = tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=512, vocab_size=vocab,
                            **special)
        return tf.GPT2LMHeadModel(cfg), (lambda m: m.transformer.h), _gpt2
    if family == "falcon":
        cfg = tf.FalconConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                              vocab_size=vocab, parallel_attn=True, new_decoder_architecture=False,
                              multi_query=True, alibi=False, bias=False, **special)
        return tf.FalconForCausalLM(cfg), (lambda m: m.transformer.h), _falcon
    raise ValueError(family)


#: family -> the GGUF vocabulary of its real tokenizer (Gemma-3 has none there: it gets LLaMA's
#: SentencePiece vocabulary, which like Gemma's prepends BOS)
GGUF = {
    "llama": "ggml-vocab-llama-spm.gguf",
    "llama3": "ggml-vocab-llama-bpe.gguf",
    "gemma3": "ggml-vocab-llama-spm.gguf",
    "phi3": "ggml-vocab-phi-3.gguf",
    "gpt2": "ggml-vocab-gpt-2.gguf",
    "qwen2": "ggml-vocab-qwen2.gguf",
    "falcon": "ggml-vocab-falcon.gguf",
}


@lru_cache(maxsize=None)
def tokenizer(gguf: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TOKENIZERS), gguf_file=gguf)


@lru_cache(maxsize=None)
def family(name: str) -> Family:
    from interp.models import from_hf

    tok = copy.deepcopy(tokenizer(GGUF[name]))
    torch.manual_seed(0)
    hf, layers, added = _config(name, len(tok), tok)
    hf.eval()
    oracle = copy.deepcopy(hf)
    model = from_hf(hf, tok, name=f"tiny-{name}", is_chat=False)
    return Family(name, model, oracle, layers, added)


def save(fam: Family, path: Path) -> Path:
    """A checkpoint directory (config, weights, tokenizer) of the family's untouched model."""
    fam.oracle.save_pretrained(path)
    fam.model.tokenizer.save_pretrained(path)
    return path
