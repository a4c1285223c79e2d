"""Shared helpers of the dataset readers: errors, cache and demo paths, line-numbered readers.

Every reader reports problems as :class:`DataFormatError` naming the file, the 1-based line
number and what was expected, so a broken download or a hand-edited file is easy to fix.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

PathLike = str | os.PathLike[str]


class DataFormatError(ValueError):
    """A dataset file is missing or malformed.

    >>> str(DataFormatError("x.tsv", 3, "5 tab-separated fields", "2 fields"))
    'x.tsv, line 3: expected 5 tab-separated fields, got 2 fields'
    """

    def __init__(self, path: PathLike, line: int | None, expected: str, got: str | None = None):
        self.path = Path(path)
        self.line = line
        where = f"{path}, line {line}" if line is not None else str(path)
        message = f"{where}: expected {expected}"
        if got is not None:
            message += f", got {got}"
        super().__init__(message)


class DownloadError(RuntimeError):
    """A file could not be fetched from its public source (the message says what to do)."""


def cache_root() -> Path:
    """The data cache: ``$INTERP_CACHE/data``, default ``~/.cache/interp/data``.

    >>> cache_root().name
    'data'
    """
    base = os.environ.get("INTERP_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "interp") / "data"


def default_dir(name: str) -> Path:
    """The cache directory of one dataset, e.g. ``~/.cache/interp/data/pararel``.

    >>> default_dir("mmlu").name
    'mmlu'
    """
    return cache_root() / name


def demo_path(name: str | None = None) -> Path:
    """The hand-written demo data shipped with the repository (``data/<name>``).

    Set ``INTERP_DEMO_DATA`` to use another directory. A non-editable install does not carry
    the repository's ``data/`` folder: point ``INTERP_DEMO_DATA`` (or the CLI's ``--data-dir``)
    at a checkout's ``data/`` then.

    >>> demo_path("pararel").name
    'pararel'
    """
    env = os.environ.get("INTERP_DEMO_DATA")
    root = Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "data"
    path = root / name if name else root
    if not path.exists():
        raise FileNotFoundError(
            f"demo data not found at {path}: use an editable install of the repository "
            "(pip install -e .) or set INTERP_DEMO_DATA to a checkout's data/ directory"
        )
    return path


def require_file(path: Path, expected: str) -> Path:
    """Return ``path`` if it is a file, else raise :class:`DataFormatError` (``expected`` says what)."""
    if not path.is_file():
        raise DataFormatError(path, None, expected, "no such file")
    return path


def _open_text(path: Path, expected: str, encoding: str = "utf-8-sig"):
    require_file(path, expected)
    # newline="" lets the csv module see CRLF and newlines inside quoted fields.
    return path.open("r", encoding=encoding, newline="")


def iter_lines(path: Path, expected: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` without the line end, skipping blank lines."""
    with _open_text(path, expected) as fh:
        try:
            for number, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line
        except UnicodeDecodeError as exc:
            raise DataFormatError(path, None, "UTF-8 text", str(exc)) from exc


def iter_jsonl(
    path: Path, required: Sequence[str], expected: str = "a JSON Lines file"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line, checking the ``required`` keys."""
    for number, line in iter_lines(path, expected):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                path, number, f"a JSON object with keys {list(required)}", f"invalid JSON ({exc.msg})"
            ) from exc
        if not isinstance(obj, dict) or any(not isinstance(obj.get(k), str) for k in required):
            raise DataFormatError(path, number, f"a JSON object with string keys {list(required)}", repr(line[:80]))
        yield number, obj


def iter_csv(
    path: Path, *, expected: str, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first_line_of_record, fields)`` of a CSV/TSV file; blank records are skipped."""
    with _open_text(path, expected) as fh:
        reader = csv.reader(fh, delimiter=delimiter, quoting=quoting, strict=quoting != csv.QUOTE_NONE)
        start = 1
        try:
            for row in reader:
                if row:
                    yield start, row
                start = reader.line_num + 1
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataFormatError(path, start, expected, str(exc)) from exc


class Table:
    """A delimited file with a header row; ``col`` maps a column name to its first position."""

    def __init__(self, path: Path, *, required: Sequence[str], delimiter: str = "\t", quoting: int = csv.QUOTE_MINIMAL):
        self.path = path
        expected = f"a header with columns {list(required)}"
        self._rows = iter_csv(path, expected=expected, delimiter=delimiter, quoting=quoting)
        first = next(self._rows, None)
        if first is None:
            raise DataFormatError(path, 1, expected, "an empty file")
        self.header = first[1]
        self.col: dict[str, int] = {}
        for i, name in enumerate(self.header):
            self.col.setdefault(name, i)  # BECEL's mrpc/symmetric.tsv has two "index" columns
        missing = [c for c in required if c not in self.col]
        if missing:
            raise DataFormatError(path, 1, expected, f"header {self.header} (missing {missing})")

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        width = len(self.header)
        for line, row in self._rows:
            if len(row) != width:
                raise DataFormatError(self.path, line, f"{width} fields as in the header", f"{len(row)} fields")
            yield line, row


def parse_int(path: Path, line: int, value: str, what: str) -> int:
    """``int(value)`` or a :class:`DataFormatError` naming ``what`` was expected."""
    try:
        return int(value)
    except ValueError:
        raise DataFormatError(path, line, f"an integer {what}", repr(value)) from None


def write_atomic(dest: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``dest`` through a temporary file in the same directory and ``os.replace``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
