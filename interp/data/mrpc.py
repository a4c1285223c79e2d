"""MRPC (Dolan & Brockett, 2005), GLUE version: sentence pairs labelled paraphrase (1) or not (0).

A directory holds GLUE's ``train.tsv`` / ``dev.tsv`` (header ``Quality  #1 ID  #2 ID  #1 String
#2 String``, UTF-8 with BOM) and, for ``split="test"``, the MSR release's
``msr_paraphrase_test.txt`` (same columns, with the gold labels that GLUE's ``test.tsv`` lacks).
Quoting is OFF: the strings contain unbalanced ``"``.

:func:`download` fetches the MSR release files and GLUE's ``dev_ids.tsv`` and builds the GLUE
splits exactly as GLUE's ``download_glue_data.py`` does (:func:`build_glue_splits`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from interp.data._download import fetch_missing
from interp.data._io import (
    DataFormatError,
    PathLike,
    decoding_error,
    default_dir,
    iter_csv,
    iter_lines,
    parse_int,
    require_file,
    require_text,
    write_atomic,
)

NAME = "mrpc"
# A copy of the MSR release files and GLUE's dev_ids.tsv (see ../shared/data/README.md, MRPC).
COMMIT = "733d79335044b1b7eabb5b47a0eae0cd621dadc0"
BASE_URL = f"https://raw.githubusercontent.com/Nstats/my_bert/{COMMIT}/data/MRPC"
SOURCE_FILES = ("msr_paraphrase_train.txt", "msr_paraphrase_test.txt", "dev_ids.tsv")
SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "msr_paraphrase_test.txt"}
HEADER = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
LABELS = (0, 1)  # Quality: 1 paraphrase, 0 not


@dataclass(frozen=True)
class SentencePair:
    """One MRPC pair; ``label`` is 1 for a paraphrase, 0 otherwise."""

    id1: str
    id2: str
    sentence1: str
    sentence2: str
    label: int


def _read_pairs(path: Path) -> list[SentencePair]:
    expected = "an MRPC TSV with columns " + " | ".join(HEADER)
    require_file(path, expected)
    rows = iter_csv(path, expected=expected, delimiter="\t", quoting=csv.QUOTE_NONE)
    first = next(rows, None)
    if first is None or first[1] != HEADER:
        raise DataFormatError(path, 1, f"the header {HEADER}", repr(first[1] if first else "an empty file"))
    pairs = []
    for line, row in rows:
        if len(row) != 5:
            raise DataFormatError(
                path, line, "5 tab-separated fields (Quality, #1 ID, #2 ID, #1 String, #2 String)", f"{len(row)} fields"
            )
        label = parse_int(path, line, row[0], "Quality", LABELS)
        s1, s2 = (require_text(path, line, row[i], HEADER[i]) for i in (3, 4))
        pairs.append(SentencePair(row[1], row[2], s1, s2, label))
    if not pairs:
        raise DataFormatError(path, None, "at least one pair after the header", "a header only")
    return pairs


def load(path: PathLike | None = None, split: str = "dev") -> list[SentencePair]:
    """Read one split (``"train"``, ``"dev"``, or ``"test"`` with MSR's gold labels) of MRPC.

    >>> from interp.data import demo_path
    >>> pairs = load(demo_path("mrpc"), split="dev")
    >>> pairs[0].label in (0, 1)
    True
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown MRPC split {split!r}; choose one of {sorted(SPLIT_FILES)}")
    root = Path(path) if path is not None else download()
    return _read_pairs(root / SPLIT_FILES[split])


def paraphrases(pairs: Iterable[SentencePair]) -> list[SentencePair]:
    """The pairs labelled paraphrase (1).

    >>> paraphrases([SentencePair("1", "2", "a", "b", 1), SentencePair("3", "4", "c", "d", 0)])[0].id1
    '1'
    """
    return [p for p in pairs if p.label == 1]


def non_paraphrases(pairs: Iterable[SentencePair]) -> list[SentencePair]:
    """The pairs labelled not a paraphrase (0).

    >>> len(non_paraphrases([SentencePair("1", "2", "a", "b", 1)]))
    0
    """
    return [p for p in pairs if p.label == 0]


def build_glue_splits(source_dir: PathLike, dest_dir: PathLike | None = None) -> Path:
    """Write GLUE's ``train.tsv``, ``dev.tsv`` and ``test.tsv`` from the MSR release files.

    Same procedure as GLUE's ``download_glue_data.py``: the pairs of ``msr_paraphrase_train.txt``
    listed in ``dev_ids.tsv`` go to ``dev.tsv``, the rest to ``train.tsv`` (both keep MSR's header
    line, BOM included); ``test.tsv`` is MSR test without labels, numbered from 0.

    >>> build_glue_splits("/tmp/MRPC")  # doctest: +SKIP
    PosixPath('/tmp/MRPC')
    """
    src = Path(source_dir)
    dest = Path(dest_dir) if dest_dir is not None else src
    dev_ids = {tuple(line.strip().split("\t")) for _, line in iter_lines(src / "dev_ids.tsv", "GLUE's dev_ids.tsv")}
    splits: dict[str, list[str]] = {"train.tsv": [], "dev.tsv": []}
    test: list[str] = ["index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"]
    for name, is_test in (("msr_paraphrase_train.txt", False), ("msr_paraphrase_test.txt", True)):
        path = require_file(src / name, "a file of the MSR paraphrase release")
        # GLUE reads with io.open(encoding="utf-8"), which keeps the BOM in the header line
        with path.open(encoding="utf-8") as fh:
            try:
                header = fh.readline()
                if not is_test:
                    splits["train.tsv"].append(header)
                    splits["dev.tsv"].append(header)
                for number, row in enumerate(fh, start=2):
                    fields = row.strip().split("\t")
                    if len(fields) != 5:
                        raise DataFormatError(path, number, "5 tab-separated fields", f"{len(fields)} fields")
                    label, id1, id2, s1, s2 = fields
                    if is_test:
                        test.append(f"{len(test) - 1}\t{id1}\t{id2}\t{s1}\t{s2}\n")
                    else:
                        target = "dev.tsv" if (id1, id2) in dev_ids else "train.tsv"
                        splits[target].append(f"{label}\t{id1}\t{id2}\t{s1}\t{s2}\n")
            except UnicodeDecodeError as exc:
                raise decoding_error(path, exc, "utf-8") from exc
    splits["test.tsv"] = test
    for name, lines in splits.items():
        write_atomic(dest / name, "".join(lines))
    return dest


def download(cache_dir: PathLike | None = None, *, force: bool = False) -> Path:
    """Fetch the MSR release files and ``dev_ids.tsv``, build the GLUE splits; return the dir.

    >>> download("/tmp/mrpc")  # doctest: +SKIP
    PosixPath('/tmp/mrpc')
    """
    root = Path(cache_dir) if cache_dir is not None else default_dir(NAME)
    fetch_missing([(f"{BASE_URL}/{name}", root / name) for name in SOURCE_FILES], desc="MRPC", force=force)
    if force or not all((root / name).is_file() for name in ("train.tsv", "dev.tsv", "test.tsv")):
        build_glue_splits(root)
    return root
