"""Consistency in vector space: cos(paraph.) - cos(not paraph.) (Table 1 / 4, Eq. 2-4, Appendix B)
and the same gap at every layer, split into consistent / inconsistent pairs (Fig. 4, 6, 7).

Definitions (Appendix B.1):

* Eq. 2, per paraphrase set ``p = {s_1..s_M}``: the **mean** pairwise cosine over pairs
  ``i != j``. The paper prints the sum over ordered pairs divided by ``M``; the intended quantity is
  the mean (the sum divided by ``M(M-1)``, identical to the mean over the ``M(M-1)/2`` unordered
  pairs), which is what is computed. A set with fewer than 2 members has no pair: it is excluded
  and counted (``n_excluded``).
* Eq. 3: the macro average of Eq. 2 over sets.
* Eq. 4: the mean cosine of K non-paraphrase pairs. MRPC: the labelled non-paraphrase pairs (K = all
  of them). TAPACO / PARAREL: K random pairs ``(s_k in p_i, s_l in p_j)``, ``p_i != p_j`` drawn
  uniformly among the sets with at least 2 members, then a member of each uniformly (seeded; K
  defaults to the number of paraphrase pairs).
* The gap is ``cos(paraph.) - cos(not paraph.)`` (Table 1's sign; B.1's last formula has it reversed).

Intervals are percentile bootstrap intervals whose unit is what is independent:

* random non-pairs (TAPACO, PARAREL) are made of the sets' own texts, so a replicate resamples the
  paraphrase sets (clusters) and weights each non-pair by how often both of its texts' sets were
  drawn; both means, and so the gap, move together as they do under resampling of the data
  (``nonpair_sets`` records each non-pair's two sets);
* MRPC's labelled non-pairs are texts of their own: sets and non-pairs are resampled independently.

Over prompts (:func:`combine_prompts`) the estimate is the mean of the per-prompt estimates and the
resampling is paired: the same sets (and non-pairs) are drawn for every prompt.

A zero vector has cosine 0 with everything; NaN or infinite vectors are rejected.

Example:
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> r = cosine_gap(x, [[0, 1], [2, 3]], [(0, 2), (1, 3)], n_boot=200)
    >>> r.cos_para.estimate, r.cos_nonpara.estimate, r.gap.estimate
    (1.0, 0.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, overload

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from interp.analyses.consistency import pair_consistent
from interp.capture import Activations
from interp.prompts import sentence_prompt
from interp.serial import Representation, Serializable, Split
from interp.stats import (
    Interval,
    cluster_mean_replicates,
    ignore_nan_warnings,
    pair_cluster_replicates,
    percentile_intervals,
)

REPRESENTATIONS = ("post_norm", "pre_norm", "encoder_mean")
SPLITS = ("all", "consistent", "inconsistent")

# ---------------------------------------------------------------------------------------------
# Inputs: dataset records -> (texts, paraphrase sets, non-paraphrase pairs)


@dataclass(frozen=True)
class GapInputs:
    """The texts to represent and how they group: paraphrase sets (indices into ``texts``) and,
    for MRPC, the labelled non-paraphrase pairs (``None``: sample random pairs across sets).

    ``prompt_index`` is ``None`` for raw sentences (MRPC, TAPACO: render them with
    :meth:`prompts`), or the Table 3 prompt the texts were already rendered in (PARAREL queries).
    """

    texts: tuple[str, ...]
    sets: tuple[tuple[int, ...], ...]
    non_pairs: tuple[tuple[int, int], ...] | None
    set_ids: tuple[str, ...]
    prompt_index: int | None = None

    def prompts(self, model: Any, prompt_index: int) -> list[str]:
        """The texts in Table 3's prompt ``prompt_index`` for ``model`` (what to capture).

        Example:
            >>> inputs = tapaco_inputs(sets)  # doctest: +SKIP
            >>> acts = capture(model, inputs.prompts(model, 0), keep=(), logits=False)  # doctest: +SKIP
        """
        if self.prompt_index is None:
            return [sentence_prompt(model, prompt_index, t) for t in self.texts]
        if prompt_index != self.prompt_index:
            raise ValueError(f"prompt_index: these PARAREL queries were rendered in prompt "
                             f"{self.prompt_index}, not {prompt_index}; build inputs from the "
                             "queries of that prompt")
        return list(self.texts)


def mrpc_inputs(pairs: Sequence[Any]) -> GapInputs:
    """MRPC pairs -> each paraphrase pair (label 1) is a set of size 2; each non-paraphrase pair
    (label 0) is a non-pair. Texts are ``[p0.sentence1, p0.sentence2, p1.sentence1, ...]``.

    Example:
        >>> from interp.data.mrpc import SentencePair
        >>> g = mrpc_inputs([SentencePair("1", "2", "a", "b", 1), SentencePair("3", "4", "c", "d", 0)])
        >>> g.sets, g.non_pairs
        (((0, 1),), ((2, 3),))
    """
    if len(pairs) == 0:
        raise ValueError("pairs: no MRPC pairs given")
    texts: list[str] = []
    sets: list[tuple[int, int]] = []
    non: list[tuple[int, int]] = []
    ids: list[str] = []
    for p in pairs:
        i = len(texts)
        texts += [p.sentence1, p.sentence2]
        if p.label == 1:
            sets.append((i, i + 1))
            ids.append(f"{p.id1}-{p.id2}")
        elif p.label == 0:
            non.append((i, i + 1))
        else:
            raise ValueError(f"pairs: label {p.label!r} of pair {p.id1}-{p.id2} is not 0 or 1")
    return GapInputs(tuple(texts), tuple(sets), tuple(non), tuple(ids))


def tapaco_inputs(sets: Sequence[Any]) -> GapInputs:
    """TAPACO paraphrase sets -> one set per ``ParaphraseSet``; non-pairs are sampled at random.

    Example:
        >>> from interp.data.tapaco import ParaphraseSet
        >>> tapaco_inputs([ParaphraseSet("1", ("a", "b")), ParaphraseSet("2", ("c", "d", "e"))]).sets
        ((0, 1), (2, 3, 4))
    """
    if len(sets) == 0:
        raise ValueError("sets: no TAPACO paraphrase sets given")
    texts: list[str] = []
    out: list[tuple[int, ...]] = []
    for s in sets:
        out.append(tuple(range(len(texts), len(texts) + len(s.sentences))))
        texts += list(s.sentences)
    return GapInputs(tuple(texts), tuple(out), None, tuple(str(s.id) for s in sets))


def pararel_inputs(queries: Sequence[Any]) -> GapInputs:
    """PARAREL queries (one prompt) -> one paraphrase set per (relation, subject): the relation's
    patterns filled with the subject, object slot removed (Appendix B.2: ``ParaRelQuery.prompt``).

    Indices refer to ``queries`` (so the shared PARAREL capture is used as is). Facts that repeat a
    subject with another object (P37, P176) give identical prompts: only the first query of each
    (relation, pattern, subject) is used, so that no non-pair is two copies of one prompt.

    Example:
        >>> from interp.queries import ParaRelQuery
        >>> from interp.capture import Span
        >>> q = lambda pi, fi, s: ParaRelQuery("P1", pi, "", fi, s, "o", 0, f"{pi} {s}", Span(0, 1))
        >>> pararel_inputs([q(0, 0, "A"), q(1, 0, "A"), q(0, 1, "B"), q(1, 1, "B")]).sets
        ((0, 1), (2, 3))
    """
    if len(queries) == 0:
        raise ValueError("queries: no PARAREL queries given")
    prompt_indices = {q.prompt_index for q in queries}
    if len(prompt_indices) != 1:
        raise ValueError(f"queries: mix prompts {sorted(prompt_indices)}; pass the queries of one "
                         "prompt (one capture) at a time")
    groups: dict[tuple[str, str], list[int]] = {}
    seen: set[tuple[str, int, str]] = set()
    for i, q in enumerate(queries):
        key = (q.relation, q.pattern_index, q.subject)
        if key in seen:
            continue
        seen.add(key)
        groups.setdefault((q.relation, q.subject), []).append(i)
    return GapInputs(
        tuple(q.prompt for q in queries), tuple(tuple(g) for g in groups.values()), None,
        tuple(f"{r}:{s}" for r, s in groups), prompt_index=prompt_indices.pop(),
    )


# ---------------------------------------------------------------------------------------------
# Validation and the vectorised building blocks


def _check_sets(sets: Sequence[Sequence[int]], n: int) -> list[list[int]]:
    out: list[list[int]] = []
    owner: dict[int, int] = {}
    for s, members in enumerate(sets):
        row = []
        for i in members:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise ValueError(f"sets[{s}]: index {i!r} is not an int")
            if not 0 <= i < n:
                raise ValueError(f"sets[{s}]: index {i} out of range for {n} vectors")
            if int(i) in owner:
                raise ValueError(f"sets: vector {i} is in set {owner[int(i)]} and set {s}; "
                                 "paraphrase sets must be disjoint")
            owner[int(i)] = s
            row.append(int(i))
        out.append(row)
    return out


def _check_pairs(pairs: Sequence[Sequence[int]], n: int, name: str = "non_pairs") -> np.ndarray:
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2) if len(pairs) else np.zeros((0, 2), np.int64)
    if len(arr) == 0:
        raise ValueError(f"{name}: empty; at least one non-paraphrase pair is needed")
    bad = np.flatnonzero((arr < 0).any(1) | (arr >= n).any(1))
    if len(bad):
        raise ValueError(f"{name}[{bad[0]}] = {tuple(arr[bad[0]])}: index out of range for {n} vectors")
    same = np.flatnonzero(arr[:, 0] == arr[:, 1])
    if len(same):
        raise ValueError(f"{name}[{same[0]}] pairs vector {arr[same[0], 0]} with itself")
    return arr


def _check_vectors(x: Tensor, ndim: int, name: str) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != ndim:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected a {ndim}-D tensor, got {shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: no vectors")
    finite = torch.isfinite(x).reshape(x.shape[0], -1).all(1)
    if not bool(finite.all()):
        rows = torch.nonzero(~finite).flatten()[:5].tolist()
        raise ValueError(f"{name}: NaN or infinite values in rows {rows}")
    return x


def within_pairs(sets: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair ``(a, b)`` inside each set, and the index of its set (``owner``).

    Example:
        >>> a, b, owner = within_pairs([[0, 1, 2], [3]])
        >>> a.tolist(), b.tolist(), owner.tolist()
        ([0, 0, 1], [1, 2, 2], [0, 0, 0])
    """
    a, b, owner = [], [], []
    for s, members in enumerate(sets):
        m = np.asarray(members, dtype=np.int64)
        if len(m) < 2:
            continue
        i, j = np.triu_indices(len(m), 1)
        a.append(m[i])
        b.append(m[j])
        owner.append(np.full(len(i), s))
    if not a:
        z = np.zeros(0, np.int64)
        return z, z, z
    return np.concatenate(a), np.concatenate(b), np.concatenate(owner)


