"""Scoring answers with a model: candidate-restricted argmax, PARAREL predictions, MMLU letters.

With :mod:`interp.capture` this is the only module that runs models. It turns prompts into the
model-independent inputs of :mod:`interp.analyses.consistency` (predicted objects, letter
log-probabilities).

**Candidate-restricted prediction** (the default for PARAREL). A query's prediction is the
candidate object ``c`` (the relation's set of gold objects) with the highest log-probability of
its whole token sequence after the prompt, ``log P(c | prompt) = sum_t log P(c_t | prompt, c_<t)``
(no length normalisation: the probability that the model generates exactly that string).
Elazar et al. (2021) score BERT-style masked LMs on objects that are a single word piece (the
PARAREL tuples were filtered to such objects) and restrict the prediction to the relation's
candidate set; for single-token objects the two definitions coincide. Causal LMs split many
objects into several tokens (SmolLM2: 40 of 251 capitals), so the whole-sequence probability is the
faithful extension; Fierro et al. (2024) take "the top-1 prediction" without more detail.
``restrict=False`` gives the other common reading: the unrestricted first-token argmax over the
vocabulary (correct when it equals the gold object's first token).

**Candidate tokens.** A candidate continues the prompt after a space: its tokens are those of
``" " + candidate`` without special tokens (``ĠParis`` for SmolLM2's byte-level BPE, ``▁Paris``
for Gemma). Both tokenizers split words at whitespace before merging, so these are exactly the
tokens that follow the prompt's own tokens in ``tokenize(prompt + " " + candidate)``;
:func:`boundary_mismatches` checks it (0 mismatches on 59,400 PARAREL (prompt, object) pairs of
P36/P103/P176 for both offline models). Tokenizing each candidate once, independently of the
query, is what lets all queries of a relation share one candidate table.

**Exact and cheap** (:func:`score_candidates`). Every token log-probability is <= 0, so a
candidate's total never exceeds its first-token log-probability. Candidates are visited in order
of first-token log-probability and scoring stops when none left can win (ties are broken towards
the earlier candidate, as ``argmax`` does). Single-token candidates cost nothing beyond the
prompt's logits (Gemma-3's 262k vocabulary makes every PARAREL object a single token). For the
remaining multi-token candidates the prompt's key/value cache is reused: the prompt prefix shared
by all queries (chat template, instruction) is run once, each query's own tokens once (batched,
grouped by length so that no padding is needed), and the candidates' continuation tokens as
batched forwards on copies of that cache. When the first-token log-probabilities are given (from
the PARAREL capture's final logits), only queries that still have a multi-token candidate in the
race are run at all. :func:`naive_score_candidates` is the reference (one forward per query and
one per candidate); the two agree exactly on the argmax.

The cached forwards call the Hugging Face model that the bridge wraps (``model.hf_model``: same
weights, same logits as ``model.bridge``; a test checks it).

Example:
    >>> from interp import load_model
    >>> model = load_model("smollm2-135m-instruct")  # doctest: +SKIP
    >>> s = score_candidates(model, ["The capital of France is"], ["Paris", "Rome", "New York"])  # doctest: +SKIP
    >>> s.best, s.n_scored  # doctest: +SKIP
    ([0], [0])
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from interp.capture import Activations, capture, pad_left, tokenize_prompts
from interp.models import Model

LETTERS = "ABCD"


# --------------------------------------------------------------------------------------------
# candidate tokens


def continuation_text(candidate: str) -> str:
    """The text that follows the prompt: ``" " + candidate`` (unless it starts with a space).

    Example:
        >>> continuation_text("Paris")
        ' Paris'
    """
    return candidate if candidate.startswith(" ") else " " + candidate


def candidate_token_ids(model: Model, candidates: Sequence[str]) -> list[list[int]]:
    """Token ids of each candidate's continuation (``" " + candidate``, no special tokens).

    Raises ``ValueError`` naming a candidate that is empty or has no tokens.

    Example:
        >>> candidate_token_ids(model, ["Paris", "New York"])  # SmolLM2  # doctest: +SKIP
        [[7042], [1315, 2863]]
    """
    out = []
    for c in candidates:
        if not c.strip():
            raise ValueError(f"candidates: empty candidate {c!r}")
        ids = list(model.tokenizer(continuation_text(c), add_special_tokens=False)["input_ids"])
        if not ids:
            raise ValueError(f"candidates: {c!r} has no tokens")
        out.append(ids)
    return out


def boundary_mismatches(model: Model, prompts: Sequence[str], candidates: Sequence[str]) -> int:
    """How many (prompt, candidate) pairs tokenize differently jointly than separately, i.e.
    ``tokenize(prompt + " " + c) != tokenize(prompt) + candidate_token_ids(c)`` (0 expected)."""
    cids = candidate_token_ids(model, candidates)
    bad = 0
    for p in prompts:
        head = model.tokenize(p)
        for c, ids in zip(candidates, cids):
            bad += model.tokenize(p + continuation_text(c)) != head + ids
    return bad


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class CandidateScores:
    """The restricted argmax of each query.

    Attributes:
        best: index of the winning candidate in each query's candidate list.
        best_logprob: its total log-probability.
        n_scored: multi-token candidates whose continuation had to be run, per query.
        n_candidates: candidates per query.
        scores: every candidate's total log-probability (only with ``exhaustive=True``).
    """

    best: list[int]
    best_logprob: list[float]
    n_scored: list[int]
    n_candidates: list[int]
    scores: list[list[float]] | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"best": self.best, "best_logprob": self.best_logprob, "n_scored": self.n_scored,
                "n_candidates": self.n_candidates, "scores": self.scores}

    @classmethod
    def from_dict(cls, d: dict) -> "CandidateScores":
        return cls(**d)


# --------------------------------------------------------------------------------------------
# helpers


def _per_query_candidates(candidates: Sequence[str] | Sequence[Sequence[str]], n: int
                          ) -> list[Sequence[str]]:
    if len(candidates) == 0:
        raise ValueError("candidates: empty")
    if isinstance(candidates[0], str):
        return [candidates] * n  # type: ignore[list-item]
    if len(candidates) != n:
        raise ValueError(f"candidates: got {len(candidates)} candidate lists for {n} prompts")
    return list(candidates)  # type: ignore[arg-type]


@dataclass
class _CandidateSet:
    strings: tuple[str, ...]
    tokens: list[list[int]]
    first: Tensor  # [n_c] first token of each candidate
    multi: list[int]  # indices of multi-token candidates


def _candidate_sets(model: Model, per_query: list[Sequence[str]]) -> tuple[list[_CandidateSet], list[int]]:
    """Deduplicate the candidate lists: (tables, table index of each query)."""
    tables: list[_CandidateSet] = []
    index: dict[tuple[str, ...], int] = {}
    which = []
    for i, cands in enumerate(per_query):
        key = tuple(cands)
        if not key:
            raise ValueError(f"candidates of prompt {i}: empty list")
        if key not in index:
            toks = candidate_token_ids(model, key)
            index[key] = len(tables)
            tables.append(_CandidateSet(key, toks, torch.tensor([t[0] for t in toks]),
                                        [j for j, t in enumerate(toks) if len(t) > 1]))
        which.append(index[key])
    return tables, which


def _common_prefix(ids: list[list[int]]) -> int:
    """Length of the longest common token prefix, leaving every prompt >= 1 own token."""
    n = min(len(x) for x in ids) - 1
    first = ids[0]
    for x in ids[1:]:
        k = 0
        while k < n and x[k] == first[k]:
            k += 1
        n = k
        if n == 0:
            break
    return max(n, 0)


def _fork(cache: Any, rows: Tensor) -> Any:
    """A copy of a key/value cache holding the given batch rows (repeats allowed); ``cache``
    itself is left untouched (the cache layers replace, never modify, their tensors)."""
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    new.batch_select_indices(rows)
    return new


def _log_softmax(x: Tensor) -> Tensor:
    return torch.log_softmax(x.float(), dim=-1)


class _Runner:
    """Cached forwards of the Hugging Face model: the shared prefix once, then batches of the
    prompts' own tokens (left-padded between the prefix and the tokens: masked out, with explicit
    position ids, so every prompt's tokens sit at their true positions), then continuations
    (right-padded: causal attention never looks ahead, so the padding is invisible)."""

    def __init__(self, model: Model, ids: list[list[int]], use_prefix: bool = True):
        self.hf = model.hf_model
        self.device = model.device
        self.pad = model.pad_token_id
        self.ids = ids
        self.p = _common_prefix(ids) if use_prefix else 0
        self.prefix_cache = None
        if self.p > 0:
            toks = torch.tensor([ids[0][: self.p]], device=self.device)
            self.prefix_cache = self.hf(input_ids=toks, use_cache=True, logits_to_keep=1).past_key_values

    def suffix(self, queries: list[int]) -> tuple[Any, Float[Tensor, "b d_vocab"]]:
        """Run the own tokens of ``queries`` after the shared prefix; return the cache (with
        the padding and the real lengths kept on ``self``) and next-token log-probabilities."""
        own = [self.ids[i][self.p:] for i in queries]
        toks, mask = pad_left(own, self.pad, self.device)
        width = toks.shape[1]
        lengths = torch.tensor([len(x) for x in own], device=self.device)
        self.mask = torch.cat([torch.ones(len(own), self.p, dtype=torch.long, device=self.device),
                               mask], dim=1)
        self.ends = self.p + lengths  # position of each row's first continuation token
        pos = (self.p + torch.arange(width, device=self.device)[None] - (width - lengths)[:, None])
        past = None
        if self.prefix_cache is not None:
            past = _fork(self.prefix_cache, torch.zeros(len(own), dtype=torch.long, device=self.device))
        out = self.hf(input_ids=toks, attention_mask=self.mask, position_ids=pos.clamp(min=0),
                      past_key_values=past, use_cache=True, logits_to_keep=1)
        return out.past_key_values, _log_softmax(out.logits[:, -1])

    def continuation(self, cache: Any, rows: list[int], tokens: list[list[int]]) -> list[float]:
        """Sum of log P(c_t | prompt, c_<t) over t >= 1 of each candidate ``tokens[r]`` (>= 2
        tokens), continuing cache row ``rows[r]`` of the last :meth:`suffix` call."""
        width = max(len(t) for t in tokens) - 1
        inp = torch.full((len(tokens), width), self.pad, dtype=torch.long)
        tgt = torch.zeros((len(tokens), width), dtype=torch.long)
        real = torch.zeros((len(tokens), width), dtype=torch.bool)
        for r, t in enumerate(tokens):
            inp[r, : len(t) - 1] = torch.tensor(t[:-1])
            tgt[r, : len(t) - 1] = torch.tensor(t[1:])
            real[r, : len(t) - 1] = True
        idx = torch.tensor(rows, dtype=torch.long, device=self.device)
        mask = torch.cat([self.mask[idx], torch.ones(len(rows), width, dtype=torch.long,
                                                     device=self.device)], dim=1)
        pos = self.ends[idx][:, None] + torch.arange(width, device=self.device)[None]
        logits = self.hf(input_ids=inp.to(self.device), attention_mask=mask, position_ids=pos,
                         past_key_values=_fork(cache, idx), use_cache=True).logits
        lp = _log_softmax(logits).gather(-1, tgt.to(self.device)[..., None])[..., 0].double().cpu()
        return torch.where(real, lp, 0.0).sum(-1).tolist()


# --------------------------------------------------------------------------------------------
# the fast, exact restricted argmax


def score_candidates(
    model: Model,
    prompts: Sequence[str | Sequence[int]],
    candidates: Sequence[str] | Sequence[Sequence[str]],
    first_token_logprobs: Float[Tensor, "n d_vocab"] | None = None,
    *,
    batch_size: int = 32,
    exhaustive: bool = False,
    share_prefix: bool = True,
) -> CandidateScores:
    """The exact candidate-restricted argmax of each prompt (see the module docstring).

    Args:
        model: the model.
        prompts: strings (tokenized with BOS per the tokenizer) or token-id lists.
        candidates: one list shared by all prompts, or one list per prompt.
        first_token_logprobs: the next-token log-probabilities (or logits: they are normalised
            here) of each prompt, e.g. ``acts.logits`` of a capture of the same prompts at
            ``"last"``. Without them the prompts are run here (shared prefix once).
        batch_size: rows per forward.
        exhaustive: score every candidate (no pruning) and return all totals in ``scores``.
        share_prefix: run the prompts' common token prefix once (exact; on by default).

    Example:
        >>> acts = capture(model, prompts, keep=())  # doctest: +SKIP
        >>> score_candidates(model, prompts, ["Paris", "Rome"], acts.logits).best  # doctest: +SKIP
        [0, 1]
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    ids = tokenize_prompts(model, prompts)
    n = len(ids)
    tables, which = _candidate_sets(model, _per_query_candidates(candidates, n))
    if first_token_logprobs is not None and tuple(first_token_logprobs.shape) != (n, model.d_vocab):
        raise ValueError(f"first_token_logprobs: shape {tuple(first_token_logprobs.shape)}, "
                         f"expected ({n}, {model.d_vocab}) for {n} prompts")

    best = [0] * n
    best_lp = [float("-inf")] * n
    n_scored = [0] * n
    bounds: list[Tensor | None] = [None] * n
    totals: list[Tensor | None] = [None] * n
    pending: list[list[int]] = [[] for _ in range(n)]

    def init(i: int, lp: Tensor) -> None:
        """First-token bounds; exact totals of single-token candidates; the race."""
        t = tables[which[i]]
        b = lp[t.first.to(lp.device)].double().cpu()
        bounds[i] = b
        tot = torch.full_like(b, float("-inf"))
        single = torch.ones(len(b), dtype=torch.bool)
        single[t.multi] = False
        tot[single] = b[single]
        totals[i] = tot
        _update_best(i)
        order = sorted(t.multi, key=lambda j: (-float(b[j]), j))
        pending[i] = order if exhaustive else _prune(i, order)

    def _update_best(i: int) -> None:
        j = int(torch.argmax(totals[i]))  # first maximum on ties
        best[i], best_lp[i] = j, float(totals[i][j])

    def _prune(i: int, order: list[int]) -> list[int]:
        b, s, k = bounds[i], best_lp[i], best[i]
        return [j for j in order if float(b[j]) > s or (float(b[j]) == s and j < k)]

    if first_token_logprobs is not None:
        with torch.inference_mode():
            for i in range(n):
                init(i, _log_softmax(first_token_logprobs[i]))

    todo = list(range(n)) if first_token_logprobs is None else [i for i in range(n) if pending[i]]
    todo.sort(key=lambda i: len(ids[i]))  # similar lengths share a batch: little padding
    if todo:
        with torch.inference_mode():
            runner = _Runner(model, ids, share_prefix)
            for c in range(0, len(todo), batch_size):
                chunk = todo[c:c + batch_size]
                cache, lp = runner.suffix(chunk)
                if first_token_logprobs is None:
                    for r, i in enumerate(chunk):
                        init(i, lp[r])
                _race(runner, cache, chunk, tables, which, pending, totals, bounds, n_scored,
                      2 * batch_size, exhaustive, _update_best, _prune)
    return CandidateScores(
        best=best, best_logprob=best_lp, n_scored=n_scored,
        n_candidates=[len(tables[which[i]].strings) for i in range(n)],
        scores=[t.tolist() for t in totals] if exhaustive else None,  # type: ignore[union-attr]
    )


