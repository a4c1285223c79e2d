"""interp.data.mrpc on tiny fixture files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from interp.data import DataFormatError, mrpc

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "mrpc"


def test_load_dev_quoting_off_and_bom() -> None:
    pairs = mrpc.load(FIXTURE, split="dev")
    assert len(pairs) == 3
    assert pairs[0] == mrpc.SentencePair("11", "12", "The cat sat on the mat.", "On the mat sat the cat.", 1)
    # an unbalanced quote must not swallow the rest of the file
    assert pairs[1].sentence1 == '"Quoted start, never closed.'
    assert [p.id1 for p in mrpc.paraphrases(pairs)] == ["11", "15"]
    assert [p.id1 for p in mrpc.non_paraphrases(pairs)] == ["13"]


def test_splits() -> None:
    assert [p.id1 for p in mrpc.load(FIXTURE, split="train")] == ["21"]
    test = mrpc.load(FIXTURE, split="test")  # MSR test file, with gold labels
    assert [(p.id1, p.label) for p in test] == [("31", 1), ("33", 0)]
    with pytest.raises(ValueError, match="unknown MRPC split"):
        mrpc.load(FIXTURE, split="validation")


def test_build_glue_splits(tmp_path: Path) -> None:
    for name in mrpc.SOURCE_FILES:
        shutil.copy(FIXTURE / name, tmp_path / name)
    mrpc.build_glue_splits(tmp_path)
    # the fixture's dev.tsv was written the way GLUE's script writes it
    assert (tmp_path / "dev.tsv").read_bytes() == (FIXTURE / "dev.tsv").read_bytes()
    assert (tmp_path / "train.tsv").read_bytes() == (FIXTURE / "train.tsv").read_bytes()
    assert (tmp_path / "test.tsv").read_text(encoding="utf-8").splitlines() == [
        "index\t#1 ID\t#2 ID\t#1 String\t#2 String",
        "0\t31\t32\tShe left early.\tShe went home early.",
        "1\t33\t34\tThe shop opens at nine.\tThe shop sells bread.",
    ]


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("1\t1\t2\tonly four fields\n", r"dev\.tsv, line 3: expected 5 tab-separated fields"),
        ("yes\t1\t2\ta\tb\n", r"dev\.tsv, line 3: expected an integer Quality"),
        ("2\t1\t2\ta\tb\n", r"dev\.tsv, line 3: expected Quality 0 or 1"),
    ],
)
def test_malformed(tmp_path: Path, row: str, match: str) -> None:
    lines = (FIXTURE / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "dev.tsv").write_text(lines[0] + lines[1] + row, encoding="utf-8")
    with pytest.raises(DataFormatError, match=match):
        mrpc.load(tmp_path)


def test_bad_header_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "dev.tsv").write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"dev\.tsv, line 1: expected the header"):
        mrpc.load(tmp_path)
    with pytest.raises(DataFormatError, match=r"train\.tsv: expected an MRPC TSV"):
        mrpc.load(tmp_path, split="train")


def test_bad_byte_names_its_own_line(tmp_path: Path) -> None:
    """The reader decodes ahead; the error must name the bad byte's line, not the buffer's first."""
    lines = (FIXTURE / "dev.tsv").read_bytes().splitlines(keepends=True)
    (tmp_path / "dev.tsv").write_bytes(b"".join(lines) + b"1\t7\t8\tBad \xff byte.\tFine.\n")
    with pytest.raises(DataFormatError, match=rf"dev\.tsv, line {len(lines) + 1}: expected UTF-8 text, got byte 0xff at byte 11") as err:
        mrpc.load(tmp_path)
    assert err.value.line == len(lines) + 1


def test_empty_header_only_and_empty_sentence(tmp_path: Path) -> None:
    header = (FIXTURE / "dev.tsv").read_text(encoding="utf-8-sig").splitlines(keepends=True)[0]
    dev = tmp_path / "dev.tsv"
    dev.write_text("", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"dev\.tsv: expected an MRPC TSV.*got an empty file"):
        mrpc.load(tmp_path)
    dev.write_text(header, encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"dev\.tsv: expected at least one pair after the header"):
        mrpc.load(tmp_path)
    dev.write_text(header + "1\t1\t2\tA.\t \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"dev\.tsv, line 2: expected a non-empty #2 String"):
        mrpc.load(tmp_path)
