"""Prefix sharing: ``capture`` with and without ``share_prefix`` on the demo's PARAREL prompts.

Chat prompts share their template and instruction (SmolLM2: most of each PARAREL prompt's
tokens); with ``share_prefix=True`` (the default) that prefix runs once and its key/value cache is
reused by every batch. Prints, per model, the shared prefix's length, both timings (medians of
``--repeats`` after a warm-up), their ratio and the largest difference between the two captures.

    python benchmarks/prefix.py --threads 2
    python benchmarks/prefix.py --models smollm2-135m-instruct --prompt 1
"""

from __future__ import annotations

import argparse

import torch

from capture import common_parser, print_ratio, run_all, timed  # benchmarks/capture.py
from interp import capture, load_model
from interp.data import demo_path, pararel
from interp.kv_cache import common_prefix_length
from interp.queries import pararel_queries


def bench(spec: str, a: argparse.Namespace) -> None:
    """Time both captures of one model's PARAREL prompts and print their ratio."""
    model = load_model(spec)
    rels = pararel.load(demo_path("pararel"))
    prompts = [q.prompt for q in pararel_queries(model, rels, a.prompt, max_facts=a.max_facts)]
    ids = model.tokenize_many(prompts)
    mean_len = sum(map(len, ids)) / len(ids)

    def run(share: bool):
        return capture(model, prompts, batch_size=a.batch_size, share_prefix=share, progress=False)

    t_shared, _ = timed(lambda: run(True), model.device, a.repeats)
    t_plain, _ = timed(lambda: run(False), model.device, a.repeats)
    shared, plain = run(True), run(False)
    diff = max((x - y).abs().max().item() / max(y.abs().max().item(), 1e-12)
               for x, y in ((shared.resid, plain.resid), (shared.logits, plain.logits)))
    print_ratio(f"{spec}, PARAREL prompt {a.prompt}: {len(prompts)} prompts of {mean_len:.1f} "
                f"tokens on average, {common_prefix_length(ids)} shared, batch {a.batch_size}",
                "capture, share_prefix=False", t_plain, "capture, share_prefix=True", t_shared,
                f"largest difference {diff:.1e} of the values' scale")


if __name__ == "__main__":
    run_all(common_parser(__doc__, ("--prompt", 0, "Table 3 prompt index (0-2)"),
                          ("--max-facts", 12, "facts per relation (the demo's)")), bench, __file__)
