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
