"""Shared helpers of the dataset readers: errors, cache and demo paths, line-numbered readers.

Every reader reports problems as :class:`DataFormatError` naming the file, the 1-based line
number and what was expected, so a broken download or a hand-edited file is easy to fix. The
readers also refuse a file without records (empty, blank, or a header only) unless the caller
passes ``allow_empty=True``, and a byte that is not UTF-8 is reported at its own line.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import tempfile
from collections.abc import Collection, Iterator, Sequence
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


def decoding_error(path: Path, exc: UnicodeDecodeError, encoding: str = "utf-8-sig") -> DataFormatError:
    """The :class:`DataFormatError` of a file that does not decode, at the line of its first bad byte.

    A text reader decodes a whole buffer ahead of the line it yields, so the line being read
    when ``exc`` is raised is not the bad byte's: the file is decoded again here, as bytes, to
    find it (lines counted by ``\\n``).
    """
    try:
        raw = path.read_bytes()
        # utf-8-sig reports offsets after the BOM; plain utf-8 keeps them absolute (BOM = U+FEFF)
        raw.decode("utf-8" if encoding.lower().replace("_", "-") == "utf-8-sig" else encoding)
    except UnicodeDecodeError as bad:
        line = raw.count(b"\n", 0, bad.start) + 1
        column = bad.start - raw.rfind(b"\n", 0, bad.start)  # 1-based, in bytes
        return DataFormatError(path, line, "UTF-8 text", f"byte 0x{raw[bad.start]:02x} at byte {column} "
                                                         f"of the line ({bad.reason})")
    except OSError:
        pass
    return DataFormatError(path, None, "UTF-8 text", str(exc))


def _empty(path: Path, expected: str) -> DataFormatError:
    return DataFormatError(path, None, expected, "an empty file")


def iter_lines(path: Path, expected: str, *, allow_empty: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` without the line end, skipping blank lines.

    Raises :class:`DataFormatError` for a file without a non-blank line (unless ``allow_empty``)
    and for a byte that is not UTF-8 (at its line).
    """
    n = 0
    with _open_text(path, expected) as fh:
        try:
            for number, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    n += 1
                    yield number, line
        except UnicodeDecodeError as exc:
            raise decoding_error(path, exc) from exc
    if n == 0 and not allow_empty:
        raise _empty(path, expected)


def iter_jsonl(
    path: Path, required: Sequence[str], expected: str = "a JSON Lines file", *, allow_empty: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; the ``required`` keys must hold
    non-empty strings. An empty file raises unless ``allow_empty``."""
    for number, line in iter_lines(path, expected, allow_empty=allow_empty):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                path, number, f"a JSON object with keys {list(required)}", f"invalid JSON ({exc.msg})"
            ) from exc
        if not isinstance(obj, dict) or any(not isinstance(obj.get(k), str) or not obj[k].strip() for k in required):
            raise DataFormatError(
                path, number, f"a JSON object with non-empty string keys {list(required)}", repr(line[:80])
            )
        yield number, obj


def iter_csv(
    path: Path,
    *,
    expected: str,
    delimiter: str = ",",
    quoting: int = csv.QUOTE_MINIMAL,
    allow_empty: bool = False,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first_line_of_record, fields)`` of a CSV/TSV file; blank records are skipped.

    A file without a record raises :class:`DataFormatError` unless ``allow_empty``.
    """
    n = 0
    with _open_text(path, expected) as fh:
        reader = csv.reader(fh, delimiter=delimiter, quoting=quoting, strict=quoting != csv.QUOTE_NONE)
        start = 1
        try:
            for row in reader:
                if row:
                    n += 1
                    yield start, row
                start = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise decoding_error(path, exc) from exc
        except csv.Error as exc:
            raise DataFormatError(path, start, expected, str(exc)) from exc
    if n == 0 and not allow_empty:
        raise _empty(path, expected)


class Table:
    """A delimited file with a header row; ``col`` maps a column name to its first position.

    Iterating yields ``(line, fields)`` per row and raises :class:`DataFormatError` for a row of
    another width, or after a header without any row (unless ``allow_empty``).
    """

    def __init__(
        self,
        path: Path,
        *,
        required: Sequence[str],
        delimiter: str = "\t",
        quoting: int = csv.QUOTE_MINIMAL,
        allow_empty: bool = False,
    ):
        self.path = path
        self.allow_empty = allow_empty
        expected = f"a header with columns {list(required)}"
        self._rows = iter_csv(path, expected=expected, delimiter=delimiter, quoting=quoting, allow_empty=True)
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
        n = 0
        for line, row in self._rows:
            if len(row) != width:
                raise DataFormatError(self.path, line, f"{width} fields as in the header", f"{len(row)} fields")
            n += 1
            yield line, row
        if n == 0 and not self.allow_empty:
            raise DataFormatError(self.path, None, "at least one row after the header", "a header only")


def _choices_text(choices: Collection[int]) -> str:
    """``"0, 1 or 2"``."""
    items = [str(c) for c in sorted(choices)]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def parse_int(path: Path, line: int, value: str, what: str, choices: Collection[int] | None = None) -> int:
    """``int(value)`` or a :class:`DataFormatError` naming ``what`` was expected; with ``choices``
    the value must be one of them (e.g. a task's label ids).

    >>> parse_int(Path("x.tsv"), 2, "1", "label", (0, 1))
    1
    >>> parse_int(Path("x.tsv"), 3, "7", "label", (0, 1, 2))
    Traceback (most recent call last):
    interp.data._io.DataFormatError: x.tsv, line 3: expected label 0, 1 or 2, got 7
    """
    allowed = f" ({_choices_text(choices)})" if choices is not None else ""
    try:
        number = int(value)
    except ValueError:
        raise DataFormatError(path, line, f"an integer {what}{allowed}", repr(value)) from None
    if choices is not None and number not in choices:
        raise DataFormatError(path, line, f"{what} {_choices_text(choices)}", str(number))
    return number


def require_text(path: Path, line: int, value: str, what: str) -> str:
    """``value`` if it is not blank, else a :class:`DataFormatError` naming the field ``what``."""
    if not value.strip():
        raise DataFormatError(path, line, f"a non-empty {what}", "an empty field")
    return value


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
