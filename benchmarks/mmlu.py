"""MMLU letter scoring (``mmlu_letter_logprobs``) vs a plain batched forward, on the demo's MMLU.

The plain forward is what a user would write: left-padded batches through ``bridge(tokens,
attention_mask=mask)``, full logits at every position, log-softmax of the last one, the four
letters gathered. The toolkit's path keeps only the last position, stops the forward at the final
norm, and runs the shared prompt prefix once. Prints both timings (medians of ``--repeats`` after
a warm-up), the ratio and the largest difference between the two log-probability tables.

    python benchmarks/mmlu.py --threads 2
"""

from __future__ import annotations

import argparse

import torch

from capture import common_parser, print_ratio, run_all, timed  # benchmarks/capture.py
from interp import load_model
from interp.data import demo_path, mmlu
from interp.kv_cache import pad_left
from interp.prompts import mmlu_prompt
from interp.scoring import letter_token_ids, mmlu_letter_logprobs


def bench(spec: str, a: argparse.Namespace) -> None:
    """Time both ways of scoring one model's MMLU prompts and print their ratio."""
    model = load_model(spec)
    questions = mmlu.load(demo_path("mmlu"))
    prompts = [mmlu_prompt(model, a.instruction, mmlu.subject_name(q.subject), q.question, q.choices)
               for q in questions]
    ids = model.tokenize_many(prompts)
    letters = torch.tensor([letter_token_ids(model, p) for p in prompts])

    def plain() -> torch.Tensor:
        out = []
        with torch.inference_mode():
            for s in range(0, len(ids), a.batch_size):
                toks, mask = pad_left(ids[s:s + a.batch_size], model.pad_token_id, model.device)
                last = model.bridge(toks, attention_mask=mask)[:, -1].float().cpu()
                out.append(last.log_softmax(-1).gather(-1, letters[s:s + a.batch_size]))
        return torch.cat(out)

    def toolkit() -> torch.Tensor:
        return mmlu_letter_logprobs(model, prompts, batch_size=a.batch_size)

    t_plain, _ = timed(plain, model.device, a.repeats)
    t_tool, _ = timed(toolkit, model.device, a.repeats)
    diff = (plain() - toolkit()).abs().max().item()
    print_ratio(f"{spec}, instruction {a.instruction}: {len(prompts)} questions of "
                f"{sum(map(len, ids)) / len(ids):.0f} tokens on average, batch {a.batch_size}",
                "plain batched forward", t_plain, "mmlu_letter_logprobs", t_tool,
                f"largest log-probability difference {diff:.1e}")


if __name__ == "__main__":
    run_all(common_parser(__doc__, ("--instruction", 0, "MMLU instruction index (0-2)")), bench,
            __file__)
