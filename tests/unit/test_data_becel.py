"""interp.data.becel on tiny fixture files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from interp.data import DataFormatError, becel
from interp.data.becel import Example

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "becel"


def test_load_split() -> None:
    assert becel.load_split("snli", "test", FIXTURE) == [
        Example("A dog runs.", "An animal moves.", 0),
        Example("A dog runs.", "A cat sleeps.", 2),
    ]
    assert becel.load_split("rte", "validation", FIXTURE)[0].text_a == 'He said "no" twice.'
    assert becel.load_split("mrpc", "test", FIXTURE)[0].text_a == "Multi\nline field."
    wic = becel.load_split("wic", "validation", FIXTURE)
    assert wic == [Example("The bank closed.", "He sat on the bank.", 0, "bank")]


def test_semantic_and_negational() -> None:
    (sem,) = becel.load_perturbed("snli", "semantic", FIXTURE)
    assert sem.original == Example("A dog runs.", "An animal moves.", 0)
    assert sem.perturbed == Example("A dog runs.", "An animal is moving.", 0)
    assert sem.expect_same and (sem.task, sem.kind) == ("snli", "semantic")
    neg = becel.load_perturbed("snli", "negational", FIXTURE)
    assert [p.perturbed.text_b for p in neg] == ["An animal does not move.", "An animal stays still."]
    assert all(p.perturbed.label == 2 and p.original.label == 0 and not p.expect_same for p in neg)
    (wneg,) = becel.load_perturbed("wic", "negational", FIXTURE)
    assert wneg.perturbed == Example("The bank closed.", "The bank did not open.", 1, "bank")
    (wsem,) = becel.load_perturbed("wic", "semantic", FIXTURE)
    assert wsem.perturbed.text_b == "He sat by the river bank." and wsem.perturbed.word == "bank"


def test_symmetric_swaps_back() -> None:
    (snli,) = becel.load_perturbed("snli", "symmetric", FIXTURE)
    assert snli.perturbed == Example("A cat sleeps.", "A dog runs.", 2)
    assert snli.original == Example("A dog runs.", "A cat sleeps.", 2)
    assert snli.expect_same
    (mrpc,) = becel.load_perturbed("mrpc", "symmetric", FIXTURE)  # two "index" columns
    assert mrpc.perturbed.text_a == 'Referring to him as " the witness " , Amrozi spoke .'
    assert mrpc.original.text_a == 'Amrozi , who called him " the witness " , spoke .'
    assert mrpc.perturbed.label == 1
    (rte,) = becel.load_perturbed("rte", "symmetric", FIXTURE)
    assert rte.original == becel.load_split("rte", "validation", FIXTURE)[0]


def test_eval_split_and_load_all() -> None:
    assert [becel.eval_split(t) for t in becel.TASKS] == ["test", "validation", "test", "validation"]
    assert [becel.eval_split(t, "symmetric") for t in becel.TASKS] == ["test", "train", "train", "train"]
    sets = becel.load(FIXTURE)
    expected = {("snli", "semantic"), ("snli", "negational"), ("snli", "symmetric"), ("rte", "symmetric"),
                ("mrpc", "symmetric"), ("wic", "semantic"), ("wic", "negational")}  # fmt: skip
    assert set(sets) == expected
    with pytest.raises(ValueError, match="unknown BECEL task"):
        becel.load_split("sst2", "test", FIXTURE)
    with pytest.raises(ValueError, match="unknown BECEL perturbation"):
        becel.load_perturbed("snli", "transitive", FIXTURE)


def test_malformed(tmp_path: Path) -> None:
    root = tmp_path / "becel"
    shutil.copytree(FIXTURE, root)
    test = root / "snli" / "test.tsv"
    test.write_text(test.read_text() + "A\tB\tC\n")
    with pytest.raises(DataFormatError, match=r"test\.tsv, line 4: expected an integer label"):
        becel.load_split("snli", "test", root)
    test.write_text(test.read_text().replace("A\tB\tC\n", "only two\tfields\n"))
    with pytest.raises(DataFormatError, match=r"test\.tsv, line 4: expected 3 fields"):
        becel.load_split("snli", "test", root)
    (root / "snli" / "semantic.tsv").write_text("index\tpremise\thypothesis\tlabel\n")
    with pytest.raises(DataFormatError, match=r"semantic\.tsv, line 1: .*missing \['hypothesis_paraphrase'\]"):
        becel.load_perturbed("snli", "semantic", root)
    with pytest.raises(DataFormatError, match="no such file"):
        becel.load_split("rte", "train", root)
