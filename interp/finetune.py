"""Classifiers for BECEL (SNLI, RTE, MRPC, WiC) built on a language model.

This module runs models (beside :mod:`interp.capture` and :mod:`interp.scoring`): it reads the
BECEL files, captures features and trains; :func:`interp.analyses.consistency.becel_consistency`
turns its predictions into Table 6's numbers.

Default: a **linear probe** - multinomial logistic regression (L2-regularised, standardised
features, full-batch L-BFGS in float64: deterministic) on frozen features: the final-normed
last-token representation of the input (``capture(..., keep=()).final``, the same "outermost
representation" as Table 1). It needs one forward per distinct text and runs on a CPU; the paper
fine-tunes the whole model instead (Appendix C.2), so absolute numbers are not comparable, only
the protocol. :func:`finetune_classifier` does that (a linear head on the last token, lr in
{5e-4, 1e-4, 5e-5}, batch 32, AdamW with linear decay, up to 10 epochs, early stopping on a
validation split): meant for a GPU.

Input text (one string per example, plain text for base and chat models alike)::

    SNLI, RTE:  "Premise: {a}\\nHypothesis: {b}\\nDoes the premise entail the hypothesis?"
    MRPC:       "Sentence 1: {a}\\nSentence 2: {b}\\nDo the two sentences mean the same thing?"
    WiC:        "Sentence 1: {a}\\nSentence 2: {b}\\nIs the word \\"{word}\\" used with the same
                 meaning in both sentences?"

Training data (:func:`run_becel`): the task's ``train`` split; SNLI's BECEL ``train.tsv`` is not in
``../shared/data/becel`` (too large), so SNLI trains on its ``validation`` split and is evaluated
on ``test``. Accuracy is measured on the split the perturbed sets were built from
(``becel.eval_split``: SNLI/MRPC test, RTE/WiC validation). No evaluation row is ever trained on
(:func:`split_train_eval`; RTE/MRPC/WiC's symmetric pairs are swapped training rows, so a capped
share of the training split is held out for them). The L2 strength is chosen on a seeded
20% validation part of the training examples, then the probe is refitted on all of them.

Example:
    >>> from interp.data import becel
    >>> train = becel.load_split("mrpc", "train", path)[:200]  # doctest: +SKIP
    >>> probe = fit_probe(model, "mrpc", train)  # doctest: +SKIP
    >>> probe_predict(model, probe, becel.load_split("mrpc", "test", path)[:5])  # doctest: +SKIP
    [1, 1, 0, 1, 1]
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.capture import capture, tokenize_prompts
from interp.kv_cache import pad_left
from interp.models import Model
from interp.serial import Serializable

N_CLASSES = {"snli": 3, "rte": 2, "mrpc": 2, "wic": 2}
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
FINETUNE_LRS = (5e-4, 1e-4, 5e-5)


def becel_text(task: str, example: Any) -> str:
    """The classifier's input text for one BECEL example (formats in the module docstring).

    Example:
        >>> from interp.data.becel import Example
        >>> print(becel_text("snli", Example("A dog runs.", "An animal moves.", 0)))
        Premise: A dog runs.
        Hypothesis: An animal moves.
        Does the premise entail the hypothesis?
    """
    a, b = example.text_a, example.text_b
    if task in ("snli", "rte"):
        return f"Premise: {a}\nHypothesis: {b}\nDoes the premise entail the hypothesis?"
    if task == "mrpc":
        return f"Sentence 1: {a}\nSentence 2: {b}\nDo the two sentences mean the same thing?"
    if task == "wic":
        if not example.word:
            raise ValueError(f"wic example {example!r}: no target word")
        return (f"Sentence 1: {a}\nSentence 2: {b}\nIs the word \"{example.word}\" used with the "
                "same meaning in both sentences?")
    raise ValueError(f"unknown BECEL task {task!r}; choose one of {tuple(N_CLASSES)}")


# --------------------------------------------------------------------------------------------
# logistic regression (pure)


@dataclass(frozen=True)
class LinearProbe(Serializable):
    """Multinomial logistic regression on standardised features: ``softmax(((x - mean) / std)
    @ weight + bias)``. JSON round-trippable."""

    mean: list[float]
    std: list[float]
    weight: list[list[float]]  # [d, n_classes]
    bias: list[float]
    l2: float
    task: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.bias)

    def logits(self, x: Float[Tensor, "n d"] | np.ndarray) -> Float[Tensor, "n c"]:
        x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            raise ValueError(f"features: shape {tuple(x.shape)}, expected (n, {len(self.mean)})")
        z = (x - torch.tensor(self.mean, dtype=torch.float64)) / torch.tensor(self.std, dtype=torch.float64)
        return z @ torch.tensor(self.weight, dtype=torch.float64) + torch.tensor(self.bias, dtype=torch.float64)

    def predict_proba(self, x: Float[Tensor, "n d"] | np.ndarray) -> Float[Tensor, "n c"]:
        return torch.softmax(self.logits(x), dim=-1)

    def predict(self, x: Float[Tensor, "n d"] | np.ndarray) -> list[int]:
        return self.logits(x).argmax(-1).tolist()


def fit_logistic(
    x: Float[Tensor, "n d"] | np.ndarray,
    y: Sequence[int],
    *,
    l2: float = 1e-2,
    n_classes: int | None = None,
    max_iter: int = 500,
    task: str = "",
) -> LinearProbe:
    """Fit a multinomial logistic regression minimising
    ``mean cross-entropy + l2 / 2 * ||W||^2`` (bias unpenalised) on standardised features,
    with full-batch L-BFGS in float64 (deterministic).

    Example:
        >>> p = fit_logistic([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1], l2=1e-3)
        >>> p.predict([[0.2], [2.8]])
        [0, 1]
    """
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    if xt.ndim != 2 or len(xt) == 0:
        raise ValueError(f"features: expected a non-empty (n, d) array, got shape {tuple(xt.shape)}")
    if len(yt) != len(xt):
        raise ValueError(f"labels: {len(yt)} labels for {len(xt)} feature rows")
    if not torch.isfinite(xt).all():
        raise ValueError("features: contain NaN or inf")
    c = int(n_classes if n_classes is not None else int(yt.max()) + 1)
    if yt.min() < 0 or yt.max() >= c:
        raise ValueError(f"labels: must lie in 0..{c - 1}, got {sorted(set(yt.tolist()))}")
    mean = xt.mean(0)
    std = xt.std(0, unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    z = (xt - mean) / std
    w = torch.zeros(z.shape[1], c, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(c, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ w + b, yt) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return LinearProbe(mean.tolist(), std.tolist(), w.detach().tolist(), b.detach().tolist(),
                       float(l2), task)


def select_l2(x: np.ndarray | Tensor, y: Sequence[int], *, grid: Sequence[float] = L2_GRID,
              val_fraction: float = 0.2, n_classes: int | None = None, seed: int = 0) -> float:
    """The L2 strength of ``grid`` with the best accuracy on a seeded held-out part of the data
    (ties: the stronger regularisation)."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y)
    n = len(ya)
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n - n_val < 2:
        return float(max(grid))
    perm = np.random.default_rng(seed).permutation(n)
    val, tr = perm[:n_val], perm[n_val:]
    c = n_classes if n_classes is not None else int(ya.max()) + 1
    scores = []
    for l2 in grid:
        p = fit_logistic(xa[tr], ya[tr], l2=l2, n_classes=c)
        scores.append((float(np.mean(np.array(p.predict(xa[val])) == ya[val])), l2))
    return max(scores)[1]


