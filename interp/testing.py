"""Tiny random models built from a config, for tests, notebooks and quick experiments.

No download is needed: the tokenizer is a byte-level BPE trained in memory on a small corpus,
and the model is a randomly initialised Hugging Face causal LM built from a config.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("llama", chat=True)
    >>> model.n_layers, model.is_chat
    (2, True)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch

from interp.models import TINY_ARCHS, Model, from_hf

_CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome. The capital of Spain is Madrid.",
    "Paris is located in France. Rome is located in Italy. Berlin is the capital of Germany.",
    "The official language of Brazil is Portuguese. People in Japan speak Japanese.",
    "Everyone knows that the Eiffel Tower is in Paris. It is widely known that water is wet.",
    "Summarize the main message of the following sentence. What does this sentence mean?",
    "Complete the sentence with as few words as possible. Please finish the sentence.",
    "The following are multiple choice questions (with answers) about astronomy. Answer: A B C D",
    "I ate the cheese. I eat cheese. She was born in London and died in New York.",
    "user assistant system",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@lru_cache(maxsize=4)
def tiny_tokenizer(add_bos: bool = True, chat: bool = True) -> Any:
    """A ~400-token byte-level BPE tokenizer with BOS/EOS/PAD tokens and a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    bos_id = tok.token_to_id("<|endoftext|>")
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", bos_id)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>",
        pad_token="<pad>", padding_side="left",
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_model(arch: str = "llama", *, chat: bool = True, add_bos: bool = True,
               n_layers: int = 2, d_model: int = 32, seed: int = 0) -> Model:
    """A randomly initialised model of family ``arch`` (one of :data:`interp.models.TINY_ARCHS`).

    Gemma-3 has post-attention / post-MLP norms, so its ``attn_out`` / ``mlp_out`` differ from
    the raw sublayer outputs: a good test of the residual decomposition. Falcon (as Falcon-7B:
    rotary positions, multi-query attention, no biases) has a parallel block: attention and MLP
    read the same normed input and both outputs are added to the residual at once.
    """
    tok = tiny_tokenizer(add_bos=add_bos, chat=chat)
    torch.manual_seed(seed)
    vocab = len(tok)
    if arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg = LlamaConfig(hidden_size=d_model, intermediate_size=2 * d_model,
                          num_hidden_layers=n_layers, num_attention_heads=4, num_key_value_heads=2,
                          vocab_size=vocab, max_position_embeddings=256,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
        hf = LlamaForCausalLM(cfg)
    elif arch == "gemma3":
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig

        cfg = Gemma3TextConfig(hidden_size=d_model, intermediate_size=2 * d_model,
                               num_hidden_layers=n_layers, num_attention_heads=4,
                               num_key_value_heads=1, head_dim=16, vocab_size=vocab,
                               max_position_embeddings=256, sliding_window=64,
                               bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                               pad_token_id=tok.pad_token_id)
        cfg.architectures = ["Gemma3ForCausalLM"]
        hf = Gemma3ForCausalLM(cfg)
        with torch.no_grad():  # random norm weights, so the post-norms really matter
            for name, p in hf.named_parameters():
                if "norm" in name:
                    p.normal_(0.0, 0.5)
    elif arch == "falcon":
        from transformers import FalconConfig, FalconForCausalLM

        cfg = FalconConfig(hidden_size=d_model, num_hidden_layers=n_layers, num_attention_heads=4,
                           vocab_size=vocab, parallel_attn=True, new_decoder_architecture=False,
                           multi_query=True, alibi=False, bias=False,
                           bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                           pad_token_id=tok.pad_token_id)
        hf = FalconForCausalLM(cfg)
    else:
        raise ValueError(f"unknown tiny architecture {arch!r}; use one of {TINY_ARCHS}")
    hf.eval()
    return from_hf(hf, tok, name=f"tiny-{arch}{'-chat' if chat else ''}", is_chat=chat)
