"""Shared pieces of interp.data: errors, cache and demo paths, doctest examples."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import interp.data
from interp.data import DataFormatError, DownloadError, _download, _io, cache_root, default_dir, demo_path


def test_errors() -> None:
    err = DataFormatError("x.tsv", 3, "5 fields", "2 fields")
    assert isinstance(err, ValueError) and str(err) == "x.tsv, line 3: expected 5 fields, got 2 fields"
    assert issubclass(DownloadError, RuntimeError)


def test_cache_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path))
    assert cache_root() == tmp_path / "data"
    assert default_dir("mmlu") == tmp_path / "data" / "mmlu"
    monkeypatch.delenv("INTERP_CACHE")
    assert cache_root() == Path.home() / ".cache" / "interp" / "data"


def test_demo_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert demo_path("pararel") == Path(__file__).resolve().parents[2] / "data" / "pararel"
    monkeypatch.setenv("INTERP_DEMO_DATA", str(tmp_path))
    (tmp_path / "mmlu").mkdir()
    assert demo_path("mmlu") == tmp_path / "mmlu"
    with pytest.raises(FileNotFoundError, match="INTERP_DEMO_DATA"):
        demo_path("nothing")


def test_write_atomic(tmp_path: Path) -> None:
    _io.write_atomic(tmp_path / "a" / "f.txt", "hé")
    assert (tmp_path / "a" / "f.txt").read_text(encoding="utf-8") == "hé"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["f.txt"]


@pytest.mark.parametrize(
    "module",
    [_io, _download, interp.data, interp.data.pararel, interp.data.mrpc, interp.data.tapaco, interp.data.mmlu,
     interp.data.becel, interp.data.wikipedia, interp.data.attributes],
    ids=lambda m: m.__name__,
)  # fmt: skip
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def test_decoding_error_names_the_bad_bytes_line(tmp_path: Path) -> None:
    # a BOM, many lines (more than one read buffer), and a bad byte on the last line
    file = tmp_path / "x.txt"
    file.write_bytes(b"\xef\xbb\xbf" + b"ok line\n" * 5000 + b"ab\xfe\n")
    with pytest.raises(DataFormatError, match=r"x\.txt, line 5001: expected UTF-8 text, got byte 0xfe at byte 3"):
        list(_io.iter_lines(file, "text"))
    with pytest.raises(DataFormatError, match=r"x\.txt, line 5001: expected UTF-8 text"):
        list(_io.iter_csv(file, expected="a CSV"))


def test_empty_files_and_choices(tmp_path: Path) -> None:
    file = tmp_path / "e.jsonl"
    file.write_text(" \n\n")
    with pytest.raises(DataFormatError, match=r"e\.jsonl: expected a JSON Lines file, got an empty file"):
        list(_io.iter_jsonl(file, ("k",)))
    assert list(_io.iter_jsonl(file, ("k",), allow_empty=True)) == []
    with pytest.raises(DataFormatError, match=r"y\.tsv, line 3: expected an integer label \(0 or 1\), got 'x'"):
        _io.parse_int(Path("y.tsv"), 3, "x", "label", (0, 1))
    with pytest.raises(DataFormatError, match=r"y\.tsv, line 2: expected a non-empty question"):
        _io.require_text(Path("y.tsv"), 2, "  ", "question")