def _race(runner: _Runner, cache: Any, chunk: list[int], tables: list[_CandidateSet],
          which: list[int], pending: list[list[int]], totals: list, bounds: list,
          n_scored: list[int], row_batch: int, exhaustive: bool, update_best: Any,
          prune: Any) -> None:
    """Score the pending multi-token candidates of ``chunk`` (cache rows in chunk order) in
    rounds: each query's next best-bounded candidates (2, 4, 8, ... a round), then re-prune."""
    take = 2
    while any(pending[i] for i in chunk):
        rows: list[tuple[int, int, int]] = []  # (cache row, query, candidate)
        for r, i in enumerate(chunk):
            now, pending[i] = pending[i][:take], pending[i][take:]
            rows += [(r, i, j) for j in now]
        rows.sort(key=lambda x: len(tables[which[x[1]]].tokens[x[2]]))
        for s in range(0, len(rows), row_batch):
            part = rows[s:s + row_batch]
            rest = runner.continuation(cache, [r for r, _, _ in part],
                                       [tables[which[i]].tokens[j] for _, i, j in part])
            for (_, i, j), v in zip(part, rest):
                totals[i][j] = float(bounds[i][j]) + v
                n_scored[i] += 1
        for i in chunk:
            update_best(i)
            if not exhaustive:
                pending[i] = prune(i, pending[i])
        take *= 2


