"""BECEL (Jang et al., 2022): consistency test sets for SNLI, RTE, MRPC and WiC.

Layout as upstream ``MJ-Jang/BECEL/data``: ``<path>/<task>/{train,validation,test}.tsv`` and the
perturbed sets ``<path>/<task>/{semantic,negational,symmetric}.tsv`` (pandas-written TSV with a
header and RFC-4180 quoting). Label ids follow Hugging Face datasets: SNLI 0 entailment /
1 neutral / 2 contradiction; RTE 0 entailment / 1 not_entailment; MRPC 1 paraphrase / 0 not;
WiC 1 same sense / 0 different (:data:`LABELS`). The readers check every row: a label (or
``neg_label``) outside its task's ids, or an empty sentence (or WiC word), raises
:class:`~interp.data.DataFormatError` naming the file and line; so does a file without rows.

Perturbed pairs (see :class:`PerturbedPair`):

* ``semantic``: original ``(a, b)`` vs ``(a, paraphrase of b)``; same label, predictions should agree.
* ``negational``: original ``(a, b)`` vs ``(a, negated b)`` labelled ``neg_label``; predictions
  should differ. One original may have several negated variants (rows).
* ``symmetric``: the file holds swapped pairs; original = the row swapped back ``(b, a)``,
  perturbed = the row as given; same label, predictions should agree.

Where they come from (:func:`eval_split`): SNLI all from ``test``; RTE and WiC semantic/negational
from ``validation``; MRPC semantic/negational from ``test``; RTE, MRPC and WiC symmetric from
``train`` (swapped).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from interp.data._download import fetch_missing
from interp.data._io import DataFormatError, PathLike, Table, default_dir, parse_int, require_text

log = logging.getLogger(__name__)

NAME = "becel"
COMMIT = "f5bdd1196e46323e6ec3f4e651bcad78b1883b04"
BASE_URL = f"https://raw.githubusercontent.com/MJ-Jang/BECEL/{COMMIT}/data"
TASKS = ("snli", "rte", "mrpc", "wic")
KINDS = ("semantic", "negational", "symmetric")
SPLITS = ("train", "validation", "test")
#: The label ids of each task (Hugging Face datasets'; see the module docstring).
LABELS: dict[str, tuple[int, ...]] = {"snli": (0, 1, 2), "rte": (0, 1), "mrpc": (0, 1), "wic": (0, 1)}

# Text columns (a, b) per task; the perturbed columns are b + "_paraphrase" / b + "_neg".
_COLUMNS = {"snli": ("premise", "hypothesis"), "rte": ("sentence1", "sentence2"),
            "mrpc": ("sentence1", "sentence2"), "wic": ("sentence1", "sentence2")}  # fmt: skip
_EVAL_SPLIT = {"snli": "test", "rte": "validation", "mrpc": "test", "wic": "validation"}
# Files of each task that download() fetches. Upstream has no RTE/WiC test files; SNLI's train.tsv
# (550k pairs, large) is not fetched: fine-tune SNLI from another copy (e.g. Hugging Face "snli").
FILES = {
    "snli": ("validation", "test", *KINDS),
    "rte": ("train", "validation", *KINDS),
    "mrpc": ("train", "validation", "test", *KINDS),
    "wic": ("train", "validation", *KINDS),
}


@dataclass(frozen=True)
class Example:
    """One classification input; ``word`` is WiC's target word (``None`` for the other tasks)."""

    text_a: str
    text_b: str
    label: int
    word: str | None = None


@dataclass(frozen=True)
class PerturbedPair:
    """An original example and its perturbation.

    ``expect_same``: whether a consistent model predicts the same label for both: True for
    semantic/symmetric; for negational, whether the gold label is unchanged (False for SNLI, RTE
    and MRPC, whose negations flip the label; True for WiC, whose ``neg_label`` equals the label).
    """

    task: str
    kind: str
    original: Example
    perturbed: Example
    expect_same: bool


def example_key(example: Example) -> tuple[str, str, str]:
    """The identity of an example's text pair: whitespace-collapsed ``text_a``, ``text_b`` in
    sorted order (a symmetric pair is its original swapped) and the target word (``""`` if none).

    Example:
        >>> example_key(Example("b  x", "a", 1)) == example_key(Example("a", " b x", 0))
        True
    """
    a, b = (" ".join(t.split()) for t in (example.text_a, example.text_b))
    return (min(a, b), max(a, b), " ".join((example.word or "").split()))


def example_id(example: Example) -> str:
    """A stable id of an example (its text pair and word, hashed; label excluded).

    >>> example_id(Example("a", "b", 0)) == example_id(Example("b", "a", 1))
    True
    """
    import hashlib

    return hashlib.sha1("\x1f".join(example_key(example)).encode()).hexdigest()[:12]


def pair_id(pair: PerturbedPair) -> str:
    """A stable id of a perturbed pair (its kind and both examples' text pairs, hashed), to pair
    the same BECEL pairs across models.

    >>> p = PerturbedPair("rte", "semantic", Example("a", "b", 0), Example("a", "c", 0), True)
    >>> pair_id(p) == pair_id(p) and len(pair_id(p))
    12
    """
    import hashlib

    text = "\x1f".join((pair.kind, *example_key(pair.original), *example_key(pair.perturbed)))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _check(task: str | None, *, kind: str | None = None, split: str | None = None) -> None:
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown BECEL task {task!r}; choose one of {TASKS}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown BECEL perturbation {kind!r}; choose one of {KINDS}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown BECEL split {split!r}; choose one of {SPLITS}")


