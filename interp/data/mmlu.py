"""MMLU (Hendrycks et al., 2021): four-choice questions in 57 subjects.

Layout as in the original ``data.tar``: ``<path>/<split>/<subject>_<split>.csv`` for the splits
``dev`` (5 a subject), ``val`` and ``test``. Each CSV has no header and 6 fields ``question, A, B, C,
D, answer`` (``answer`` a letter); quoted fields may span lines and some files use CRLF.

Download source: the per-file GitHub copy of the original release named in
``../shared/data/README.md`` (``stanford-cs336/spring2024-assignment5-alignment``, pinned commit),
chosen over ``https://people.eecs.berkeley.edu/~hendrycks/data.tar`` because it fetches about 7 MB of CSVs
instead of a much larger tarball (which also holds ``auxiliary_train``); the content is the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from interp.data._download import fetch_missing
from interp.data._io import DataFormatError, PathLike, default_dir, iter_csv, require_text

NAME = "mmlu"
COMMIT = "fcbfe2b3b72cb9e5536b93ba12265d04b8ca4cca"
BASE_URL = f"https://raw.githubusercontent.com/stanford-cs336/spring2024-assignment5-alignment/{COMMIT}/data/mmlu"
SPLITS = ("dev", "val", "test")
LETTERS = "ABCD"

SUBJECTS: tuple[str, ...] = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge",
    "college_biology", "college_chemistry", "college_computer_science", "college_mathematics",
    "college_medicine", "college_physics", "computer_security", "conceptual_physics", "econometrics",
    "electrical_engineering", "elementary_mathematics", "formal_logic", "global_facts",
    "high_school_biology", "high_school_chemistry", "high_school_computer_science",
    "high_school_european_history", "high_school_geography", "high_school_government_and_politics",
    "high_school_macroeconomics", "high_school_mathematics", "high_school_microeconomics",
    "high_school_physics", "high_school_psychology", "high_school_statistics",
    "high_school_us_history", "high_school_world_history", "human_aging", "human_sexuality",
    "international_law", "jurisprudence", "logical_fallacies", "machine_learning", "management",
    "marketing", "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition",
    "philosophy", "prehistory", "professional_accounting", "professional_law", "professional_medicine",
    "professional_psychology", "public_relations", "security_studies", "sociology",
    "us_foreign_policy", "virology", "world_religions",
)  # fmt: skip


@dataclass(frozen=True)
class Question:
    """One MMLU question; ``answer`` is the index (0..3) of the correct choice."""

    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: int


def subject_name(subject: str) -> str:
    """The subject as it appears in the prompt.

    >>> subject_name("high_school_mathematics")
    'high school mathematics'
    """
    return subject.replace("_", " ")


def _read_subject(file: Path, subject: str, limit: int | None) -> list[Question]:
    expected = "6 CSV fields: question, A, B, C, D, answer (A-D)"
    out: list[Question] = []
    for line, row in iter_csv(file, expected=expected):
        if limit is not None and len(out) >= limit:
            break
        if len(row) != 6:
            raise DataFormatError(file, line, expected, f"{len(row)} fields")
        letter = row[5].strip()
        if len(letter) != 1 or letter not in LETTERS:
            raise DataFormatError(file, line, "an answer letter A, B, C or D", repr(row[5]))
        question = require_text(file, line, row[0], "question")
        out.append(Question(subject, question, (row[1], row[2], row[3], row[4]), LETTERS.index(letter)))
    return out


def load(
    path: PathLike | None = None,
    split: str = "test",
    subjects: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[Question]:
    """Read one split of MMLU, subject by subject (``limit`` = at most that many per subject).

    ``subjects=None`` reads every ``*_<split>.csv`` present (all 57 in the full release), sorted;
    a named subject without its file, an empty CSV (a truncated download), a split directory
    without any CSV or a malformed row raises :class:`DataFormatError` naming the file (and line).

    >>> from interp.data import demo_path
    >>> qs = load(demo_path("mmlu"), limit=2)
    >>> qs[0].choices[qs[0].answer] != ""
    True
    """
    if split not in SPLITS:
        raise ValueError(f"unknown MMLU split {split!r}; choose one of {SPLITS}")
    root = Path(path) if path is not None else download(splits=[split])
    split_dir = root / split
    suffix = f"_{split}.csv"
    if subjects is None:
        if not split_dir.is_dir():
            raise DataFormatError(
                split_dir, None, f"an MMLU directory with {split}/<subject>{suffix}", "no such directory"
            )
        names = sorted(p.name[: -len(suffix)] for p in split_dir.glob(f"*{suffix}"))
        if not names:
            raise DataFormatError(split_dir, None, f"MMLU files <subject>{suffix}", "none")
    else:
        names = list(subjects)
    questions: list[Question] = []
    for subject in names:
        questions += _read_subject(split_dir / f"{subject}{suffix}", subject, limit)
    return questions


def download(cache_dir: PathLike | None = None, *, splits: Iterable[str] = SPLITS, force: bool = False) -> Path:
    """Fetch the MMLU CSVs of ``splits`` (57 files each, pinned commit); return the dir.

    >>> download("/tmp/mmlu", splits=["test"])  # doctest: +SKIP
    PosixPath('/tmp/mmlu')
    """
    root = Path(cache_dir) if cache_dir is not None else default_dir(NAME)
    files = [
        (f"{BASE_URL}/{split}/{subject}_{split}.csv", root / split / f"{subject}_{split}.csv")
        for split in splits
        for subject in SUBJECTS
    ]
    fetch_missing(files, desc="MMLU", force=force)
    return root