# --------------------------------------------------------------------------------------------
# probes on a model


def features(model: Model, task: str, examples: Sequence[Any], *, batch_size: int = 16
             ) -> Float[Tensor, "n d_model"]:
    """Final-normed last-token representations of the examples' input texts (one forward per
    distinct text): the outermost representation of Table 1 (an encoder-decoder's: the
    decoder's final-normed first position, the text being the encoder's input)."""
    if len(examples) == 0:
        raise ValueError("examples: empty")
    texts = [becel_text(task, e) for e in examples]
    unique = list(dict.fromkeys(texts))
    acts = capture(model, unique, keep=(), logits=False, batch_size=batch_size, progress=False)
    where = {t: i for i, t in enumerate(unique)}
    return acts.final[torch.tensor([where[t] for t in texts])]


def fit_probe(model: Model, task: str, train: Sequence[Any], *, l2: float | None = None,
              batch_size: int = 16, seed: int = 0) -> LinearProbe:
    """A linear probe for ``task`` on ``model``'s frozen features of ``train``; ``l2=None``
    selects it with :func:`select_l2`.

    Example:
        >>> probe = fit_probe(model, "rte", becel.load_split("rte", "train", path)[:100])  # doctest: +SKIP
    """
    c = N_CLASSES.get(task)
    if c is None:
        raise ValueError(f"unknown BECEL task {task!r}; choose one of {tuple(N_CLASSES)}")
    x = features(model, task, train, batch_size=batch_size).double().numpy()
    y = [e.label for e in train]
    if l2 is None:
        l2 = select_l2(x, y, n_classes=c, seed=seed)
    return fit_logistic(x, y, l2=l2, n_classes=c, task=task)


