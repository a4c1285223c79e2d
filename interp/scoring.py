"""Scoring answers with a model: candidate-restricted argmax, PARAREL predictions, MMLU letters.

With :mod:`interp.capture` and :mod:`interp.finetune` (BECEL's classifiers) this is one of the
three modules that run models. It turns prompts into the
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

**Candidate tokens.** A candidate continues the prompt after a space, and its tokens are the ones
the model would see: the tail of the joint tokenization ``tokenize(prompt + " " + candidate)``
after the prompt's own tokens (:func:`continuation_tokens`), never ``" " + candidate`` tokenized
alone. The two agree for byte-level BPE (SmolLM2, Gemma, GPT-2, Qwen2, Falcon, Llama 3) but not for
SentencePiece tokenizers that add a prefix space (Phi-3; Hugging Face's LLaMA-1/2 tokenizers, the
paper's models), where ``" Paris"`` alone is ``['▁', '▁Paris']`` and after a prompt ``['▁Paris']``.
Queries whose tails agree share one candidate table. Where the joint tokenization merges tokens
across the boundary (a prompt ending in a space, on SentencePiece), the candidate is scored on its
own from the joint tokens (one plain forward) and counted in ``n_merged``.

**Exact and cheap** (:func:`score_candidates`). Every token log-probability is <= 0, so a
candidate's total never exceeds its first-token log-probability. Candidates are visited in order
of first-token log-probability and scoring stops when none left can win (ties are broken towards
the earlier candidate, as ``argmax`` does). Single-token candidates cost nothing beyond the
prompt's logits (Gemma-3's 262k vocabulary makes every PARAREL object a single token). For the
remaining multi-token candidates the prompt's key/value cache is reused: the token prefix shared
by all queries (chat template, system prompt, instruction: 40 of SmolLM2's ~45 prompt tokens) is
run once, each query's own tokens once (batched; the padding sits between the shared prefix and
the query's tokens, masked out, with explicit position ids), and the candidates' continuation
tokens in batched forwards on copies of that cache, in rounds of each query's 2, 4, 8, ... next
best-bounded candidates. When the first-token log-probabilities are given (from the PARAREL
capture's final logits), only queries that still have a multi-token candidate in the race are
run at all. :func:`naive_score_candidates` is the reference (one forward per query and one per
candidate); the two agree on the argmax and on the scores up to float error (tests: tiny models,
SmolLM2). ``benchmarks/pararel.py`` (SmolLM2, P176, CPU): about 200x the naive loop's queries per
second and 10x the pruning rule applied alone.

**Encoder-decoders** (T5, FlanT5): the prompt is the encoder's input; a candidate's tokens are
the decoder's target tokens of the object without the tokenizer's EOS, teacher-forced after the
decoder's start token; the same exact pruned search runs with :class:`interp.seq2seq.Runner`
(encoder once per query, candidates batched through the decoder). MMLU letters are the first
decoder step's letter tokens. See :mod:`interp.seq2seq`.

The cached forwards call the Hugging Face model that the bridge wraps (``model.hf_model``: same
weights, same logits as ``model.bridge``; a test checks it), through :mod:`interp.kv_cache`,
which checks after every forward that the cache holds what it was fed; where a library pair
does not fill the cache, continuations run with their whole prompt instead (same numbers).

Example:
    >>> from interp import load_model
    >>> model = load_model("smollm2-135m-instruct")  # doctest: +SKIP
    >>> s = score_candidates(model, ["The capital of France is"], ["Paris", "Rome", "New York"])  # doctest: +SKIP
    >>> s.best, s.n_scored  # doctest: +SKIP
    ([0], [0])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp import kv_cache
from interp.capture import Activations, capture, check_prompts, float32_head, tokenize_prompts
from interp.kv_cache import SharedPrefix, pad_left
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


#: the word that stands before a continuation when no prompt is given (:func:`candidate_token_ids`)
_NEUTRAL_CONTEXT = "is"


@dataclass(frozen=True)
class Continuations:
    """The tokens of continuations as the model sees them after one prompt.

    Attributes:
        prompt: the prompt's own tokens.
        tokens: each continuation's tokens: the tail of the joint tokenization of
            ``prompt + continuation`` after the prompt's tokens.
        merged: per continuation, whether the joint tokenization merged tokens across the
            boundary (it does not start with the prompt's tokens); then ``tokens`` is the tail
            after the longest common prefix and ``start`` says where it begins.
        start: per continuation, the index in the joint tokens where its scored tokens begin
            (``len(prompt)`` unless merged).
    """

    prompt: list[int]
    tokens: list[list[int]]
    merged: list[bool]
    start: list[int]

    def joint(self, j: int) -> list[int]:
        """The joint tokenization of the prompt and continuation ``j``."""
        return self.prompt[: self.start[j]] + self.tokens[j]


def continuation_tokens(model: Model, prompt: str, continuations: Sequence[str]) -> Continuations:
    """The tokens of each continuation after ``prompt``: the tail of the joint tokenization
    ``tokenize(prompt + continuation)``, never the continuation tokenized alone (a SentencePiece
    tokenizer that adds a prefix space, as LLaMA-1/2's and Phi-3's, encodes ``" Paris"`` alone
    as ``['▁', '▁Paris']`` but after a prompt as ``['▁Paris']``).

    Raises ``ValueError`` naming an empty continuation or one that adds no token.

    Example:
        >>> c = continuation_tokens(model, "The capital of France is", [" Paris"])  # doctest: +SKIP
        >>> c.tokens, c.merged  # doctest: +SKIP
        ([[7042]], [False])
    """
    for c in continuations:
        if not c.strip():
            raise ValueError(f"candidates: empty candidate {c!r}")
    if model.is_encoder_decoder:  # the decoder's own target tokens (interp.seq2seq)
        from interp.seq2seq import continuations as decoder_continuations

        return decoder_continuations(model, prompt, continuations)
    head = model.tokenize(prompt)
    tails, merged, start = [], [], []
    for c, joint in zip(continuations, model.tokenize_many([prompt + c for c in continuations])):
        if joint[: len(head)] == head:
            k = len(head)
        else:
            k = next(i for i, (a, b) in enumerate(zip(joint, head)) if a != b)
            k = max(k, 1)
        if len(joint) <= k:
            raise ValueError(f"candidates: {c.strip()!r} adds no token after {prompt!r}")
        tails.append(joint[k:])
        merged.append(k != len(head))
        start.append(k)
    return Continuations(head, tails, merged, start)


def candidate_token_ids(model: Model, candidates: Sequence[str],
                        context: str = _NEUTRAL_CONTEXT) -> list[list[int]]:
    """Token ids of each candidate's continuation ``" " + candidate`` after ``context`` (the tail
    of the joint tokenization, see :func:`continuation_tokens`). Prompts given as token ids are
    scored with these.

    Raises ``ValueError`` naming a candidate that is empty or has no tokens.

    Example:
        >>> candidate_token_ids(model, ["Paris", "New York"])  # SmolLM2  # doctest: +SKIP
        [[7042], [1315, 2863]]
    """
    c = continuation_tokens(model, context, [continuation_text(x) for x in candidates])
    return c.tokens


def boundary_mismatches(model: Model, prompts: Sequence[str], candidates: Sequence[str]) -> int:
    """How many (prompt, candidate) pairs tokenize differently jointly than as
    ``tokenize(prompt) + candidate_token_ids(candidate)``: the candidate table shared by all
    queries is exact when this is 0 (otherwise each query's own tails are used)."""
    cids = candidate_token_ids(model, candidates)
    bad = 0
    for p in prompts:
        c = continuation_tokens(model, p, [continuation_text(x) for x in candidates])
        bad += sum(m or t != ids for t, ids, m in zip(c.tokens, cids, c.merged))
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
        n_merged: per query, candidates whose joint tokenization with the prompt merged tokens
            across the boundary (scored on their own, from the joint tokens).
        scores: every candidate's total log-probability (only with ``exhaustive=True``).
    """

    best: list[int]
    best_logprob: list[float]
    n_scored: list[int]
    n_candidates: list[int]
    n_merged: list[int] = field(default_factory=list)
    scores: list[list[float]] | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"best": self.best, "best_logprob": self.best_logprob, "n_scored": self.n_scored,
                "n_candidates": self.n_candidates, "n_merged": self.n_merged,
                "scores": self.scores}

    @classmethod
    def from_dict(cls, d: dict) -> "CandidateScores":
        return cls(**d)


# --------------------------------------------------------------------------------------------
# helpers


def _check_strings(values: Any, name: str, what: str) -> None:
    """``TypeError`` unless ``values`` is a non-string sequence of strings (naming a bad index)."""
    if isinstance(values, str):
        raise TypeError(f"{name}: expected a sequence of strings, got a str (wrap one {what} in a list)")
    if not isinstance(values, Sequence):
        raise TypeError(f"{name}: expected a sequence of strings, got {type(values).__name__}")
    bad = next((j for j, v in enumerate(values) if not isinstance(v, str)), None)
    if bad is not None:
        raise TypeError(f"{name}[{bad}]: expected a string {what}, got {type(values[bad]).__name__}")


def _per_query_candidates(candidates: Sequence[str] | Sequence[Sequence[str]], n: int
                          ) -> list[Sequence[str]]:
    """One candidate list per prompt, type-checked: a shared list of strings or ``n`` lists."""
    if isinstance(candidates, str) or not isinstance(candidates, Sequence):
        _check_strings(candidates, "candidates", "candidate")
    if len(candidates) == 0:
        raise ValueError("candidates: empty")
    if isinstance(candidates[0], str):
        _check_strings(candidates, "candidates", "candidate")
        return [candidates] * n  # type: ignore[list-item]
    if len(candidates) != n:
        raise ValueError(f"candidates: got {len(candidates)} candidate lists for {n} prompts")
    for i, cands in enumerate(candidates):
        _check_strings(cands, f"candidates[{i}]", "candidate")
    return list(candidates)  # type: ignore[arg-type]


@dataclass
class _CandidateSet:
    """One distinct candidate list with its tokens after the prompt (shared by the queries whose
    joint tokenizations give the same tails)."""

    strings: tuple[str, ...]
    tokens: list[list[int]]
    first: Tensor  # [n_c] first token of each candidate
    multi: list[int]  # indices of the multi-token candidates


@dataclass
class _Tables:
    """Every query's candidate table, and the candidates whose joint tokenization merged."""

    tables: list[_CandidateSet]
    which: list[int]  # table of each query
    merged: list[dict[int, tuple[list[int], int]]]  # per query: {candidate: (joint ids, start)}


def _candidate_tables(model: Model, prompts: Sequence[str | Sequence[int]],
                      per_query: list[Sequence[str]]) -> _Tables:
    """Tokenize each query's candidates after its prompt (string prompts: tails of the joint
    tokenization; token-id prompts: after a neutral word) and deduplicate the tables."""
    tables: list[_CandidateSet] = []
    index: dict[tuple, int] = {}
    standalone: dict[tuple[str, ...], list[list[int]]] = {}
    which, merged = [], []
    for i, cands in enumerate(per_query):
        strings = tuple(cands)
        if not strings:
            raise ValueError(f"candidates of prompt {i}: empty list")
        p = prompts[i]
        if isinstance(p, str):
            c = continuation_tokens(model, p, [continuation_text(x) for x in strings])
            toks = c.tokens
            merged.append({j: (c.joint(j), c.start[j]) for j in range(len(toks)) if c.merged[j]})
        else:
            if strings not in standalone:
                standalone[strings] = candidate_token_ids(model, strings)
            toks, _ = standalone[strings], merged.append({})
        key = (strings, tuple(map(tuple, toks)))
        if key not in index:
            index[key] = len(tables)
            tables.append(_CandidateSet(strings, toks, torch.tensor([t[0] for t in toks]),
                                        [j for j, t in enumerate(toks) if len(t) > 1]))
        which.append(index[key])
    return _Tables(tables, which, merged)


def _log_softmax(x: Tensor) -> Tensor:
    return torch.log_softmax(x.float(), dim=-1)


def joint_logprob(model: Model, joint: list[int], start: int) -> float:
    """``sum_{t >= start} log P(joint[t] | joint[:t])`` from one plain forward."""
    with torch.inference_mode(), float32_head(model):  # logits only where joint[start:] is predicted
        logits = model.hf_model(input_ids=torch.tensor([joint], device=model.device),
                                logits_to_keep=len(joint) - start + 1).logits[0]
    lp = _log_softmax(logits[:-1])
    tgt = torch.tensor(joint[start:], device=lp.device)[:, None]
    return float(lp.gather(-1, tgt).double().sum())


@dataclass
class _Race:
    """One query's candidates: first-token bounds, exact totals so far, and the multi-token
    candidates still in the race (best bound first)."""

    table: _CandidateSet
    bounds: Tensor  # float64 [n_c]: first-token log-probabilities
    totals: Tensor  # float64 [n_c]: exact totals (-inf until scored)
    pending: list[int]
    best: int = 0
    best_lp: float = float("-inf")
    n_scored: int = 0
    n_merged: int = 0

    @classmethod
    def start(cls, table: _CandidateSet, logprobs: Float[Tensor, " d_vocab"], exhaustive: bool,
              exact: Mapping[int, float]) -> "_Race":
        """``exact``: totals already known (candidates whose tokenization merged with the
        prompt's: their first token does not follow the prompt, so they have no bound)."""
        bounds = logprobs[table.first.to(logprobs.device)].double().cpu()
        totals = bounds.clone()
        totals[table.multi] = float("-inf")  # single-token candidates are already exact
        for j, v in exact.items():
            bounds[j] = totals[j] = v
        order = sorted((j for j in table.multi if j not in exact),
                       key=lambda j: (-float(bounds[j]), j))
        race = cls(table, bounds, totals, order, n_merged=len(exact))
        race.settle(exhaustive)
        return race

    def settle(self, exhaustive: bool) -> None:
        """Update the leader; drop candidates that can no longer win (each token's
        log-probability is <= 0, so a total never exceeds its bound; ties go to the earlier
        candidate, as ``argmax``)."""
        self.best = int(torch.argmax(self.totals))  # the first maximum on ties
        self.best_lp = float(self.totals[self.best])
        if not exhaustive:
            s, k = self.best_lp, self.best
            self.pending = [j for j in self.pending
                            if float(self.bounds[j]) > s or (float(self.bounds[j]) == s and j < k)]


@dataclass
class _Suffixes:
    """A batch of prompts after their forward, with what continuations need to extend them."""

    queries: list[int]
    cache: Any  # None on the uncached path
    mask: Int[Tensor, "b kv"]  # attention mask over the cached positions
    ends: Int[Tensor, " b"]  # position id of each row's first continuation token


class _Runner:
    """Cached forwards of the Hugging Face model.

    The prompts' common prefix is run once (:class:`~interp.kv_cache.SharedPrefix`). A batch of
    prompts then runs its own tokens on copies of that cache, left-padded *between* the prefix
    and the tokens; continuations are right-padded (causal attention never looks ahead) and run
    on copies of each prompt's cache. Where the model's cache does not work
    (:func:`~interp.kv_cache.cache_works`), every continuation runs with its whole prompt
    instead (same numbers, slower).
    """

    def __init__(self, model: Model, ids: list[list[int]], longest_continuation: int,
                 share_prefix: bool = True):
        self.hf, self.device, self.pad, self.ids = model.hf_model, model.device, model.pad_token_id, ids
        self.cached = kv_cache.cache_works(model)
        self.prefix = SharedPrefix(model, ids, extra=longest_continuation,
                                   enabled=share_prefix and self.cached)
        self.p = self.prefix.length

    def suffix(self, queries: list[int]) -> tuple[_Suffixes, Float[Tensor, "b d_vocab"]]:
        """Run the own tokens of ``queries``; return their state and next-token log-probs."""
        b = self.prefix.batch([self.ids[i][self.p:] for i in queries])
        kw = dict(attention_mask=b.attention_mask, position_ids=b.position_ids, logits_to_keep=1)
        if self.cached:
            out, cache = kv_cache.forward(self.hf, b.tokens, past=b.past, **kw)
        else:
            out, cache = self.hf(input_ids=b.tokens, **kw), None
        return _Suffixes(queries, cache, b.attention_mask, b.ends), _log_softmax(out.logits[:, -1])

    def continuation(self, s: _Suffixes, rows: list[int], tokens: list[list[int]]) -> list[float]:
        """Sum of log P(c_t | prompt, c_<t) over t >= 1 of each candidate ``tokens[r]`` (>= 2
        tokens), continuing row ``rows[r]`` of ``s``."""
        if s.cache is None:
            return self._uncached_continuation([s.queries[r] for r in rows], tokens)
        width = max(len(t) for t in tokens) - 1
        inp = torch.full((len(tokens), width), self.pad, dtype=torch.long)
        tgt = torch.zeros((len(tokens), width), dtype=torch.long)
        real = torch.zeros((len(tokens), width), dtype=torch.bool)
        for r, t in enumerate(tokens):
            inp[r, : len(t) - 1] = torch.tensor(t[:-1])
            tgt[r, : len(t) - 1] = torch.tensor(t[1:])
            real[r, : len(t) - 1] = True
        idx = torch.tensor(rows, dtype=torch.long, device=self.device)
        ones = torch.ones(len(rows), width, dtype=torch.long, device=self.device)
        pos = s.ends[idx][:, None] + torch.arange(width, device=self.device)[None]
        out, _ = kv_cache.forward(self.hf, inp.to(self.device), past=kv_cache.fork(s.cache, idx),
                                  attention_mask=torch.cat([s.mask[idx], ones], 1), position_ids=pos)
        lp = _log_softmax(out.logits).gather(-1, tgt.to(self.device)[..., None])[..., 0].double().cpu()
        return torch.where(real, lp, 0.0).sum(-1).tolist()

    def _uncached_continuation(self, queries: list[int], tokens: list[list[int]]) -> list[float]:
        """The same sums from whole sequences ``prompt + c[:-1]`` (left-padded, no cache)."""
        seqs = [self.ids[q] + t[:-1] for q, t in zip(queries, tokens)]
        toks, mask = pad_left(seqs, self.pad, self.device)
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        lp = _log_softmax(self.hf(input_ids=toks, attention_mask=mask, position_ids=pos).logits)
        out = []
        for r, t in enumerate(tokens):
            n = len(t) - 1  # the last n positions predict t[1:]
            tgt = torch.tensor(t[1:], device=lp.device)[:, None]
            out.append(float(lp[r, -n:].gather(-1, tgt).double().sum()))
        return out


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
        batch_size: prompts per forward (continuations: twice as many rows).
        exhaustive: score every candidate (no pruning) and return all totals in ``scores``.
        share_prefix: run the prompts' common token prefix once (exact; on by default).

    Example:
        >>> acts = capture(model, prompts, keep=())  # doctest: +SKIP
        >>> score_candidates(model, prompts, ["Paris", "Rome"], acts.logits).best  # doctest: +SKIP
        [0, 1]
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if first_token_logprobs is not None and not isinstance(first_token_logprobs, Tensor):
        raise TypeError(f"first_token_logprobs: expected a tensor [n_prompts, d_vocab] or None, got "
                        f"{type(first_token_logprobs).__name__}")
    ids = tokenize_prompts(model, prompts)
    n = len(ids)
    t = _candidate_tables(model, prompts, _per_query_candidates(candidates, n))
    tables, which = t.tables, t.which
    if first_token_logprobs is not None and tuple(first_token_logprobs.shape) != (n, model.d_vocab):
        raise ValueError(f"first_token_logprobs: shape {tuple(first_token_logprobs.shape)}, "
                         f"expected ({n}, {model.d_vocab}) for {n} prompts")
    exact = [{j: joint_logprob(model, joint, start) for j, (joint, start) in m.items()}
             for m in t.merged]

    races: list[_Race | None] = [None] * n
    if first_token_logprobs is not None:
        with torch.inference_mode():
            for i in range(n):
                races[i] = _Race.start(tables[which[i]], _log_softmax(first_token_logprobs[i]),
                                       exhaustive, exact[i])
    todo = [i for i in range(n) if races[i] is None or races[i].pending]
    todo.sort(key=lambda i: len(ids[i]))  # similar lengths share a batch: little padding
    if todo:
        longest = max(len(t) for tab in tables for t in tab.tokens)
        with torch.inference_mode(), float32_head(model):  # float32 logits for bf16 models
            if model.is_encoder_decoder:  # encoder once per query, decoder per candidate
                from interp.seq2seq import Runner as runner_class
            else:
                runner_class = _Runner
            runner = runner_class(model, ids, longest, share_prefix)
            for c in range(0, len(todo), batch_size):
                chunk = todo[c:c + batch_size]
                suffixes, lp = runner.suffix(chunk)
                for r, i in enumerate(chunk):
                    if races[i] is None:
                        races[i] = _Race.start(tables[which[i]], lp[r], exhaustive, exact[i])
                _run_races(runner, suffixes, [races[i] for i in chunk], 2 * batch_size, exhaustive)
    done: list[_Race] = races  # type: ignore[assignment]
    return CandidateScores(
        best=[r.best for r in done], best_logprob=[r.best_lp for r in done],
        n_scored=[r.n_scored for r in done], n_candidates=[len(r.bounds) for r in done],
        n_merged=[r.n_merged for r in done],
        scores=[r.totals.tolist() for r in done] if exhaustive else None,
    )


def _run_races(runner: _Runner, suffixes: _Suffixes, races: list[_Race], row_batch: int,
               exhaustive: bool) -> None:
    """Score the pending candidates of a batch of queries (``races[r]`` is row ``r`` of
    ``suffixes``) in rounds of each query's next 2, 4, 8, ... best-bounded candidates."""
    take = 2
    while any(race.pending for race in races):
        rows: list[tuple[int, int]] = []  # (row, candidate)
        for r, race in enumerate(races):
            rows += [(r, j) for j in race.pending[:take]]
            race.pending = race.pending[take:]
        rows.sort(key=lambda x: len(races[x[0]].table.tokens[x[1]]))
        for s in range(0, len(rows), row_batch):
            part = rows[s:s + row_batch]
            rest = runner.continuation(suffixes, [r for r, _ in part],
                                       [races[r].table.tokens[j] for r, j in part])
            for (r, j), v in zip(part, rest):
                races[r].totals[j] = float(races[r].bounds[j]) + v
                races[r].n_scored += 1
        for race in races:
            race.settle(exhaustive)
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
    """Reference implementation: one forward for the query, then one forward of the joint
    tokens ``prompt + candidate`` per candidate (batch 1, no cache). With ``prune=True``
    candidates are visited in first-token order and the loop stops by the bound rule (the exact
    pruning rule without any other optimisation). Used by the tests and ``benchmarks/pararel.py``.
    Encoder-decoders: :func:`interp.seq2seq.naive_score_candidates`.
    """
    if model.is_encoder_decoder:
        from interp.seq2seq import naive_score_candidates as naive_decoder

        return naive_decoder(model, prompts, candidates, prune=prune)
    ids = tokenize_prompts(model, prompts)
    t = _candidate_tables(model, prompts, _per_query_candidates(candidates, len(ids)))
    hf, dev = model.hf_model, model.device
    out = CandidateScores([], [], [], [], [], None if prune else [])
    with torch.inference_mode():
        for i, p in enumerate(ids):
            tab, merged = t.tables[t.which[i]], t.merged[i]
            lp1 = _log_softmax(hf(input_ids=torch.tensor([p], device=dev)).logits[0, -1])
            b = [0.0 if j in merged else float(lp1[tok[0]]) for j, tok in enumerate(tab.tokens)]

            def score(j: int, p: list[int] = p, tab: Any = tab, merged: dict = merged) -> float:
                if j in merged:
                    return joint_logprob(model, *merged[j])
                tok = tab.tokens[j]  # the baseline of benchmarks/pararel.py: every position's logits
                lp = _log_softmax(hf(input_ids=torch.tensor([p + tok], device=dev)).logits[0, len(p) - 1:-1])
                return float(lp.gather(-1, torch.tensor(tok, device=dev)[:, None]).double().sum())
            naive_search(out, b, score, [len(tok) > 1 and j not in merged for j, tok in enumerate(tab.tokens)],
                         prune=prune, n_merged=len(merged))
    return out


def naive_search(out: CandidateScores, first: Sequence[float], score: Callable[[int], float],
                 multi: Sequence[bool], *, prune: bool, n_merged: int = 0) -> None:
    """The naive loop's search over one query's candidates, appended to ``out``: candidates in
    order of their first token's log-prob (``first``), each scored whole by ``score(j)``, stopping
    (``prune``) once no remaining first token can beat the best whole score; ``multi[j]``: whether
    scoring ``j`` took a forward beyond the first token (counted in ``n_scored``)."""
    order = sorted(range(len(first)), key=lambda j: (-first[j], j)) if prune else range(len(first))
    tot = [float("-inf")] * len(first)
    best_j, best_s, scored = 0, float("-inf"), 0
    for j in order:
        if prune and (first[j] < best_s or (first[j] == best_s and j > best_j)):
            break
        tot[j] = score(j)
        scored += bool(multi[j])
        if tot[j] > best_s or (tot[j] == best_s and j < best_j):
            best_j, best_s = j, tot[j]
    out.best.append(best_j)
    out.best_logprob.append(best_s)
    out.n_scored.append(scored)
    out.n_candidates.append(len(first))
    out.n_merged.append(n_merged)
    if out.scores is not None:
        out.scores.append(tot)


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
        n_scored: per query, the multi-token candidates whose continuation was run (restricted).
        n_merged: per query, candidates whose joint tokenization with the prompt merged across
            the boundary (scored on their own path; restricted).
    """

    objects: list[str]
    correct: list[bool]
    logprob: list[float]
    restrict: bool = True
    n_scored: list[int] = field(default_factory=list)
    n_merged: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"objects": self.objects, "correct": self.correct, "logprob": self.logprob,
                "restrict": self.restrict, "n_scored": self.n_scored, "n_merged": self.n_merged}

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
    if isinstance(queries, str) or not isinstance(queries, Sequence):
        raise TypeError(f"queries: expected a sequence of ParaRelQuery, got {type(queries).__name__}")
    if not queries:
        raise ValueError("queries: empty")
    bad = next((i for i, q in enumerate(queries) if not isinstance(getattr(q, "prompt", None), str)), None)
    if bad is not None:
        raise TypeError(f"queries[{bad}]: expected a ParaRelQuery (with a string .prompt), got "
                        f"{type(queries[bad]).__name__}")
    if acts_last is not None and not isinstance(acts_last, Activations):
        raise TypeError(f"acts_last: expected Activations or None, got {type(acts_last).__name__}")
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
                              s.best_logprob, True, s.n_scored, s.n_merged)


def _predict_unrestricted(model: Model, queries: Sequence[Any], acts: Activations | None,
                          batch_size: int) -> ParaRelPredictions:
    # the gold object's first token as the model would see it after this prompt
    gold = [continuation_tokens(model, q.prompt, [continuation_text(q.object)]).tokens[0][0]
            for q in queries]
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


def letter_token_ids(model: Model, prompt: str = "Answer:", letters: str = LETTERS) -> list[int]:
    """The token of each answer letter as the model sees it after ``prompt`` (which ends in
    ``"Answer:"``): the tail of the joint tokenization ``prompt + " A"`` when it is one token for
    every letter (SmolLM2, Gemma, LLaMA), else of ``prompt + "A"`` when that is.

    Raises ``ValueError`` naming the model and letter when neither is.

    Example:
        >>> letter_token_ids(model)  # SmolLM2  # doctest: +SKIP
        [330, 389, 340, 422]
    """
    for form in (" {}", "{}"):
        c = continuation_tokens(model, prompt, [form.format(x) for x in letters])
        if not any(c.merged) and all(len(t) == 1 for t in c.tokens):
            return [t[0] for t in c.tokens]
    bad = [model.tokenizer.convert_ids_to_tokens(t) for t in c.tokens]
    raise ValueError(f"{model.name}: the answer letters {letters!r} after {prompt[-40:]!r} are not "
                     f"one token each, with or without a space (without: {bad})")


def mmlu_letter_logprobs(
    model: Model, prompts: Sequence[str], *, batch_size: int = 16, chunk: int = 256
) -> Float[Tensor, "n 4"]:
    """Log-probabilities of ``" A"``..``" D"`` as the next token of each prompt (prompts end in
    ``"Answer:"``, see :func:`interp.prompts.mmlu_prompt`): the last-position logits of one
    capture with ``keep=()`` (no extra forward), log-softmax over the whole vocabulary. The
    letters' tokens are those of each prompt's joint tokenization (:func:`letter_token_ids`).

    Example:
        >>> mmlu_letter_logprobs(model, [mmlu_prompt(model, 0, "astronomy", q, choices)])  # doctest: +SKIP
        tensor([[-1.2, -1.9, -2.3, -2.0]])
    """
    check_prompts(prompts, token_ids=False)
    if len(prompts) == 0:
        raise ValueError("prompts: empty")
    by_ending: dict[str, list[int]] = {}  # the letters' tokens depend only on the prompt's end
    for p in prompts:
        if p[-32:] not in by_ending:
            by_ending[p[-32:]] = letter_token_ids(model, p)
    letters = torch.tensor([by_ending[p[-32:]] for p in prompts])
    parts = []
    for s in range(0, len(prompts), chunk):
        acts = capture(model, list(prompts[s:s + chunk]), keep=(), batch_size=batch_size,
                       progress=False)
        parts.append(_log_softmax(acts.logits).gather(-1, letters[s:s + chunk]))
    return torch.cat(parts)