# --------------------------------------------------------------------------------------------
# the naive reference


def naive_score_candidates(
    model: Model,
    prompts: Sequence[str | Sequence[int]],
    candidates: Sequence[str] | Sequence[Sequence[str]],
    *,
    prune: bool = False,
) -> CandidateScores:
    """Reference implementation: one forward for the query, then one forward of
    ``prompt + candidate`` per candidate (batch 1, no cache). With ``prune=True`` candidates are
    visited in first-token order and the loop stops by the bound rule (the exact pruning rule
    without any other optimisation). Used by the tests and ``benchmarks/pararel.py``.
    """
    ids = tokenize_prompts(model, prompts)
    tables, which = _candidate_sets(model, _per_query_candidates(candidates, len(ids)))
    hf, dev = model.hf_model, model.device
    out = CandidateScores([], [], [], [], None if prune else [])
    with torch.inference_mode():
        for i, p in enumerate(ids):
            t = tables[which[i]]
            lp1 = _log_softmax(hf(input_ids=torch.tensor([p], device=dev)).logits[0, -1])
            b = [float(lp1[tok[0]]) for tok in t.tokens]
            order = sorted(range(len(b)), key=lambda j: (-b[j], j)) if prune else range(len(b))
            tot = [float("-inf")] * len(b)
            best_j, best_s, scored = 0, float("-inf"), 0
            for j in order:
                if prune and (b[j] < best_s or (b[j] == best_s and j > best_j)):
                    break
                tok = t.tokens[j]
                full = torch.tensor([p + tok], device=dev)
                lp = _log_softmax(hf(input_ids=full).logits[0, len(p) - 1:-1])
                tot[j] = float(lp.gather(-1, torch.tensor(tok, device=dev)[:, None]).double().sum())
                scored += len(tok) > 1
                if tot[j] > best_s or (tot[j] == best_s and j < best_j):
                    best_j, best_s = j, tot[j]
            out.best.append(best_j)
            out.best_logprob.append(best_s)
            out.n_scored.append(scored)
            out.n_candidates.append(len(b))
            if out.scores is not None:
                out.scores.append(tot)
    return out