def probe_predict(model: Model, probe: LinearProbe, examples: Sequence[Any], *,
                  batch_size: int = 16) -> list[int]:
    """The probe's predicted label for each example."""
    if len(examples) == 0:
        return []
    return probe.predict(features(model, probe.task, examples, batch_size=batch_size).double())


# --------------------------------------------------------------------------------------------
# full fine-tuning (GPU)


class _Classifier(torch.nn.Module):
    """A causal LM body with a linear head on the final-normed last token (left padding).

    An encoder-decoder (T5): the encoder reads the text (padding masked; T5's relative positions
    make the padding side irrelevant) and the head reads the decoder's final-normed first
    position (the decoder fed its start token), the same vector as the probe's features."""

    def __init__(self, hf: Any, n_classes: int):
        super().__init__()
        self.lm = hf
        self.head = torch.nn.Linear(hf.config.hidden_size, n_classes)

    def forward(self, toks: Int[Tensor, "b pos"], mask: Int[Tensor, "b pos"]) -> Tensor:
        if getattr(self.lm.config, "is_encoder_decoder", False):
            start = torch.full((toks.shape[0], 1), self.lm.config.decoder_start_token_id,
                               dtype=torch.long, device=toks.device)
            out = self.lm(input_ids=toks, attention_mask=mask, decoder_input_ids=start,
                          output_hidden_states=True, use_cache=False)
            return self.head(out.decoder_hidden_states[-1][:, 0].float())
        out = self.lm(input_ids=toks, attention_mask=mask, output_hidden_states=True,
                      logits_to_keep=1)
        return self.head(out.hidden_states[-1][:, -1].float())


@dataclass
class FineTuned:
    """A fine-tuned classifier (its own copy of the weights) and its training record."""

    module: Any
    task: str
    tokenizer_model: Model
    lr: float
    epochs_run: int
    val_accuracy: float

    def predict(self, examples: Sequence[Any], *, batch_size: int = 32) -> list[int]:
        if len(examples) == 0:
            return []
        return _predict(self.module, self.tokenizer_model, self.task, examples, batch_size)


def _batches(model: Model, task: str, examples: Sequence[Any], order: Sequence[int],
             batch_size: int, max_length: int) -> Any:
    ids = tokenize_prompts(model, [becel_text(task, examples[i]) for i in order])
    ids = [x[-max_length:] for x in ids]
    for s in range(0, len(order), batch_size):
        toks, mask = pad_left(ids[s:s + batch_size], model.pad_token_id, model.device)
        yield list(order[s:s + batch_size]), toks, mask


def _predict(module: Any, model: Model, task: str, examples: Sequence[Any], batch_size: int,
             max_length: int = 512) -> list[int]:
    module.eval()
    out = [0] * len(examples)
    with torch.inference_mode():
        for idx, toks, mask in _batches(model, task, examples, range(len(examples)), batch_size, max_length):
            for i, p in zip(idx, module(toks, mask).argmax(-1).tolist()):
                out[i] = p
    return out