def eval_split(task: str, kind: str = "semantic") -> str:
    """The split the ``kind`` perturbed set of ``task`` was built from (see the module doc).

    >>> eval_split("snli"), eval_split("rte"), eval_split("mrpc"), eval_split("mrpc", "symmetric")
    ('test', 'validation', 'test', 'train')
    """
    _check(task, kind=kind)
    if kind == "symmetric" and task != "snli":
        return "train"
    return _EVAL_SPLIT[task]


def _root(path: PathLike | None, tasks: Iterable[str] = TASKS) -> Path:
    return Path(path) if path is not None else download(tasks=tasks)


def _example(task: str, table: Table, line: int, row: list[str], b_column: str | None = None,
             label_column: str = "label") -> Example:
    """One checked row as an :class:`Example` (``b_column`` replaces the second text column)."""
    a, b = _COLUMNS[task]
    c = table.col
    b = b_column or b
    return Example(
        require_text(table.path, line, row[c[a]], f"{a} field"),
        require_text(table.path, line, row[c[b]], f"{b} field"),
        parse_int(table.path, line, row[c[label_column]], label_column, LABELS[task]),
        require_text(table.path, line, row[c["word"]], "word field") if task == "wic" else None,
    )


def load_split(task: str, split: str, path: PathLike | None = None) -> list[Example]:
    """Read ``<path>/<task>/<split>.tsv`` (``split`` in train/validation/test).

    >>> from interp.data import demo_path
    >>> load_split("snli", "test", demo_path("becel"))[0].label in (0, 1, 2)
    True
    """
    _check(task, split=split)
    a, b = _COLUMNS[task]
    word = ("word",) if task == "wic" else ()
    table = Table(_root(path, [task]) / task / f"{split}.tsv", required=(a, b, "label", *word))
    return [_example(task, table, line, row) for line, row in table]


def load_perturbed(task: str, kind: str, path: PathLike | None = None) -> list[PerturbedPair]:
    """Read ``<path>/<task>/<kind>.tsv`` as (original, perturbed) pairs, in file order.

    >>> from interp.data import demo_path
    >>> p = load_perturbed("snli", "symmetric", demo_path("becel"))[0]
    >>> (p.original.text_a, p.original.text_b) == (p.perturbed.text_b, p.perturbed.text_a)
    True
    """
    _check(task, kind=kind)
    a, b = _COLUMNS[task]
    extra = {"semantic": (f"{b}_paraphrase",), "negational": (f"{b}_neg", "neg_label"), "symmetric": ()}[kind]
    word = ("word",) if task == "wic" else ()
    table = Table(_root(path, [task]) / task / f"{kind}.tsv", required=(a, b, "label", *extra, *word))
    out = []
    for line, row in table:
        given = _example(task, table, line, row)
        if kind == "semantic":
            original, perturbed = given, _example(task, table, line, row, extra[0])
        elif kind == "negational":
            original, perturbed = given, _example(task, table, line, row, extra[0], "neg_label")
        else:
            original, perturbed = Example(given.text_b, given.text_a, given.label, given.word), given
        out.append(PerturbedPair(task, kind, original, perturbed, expect_same=kind != "negational" or original.label == perturbed.label))
    return out


def load(
    path: PathLike | None = None, *, tasks: Iterable[str] | None = None, kinds: Iterable[str] = KINDS
) -> dict[tuple[str, str], list[PerturbedPair]]:
    """Every perturbed set of ``tasks`` x ``kinds``, keyed ``(task, kind)``.

    ``tasks=None`` takes every task with a directory under ``path`` (all of :data:`TASKS` when
    downloading). A missing ``path``, an unknown task or kind, or a named task without any of
    the ``kinds`` files raises; a task's single missing file is skipped (logged).

    >>> from interp.data import demo_path
    >>> sorted(load(demo_path("becel"), tasks=["snli"]))
    [('snli', 'negational'), ('snli', 'semantic'), ('snli', 'symmetric')]
    """
    named = tasks is not None
    tasks = list(tasks) if tasks is not None else list(TASKS)
    kinds = list(kinds)
    for task in tasks:
        _check(task)
    for kind in kinds:
        _check(None, kind=kind)
    root = _root(path, tasks)
    if not root.is_dir():
        raise DataFormatError(root, None, f"a BECEL directory with <task>/<kind>.tsv for tasks {TASKS}",
                              "not a directory" if root.exists() else "no such directory")
    if not named:
        tasks = [t for t in tasks if (root / t).is_dir()]
    out: dict[tuple[str, str], list[PerturbedPair]] = {}
    for task in tasks:
        found = [k for k in kinds if (root / task / f"{k}.tsv").is_file()]
        if not found:
            raise DataFormatError(root / task, None, f"BECEL perturbed sets {[f'{k}.tsv' for k in kinds]}",
                                  "none of them")
        if len(found) < len(kinds):
            log.info("BECEL %s: no %s in %s; skipped", task,
                     ", ".join(f"{k}.tsv" for k in kinds if k not in found), root / task)
        out.update(((task, kind), load_perturbed(task, kind, root)) for kind in found)
    if not out:
        raise DataFormatError(root, None, f"BECEL task directories {list(TASKS)}", "none of them")
    return out


def download(cache_dir: PathLike | None = None, *, tasks: Iterable[str] = TASKS, force: bool = False) -> Path:
    """Fetch the BECEL files of ``tasks`` (splits and perturbed sets, pinned commit); return the dir.

    >>> download("/tmp/becel", tasks=["rte"])  # doctest: +SKIP
    PosixPath('/tmp/becel')
    """
    root = Path(cache_dir) if cache_dir is not None else default_dir(NAME)
    tasks = list(tasks)
    for task in tasks:
        _check(task)
    files = [(f"{BASE_URL}/{t}/{name}.tsv", root / t / f"{name}.tsv") for t in tasks for name in FILES[t]]
    fetch_missing(files, desc="BECEL", force=force)
    return root
