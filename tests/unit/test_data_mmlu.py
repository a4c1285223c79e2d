"""interp.data.mmlu on tiny fixture files."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp.data import DataFormatError, mmlu

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "mmlu"


def test_subjects() -> None:
    assert len(mmlu.SUBJECTS) == 57 == len(set(mmlu.SUBJECTS))
    assert mmlu.subject_name("high_school_mathematics") == "high school mathematics"


def test_load_real_csv_features() -> None:
    qs = mmlu.load(FIXTURE)
    assert [q.subject for q in qs] == ["alpha", "alpha", "alpha", "beta"]
    assert qs[0] == mmlu.Question("alpha", "What is 1 + 1?", ("1", "2", "3", "4"), 1)
    assert qs[1].question == "Which, with a comma, is first?"
    assert qs[2].question == "A question\r\nover two lines?" and qs[2].answer == 3
    assert qs[3].question == 'Say "hi"?' and qs[3].choices[0] == '"hi"' and qs[3].answer == 2


def test_subjects_limit_split() -> None:
    assert len(mmlu.load(FIXTURE, subjects=["alpha"], limit=2)) == 2
    assert [q.question for q in mmlu.load(FIXTURE, split="dev")] == ["Dev question?"]
    with pytest.raises(DataFormatError, match=r"gamma_test\.csv: expected"):
        mmlu.load(FIXTURE, subjects=["gamma"])
    with pytest.raises(ValueError, match="unknown MMLU split"):
        mmlu.load(FIXTURE, split="train")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('q,a,b,c,d,A\n"multi\nline",a,b,c,d\n', r"x_test\.csv, line 2: expected 6 CSV fields"),
        ("q,a,b,c,d,A\nq,a,b,c,d,E\n", r"x_test\.csv, line 2: expected an answer letter"),
    ],
)
def test_malformed(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "x_test.csv").write_text(text, encoding="utf-8")
    with pytest.raises(DataFormatError, match=match):
        mmlu.load(tmp_path)


def test_empty_csv_and_empty_split_dir(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    with pytest.raises(DataFormatError, match=r"test: expected MMLU files <subject>_test\.csv, got none"):
        mmlu.load(tmp_path)
    (tmp_path / "test" / "a_test.csv").write_text("q,a,b,c,d,A\n", encoding="utf-8")
    (tmp_path / "test" / "b_test.csv").write_text("\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"b_test\.csv: expected 6 CSV fields.*got an empty file"):
        mmlu.load(tmp_path)
    (tmp_path / "test" / "b_test.csv").write_text(" ,a,b,c,d,A\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"b_test\.csv, line 1: expected a non-empty question"):
        mmlu.load(tmp_path)
