"""Tiny random models built from a config, for tests, notebooks and quick experiments.

No download is needed: the tokenizer is a byte-level BPE trained in memory on a small corpus
(for T5: a SentencePiece-style Unigram tokenizer, :func:`tiny_t5_tokenizer`), and the model is a
randomly initialised Hugging Face causal LM (or T5 encoder-decoder) built from a config.

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


@lru_cache(maxsize=1)
def tiny_t5_tokenizer() -> Any:
    """A ~300-piece SentencePiece-style Unigram tokenizer shaped like T5's: words carry a ``▁``
    prefix (so ``"Paris"`` and ``" Paris"`` encode alike), whitespace runs (newlines included)
    become one space, ``</s>`` is appended to every encoded text, ``<pad>`` (id 0) is the
    decoder's start token, no BOS, no chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers import processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    specials = ["<pad>", "</s>", "<unk>"]
    trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=specials, unk_token="<unk>",
                                      show_progress=False)
    letters = ["Answer: A. Answer: B. Answer: C. Answer: D. A B C D"]  # one piece per letter
    tok.train_from_iterator((_CORPUS + letters) * 4, trainer=trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", padding_side="right")


def tiny_t5_hf(arch: str = "t5", *, n_layers: int = 2, d_model: int = 32, seed: int = 0) -> Any:
    """The raw Hugging Face ``T5ForConditionalGeneration`` of :func:`tiny_model` (not wrapped by
    the bridge, e.g. to ``save_pretrained`` it with :func:`tiny_t5_tokenizer` into a directory)."""
    from transformers import T5Config, T5ForConditionalGeneration

    tok = tiny_t5_tokenizer()
    torch.manual_seed(seed)
    gated = arch == "t5"
    cfg = T5Config(vocab_size=len(tok), d_model=d_model, d_kv=d_model // 4, d_ff=2 * d_model,
                   num_layers=n_layers, num_decoder_layers=n_layers + 1, num_heads=4,
                   relative_attention_num_buckets=8, relative_attention_max_distance=32,
                   feed_forward_proj="gated-gelu" if gated else "relu",
                   tie_word_embeddings=not gated, decoder_start_token_id=tok.pad_token_id,
                   pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    cfg.architectures = ["T5ForConditionalGeneration"]
    hf = T5ForConditionalGeneration(cfg)
    with torch.no_grad():  # random norm weights, so that the final norms really matter
        for name, p in hf.named_parameters():
            if "layer_norm" in name:
                p.normal_(1.0, 0.5)
    return hf


def tiny_model(arch: str = "llama", *, chat: bool = True, add_bos: bool = True,
               n_layers: int = 2, d_model: int = 32, seed: int = 0) -> Model:
    """A randomly initialised model of family ``arch`` (one of :data:`interp.models.TINY_ARCHS`).

    Gemma-3 has post-attention / post-MLP norms, so its ``attn_out`` / ``mlp_out`` differ from
    the raw sublayer outputs: a good test of the residual decomposition. Falcon (as Falcon-7B:
    rotary positions, multi-query attention, no biases) has a parallel block: attention and MLP
    read the same normed input and both outputs are added to the residual at once.

    ``"t5"`` is an encoder-decoder shaped like T5 v1.1 / ``t5-xl-lm-adapt`` / FlanT5 (gated-GELU
    MLP, untied unembedding), ``"t5tied"`` like the original T5 (ReLU MLP, tied embeddings, so
    the decoder output is scaled by ``d_model ** -0.5`` before the unembedding); both have
    ``n_layers`` encoder and ``n_layers + 1`` decoder blocks and :func:`tiny_t5_tokenizer`.
    ``chat=True`` makes it an IFT model without a chat template (FlanT5): its prompts are Table
    3's IFT prompts as plain text (:data:`interp.models.PLAIN_FORMAT`).
    """
    if arch in ("t5", "t5tied"):
        hf = tiny_t5_hf(arch, n_layers=n_layers, d_model=d_model, seed=seed).eval()
        return from_hf(hf, tiny_t5_tokenizer(), name=f"tiny-{arch}{'-chat' if chat else ''}",
                       is_chat=chat)
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