def finetune_classifier(
    model: Model,
    task: str,
    train: Sequence[Any],
    val: Sequence[Any],
    *,
    lrs: Sequence[float] = FINETUNE_LRS,
    batch_size: int = 32,
    epochs: int = 10,
    patience: int = 2,
    max_length: int = 512,
    seed: int = 0,
) -> FineTuned:
    """Fine-tune a copy of ``model`` with a classification head (Appendix C.2): for each
    learning rate, AdamW with linear decay to 0 over ``epochs``, early stopping when the
    validation accuracy has not improved for ``patience`` epochs; the best (lr, epoch) on
    ``val`` is returned. ``model`` itself is not modified. Meant for a GPU.

    Example:
        >>> ft = finetune_classifier(model, "rte", train, val)  # doctest: +SKIP
        >>> ft.predict(test)[:3], ft.lr  # doctest: +SKIP
    """
    if task not in N_CLASSES:
        raise ValueError(f"unknown BECEL task {task!r}; choose one of {tuple(N_CLASSES)}")
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"train ({len(train)}) and val ({len(val)}) must be non-empty")
    labels = torch.tensor([e.label for e in train])
    best: FineTuned | None = None
    for lr in lrs:
        torch.manual_seed(seed)
        # float32 training on a copy of the weights; the caller's model is left untouched
        module = _Classifier(copy.deepcopy(model.hf_model), N_CLASSES[task]).to(model.device).float()
        opt = torch.optim.AdamW(module.parameters(), lr=lr)
        steps = epochs * math.ceil(len(train) / batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / steps))
        rng = np.random.default_rng(seed)
        best_acc, best_state, best_epoch, stale = -1.0, None, 0, 0
        for epoch in range(epochs):
            module.train()
            with torch.enable_grad():
                for idx, toks, mask in _batches(model, task, train, rng.permutation(len(train)).tolist(),
                                                batch_size, max_length):
                    loss = torch.nn.functional.cross_entropy(module(toks, mask), labels[idx].to(model.device))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
            preds = _predict(module, model, task, val, batch_size, max_length)
            acc = float(np.mean([p == e.label for p, e in zip(preds, val)]))
            if acc > best_acc:
                best_acc, best_epoch, stale = acc, epoch + 1, 0
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
            else:
                stale += 1
                if stale >= patience:
                    break
        if best is None or best_acc > best.val_accuracy:
            module.load_state_dict(best_state)
            best = FineTuned(module.eval(), task, model, lr, best_epoch, best_acc)
        else:
            del module
    assert best is not None
    return best


# --------------------------------------------------------------------------------------------
# the BECEL runner


def _sample(items: Sequence[Any], n: int | None, seed: int) -> list[Any]:
    if n is None or n >= len(items):
        return list(items)
    idx = np.sort(np.random.default_rng(seed).choice(len(items), size=n, replace=False))
    return [items[i] for i in idx]


@dataclass(frozen=True)
class BecelSplit:
    """The data of one BECEL run (:func:`split_train_eval`): ``train`` (the sampled training
    examples, none of them an evaluation row), ``test`` (accuracy), ``pairs`` (per perturbation
    kind), ``n_excluded`` (training rows removed because they are evaluation rows) and
    ``train_split`` (the split ``train`` came from)."""

    train: list[Any]
    test: list[Any]
    pairs: dict[str, list[Any]]
    n_excluded: int
    train_split: str

    @property
    def evaluation(self) -> list[Any]:
        """Every example predicted for evaluation: ``test``, then each pair's original and
        perturbed example, kind by kind."""
        return self.test + [e for ps in self.pairs.values() for p in ps for e in (p.original, p.perturbed)]


def _check_count(name: str, n: int | None) -> None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"{name}: must be None or a positive integer, got {n!r}")


def split_train_eval(
    task: str,
    path: str | Path,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    n_pairs: int | None = None,
    symmetric_max_share: float = 0.2,
    seed: int = 0,
) -> BecelSplit:
    """Training and evaluation data of a BECEL task such that no evaluation row is trained on
    (the rules in :func:`run_becel`); needs no model.

    Example:
        >>> s = split_train_eval("wic", "../shared/data/becel")  # doctest: +SKIP
        >>> len(s.pairs["symmetric"]), s.n_excluded, len(s.train)  # doctest: +SKIP
        (1085, 1086, 4342)
    """
    from interp.analyses.consistency import BECEL_KINDS
    from interp.data import becel

    if task not in N_CLASSES:
        raise ValueError(f"unknown BECEL task {task!r}; choose one of {tuple(N_CLASSES)}")
    for name, n in (("n_train", n_train), ("n_test", n_test), ("n_pairs", n_pairs)):
        _check_count(name, n)
    if isinstance(symmetric_max_share, bool) or not isinstance(symmetric_max_share, (int, float)) \
            or not 0 < symmetric_max_share < 1:
        raise ValueError(f"symmetric_max_share: must be a number in (0, 1), got {symmetric_max_share!r}")
    root = Path(path)
    train_split = "train" if (root / task / "train.tsv").is_file() else "validation"
    rows = becel.load_split(task, train_split, root)
    test = _sample(becel.load_split(task, becel.eval_split(task), root), n_test, seed)
    pairs = {}
    for kind in BECEL_KINDS:
        if not (root / task / f"{kind}.tsv").is_file():
            continue
        n = n_pairs
        if kind == "symmetric" and becel.eval_split(task, kind) == train_split:
            cap = math.floor(symmetric_max_share * len(rows))
            n = cap if n is None else min(n, cap)
        if n != 0:
            pairs[kind] = _sample(becel.load_perturbed(task, kind, root), n, seed)
    split = BecelSplit([], test, pairs, 0, train_split)
    held_out = {becel.example_key(e) for e in split.evaluation}
    pool = [e for e in rows if becel.example_key(e) not in held_out]
    if not pool:
        raise ValueError(f"{root / task / train_split}.tsv: every training row is an evaluation "
                         "row; nothing is left to train on")
    return replace(split, train=_sample(pool, n_train, seed), n_excluded=len(rows) - len(pool))