def sample_non_pairs(sets: Sequence[Sequence[int]], k: int, seed: int = 0) -> list[tuple[int, int]]:
    """K random non-paraphrase pairs (Eq. 4): sets ``p_i != p_j`` uniformly among the sets with
    at least 2 members, then a member of each uniformly. Seeded.

    Example:
        >>> sample_non_pairs([[0, 1], [2, 3]], k=3, seed=0)  # doctest: +SKIP
        [(1, 2), (3, 0), (0, 3)]
    """
    pool = [list(s) for s in sets if len(s) >= 2]
    if len(pool) < 2:
        raise ValueError(f"sets: random non-paraphrase pairs need 2 or more sets with 2+ members, "
                         f"got {len(pool)}")
    if k < 1:
        raise ValueError(f"k: must be >= 1, got {k}")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(pool), size=k)
    j = rng.integers(0, len(pool) - 1, size=k)
    j = j + (j >= i)
    sizes = np.array([len(s) for s in pool])
    ki = (rng.random(k) * sizes[i]).astype(np.int64)
    kj = (rng.random(k) * sizes[j]).astype(np.int64)
    return [(pool[a][x], pool[b][y]) for a, x, b, y in zip(i.tolist(), ki.tolist(), j.tolist(), kj.tolist())]


def pair_cosines(
    x: Float[Tensor, "n *layers d"], a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray
) -> Float[Tensor, "p *layers"]:
    """Cosine of ``x[a[p]]`` and ``x[b[p]]`` for every pair (and every layer), in float64.

    Batched over pairs in chunks (memory stays O(chunk x layers x d)); a zero vector gives 0.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
        >>> pair_cosines(x, [0, 0], [1, 2]).tolist()
        [0.7071067811865475, 0.0]
    """
    ia = torch.as_tensor(np.asarray(a, dtype=np.int64))
    ib = torch.as_tensor(np.asarray(b, dtype=np.int64))
    out = torch.empty((len(ia),) + tuple(x.shape[1:-1]), dtype=torch.float64)
    step = max(1, (1 << 22) // max(1, x[0].numel()))
    for s in range(0, len(ia), step):
        u = torch.nn.functional.normalize(x[ia[s:s + step]].double(), dim=-1)
        v = torch.nn.functional.normalize(x[ib[s:s + step]].double(), dim=-1)
        out[s:s + step] = (u * v).sum(-1)
    return out


def set_means(
    pair_cos: Float[Tensor, "p *layers"], owner: np.ndarray, n_sets: int,
    keep: np.ndarray | None = None,
) -> np.ndarray:
    """Eq. 2 for every set: the mean cosine of its (kept) pairs; NaN for a set with no pair."""
    keep = np.ones(len(owner), bool) if keep is None else np.asarray(keep, bool)
    idx = torch.as_tensor(owner[keep])
    vals = pair_cos[torch.as_tensor(keep)]
    sums = torch.zeros((n_sets,) + tuple(pair_cos.shape[1:]), dtype=torch.float64).index_add_(0, idx, vals)
    counts = torch.bincount(idx, minlength=n_sets).double().reshape((-1,) + (1,) * (pair_cos.ndim - 1))
    return torch.where(counts > 0, sums / counts.clamp(min=1), torch.nan).numpy()


# ---------------------------------------------------------------------------------------------
# Results


def _pairs(x: Any) -> tuple[tuple[int, int], ...] | None:
    return None if x is None else tuple((int(a), int(b)) for a, b in x)


def _rows(a: np.ndarray) -> tuple:
    return tuple(tuple(float(v) for v in row) for row in a) if a.ndim == 2 else tuple(float(v) for v in a)


@dataclass(frozen=True)
class GapResult(Serializable):
    """Table 1 / 4 cell: cos(paraph.), cos(not paraph.) and their gap, with bootstrap intervals.

    Attributes:
        n_sets: paraphrase sets with at least one pair (``cos_para`` averages over these).
        n_pairs: paraphrase pairs (summed over prompts for a prompt average).
        n_nonpairs: non-paraphrase pairs K.
        n_excluded: sets with fewer than 2 members (no pair; left out, counted).
        representation: ``"post_norm"`` (the last layer after the final norm, HF's last
            ``hidden_states`` entry), ``"pre_norm"`` (before it) or ``"vectors"`` (given).
        set_cos: Eq. 2 per input set (NaN for an excluded set), prompt-averaged in a combination.
        nonpair_cos: the cosine of each non-pair (prompt-averaged in a combination).
        per_prompt: the per-prompt results of a :func:`combine_prompts` average (else empty).
    """

    cos_para: Interval
    cos_nonpara: Interval
    gap: Interval
    n_sets: int
    n_pairs: int
    n_nonpairs: int
    n_excluded: int
    representation: Representation = "vectors"
    n_prompts: int = 1
    set_cos: tuple[float, ...] = field(default=(), repr=False)
    nonpair_cos: tuple[float, ...] = field(default=(), repr=False)
    per_prompt: tuple["GapResult", ...] = field(default=(), repr=False)
    nonpair_sets: tuple[tuple[int, int], ...] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LayerGap(Serializable):
    """The gap at every layer (Fig. 4, 6, 7): one :class:`Interval` per layer for cos(paraph.),
    cos(not paraph.) and the gap.

    Index ``l`` is ``blocks.{l}.hook_resid_post``; with ``embeddings=True`` index 0 is the
    embedding and ``l + 1`` is block ``l``. ``split`` says which paraphrase pairs were used:
    ``"all"``, ``"consistent"`` (the two top-1 predictions agree) or ``"inconsistent"``.
    Other fields as in :class:`GapResult` (``set_cos`` and ``nonpair_cos`` are ``[rows][layer]``).
    """

    cos_para: tuple[Interval, ...]
    cos_nonpara: tuple[Interval, ...]
    gap: tuple[Interval, ...]
    n_sets: int
    n_pairs: int
    n_nonpairs: int
    n_excluded: int
    split: Split = "all"
    embeddings: bool = False
    n_prompts: int = 1
    set_cos: tuple[tuple[float, ...], ...] = field(default=(), repr=False)
    nonpair_cos: tuple[tuple[float, ...], ...] = field(default=(), repr=False)
    per_prompt: tuple["LayerGap", ...] = field(default=(), repr=False)
    nonpair_sets: tuple[tuple[int, int], ...] | None = field(default=None, repr=False)

    @property
    def n_layers(self) -> int:
        return len(self.gap)

    def curve(self, which: str = "gap") -> tuple[list[float], list[float], list[float]]:
        """``(estimate, low, high)`` per layer of ``"gap"``, ``"cos_para"`` or ``"cos_nonpara"``."""
        ivs = getattr(self, which)
        return [i.estimate for i in ivs], [i.low for i in ivs], [i.high for i in ivs]


@dataclass(frozen=True)
class SplitLayerGaps(Serializable):
    """Fig. 4 / 6 / 7 for one model and prompt: per-layer gaps over all paraphrase pairs, the
    consistent ones and the inconsistent ones (the same non-pairs for all three)."""

    all: LayerGap
    consistent: LayerGap
    inconsistent: LayerGap


# ---------------------------------------------------------------------------------------------
# The analyses


@dataclass(frozen=True)
class _Summary:
    cos_para: tuple[Interval, ...]
    cos_nonpara: tuple[Interval, ...]
    gap: tuple[Interval, ...]
    n_sets: int


def _summarise(set_cos: np.ndarray, non_cos: np.ndarray, n_boot: int, confidence: float,
               seed: int, non_sets: np.ndarray | None = None) -> _Summary:
    """``set_cos [prompts, sets, layers]`` (NaN: no pair), ``non_cos [prompts, K, layers]``.

    With ``non_sets`` (the sets of each non-pair's texts: random non-pairs across sets) the
    interval is a cluster bootstrap over sets (:func:`~interp.stats.pair_cluster_replicates`); without (MRPC's labelled
    non-pairs, texts of their own) sets and non-pairs are independent samples, resampled apart.
    """
    present = ~np.isnan(set_cos[..., 0]).all(0)
    x = set_cos[:, present]
    n_sets = int(present.sum())
    with ignore_nan_warnings():
        para = np.nanmean(np.nanmean(x, axis=1), axis=0)  # sets, then prompts that have any
    nonpara = non_cos.mean(1).mean(0)
    rng = np.random.default_rng([seed, 1])
    layers = set_cos.shape[-1]
    if non_sets is not None and n_sets:
        b_para, b_non = pair_cluster_replicates(set_cos, non_cos, np.asarray(non_sets, dtype=np.int64), n_boot, rng)
    else:
        b_para = cluster_mean_replicates(x, n_boot, rng) if n_sets else np.full((n_boot, layers), np.nan)
        b_non = cluster_mean_replicates(non_cos, n_boot, rng)
    k = non_cos.shape[1]
    return _Summary(
        percentile_intervals(para, b_para, n_sets, confidence),
        percentile_intervals(nonpara, b_non, k, confidence),
        percentile_intervals(para - nonpara, b_para - b_non, n_sets, confidence),
        n_sets,
    )


def _non_pairs(sets: list[list[int]], non_pairs: Sequence[Sequence[int]] | None, k: int | None,
               n_pairs: int, seed: int, n: int) -> np.ndarray:
    if non_pairs is not None:
        if k is not None:
            raise ValueError("k: pass either non_pairs (e.g. MRPC's labelled pairs) or k, not both")
        return _check_pairs(non_pairs, n)
    return _check_pairs(sample_non_pairs(sets, n_pairs if k is None else k, seed), n)


def gap_by_layer(
    resid: Float[Tensor, "n n_layers d_model"],
    sets: Sequence[Sequence[int]],
    non_pairs: Sequence[Sequence[int]] | None = None,
    *,
    k: int | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    embeddings: bool = False,
) -> LayerGap:
    """cos(paraph.), cos(not paraph.) and the gap at every layer, batched over layers.

    Args:
        resid: one vector per text and layer (e.g. ``acts.resid_post``, last token).
        sets: paraphrase sets as lists of row indices (disjoint).
        non_pairs: non-paraphrase pairs of row indices; ``None``: ``k`` random pairs across sets
            (default K = the number of paraphrase pairs), seeded by ``seed``.
        embeddings: whether index 0 of ``resid`` is the embedding (recorded in the result).

    Example:
        >>> x = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]], [[0.0, 1.0]]])
        >>> gap_by_layer(x, [[0, 1], [2, 3]], [(0, 2)], n_boot=100).curve()[0]
        [1.0]
    """
    return _layer_gaps(resid, sets, non_pairs, None, k=k, seed=seed, n_boot=n_boot,
                       confidence=confidence, embeddings=embeddings)[0]


def _layer_gaps(resid: Tensor, sets: Sequence[Sequence[int]], non_pairs: Any,
                predictions: Sequence[Hashable] | None, *, k: int | None, seed: int, n_boot: int,
                confidence: float, embeddings: bool) -> list[LayerGap]:
    resid = _check_vectors(resid, 3, "resid")
    n = resid.shape[0]
    checked = _check_sets(sets, n)
    a, b, owner = within_pairs(checked)
    if len(a) == 0:
        raise ValueError("sets: no paraphrase set has 2 or more members")
    n_excluded = sum(len(s) < 2 for s in checked)
    non = _non_pairs(checked, non_pairs, k, len(a), seed, n)
    non_sets = None
    if non_pairs is None:  # random pairs across sets: both texts belong to sets (clusters)
        set_of = np.full(n, -1, dtype=np.int64)
        for si, members in enumerate(checked):
            set_of[members] = si
        non_sets = set_of[non]
    pair_cos = pair_cosines(resid, a, b)
    non_cos = pair_cosines(resid, non[:, 0], non[:, 1]).numpy()[None]
    if predictions is None:
        splits = {"all": np.ones(len(a), bool)}
    else:
        if len(predictions) != n:
            raise ValueError(f"predictions: {len(predictions)} predictions for {n} queries")
        agree = pair_consistent(predictions, a.tolist(), b.tolist())
        splits = {"all": np.ones(len(a), bool), "consistent": agree, "inconsistent": ~agree}
    out = []
    for name, keep in splits.items():
        sc = set_means(pair_cos, owner, len(checked), keep)
        s = _summarise(sc[None], non_cos, n_boot, confidence, seed, non_sets)
        out.append(LayerGap(s.cos_para, s.cos_nonpara, s.gap, s.n_sets, int(keep.sum()), len(non),
                            n_excluded, name, embeddings, 1, _rows(sc), _rows(non_cos[0]),
                            nonpair_sets=_pairs(non_sets)))
    return out


def cosine_gap(
    vectors: Float[Tensor, "n d"],
    sets: Sequence[Sequence[int]],
    non_pairs: Sequence[Sequence[int]] | None = None,
    *,
    k: int | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    representation: str = "vectors",
) -> GapResult:
    """Eq. 2-4: cos(paraph.), cos(not paraph.) and the gap for one vector per text.

    Args:
        vectors: one representation per text.
        sets: paraphrase sets as lists of row indices (disjoint); sets of size < 2 are excluded
            and counted.
        non_pairs: the non-paraphrase pairs (MRPC); ``None``: ``k`` random pairs across sets.
        k: number of random non-pairs (default: the number of paraphrase pairs).
        seed: seeds the random non-pairs and the bootstrap.

    Raises:
        ValueError: no set with 2+ members, an index out of range, overlapping sets, an empty or
            self-pairing ``non_pairs``, NaN vectors.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.0, 1.0]])
        >>> r = cosine_gap(x, [[0, 1], [2, 3]], [(0, 2), (1, 2)], n_boot=100)
        >>> round(r.cos_para.estimate, 3), round(r.cos_nonpara.estimate, 3), round(r.gap.estimate, 3)
        (0.8, 0.4, 0.4)
    """
    vectors = _check_vectors(vectors, 2, "vectors")
    lg = _layer_gaps(vectors[:, None, :], sets, non_pairs, None, k=k, seed=seed, n_boot=n_boot,
                     confidence=confidence, embeddings=False)[0]
    return GapResult(lg.cos_para[0], lg.cos_nonpara[0], lg.gap[0], lg.n_sets, lg.n_pairs,
                     lg.n_nonpairs, lg.n_excluded, representation, 1,
                     tuple(r[0] for r in lg.set_cos), tuple(r[0] for r in lg.nonpair_cos),
                     nonpair_sets=lg.nonpair_sets)


def outermost(acts: Activations, representation: str = "post_norm") -> Float[Tensor, "n d_model"]:
    """The last token's outermost representation: ``acts.final`` (``"post_norm"``, HF's last
    ``hidden_states`` entry) or the last layer's ``resid_post`` before the final norm
    (``"pre_norm"``, needs ``keep`` to include ``"resid"``).

    Encoder-decoders (T5): the "last token" is the decoder's first position, so ``"post_norm"``
    (the default) is the decoder's final-normed state there, the vector the first answer token
    is predicted from, as for a causal model; ``"encoder_mean"`` is the encoder's final-normed
    output mean-pooled over the input's tokens (an embedding of the input alone; encoder-decoders
    only). See :mod:`interp.seq2seq`."""
    if representation == "post_norm":
        return acts.final
    if representation == "encoder_mean":
        if acts.encoder_mean is None:
            raise ValueError("representation='encoder_mean' is defined for encoder-decoder models "
                             "only (the encoder's mean-pooled output); this capture has none")
        return acts.encoder_mean
    if representation == "pre_norm":
        if acts.resid is None:
            raise ValueError("representation='pre_norm' needs the residual stream: capture with "
                             "keep=('resid',)")
        return acts.resid[:, -1]
    raise ValueError(f"representation: {representation!r}; choose one of {REPRESENTATIONS}")


def table1_unit(
    acts: Activations,
    sets: Sequence[Sequence[int]],
    non_pairs: Sequence[Sequence[int]] | None = None,
    *,
    representation: str = "post_norm",
    k: int | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
) -> GapResult:
    """Table 1 for one (model, dataset, prompt): :func:`cosine_gap` on the last token's outermost
    representation (see :func:`outermost`).

    Example:
        >>> inputs = mrpc_inputs(mrpc.load(path)[:100])  # doctest: +SKIP
        >>> acts = capture(model, inputs.prompts(model, 0), keep=(), logits=False)  # doctest: +SKIP
        >>> table1_unit(acts, inputs.sets, inputs.non_pairs).gap  # doctest: +SKIP
        Interval(estimate=0.031, low=0.022, high=0.040, n=68, confidence=0.95)
    """
    return cosine_gap(outermost(acts, representation), sets, non_pairs, k=k, seed=seed,
                      n_boot=n_boot, confidence=confidence, representation=representation)


def pararel_layer_gaps(
    acts: Activations,
    queries: Sequence[Any],
    predictions: Sequence[Hashable] | Tensor,
    *,
    k: int | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    embeddings: bool = False,
) -> SplitLayerGaps:
    """Fig. 4 / 6 / 7 for one (model, prompt): the gap at every layer's ``resid_post`` (last
    token) on PARAREL, over all paraphrase pairs and split into consistent / inconsistent pairs.

    A paraphrase pair (two queries of one (relation, subject), see :func:`pararel_inputs`) is
    consistent when the two predictions are equal
    (:func:`interp.analyses.consistency.pair_consistent`). The non-pairs (K random pairs across sets) are
    the same for the three splits.

    Args:
        acts: the shared PARAREL capture at the last token (``acts["last"]``), with ``resid``.
        queries: the queries, aligned with the rows of ``acts``.
        predictions: one prediction per query (object strings or token ids), e.g. from the
            consistency analysis, aligned with ``queries``.
        embeddings: prepend the embedding as layer 0 (default: block outputs only).

    Example:
        >>> acts = capture(model, [q.prompt for q in queries])  # doctest: +SKIP
        >>> g = pararel_layer_gaps(acts, queries, acts.predictions.tolist())  # doctest: +SKIP
        >>> g.consistent.curve()[0][:3]  # doctest: +SKIP
        [0.021, 0.034, 0.052]
    """
    if len(queries) != len(acts):
        raise ValueError(f"queries: {len(queries)} queries for {len(acts)} captured prompts")
    resid = acts.resid if embeddings else acts.resid_post
    if resid is None:
        raise ValueError("acts: the residual stream was not captured (keep must include 'resid')")
    inputs = pararel_inputs(queries)
    preds = predictions.tolist() if isinstance(predictions, Tensor) else list(predictions)
    lgs = _layer_gaps(resid, inputs.sets, None, preds, k=k, seed=seed, n_boot=n_boot,
                      confidence=confidence, embeddings=embeddings)
    return SplitLayerGaps(*lgs)


# ---------------------------------------------------------------------------------------------
# Over prompts

_R = TypeVar("_R", GapResult, LayerGap, SplitLayerGaps)


def _stack(results: Sequence[Any], field_name: str) -> np.ndarray:
    arrays = [np.asarray(getattr(r, field_name), dtype=float) for r in results]
    arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"results: {field_name} shapes differ across prompts {sorted(shapes)}; "
                         "the prompts must share the same sets and non-pairs (same data, k and seed)")
    if arrays[0].size == 0:
        raise ValueError(f"results: {field_name} is empty (was the result stored without it?)")
    return np.stack(arrays)


