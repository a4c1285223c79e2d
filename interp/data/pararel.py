"""PARAREL (Elazar et al., 2021): paraphrased cloze patterns for T-REx relations, with their facts.

Layout of a PARAREL directory (as upstream ``yanaiela/pararel/data``)::

    <path>/pattern_data/graphs_json/P<id>.jsonl   {"pattern": "The capital of [X] is [Y] .", ...}
    <path>/trex_lms_vocab/P<id>.jsonl             {"sub_label": ..., "obj_label": ..., "uuid": ...}
    <path>/lama_trex_relations.jsonl              LAMA's relation list (label, cardinality "type")

A causal LM can only fill an object slot at the end, so :attr:`Relation.causal_patterns` keeps the
patterns that end in ``[Y]`` once a final period (and any whitespace before it) is stripped.
Facts that repeat a subject with another object (e.g. P37, P176) are kept as separate facts;
score each as its own item. A relation's candidate answers (:attr:`Relation.candidates`) are the
objects of all its facts in the file, also after its facts are cut down.

Empty files: a relation whose pattern file or fact file has no line is skipped by :func:`load`,
which logs one warning with their count and ids (a dataset of 39 relations stays usable when one
download is truncated); a relation named in ``relations=`` with an empty file raises, as does a
directory without any pattern file, an empty LAMA relation list, or a malformed line anywhere.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from interp.data._download import fetch_missing
from interp.data._io import DataFormatError, PathLike, default_dir, iter_jsonl, require_file

log = logging.getLogger(__name__)

NAME = "pararel"
COMMIT = "cb5554678457beb5ac163d888f1ce8cf174b3f0b"
BASE_URL = f"https://raw.githubusercontent.com/yanaiela/pararel/{COMMIT}/data"
LAMA_COMMIT = "2bee1bfe0e2cc275c120356725651254e5c6a9c5"
LAMA_RELATIONS_URL = f"https://raw.githubusercontent.com/olenmg/LAMA/{LAMA_COMMIT}/data/relations.jsonl"

#: The relations with a pattern file in the PARAREL release (P1001 has a single pattern).
RELATION_IDS: tuple[str, ...] = (
    "P17", "P19", "P20", "P27", "P30", "P36", "P37", "P39", "P47", "P101", "P103", "P106", "P108",
    "P127", "P131", "P136", "P138", "P140", "P159", "P176", "P178", "P190", "P264", "P276", "P279",
    "P361", "P364", "P407", "P413", "P449", "P463", "P495", "P530", "P740", "P937", "P1001", "P1303",
    "P1376", "P1412",
)  # fmt: skip

PATTERN_DIR = Path("pattern_data") / "graphs_json"
FACT_DIR = Path("trex_lms_vocab")
LAMA_FILE = "lama_trex_relations.jsonl"

_FINAL_PERIOD = re.compile(r"\s*\.\s*$")
_FINAL_OBJECT = re.compile(r"\s*\[Y\]$")


@dataclass(frozen=True)
class Fact:
    """One T-REx tuple: ``Fact("France", "Paris", "uuid")`` (subject, object, uuid)."""

    subject: str
    object: str
    uuid: str


def causal_pattern(pattern: str) -> str | None:
    """The pattern usable by a causal LM (final period stripped, ends in ``[Y]``), else ``None``.

    >>> causal_pattern("The capital of [X] is [Y] .")
    'The capital of [X] is [Y]'
    >>> causal_pattern("[Y] is the capital of [X].") is None
    True
    """
    stripped = _FINAL_PERIOD.sub("", pattern.rstrip())
    return stripped if stripped.endswith("[Y]") else None


def objects(facts: Iterable[Fact]) -> tuple[str, ...]:
    """The sorted unique objects of ``facts``."""
    return tuple(sorted({f.object for f in facts}))


@dataclass(frozen=True)
class Relation:
    """A PARAREL relation: its patterns and facts.

    ``all_objects`` is the candidate set of answers: by default the objects of ``facts`` at
    construction. ``dataclasses.replace(r, facts=...)`` carries it along, so a relation cut down
    to a few facts keeps the whole relation's candidates.

    >>> r = Relation("P36", "capital", "1-1", ("The capital of [X] is [Y] .", "[Y] is the capital of [X]."),
    ...              (Fact("France", "Paris", "u1"), Fact("Peru", "Lima", "u2")))
    >>> r.causal_patterns, r.candidates
    (('The capital of [X] is [Y]',), ('Lima', 'Paris'))
    >>> r.query(r.causal_patterns[0], "France")
    'The capital of France is'
    >>> from dataclasses import replace
    >>> replace(r, facts=r.facts[:1]).candidates
    ('Lima', 'Paris')
    """

    id: str
    label: str
    cardinality: str  # "N-1" | "1-1" | "N-M" | "unknown"
    patterns: tuple[str, ...]
    facts: tuple[Fact, ...]
    all_objects: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.all_objects is None:
            object.__setattr__(self, "all_objects", objects(self.facts))
            return
        object.__setattr__(self, "all_objects", tuple(self.all_objects))
        missing = sorted({f.object for f in self.facts} - set(self.all_objects))
        if missing:
            raise ValueError(f"relation {self.id}: all_objects lacks the object(s) {missing[:5]} "
                             f"of its facts")

    @cached_property
    def causal_patterns(self) -> tuple[str, ...]:
        """Patterns whose object slot ends the sentence, final period removed, ``[Y]`` kept."""
        return tuple(p for p in map(causal_pattern, self.patterns) if p is not None)

    @property
    def candidates(self) -> tuple[str, ...]:
        """The candidate set of answers: :attr:`all_objects`, the objects of the whole relation
        (not only of the facts kept)."""
        return self.all_objects or ()

    def query(self, pattern: str, subject: str) -> str:
        """The prompt for ``subject``: ``[X]`` filled in, the final ``[Y]`` and space before it removed.

        Raises ``ValueError`` for a pattern whose object slot is not at the end.
        """
        causal = causal_pattern(pattern)
        if causal is None:
            raise ValueError(f"pattern {pattern!r} of {self.id} does not end with [Y]; use causal_patterns")
        return _FINAL_OBJECT.sub("", causal).replace("[X]", subject)


def _relation_number(rel_id: str) -> int:
    return int(rel_id[1:]) if rel_id[1:].isdigit() else 1 << 30


def _read_lama(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    return {obj["relation"]: obj for _, obj in iter_jsonl(path, ("relation",), "LAMA's relation list")}


def load(
    path: PathLike | None = None,
    *,
    relations: Iterable[str] | None = None,
    cardinality: str | Iterable[str] | None = None,
    min_causal_patterns: int = 1,
    min_patterns: int = 2,
) -> dict[str, Relation]:
    """Read PARAREL from ``path`` (default: the cache, downloading if needed).

    Returns ``{relation_id: Relation}`` ordered by relation number (P17, P19, ..., P1412). The
    defaults give the 38 relations of the paper: ``min_patterns=2`` drops P1001 (one pattern);
    fact files without a pattern file are ignored. ``relations`` selects ids (unknown ids raise
    ``ValueError``), ``cardinality`` LAMA types (``"N-1"``, ``"1-1"``, ``"N-M"``; ``"unknown"``
    when ``lama_trex_relations.jsonl`` is absent). A relation with an empty pattern or fact file
    is skipped with a logged warning (count and ids), unless named in ``relations`` (then
    :class:`DataFormatError`).

    >>> from interp.data import demo_path
    >>> rels = load(demo_path("pararel"))
    >>> rels["P36"].query(rels["P36"].causal_patterns[0], "France")
    'The capital of France is'
    """
    root = Path(path) if path is not None else download()
    pattern_dir = root / PATTERN_DIR
    if not pattern_dir.is_dir():
        raise DataFormatError(
            pattern_dir, None, "a PARAREL directory with pattern_data/graphs_json/P*.jsonl", "no such directory"
        )
    files = sorted(pattern_dir.glob("P*.jsonl"), key=lambda p: _relation_number(p.stem))
    if not files:
        raise DataFormatError(pattern_dir, None, "PARAREL pattern files P<id>.jsonl", "none")
    available = [p.stem for p in files]
    wanted = set(available)
    if relations is not None:
        wanted = set(relations)
        unknown = sorted(wanted - set(available))
        if unknown:
            raise ValueError(f"unknown PARAREL relation(s) {unknown}; available in {root}: {available}")
    types = {cardinality} if isinstance(cardinality, str) else set(cardinality) if cardinality is not None else None
    lama = _read_lama(root / LAMA_FILE)

    out: dict[str, Relation] = {}
    empty: list[str] = []  # relations skipped for an empty file, as "P17 (<file>)"
    for file in files:
        rel_id = file.stem
        info = lama.get(rel_id, {})
        card = info.get("type", "unknown")
        if rel_id not in wanted or (types is not None and card not in types):
            continue
        # an empty file raises only for a relation the caller named
        allow_empty = relations is None
        patterns = []
        for line, obj in iter_jsonl(file, ("pattern",), "PARAREL pattern lines", allow_empty=allow_empty):
            if "[X]" not in obj["pattern"] or "[Y]" not in obj["pattern"]:
                raise DataFormatError(file, line, "a pattern with [X] and [Y]", repr(obj["pattern"]))
            patterns.append(obj["pattern"])
        fact_file = require_file(root / FACT_DIR / file.name, f"the T-REx facts of {rel_id}")
        facts = tuple(
            Fact(obj["sub_label"], obj["obj_label"], obj["uuid"])
            for _, obj in iter_jsonl(
                fact_file, ("sub_label", "obj_label", "uuid"), "T-REx tuple lines", allow_empty=allow_empty
            )
        )
        if not patterns or not facts:
            empty.append(f"{rel_id} ({(file if not patterns else fact_file).relative_to(root)})")
            continue
        relation = Relation(rel_id, info.get("label", rel_id), card, tuple(patterns), facts)
        if len(relation.patterns) >= min_patterns and len(relation.causal_patterns) >= min_causal_patterns:
            out[rel_id] = relation
    if empty:
        log.warning("PARAREL in %s: skipped %d relation(s) with an empty file: %s", root, len(empty), ", ".join(empty))
    return out


def download(cache_dir: PathLike | None = None, *, force: bool = False) -> Path:
    """Fetch the PARAREL patterns and facts (pinned commit) and LAMA's relation list; return the dir.

    Files already in ``cache_dir`` (default ``$INTERP_CACHE/data/pararel``) are kept.

    >>> download("/tmp/pararel")  # doctest: +SKIP
    PosixPath('/tmp/pararel')
    """
    root = Path(cache_dir) if cache_dir is not None else default_dir(NAME)
    files = [
        (f"{BASE_URL}/pattern_data/graphs_json/{r}.jsonl", root / PATTERN_DIR / f"{r}.jsonl") for r in RELATION_IDS
    ]
    files += [(f"{BASE_URL}/trex_lms_vocab/{r}.jsonl", root / FACT_DIR / f"{r}.jsonl") for r in RELATION_IDS]
    files.append((LAMA_RELATIONS_URL, root / LAMA_FILE))
    fetch_missing(files, desc="PARAREL", force=force)
    return root
