"""Capture and candidate scoring on a randomly initialised 7B-shaped LLaMA in bfloat16.

The model is built from a config (LLaMA-2-7B's shape: 32 layers, d_model 4096, 32 heads, MLP
11,008, vocabulary 32,000; no download) with random weights, in bfloat16, on the GPU when there is
one; ``--small`` shrinks it (4 layers, d_model 256) for a CPU. The prompts are the demo's PARAREL
queries (the ChatML template of the offline test tokenizer, :func:`interp.testing.tiny_tokenizer`).
Prints:

* tokens/s of ``capture`` (resid / attn_out / mlp_out of every layer at the last position, the
  logits there) and of a plain batched forward (full logits at every position), and their ratio;
* achieved TFLOP/s of each (2 x non-embedding parameters per token, plus attention scores and
  the unembedding of the positions whose logits are computed) and its share of the device's dense
  bfloat16 peak (:data:`PEAK_BF16_TFLOPS`; "unknown" for other devices, a CPU included);
* queries/s of the exact candidate-restricted PARAREL predictions given the capture;
* how many top-1 predictions (next token, and restricted candidate) differ between the bfloat16
  model and the same weights in float32, on ``--compare`` queries. In bfloat16 the final norm,
  unembedding and log-softmax of the predictions run in float32 (``interp.capture.float32_head``).

    python benchmarks/gpu.py                      # on a GPU: the 7B shape
    python benchmarks/gpu.py --small --threads 2  # on a CPU
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import torch

from capture import timed  # benchmarks/capture.py
from interp import capture
from interp.data import demo_path, pararel
from interp.kv_cache import pad_left
from interp.models import Model, from_hf
from interp.queries import pararel_queries
from interp.scoring import predict_pararel
from interp.testing import tiny_tokenizer

#: dense bfloat16 tensor-core peaks (TFLOP/s, no sparsity) by a substring of the device name;
#: the first match wins, so the more specific names come first
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("GH200", 989.0), ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("H800", 989.0),
    ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0), ("L4", 121.0),
    ("RTX 4090", 165.0), ("A10", 125.0),
)

SHAPES = {
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=32),
    "small": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=4),
}


def device_peak(device: torch.device) -> tuple[str, float | None]:
    """(device name, dense bf16 peak TFLOP/s or None when not in the table)."""
    if device.type != "cuda":
        return "CPU", None
    name = torch.cuda.get_device_name(device)
    return name, next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), None)


def build(shape: str, device: torch.device, seed: int = 0) -> tuple[Model, Model]:
    """(the bfloat16 model, the same weights in float32), randomly initialised from a config."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    cfg = LlamaConfig(**SHAPES[shape], vocab_size=32000, max_position_embeddings=4096,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            hf = LlamaForCausalLM(cfg).eval()
    finally:
        torch.set_default_dtype(default)
    hf32 = copy.deepcopy(hf).float()
    return (from_hf(hf, tok, name=f"llama-{shape}-random-bf16", is_chat=True),
            from_hf(hf32, tok, name=f"llama-{shape}-random-fp32", is_chat=True))


def forward_flops(model: Model, lengths: list[int], logit_rows: int) -> float:
    """FLOPs of a forward over sequences of ``lengths`` with logits at ``logit_rows`` positions:
    2 x non-embedding parameters per token, QK^T and AV (4 x layers x d_model per pair of
    positions, causal), and 2 x d_model x vocabulary per logit row."""
    c = model.hf_model.config
    d, n_layers, d_ff = c.hidden_size, c.num_hidden_layers, c.intermediate_size
    kv = d * c.num_key_value_heads // c.num_attention_heads
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * d_ff  # q, o + k, v + gate, up, down
    tokens = sum(lengths)
    pairs = sum(t * (t + 1) // 2 for t in lengths)
    return 2.0 * per_layer * n_layers * tokens + 4.0 * n_layers * d * pairs + 2.0 * d * c.vocab_size * logit_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="4 layers, d_model 256 (for a CPU)")
    ap.add_argument("--max-facts", type=int, default=None,
                    help="PARAREL facts per relation (default: 12, the demo's; 2 with --small)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compare", type=int, default=64, help="queries compared with float32")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name, peak = device_peak(device)
    shape = "small" if a.small else "7b"
    t0 = time.perf_counter()
    model, model32 = build(shape, device)
    n_params = sum(p.numel() for p in model.hf_model.parameters())
    print(f"{name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, load "
          f"{os.getloadavg()[0]:.2f}; LLaMA {shape} shape, {n_params / 1e9:.2f} B parameters, "
          f"random bf16 weights (built in {time.perf_counter() - t0:.0f} s)")

    rels = pararel.load(demo_path("pararel"))
    facts = a.max_facts or (2 if a.small else 12)
    queries = pararel_queries(model, rels, 0, max_facts=facts)
    prompts = [q.prompt for q in queries]
    ids = model.tokenize_many(prompts)
    lengths = [len(x) for x in ids]
    padded = [pad_left(ids[i:i + a.batch_size], model.pad_token_id, model.device)
              for i in range(0, len(ids), a.batch_size)]
    print(f"{len(prompts)} PARAREL queries (demo data, prompt 0), {sum(lengths) / len(ids):.0f} "
          f"tokens on average, batch {a.batch_size}")

    def plain() -> list:
        with torch.inference_mode():
            return [model.bridge(t, attention_mask=m)[:, -1] for t, m in padded]

    def captured():
        return capture(model, prompts, batch_size=a.batch_size, progress=False)

    t_plain, _ = timed(plain, model.device, a.repeats)
    t_cap, _ = timed(captured, model.device, a.repeats)
    acts = captured()
    t_pred, _ = timed(lambda: predict_pararel(model, queries, acts, candidates=rels), model.device, 1)
    rows = [("plain batched forward", t_plain, forward_flops(model, lengths, sum(lengths))),
            ("capture", t_cap, forward_flops(model, lengths, len(lengths)))]
    for label, t, flops in rows:
        tflops = flops / t / 1e12
        share = f"{tflops / peak:.1%} of {peak:.0f}" if peak else "unknown share of the peak"
        print(f"  {label:<24} {t:8.3f} s  {sum(lengths) / t:10.0f} tokens/s  {tflops:8.3f} "
              f"TFLOP/s ({share})")
    print(f"  capture / plain forward time {t_cap / t_plain:.2f}x")
    print(f"  PARAREL predictions given the capture: {len(queries) / t_pred:.1f} queries/s")

    k = min(a.compare, len(queries))
    _compare(model, model32, queries[:k], rels, a.batch_size)


def _compare(model: Model, model32: Model, queries: list, rels: dict, batch_size: int) -> None:
    """Top-1 next tokens and restricted predictions of the bf16 model vs its float32 copy."""
    prompts = [q.prompt for q in queries]

    def top1(m: Model) -> tuple[torch.Tensor, list[str]]:
        acts = capture(m, prompts, keep=(), batch_size=batch_size, progress=False)
        return acts.logits.argmax(-1).cpu(), predict_pararel(m, queries, acts, candidates=rels).objects

    tok16, obj16 = top1(model)
    tok32, obj32 = top1(model32)
    print(f"bf16 vs float32 (same weights), {len(queries)} queries: next-token top-1 differs on "
          f"{int((tok16 != tok32).sum())}, candidate-restricted prediction on "
          f"{sum(x != y for x, y in zip(obj16, obj32))} (random weights: near-uniform logits, so "
          "near ties are common)")


if __name__ == "__main__":
    main()