# --------------------------------------------------------------------------------------------
# PARAREL


@dataclass(frozen=True)
class ParaRelPredictions:
    """Per-query PARAREL predictions, aligned with the queries.

    Attributes:
        objects: the predicted object (restricted) or decoded first token (unrestricted).
        correct: whether it is the gold object (unrestricted: the gold object's first token).
        logprob: log-probability of the prediction (whole sequence / first token).
        restrict: which definition produced them.
    """

    objects: list[str]
    correct: list[bool]
    logprob: list[float]
    restrict: bool = True

    def to_dict(self) -> dict:
        return {"objects": self.objects, "correct": self.correct, "logprob": self.logprob,
                "restrict": self.restrict}

    @classmethod
    def from_dict(cls, d: dict) -> "ParaRelPredictions":
        return cls(**d)


def _candidates_of(relation: Any) -> Sequence[str]:
    return relation.candidates if hasattr(relation, "candidates") else relation


def predict_pararel(
    model: Model,
    queries: Sequence[Any],
    acts_last: Activations | None = None,
    *,
    candidates: Mapping[str, Any] | None = None,
    restrict: bool = True,
    batch_size: int = 32,
) -> ParaRelPredictions:
    """Top-1 object of each :class:`~interp.queries.ParaRelQuery`.

    Args:
        queries: the queries (one prompt each).
        acts_last: a capture of the same prompts at ``"last"`` with logits: its final logits
            give the first-token log-probabilities (no prompt is run again unless a multi-token
            candidate is still in the race). Without it the prompts are run here.
        candidates: ``{relation id: Relation or list of objects}``; required with ``restrict``.
        restrict: candidate-restricted whole-object argmax (default) or the unrestricted
            first-token argmax over the vocabulary.

    Example:
        >>> acts = capture(model, [q.prompt for q in qs], keep=())  # doctest: +SKIP
        >>> predict_pararel(model, qs, acts, candidates=rels).objects[:2]  # doctest: +SKIP
        ['Paris', 'Paris']
    """
    if not queries:
        raise ValueError("queries: empty")
    prompts = [q.prompt for q in queries]
    if acts_last is not None and (acts_last.logits is None or len(acts_last) != len(queries)):
        raise ValueError(f"acts_last: need final logits for the {len(queries)} queries "
                         "(capture(..., logits=True) of the same prompts at 'last')")
    if not restrict:
        return _predict_unrestricted(model, queries, acts_last, batch_size)
    if candidates is None:
        raise ValueError("candidates: required with restrict=True ({relation id: Relation})")
    missing = sorted({q.relation for q in queries} - set(candidates))
    if missing:
        raise ValueError(f"candidates: no candidate set for relation(s) {missing}")
    per_query = [tuple(_candidates_of(candidates[q.relation])) for q in queries]
    lp = acts_last.logits if acts_last is not None else None
    s = score_candidates(model, prompts, per_query, lp, batch_size=batch_size)
    objs = [per_query[i][j] for i, j in enumerate(s.best)]
    return ParaRelPredictions(objs, [o == q.object for o, q in zip(objs, queries)],
                              s.best_logprob, True)


