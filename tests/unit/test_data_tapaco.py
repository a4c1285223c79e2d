"""interp.data.tapaco on a tiny fixture file."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp.data import DataFormatError, tapaco

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "tapaco"


def test_load_groups_sets_in_order() -> None:
    sets = tapaco.load(FIXTURE)  # a directory holding en.txt
    assert [s.id for s in sets] == ["1", "3", "4"]  # set 2 has one sentence
    assert sets[0] == tapaco.ParaphraseSet("1", ("I ate the cheese.", "I eat cheese."))
    assert sets[1].sentences == ("It is cold.", "It's cold.", '"Cold," he said.')  # no quote handling
    # last line has no trailing tab or newline
    assert sets[2].sentences == ("Good night.", "Night night.")


def test_min_size_and_limit() -> None:
    assert [s.id for s in tapaco.load(FIXTURE / "en.txt", min_size=1)] == ["1", "2", "3", "4"]
    assert [s.id for s in tapaco.load(FIXTURE, min_size=3)] == ["3"]
    assert [s.id for s in tapaco.load(FIXTURE, limit_sets=2)] == ["1", "3"]


def test_malformed(tmp_path: Path) -> None:
    bad = tmp_path / "en.txt"
    bad.write_text("1\t1\tfine\t\t\n1\tbroken line\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"en\.txt, line 2: expected 5 tab-separated fields"):
        tapaco.load(bad)
    with pytest.raises(DataFormatError, match="no such file"):
        tapaco.load(tmp_path / "missing")
