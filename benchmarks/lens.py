"""Logit-lens argmax: the full float32 matmul vs the pruned exact argmax, in one run.

Inputs are real: the MHSA and MLP updates (``attn_out``, ``mlp_out``) at the last position of
PARAREL queries (the demo's data, Table 3 prompt 0), captured once, exactly what the extraction
analysis (Fig. 5/8) projects with ``lens.argmax``. Prints the wall time of

* the full matmul (``lens.argmax(..., method="full")``: float32 logits of the whole vocabulary,
  ``--chunk-size`` rows at a time; the implementation before the pruned path),
* the pruned argmax (``method="auto"``, which picks ``"pruned"`` on a big vocabulary): its first
  call, which also builds the cached bfloat16 unembedding, and later calls (median),

their ratio, and whether the token ids are identical (they must be). Then the extraction event
itself (is the update's top token the model's prediction?): ``lens.argmax(x) == preds`` (pruned, as
the extraction analysis computed it before) vs ``lens.is_argmax`` (witnesses decide most rows),
with identical events required.

With ``--top K`` it times the attribute rate's (Fig. 2) projection instead: the top ``K`` ids of
every layer's residual stream (``lens.top_k``, which the attribute rate used before, vs
``lens.top_ids``, full and pruned); then the attribute rate's whole ranking step, the first 50
kept tokens of each row: filtering ``top_ids(x, 500)`` over the whole vocabulary (widened x8
while short; the analysis before) vs ranking keepable tokens only (``top_ids(..., allowed=...)``,
bitwise-equal rows once; the analysis now), with identical kept tokens required.

    python benchmarks/lens.py                              # Gemma-3-270M, 64 queries x 36 vectors
    python benchmarks/lens.py --queries 468 --threads 2    # the demo's size: 468 x 36 vectors
    python benchmarks/lens.py --model smollm2-135m-instruct --normed
    python benchmarks/lens.py --top 500 --chunk-size 128   # the attribute rate's top 500
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from interp import capture, lens, load_model
from interp.analyses.attributes import _kept_top_tokens, keepable_vocabulary
from interp.data import demo_path, pararel
from interp.data.attributes import filter_tokens, stopwords
from interp.queries import pararel_queries


def timed(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[torch.Tensor, list[float]]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--queries", type=int, default=64, 
                    help="PARAREL queries (x 2 n_layers vectors)")
    ap.add_argument("--normed", action="store_true", help="apply the final norm first")
    ap.add_argument("--chunk-size", type=int, default=256, help="rows per chunk (extraction: 256)")
    ap.add_argument("--repeats", type=int, default=2, help="timed calls of each after the first")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--top", type=int, default=0,
                    help="time the top TOP ids of the residual stream (the attribute rate's)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    model = load_model(a.model)
    rels = pararel.load(demo_path() / "pararel")
    facts = 1
    while True:  # enough facts per relation for the requested number of queries
        qs = pararel_queries(model, rels, 0, max_facts=facts)
        if len(qs) >= a.queries or facts > 1000:
            break
        facts *= 2
    qs = qs[:a.queries]
    t0 = time.perf_counter()
    acts = capture(model, [q.prompt for q in qs], keep=("attn_out", "mlp_out", "resid"),
                   logits=True, progress=False)
    t_cap = time.perf_counter() - t0
    x = torch.cat([acts.attn_out, acts.mlp_out], dim=1)  # [n, 2 n_layers, d_model]
    if a.top:
        x = acts.resid[:, 1:]  # [n, n_layers, d_model], as the attribute rate projects it
    pruned_applies = lens._prunable_unembedding(model)[0] is not None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {model.name}: vocabulary "
          f"{model.d_vocab:,}, d_model {model.d_model}; inputs: real "
          f"{'resid (top ' + str(a.top) + ')' if a.top else 'attn_out + mlp_out'} of "
          f"{len(qs)} PARAREL queries ({x.shape[0]} x {x.shape[1]} = {x.shape[0] * x.shape[1]:,} "
          f"vectors, captured in {t_cap:.1f} s); normed={a.normed}, chunk_size {a.chunk_size}; "
          f"pruned path applies: {pruned_applies}")

    def full() -> torch.Tensor:
        if a.top:
            return lens.top_ids(model, x, a.top, normed=a.normed, chunk_size=a.chunk_size,
                                method="full")
        return lens.argmax(model, x, normed=a.normed, chunk_size=a.chunk_size, method="full")

    def fast() -> torch.Tensor:
        if a.top:
            return lens.top_ids(model, x, a.top, normed=a.normed, chunk_size=a.chunk_size)
        return lens.argmax(model, x, normed=a.normed, chunk_size=a.chunk_size)

    t0 = time.perf_counter()
    new_first = fast()  # builds the bf16 unembedding (cached for the model's lifetime)
    t_first = time.perf_counter() - t0
    new, t_new = timed(fast, a.repeats)
    old, t_old = timed(full, a.repeats)
    same = torch.equal(old, new) and torch.equal(old, new_first)
    if a.top:  # the attribute rate's projection before top_ids: every logit, torch.topk's order
        before, t_before = timed(lambda: lens.top_k(model, x, k=a.top, normed=a.normed,
                                                    chunk_size=a.chunk_size, decode=False).ids, 1)
        print(f"  lens.top_k (ids, probabilities: the attribute rate before) {t_before[0]:8.2f} s; "
              f"/ pruned top_ids: {t_before[0] / statistics.median(t_new):.2f}x; same ids in the "
              f"same order: {torch.equal(before, new)}")
    t_o, t_n = statistics.median(t_old), statistics.median(t_new)
    flop = 2 * x.shape[0] * x.shape[1] * model.d_model * model.d_vocab
    what = f"top {a.top}" if a.top else "argmax"
    print(f"  full float32 matmul {what:<8} {t_o:8.2f} s  ({flop / t_o / 1e9:6.1f} GFLOP/s)   "
          f"runs: {', '.join(f'{t:.2f}' for t in t_old)}")
    print(f"  pruned {what:<8}, first call {t_first:8.2f} s  (includes building the bf16 weights)")
    print(f"  pruned {what:<8}, later calls {t_n:8.2f} s   "
          f"runs: {', '.join(f'{t:.2f}' for t in t_new)}")
    print(f"  full / pruned: {t_o / t_n:.2f}x (first call: {t_o / t_first:.2f}x); identical "
          f"token ids: {same} ({old.numel():,} ids)")
    if not same:
        raise SystemExit(f"the pruned {what} differs from the full matmul")
    if a.top:
        kept_before, t_kb = timed(lambda: _filtered_full_ranking(model, x.reshape(-1, x.shape[-1]),
                                                                 a.normed, a.chunk_size), 1)
        t0 = time.perf_counter()
        keepable_vocabulary(model)
        t_vocab = time.perf_counter() - t0
        kept_now, t_kn = timed(lambda: _kept_top_tokens(
            model, x.reshape(-1, x.shape[-1]), top=50, candidates=100, normed=a.normed,
            chunk_size=a.chunk_size), a.repeats)
        t_now = statistics.median(t_kn)
        print(f"  attribute ranking (50 kept tokens per row): whole vocabulary, filtered "
              f"{t_kb[0]:8.2f} s; keepable tokens only {t_now:8.2f} s (+ {t_vocab:.2f} s once per "
              f"model to decode the vocabulary): {t_kb[0] / t_now:.2f}x "
              f"({t_kb[0] / (t_now + t_vocab):.2f}x with the decoding); identical kept tokens: "
              f"{kept_before == kept_now}")
        if kept_before != kept_now:
            raise SystemExit("the attribute ranking differs")
        return
    preds = acts.logits.argmax(-1)[:, None]
    ev_before, t_eb = timed(lambda: lens.argmax(model, x, normed=a.normed, chunk_size=a.chunk_size)
                            == preds, a.repeats)
    ev_now, t_en = timed(lambda: lens.is_argmax(model, x, preds, normed=a.normed,
                                                chunk_size=a.chunk_size), a.repeats)
    t_b, t_w = statistics.median(t_eb), statistics.median(t_en)
    print(f"  extraction events (argmax == prediction): pruned argmax {t_b:8.2f} s, is_argmax "
          f"{t_w:8.2f} s: {t_b / t_w:.2f}x ({t_o / t_w:.2f}x the full matmul); "
          f"{int(ev_now.sum())} events of {ev_now.numel():,}; identical events: "
          f"{torch.equal(ev_before, ev_now)}")
    if not torch.equal(ev_before, ev_now):
        raise SystemExit("is_argmax differs from argmax == prediction")


def _filtered_full_ranking(model, x: torch.Tensor, normed: bool, chunk_size: int) -> list[list[str]]:
    """The attribute rate's ranking before: the top 500 ids over the whole vocabulary, decoded
    and filtered, widened x8 for the rows with fewer than 50 kept tokens."""
    words, decoded = stopwords(), {}
    kept: list[list[str]] = [[] for _ in range(x.shape[0])]
    todo, k = list(range(x.shape[0])), min(500, model.d_vocab)
    while todo:
        ids = lens.top_ids(model, x[todo], k, normed=normed, chunk_size=chunk_size)
        new = sorted(set(torch.unique(ids).tolist()) - decoded.keys())
        decoded.update(zip(new, model.tokenizer.batch_decode([[i] for i in new],
                                                             skip_special_tokens=True)))
        short = []
        for row, id_row in zip(todo, ids.tolist()):
            kept[row] = filter_tokens((decoded[i] for i in id_row), words, limit=50)
            if len(kept[row]) < 50:
                short.append(row)
        if k >= model.d_vocab:
            break
        todo, k = short, min(k * 8, model.d_vocab)
    return kept


if __name__ == "__main__":
    main()