def _predict_unrestricted(model: Model, queries: Sequence[Any], acts: Activations | None,
                          batch_size: int) -> ParaRelPredictions:
    gold = [ids[0] for ids in candidate_token_ids(model, [q.object for q in queries])]
    top: list[int] = []
    lps: list[float] = []
    chunk = 256  # bounds the [chunk, d_vocab] logits of a large vocabulary
    for s in range(0, len(queries), chunk):
        if acts is not None:
            logits = acts.logits[s:s + chunk]
        else:
            logits = capture(model, [q.prompt for q in queries[s:s + chunk]], keep=(),
                             batch_size=batch_size, progress=False).logits
        lp = _log_softmax(logits)
        v, k = lp.max(-1)
        top += k.tolist()
        lps += v.double().tolist()
    objs = [model.tokenizer.decode([t]) for t in top]
    return ParaRelPredictions(objs, [t == g for t, g in zip(top, gold)], lps, False)


# --------------------------------------------------------------------------------------------
# MMLU


def letter_token_ids(model: Model, letters: str = LETTERS) -> list[int]:
    """The tokens of the answer letters after ``"Answer:"``: ``" A"``, ``" B"``, ... when each is
    a single token (SmolLM2, Gemma, LLaMA), else the bare letters ``"A"``, ``"B"``, ... when
    those are; the same form for all letters. Raises ``ValueError`` when neither is.

    Example:
        >>> letter_token_ids(model)  # SmolLM2  # doctest: +SKIP
        [330, 389, 340, 422]
    """
    for form in (" {}", "{}"):
        ids = [model.tokenizer(form.format(x), add_special_tokens=False)["input_ids"] for x in letters]
        if all(len(t) == 1 for t in ids):
            return [t[0] for t in ids]
    raise ValueError(f"letters {letters!r}: neither ' A' nor 'A' is a single token for each "
                     f"letter in {model.name}'s tokenizer")


