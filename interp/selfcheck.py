"""Run-time self-check: before a sweep or the demo trusts a model, its fast paths must equal a
plain forward on a few of the sweep's own prompts.

The fast paths (shared-prefix key/value caches, batching with padding, forwards stopped at the
final norm, pruned candidate scoring) are exact by design, and ``tests/oracle`` checks them against
plain Hugging Face forwards. But a library release can break an assumption silently (transformers
5.24 left the cache empty through the bridge), so each sweep checks again on its own prompts and
its own model, with the installed libraries:

* ``bos_once``: every sample prompt starts with BOS exactly when the tokenizer adds one, and
  holds it once (a chat template that renders BOS itself must not make it twice);
* ``capture``: :func:`~interp.capture.capture` (batched, padded, shared prefix) gives the
  residual stream, the final-normed vector and the logits of a plain, unpadded, uncached forward
  of each prompt alone, within 1e-3 of each vector's scale (its largest entry, when above 1;
  float32; looser for half precision);
* ``answer_tokens``: each answer is scored on the tail of the joint tokenization
  ``prompt + " " + answer``, and :func:`~interp.scoring.score_candidates` (cached, pruned) picks
  the candidate that exhaustive teacher forcing picks;
* ``letters``: the MMLU letters are one token each after ``"Answer:"``.

For an encoder-decoder (T5) ``capture`` and ``answer_tokens`` compare against plain
encoder-decoder forwards (:func:`interp.seq2seq.check_capture`, :func:`~interp.seq2seq.check_answers`)
and a ``kv_cache`` entry records that no key/value cache is reused there (the causal cache probe
is skipped).

A failed check raises :class:`SelfCheckError` naming the model, the check, the sample and the
library versions; the sweep then stores nothing for that model. A passed check is recorded in
every unit the sweep stores (``meta.self_check``).

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("llama")
    >>> r = verify(model, {"demo": ["The capital of France is", "Rome is the capital of"]},
    ...            candidates={"demo": ["Paris", "Italy", "New York"]})
    >>> r.passed, [c.name for c in r.checks]
    (True, ['bos_once', 'capture', 'answer_tokens'])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from interp.models import Model

#: float32 tolerance of the vector and logit comparisons
ATOL = 1e-3


class SelfCheckError(RuntimeError):
    """A fast path disagreed with a plain forward: the model's results would be wrong."""


@dataclass(frozen=True)
class Check:
    """One check: its name, whether it passed, what was compared and the worst sample."""

    name: str
    passed: bool
    detail: str
    sample: str = ""


@dataclass(frozen=True)
class SelfCheck:
    """The self-check of one model: every check, the library versions and the time it took."""

    model: str
    checks: list[Check]
    versions: dict[str, str | None]
    seconds: float
    n_prompts: int = 0
    cache_reused: bool = True

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "SelfCheck":
        d = dict(d)
        d.pop("passed", None)
        d["checks"] = [Check(**c) for c in d["checks"]]
        return cls(**d)

    def raise_if_failed(self) -> "SelfCheck":
        bad = [c for c in self.checks if not c.passed]
        if bad:
            c = bad[0]
            versions = ", ".join(f"{k} {v}" for k, v in self.versions.items() if v)
            raise SelfCheckError(
                f"model {self.model!r} failed the self-check {c.name!r}: {c.detail}\n"
                f"  sample: {c.sample}\n  versions: {versions}\n"
                "Nothing is computed for this model. Install the tested versions "
                "(requirements/lock.txt), or report the model and versions.")
        return self


def _short(text: str, n: int = 160) -> str:
    return repr(text if len(text) <= n else text[:n] + "...")


def _check_bos(model: Model, prompts: Sequence[str]) -> Check:
    bos = model.tokenizer.bos_token_id
    if bos is None:
        return Check("bos_once", True, "the tokenizer has no BOS token")
    for p in prompts:
        ids = model.tokenize(p)
        lead = next((i for i, t in enumerate(ids) if t != bos), len(ids))  # leading BOS tokens
        want_first = model.prepends_bos or p.startswith(model.tokenizer.bos_token)
        if lead > 1 or (want_first and lead != 1):
            return Check("bos_once", False, f"the prompt starts with {lead} BOS tokens "
                         f"(expected {int(want_first)})", _short(p))
    return Check("bos_once", True, f"{len(prompts)} prompts, BOS "
                 f"{'once, first' if model.prepends_bos else 'not added'}")


