"""Capture vs a plain forward vs ``run_with_cache`` on the same prompts, in one run.

Prints, per model: wall time of each (median of ``--repeats``), the ratios to the plain forward,
and the peak memory above the pre-call baseline (CUDA: ``max_memory_allocated``; CPU: resident
set size sampled every millisecond from /proc).

    python benchmarks/capture.py                       # both offline models
    python benchmarks/capture.py --models gemma3-270m --n-prompts 64 --batch-size 16

The plain forward is ``bridge(tokens, attention_mask=mask)``: full logits at every position,
as a user would run it. Capture keeps resid/attn_out/mlp_out at the last position of every
layer plus the final logits there; ``run_with_cache`` keeps every hook at every position.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from interp import capture, load_model
from interp.kv_cache import pad_left

WORDS = ("the quick brown fox jumps over a lazy dog while researchers study how language models "
         "store facts about cities countries languages and famous people in their layers").split()


def make_prompts(model, n: int, n_tokens: int) -> list[str]:
    """``n`` distinct prompts of about ``n_tokens`` tokens each."""
    out = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(n_tokens * 2)]
        text = " ".join(words)
        ids = model.tokenize(text)[:n_tokens]
        out.append(model.tokenizer.decode(ids, skip_special_tokens=True))
    return out


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakMemory:
    """Peak memory above the baseline at entry, for the device the model runs on."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = 0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
        else:
            self._base = _rss_bytes()
            self._stop = threading.Event()
            self._max = self._base

            def sample() -> None:
                while not self._stop.is_set():
                    self._max = max(self._max, _rss_bytes())
                    time.sleep(0.001)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self._base
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self._max, _rss_bytes()) - self._base


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> tuple[float, int]:
    """(median seconds, peak bytes of the first timed call) after one warm-up call."""
    fn()
    times, peak = [], 0
    for r in range(repeats):
        with PeakMemory(device) as mem:
            t0 = time.perf_counter()
            out = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        del out
        peak = mem.peak if r == 0 else peak
    return statistics.median(times), peak


def bench(spec: str, n_prompts: int, n_tokens: int, batch_size: int, repeats: int) -> None:
    model = load_model(spec)
    prompts = make_prompts(model, n_prompts, n_tokens)
    ids = [model.tokenize(p) for p in prompts]
    batches = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    padded = [pad_left(b, model.pad_token_id, model.device) for b in batches]

    def plain() -> list:
        with torch.inference_mode():
            return [model.bridge(t, attention_mask=m)[:, -1].float().cpu() for t, m in padded]

    def cached() -> list:
        outs = []
        with torch.inference_mode():
            for t, m in padded:
                logits, cache = model.bridge.run_with_cache(t, attention_mask=m)
                outs.append((logits[:, -1].cpu(), len(cache)))
                del cache
        return outs

    def captured() -> object:
        return capture(model, prompts, batch_size=batch_size, progress=False)

    t_plain, m_plain = timed(plain, model.device, repeats)
    t_cap, m_cap = timed(captured, model.device, repeats)
    t_cache, m_cache = timed(cached, model.device, repeats)
    mib = 1024 ** 2
    print(f"\n{spec}: {n_prompts} prompts x {n_tokens} tokens, batch {batch_size}, "
          f"{model.n_layers} layers, vocab {model.d_vocab}, device {model.device}")
    print(f"  plain forward     {t_plain:8.3f} s   peak +{m_plain / mib:8.1f} MiB")
    print(f"  capture           {t_cap:8.3f} s   peak +{m_cap / mib:8.1f} MiB")
    print(f"  run_with_cache    {t_cache:8.3f} s   peak +{m_cache / mib:8.1f} MiB")
    print(f"  capture / plain forward        time {t_cap / t_plain:5.2f}x   "
          f"peak memory {m_cap / max(m_plain, 1):5.2f}x")
    print(f"  run_with_cache / plain forward time {t_cache / t_plain:5.2f}x   "
          f"peak memory {m_cache / max(m_plain, 1):5.2f}x")


def common_parser(doc: str, *ints: tuple[str, int, str]) -> argparse.ArgumentParser:
    """A parser with the options the model benchmarks share: --models (both offline models),
    --batch-size, --repeats, --threads; and integer options ``(flag, default, help)``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    for flag, default, help_ in ints:
        ap.add_argument(flag, type=int, default=default, help=help_)
    ap.add_argument("--models", nargs="+", default=["smollm2-135m-instruct", "gemma3-270m"])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return ap


def start(a: argparse.Namespace, script: str) -> None:
    """Apply ``--threads`` and print the run's header (versions, threads, load)."""
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}; {Path(script).name}: medians of {a.repeats} runs after a "
          "warm-up")


def run_all(ap: argparse.ArgumentParser, bench_one: Callable[[str, argparse.Namespace], None],
            script: str) -> None:
    """Parse the options, apply them and run ``bench_one(spec, options)`` for each model."""
    a = ap.parse_args()
    start(a, script)
    for spec in a.models:
        bench_one(spec, a)


def print_ratio(title: str, slow: str, t_slow: float, fast: str, t_fast: float, note: str) -> None:
    """Print a title, two timings and their ratio (``slow / fast``), with a note on the results."""
    print(f"\n{title}")
    print(f"  {slow:<30} {t_slow:8.3f} s")
    print(f"  {fast:<30} {t_fast:8.3f} s")
    print(f"  ratio                          {t_slow / t_fast:8.2f}x   ({note})")


def main() -> None:
    ap = common_parser(__doc__)
    ap.add_argument("--n-prompts", type=int, default=64)
    ap.add_argument("--n-tokens", type=int, default=20)
    a = ap.parse_args()
    start(a, __file__)
    for spec in a.models:
        bench(spec, a.n_prompts, a.n_tokens, a.batch_size, a.repeats)


if __name__ == "__main__":
    main()