def mmlu_letter_logprobs(
    model: Model, prompts: Sequence[str], *, batch_size: int = 16, chunk: int = 256
) -> Float[Tensor, "n 4"]:
    """Log-probabilities of ``" A"``..``" D"`` as the next token of each prompt (prompts end in
    ``"Answer:"``, see :func:`interp.prompts.mmlu_prompt`): the last-position logits of one
    capture with ``keep=()`` (no extra forward), log-softmax over the whole vocabulary.

    Example:
        >>> mmlu_letter_logprobs(model, [mmlu_prompt(model, 0, "astronomy", q, choices)])  # doctest: +SKIP
        tensor([[-1.2, -1.9, -2.3, -2.0]])
    """
    if not prompts:
        raise ValueError("prompts: empty")
    letters = torch.tensor(letter_token_ids(model))
    parts = []
    for s in range(0, len(prompts), chunk):
        acts = capture(model, list(prompts[s:s + chunk]), keep=(), batch_size=batch_size,
                       progress=False)
        parts.append(_log_softmax(acts.logits)[:, letters])
    return torch.cat(parts)


def run_mmlu(model: Model, questions: Sequence[Any], *, n_orderings: int = 3, seed: int = 0,
             batch_size: int = 16) -> Any:
    """MMLU accuracy and spread of ``model`` (3 instructions x ``n_orderings``), zero-shot.

    Example:
        >>> from interp.data import mmlu
        >>> run_mmlu(model, mmlu.load(path, subjects=["astronomy"], limit=10)).spread  # doctest: +SKIP
    """
    from interp.analyses.consistency import mmlu_setups, mmlu_spread
    from interp.data.mmlu import subject_name
    from interp.prompts import mmlu_prompt

    setups = mmlu_setups(questions, n_orderings=n_orderings, seed=seed)
    prompts = [mmlu_prompt(model, s.instruction, subject_name(q.subject), q.question, q.choices)
               for s, qs in setups for q in qs]
    lp = mmlu_letter_logprobs(model, prompts, batch_size=batch_size)
    k = len(questions)
    return mmlu_spread([qs for _, qs in setups], [lp[i * k:(i + 1) * k] for i in range(len(setups))],
                       [s for s, _ in setups])


def run_pararel(model: Model, relations: Mapping[str, Any], prompt_indices: Sequence[int] = (0, 1, 2),
                *, max_facts: int | None = None, seed: int = 0, restrict: bool = True,
                batch_size: int = 32) -> Any:
    """PARAREL accuracy and consistency of ``model`` in each of Table 3's prompts, and the mean
    and standard deviation over prompts (:class:`~interp.analyses.consistency.ParaRelOverPrompts`).

    Example:
        >>> from interp.data import pararel
        >>> run_pararel(model, pararel.load(path, relations=["P36"]), max_facts=20).consistency  # doctest: +SKIP
    """
    from interp.analyses.consistency import combine_prompts, pararel_consistency
    from interp.queries import pararel_queries

    out = []
    for p in prompt_indices:
        qs = pararel_queries(model, relations, p, max_facts=max_facts, seed=seed)
        preds = predict_pararel(model, qs, candidates=relations, restrict=restrict,
                                batch_size=batch_size)
        out.append(pararel_consistency(qs, preds, prompt_index=p))
    return combine_prompts(out)