def _plain_forward(model: Model, rows: Sequence[Sequence[int]], at: Sequence[Sequence[int]]
                   ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """One uncached forward of token rows, RIGHT-padded (causal attention never looks ahead, and
    position ids count from 0 as in an unpadded forward): ``(hidden_states, logits)`` with the
    logits only at the positions in ``at`` (their union, ``[b, k, d_vocab]``, in sorted order).

    An independent path from capture's (left padding, shared-prefix cache, stopped forward)."""
    width = max(len(r) for r in rows)
    toks = torch.full((len(rows), width), model.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        toks[i, : len(r)] = torch.tensor(list(r))
        mask[i, : len(r)] = 1
    keep = torch.tensor(sorted({p for ps in at for p in ps}), device=model.device)
    with torch.inference_mode():
        out = model.hf_model(input_ids=toks.to(model.device), attention_mask=mask.to(model.device),
                             output_hidden_states=True, use_cache=False, logits_to_keep=keep)
    return [h.float().cpu() for h in out.hidden_states], out.logits.float().cpu()


def _check_capture(model: Model, prompts: Sequence[str], atol: float) -> Check:
    from interp.capture import capture

    acts = capture(model, list(prompts), keep=("resid",), batch_size=max(2, len(prompts) // 2),
                   progress=False)
    last = [len(t) - 1 for t in acts.tokens]
    hs, logits = _plain_forward(model, acts.tokens, [[x] for x in last])
    column = {p: j for j, p in enumerate(sorted(set(last)))}
    worst, where = 0.0, ""
    L = model.n_layers
    for i, p in enumerate(prompts):
        n = last[i]
        # hidden_states[l] for l < L is the residual before block l; the last entry is final-normed
        errs = {
            "resid": relative_error(acts.resid[i, :L], torch.stack([h[i, n] for h in hs[:L]])),
            "final": relative_error(acts.final[i], hs[L][i, n]),
            "logits": relative_error(acts.logits[i], logits[i, column[n]]),
        }
        kind, err = max(errs.items(), key=lambda kv: kv[1])
        if not err <= worst:
            worst, where = err, f"{kind} of {_short(p)}"
    ok = worst <= atol
    return Check("capture", ok, f"max |capture - plain forward| / max(1, |plain|) = {worst:.2e} "
                 f"(tolerance {atol:g}) over {len(prompts)} prompts", where if not ok else "")


def tolerance(model: Model) -> float:
    """The comparisons' tolerance: :data:`ATOL` in float32, 5e-2 in half precision."""
    return ATOL if model.dtype == torch.float32 else 5e-2


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest difference, relative to each vector's largest entry when that exceeds 1 (float32
    keeps ~7 digits: Gemma-3's residual stream reaches 1e4, so absolute 1e-3 is float noise)."""
    scale = want.abs().amax(dim=-1, keepdim=True).clamp(min=1.0)
    return float(((got - want).abs() / scale).max())


def _check_answers(model: Model, prompts: Sequence[str], candidates: Sequence[str],
                   atol: float) -> Check:
    from interp.scoring import continuation_text, continuation_tokens, score_candidates

    fast = score_candidates(model, list(prompts), list(candidates))
    # exhaustive teacher forcing on each joint tokenization ``prompt + " " + candidate``: every
    # (prompt, candidate) is one row of a plain forward, scored from where it leaves the prompt
    rows, starts = [], []
    for p in prompts:
        c = continuation_tokens(model, p, [continuation_text(x) for x in candidates])
        rows += [c.joint(j) for j in range(len(candidates))]
        starts += c.start
    need = [list(range(k - 1, len(r) - 1)) for r, k in zip(rows, starts)]
    _, logits = _plain_forward(model, rows, need)
    column = {p: j for j, p in enumerate(sorted({p for ps in need for p in ps}))}
    lp = torch.log_softmax(logits.double(), -1)
    totals = [float(sum(lp[r, column[t - 1], rows[r][t]] for t in range(starts[r], len(rows[r]))))
              for r in range(len(rows))]
    n = len(candidates)
    for i, p in enumerate(prompts):
        want = totals[i * n:(i + 1) * n]
        best = max(range(n), key=lambda j: (want[j], -j))
        if want[fast.best[i]] < want[best] - atol or abs(fast.best_logprob[i] - want[best]) > atol:
            return Check("answer_tokens", False,
                         f"the fast scoring picks {candidates[fast.best[i]]!r} "
                         f"({fast.best_logprob[i]:.4f}), teacher forcing {candidates[best]!r} "
                         f"({want[best]:.4f})", _short(p))
    merged = sum(fast.n_merged)
    return Check("answer_tokens", True, f"{len(prompts)} prompts x {len(candidates)} candidates: "
                 f"the same argmax as exhaustive teacher forcing ({merged} merged boundaries)")


def _check_letters(model: Model, prompts: Sequence[str]) -> Check:
    from interp.scoring import letter_token_ids

    try:
        for p in prompts:
            letter_token_ids(model, p)
    except ValueError as e:
        return Check("letters", False, str(e), _short(prompts[0]))
    return Check("letters", True, f"{len(prompts)} prompts: one token per letter")


def guard(name: str, check: Callable[..., Check], *args: Any) -> Check:
    """Run a check; an error inside it (e.g. a cache that stays empty) fails that check."""
    try:
        return check(*args)
    except Exception as e:  # noqa: BLE001 - reported as the check's failure, with its reason
        return Check(name, False, f"{type(e).__name__}: {e}")


def verify(model: Model, prompts: Mapping[str, Sequence[str]], *,
           candidates: Mapping[str, Sequence[str]] | None = None,
           letters: Sequence[str] = (), atol: float | None = None) -> SelfCheck:
    """Check the fast paths on a sample of prompts (see the module docstring).

    Args:
        model: the model.
        prompts: ``{what: prompts}`` (e.g. ``{"pararel/P36/prompt 0": [...]}``): the capture
            and BOS checks run on all of them, the answer check on those with candidates.
        candidates: ``{what: candidate answers}`` for the prompts of the same name.
        letters: MMLU prompts ending in ``"Answer:"``.
        atol: tolerance; default 1e-3 in float32, 5e-2 in half precision.

    Returns:
        a :class:`SelfCheck`; call ``raise_if_failed()`` to stop on a failure.
    """
    from interp.kv_cache import cache_works
    from interp.results import package_versions

    t0 = time.perf_counter()
    tol = atol if atol is not None else tolerance(model)
    every = [p for ps in prompts.values() for p in ps] + list(letters)
    if not every:
        raise ValueError("self-check: no sample prompts")
    check_capture, check_answers = _check_capture, _check_answers
    if model.is_encoder_decoder:  # the same checks against plain encoder-decoder forwards
        from interp import seq2seq

        check_capture, check_answers = seq2seq.check_capture, seq2seq.check_answers
    checks = [guard("bos_once", _check_bos, model, every),
              guard("capture", check_capture, model, every, tol)]
    if model.is_encoder_decoder:
        checks.append(seq2seq.kv_cache_check())
    answer = {k: v for k, v in (candidates or {}).items() if prompts.get(k)}
    if answer:
        results = [guard("answer_tokens", check_answers, model, prompts[k], c, tol)
                   for k, c in answer.items()]
        bad = [r for r in results if not r.passed]
        checks.append(bad[0] if bad else Check("answer_tokens", True, "; ".join(
            r.detail for r in results)))
    if letters:
        checks.append(guard("letters", _check_letters, model, letters))
    return SelfCheck(model.name, checks, package_versions(), round(time.perf_counter() - t0, 3),
                     n_prompts=len(every), cache_reused=cache_works(model))