def run_becel(
    model: Model,
    task: str,
    path: str | Path | None = None,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    n_pairs: int | None = None,
    method: str = "probe",
    symmetric_max_share: float = 0.2,
    seed: int = 0,
    batch_size: int = 16,
    n_boot: int = 1000,
) -> Any:
    """Train a classifier for ``task`` and measure its BECEL consistency and accuracy
    (:class:`~interp.analyses.consistency.BecelTask`).

    No evaluation row is trained on (:func:`split_train_eval`): every row of the training split
    whose text pair (:func:`interp.data.becel.example_key`: either order, whitespace-collapsed, with WiC's word)
    equals a test example or either side of an evaluated pair is removed before ``n_train`` is
    sampled; ``n_train`` and ``n_excluded`` of the result count them. RTE, MRPC and WiC build
    their symmetric set from the training split (MRPC's and WiC's is all of it, swapped), so their
    evaluated symmetric pairs are a seeded sample of at most ``n_pairs`` and at most
    ``floor(symmetric_max_share * len(training split))``; the rest of the split trains.

    Args:
        path: the BECEL directory (default: the data cache, downloading if needed).
        n_train, n_test, n_pairs: seeded subsets (training examples, evaluation examples, pairs
            per perturbation kind) for quick runs; ``None`` = all.
        method: ``"probe"`` (default, CPU) or ``"finetune"`` (:func:`finetune_classifier`, GPU).
        symmetric_max_share: the cap above, in (0, 1).

    Example:
        >>> run_becel(model, "mrpc", "../shared/data/becel", n_train=200, n_test=100, n_pairs=50)  # doctest: +SKIP
    """
    from interp.analyses.consistency import becel_consistency
    from interp.data import becel

    if method not in ("probe", "finetune"):
        raise ValueError(f"method {method!r}: use 'probe' or 'finetune'")
    root = Path(path) if path is not None else becel.download(tasks=[task])
    split = split_train_eval(task, root, n_train=n_train, n_test=n_test, n_pairs=n_pairs,
                             symmetric_max_share=symmetric_max_share, seed=seed)
    train, test, pairs, evaluate = split.train, split.test, split.pairs, split.evaluation
    if method == "probe":
        probe = fit_probe(model, task, train, batch_size=batch_size, seed=seed)
        preds = probe_predict(model, probe, evaluate, batch_size=batch_size)
    else:
        tr, va = train[: int(len(train) * 0.9)], train[int(len(train) * 0.9):]
        preds = finetune_classifier(model, task, tr, va, seed=seed).predict(evaluate)
    k = len(test)
    orig: dict[str, list[int]] = {}
    pert: dict[str, list[int]] = {}
    for kind, ps in pairs.items():
        block = preds[k:k + 2 * len(ps)]
        orig[kind], pert[kind] = block[0::2], block[1::2]
        k += 2 * len(ps)
    result = becel_consistency(task, orig, pert, pairs, [e.label for e in test], preds[:len(test)],
                               test_ids=[becel.example_id(e) for e in test], n_boot=n_boot, seed=seed)
    return replace(result, method=method, n_train=len(train), n_excluded=split.n_excluded)