@overload
def combine_prompts(results: Sequence[GapResult], *, n_boot: int = ..., confidence: float = ...,
                    seed: int = ...) -> GapResult: ...
@overload
def combine_prompts(results: Sequence[LayerGap], *, n_boot: int = ..., confidence: float = ...,
                    seed: int = ...) -> LayerGap: ...
@overload
def combine_prompts(results: Sequence[SplitLayerGaps], *, n_boot: int = ..., confidence: float = ...,
                    seed: int = ...) -> SplitLayerGaps: ...
def combine_prompts(results: Sequence[_R], *, n_boot: int = 1000, confidence: float = 0.95,
                    seed: int = 0) -> _R:
    """Average per-prompt results (the paper averages over Table 3's 3 prompts), keeping them.

    The estimate is the mean of the per-prompt estimates; the interval resamples the same sets
    and non-pairs for every prompt (paired). A set with no pair in some prompt (e.g. no consistent
    pair) is left out of that prompt's mean only.

    Example:
        >>> units = [table1_unit(capture(model, inputs.prompts(model, i), keep=(), logits=False),
        ...                      inputs.sets, inputs.non_pairs) for i in range(3)]  # doctest: +SKIP
        >>> combine_prompts(units).gap.estimate  # doctest: +SKIP
        0.034
    """
    if len(results) == 0:
        raise ValueError("results: nothing to combine")
    kinds = {type(r) for r in results}
    if len(kinds) != 1:
        raise ValueError(f"results: mixed result types {sorted(t.__name__ for t in kinds)}")
    first = results[0]
    if isinstance(first, SplitLayerGaps):
        return SplitLayerGaps(*(combine_prompts([getattr(r, s) for r in results], n_boot=n_boot,
                                                confidence=confidence, seed=seed) for s in SPLITS))
    for attr in ("representation", "split", "embeddings"):
        vals = {getattr(r, attr) for r in results if hasattr(r, attr)}
        if len(vals) > 1:
            raise ValueError(f"results: mixed {attr} {sorted(map(str, vals))}")
    sc, nc = _stack(results, "set_cos"), _stack(results, "nonpair_cos")
    non_sets = {r.nonpair_sets for r in results}
    if len(non_sets) > 1:
        raise ValueError("results: the prompts have different non-pairs; combine results of the same "
                         "data, k and seed")
    s = _summarise(sc, nc, n_boot, confidence, seed, non_sets.pop())
    with ignore_nan_warnings():
        set_avg, non_avg = np.nanmean(sc, 0), nc.mean(0)
    common = dict(n_sets=s.n_sets, n_pairs=sum(r.n_pairs for r in results),
                  n_nonpairs=first.n_nonpairs, n_excluded=first.n_excluded,
                  n_prompts=len(results), per_prompt=tuple(results), nonpair_sets=first.nonpair_sets)
    if isinstance(first, GapResult):
        return replace(first, cos_para=s.cos_para[0], cos_nonpara=s.cos_nonpara[0], gap=s.gap[0],
                       set_cos=_rows(set_avg[:, 0]), nonpair_cos=_rows(non_avg[:, 0]), **common)
    return replace(first, cos_para=s.cos_para, cos_nonpara=s.cos_nonpara, gap=s.gap,
                   set_cos=_rows(set_avg), nonpair_cos=_rows(non_avg), **common)


