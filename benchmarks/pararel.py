"""PARAREL predictions: queries per second of the toolkit vs naive loops, on one relation.

Compares, on the same queries of one relation in one Table 3 prompt:

* the toolkit: ``predict_pararel`` (exact candidate-restricted argmax: first-token bound pruning,
  the shared prompt prefix run once, batched query forwards, multi-token continuations batched on
  the queries' key/value cache), standalone; and with the first-token log-probabilities taken
  from the sweep's capture (scoring alone, and capture + scoring);
* the naive loop: one forward per query and one per candidate (batch 1, no cache);
* the exact pruning rule alone: one forward per query, then one forward per candidate in order
  of first-token log-probability until none left can win (batch 1, no cache, no shared prefix).

The naive loops run on the first few queries (they are slow) and their predictions are checked
against the toolkit's. Run:

    python benchmarks/pararel.py --model smollm2-135m-instruct --relation P176 --facts 20
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from interp import capture, load_model
from interp.data import pararel
from interp.queries import pararel_queries
from interp.scoring import candidate_token_ids, naive_score_candidates, predict_pararel

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pararel"


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--relation", default="P176", help="P176 (manufacturer): many multi-token objects")
    ap.add_argument("--prompt", type=int, default=0, help="Table 3 prompt index (0-2)")
    ap.add_argument("--facts", type=int, default=20, help="facts for the toolkit runs (x patterns)")
    ap.add_argument("--naive-queries", type=int, default=3)
    ap.add_argument("--pruned-queries", type=int, default=10)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model(args.model)
    rel = pararel.load(args.data, relations=[args.relation])[args.relation]
    rels = {rel.id: rel}
    qs = pararel_queries(model, rels, args.prompt, max_facts=args.facts)
    prompts = [q.prompt for q in qs]
    n_multi = sum(len(t) > 1 for t in candidate_token_ids(model, rel.candidates))
    print(f"PARAREL {rel.id} ({rel.label}), {model.name}, prompt {args.prompt}: {len(qs)} queries "
          f"({args.facts} facts x {len(rel.causal_patterns)} patterns), {len(rel.candidates)} "
          f"candidates ({n_multi} multi-token), {torch.get_num_threads()} thread(s), {model.device}")

    predict_pararel(model, qs[:2], candidates=rels)  # warm-up
    alone, t_alone = timed(predict_pararel, model, qs, candidates=rels)
    acts, t_cap = timed(capture, model, prompts, keep=(), progress=False)
    given, t_given = timed(predict_pararel, model, qs, acts, candidates=rels)
    assert given.objects == alone.objects

    k, k2 = min(args.naive_queries, len(qs)), min(args.pruned_queries, len(qs))
    naive, t_naive = timed(naive_score_candidates, model, prompts[:k], rel.candidates)
    pruned, t_pruned = timed(naive_score_candidates, model, prompts[:k2], rel.candidates, prune=True)
    same_naive = sum(rel.candidates[b] == o for b, o in zip(naive.best, alone.objects))
    same_pruned = sum(rel.candidates[b] == o for b, o in zip(pruned.best, alone.objects))

    qps = {
        "toolkit, standalone (predict_pararel)": len(qs) / t_alone,
        "toolkit, scoring given the sweep's capture": len(qs) / t_given,
        "toolkit, capture + scoring": len(qs) / (t_cap + t_given),
        f"naive: 1 forward per query + 1 per candidate ({k} queries)": k / t_naive,
        f"naive + exact pruning rule only ({k2} queries)": k2 / t_pruned,
    }
    for name, v in qps.items():
        print(f"  {name:62s} {v:9.2f} queries/s")
    best = qps["toolkit, standalone (predict_pararel)"]
    print(f"  multi-token continuations run per query: naive {n_multi} (every candidate is a "
          f"forward), pruned {sum(pruned.n_scored) / k2:.2f}, toolkit {sum(given.n_scored) / len(qs):.2f}")
    print(f"speed-up, toolkit standalone vs naive loop:           {best / qps[list(qps)[3]]:8.1f}x (target >= 20x)")
    print(f"speed-up, toolkit standalone vs exact pruning alone:  {best / qps[list(qps)[4]]:8.1f}x (target >= 1x)")
    print(f"speed-up, capture + scoring vs naive loop:            {qps[list(qps)[2]] / qps[list(qps)[3]]:8.1f}x")
    print(f"identical predictions: naive {same_naive}/{k}, pruned naive {same_pruned}/{k2}, "
          f"with/without capture {len(qs)}/{len(qs)}")


if __name__ == "__main__":
    main()