# =====================================================================================
# Registrations (interp.registry): Table 1's gap (MRPC, TAPACO, PARAREL), Fig. 4/6/7's layer gap


def _gap_needs(cfg: Any) -> Any:
    from interp.analysis import Needs

    return Needs({"last": ("resid",) if cfg.representation == "pre_norm" else ()})


def _sentences_gap(job: Any) -> GapResult:
    inputs = job.items
    return table1_unit(job.acts, inputs.sets, inputs.non_pairs, representation=job.cfg.representation,
                       seed=job.seed, n_boot=job.n_boot)


def _pararel_gap(job: Any) -> GapResult:
    return table1_unit(job.acts["last"], pararel_inputs(job.items).sets, None,
                       representation=job.cfg.representation, seed=job.seed, n_boot=job.n_boot)


def _layer_gap(job: Any) -> SplitLayerGaps:
    return pararel_layer_gaps(job.acts["last"], job.items, list(job.result("consistency").predictions),
                              seed=job.seed, n_boot=job.n_boot)


def _pool(results: Sequence[Any], job: Any) -> Any:
    return combine_prompts(results, n_boot=job.n_boot, seed=job.seed)


def _register() -> None:
    from interp.analysis import Analysis, Needs
    from interp.registry import register

    sections = ("table1", "table45", "findings", "base_vs_ift")
    register(Analysis("gap", ("mrpc", "tapaco"), GapResult, _sentences_gap, needs=_gap_needs, pool=_pool,
                      options=("representation",), sections=sections))
    register(Analysis("gap", ("pararel",), GapResult, _pararel_gap, needs=_gap_needs, pool=_pool,
                      options=("representation",), sections=sections))
    register(Analysis("layer_gap", ("pararel",), SplitLayerGaps, _layer_gap,
                      needs=Needs({"last": ("resid",)}), requires=("consistency",), pool=_pool,
                      sections=("fig4",)))


_register()
