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


def _with_row(tmp_path: Path, task: str, name: str, row: str) -> Path:
    """A copy of the fixture with ``row`` appended to ``<task>/<name>.tsv``; returns the root."""
    root = tmp_path / "becel"
    shutil.copytree(FIXTURE, root)
    file = root / task / f"{name}.tsv"
    file.write_text(file.read_text() + row)
    return root


@pytest.mark.parametrize(
    ("task", "name", "row", "match"),
    [
        ("snli", "test", "A\tB\t7\n", r"snli/test\.tsv, line 4: expected label 0, 1 or 2, got 7"),
        ("snli", "test", "A\tB\t-1\n", r"snli/test\.tsv, line 4: expected label 0, 1 or 2, got -1"),
        ("wic", "validation", "1\tbank\tA\tB\t0\t0\t1\t1\t2\n", r"wic/validation\.tsv, line 3: expected label 0 or 1, got 2"),
        ("snli", "negational", "0\tA\tB\t0\tnot B\t3\tneg\n", r"negational\.tsv, line 4: expected neg_label 0, 1 or 2"),
        ("snli", "semantic", "0\tA\tB\t5\tB too\n", r"semantic\.tsv, line 3: expected label 0, 1 or 2, got 5"),
        ("snli", "test", "\tB\t0\n", r"snli/test\.tsv, line 4: expected a non-empty premise field"),
    ],
)
def test_labels_and_fields_are_checked(tmp_path: Path, task: str, name: str, row: str, match: str) -> None:
    root = _with_row(tmp_path, task, name, row)
    load = becel.load_split if name in becel.SPLITS else becel.load_perturbed
    with pytest.raises(DataFormatError, match=match) as err:
        load(task, name, root)
    assert err.value.path == root / task / f"{name}.tsv"


def test_training_file_label_names_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "becel"
    (root / "rte").mkdir(parents=True)
    (root / "rte" / "train.tsv").write_text("sentence1\tsentence2\tlabel\nA.\tB.\t1\nC.\tD.\t7\n")
    with pytest.raises(DataFormatError, match=r"rte/train\.tsv, line 3: expected label 0 or 1, got 7"):
        becel.load_split("rte", "train", root)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    root = tmp_path / "becel"
    (root / "rte").mkdir(parents=True)
    train = root / "rte" / "train.tsv"
    train.write_text("")
    with pytest.raises(DataFormatError, match=r"rte/train\.tsv, line 1: .*an empty file"):
        becel.load_split("rte", "train", root)
    train.write_text("sentence1\tsentence2\tlabel\n")
    with pytest.raises(DataFormatError, match=r"rte/train\.tsv: expected at least one row after the header"):
        becel.load_split("rte", "train", root)


def test_load_missing_path_and_unknown_task(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"nowhere: expected a BECEL directory.*no such directory"):
        becel.load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"unknown BECEL task 'sst2'; choose one of \('snli', 'rte', 'mrpc', 'wic'\)"):
        becel.load(FIXTURE, tasks=["sst2"])
    with pytest.raises(ValueError, match="unknown BECEL perturbation 'transitive'"):
        becel.load(FIXTURE, kinds=["transitive"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match=r"empty: expected BECEL task directories"):
        becel.load(tmp_path / "empty")
    # a named task without any perturbed file raises; a missing single file is skipped
    root = tmp_path / "becel"
    shutil.copytree(FIXTURE, root)
    (root / "mrpc" / "symmetric.tsv").unlink()
    with pytest.raises(DataFormatError, match=r"becel/mrpc: expected BECEL perturbed sets"):
        becel.load(root, tasks=["mrpc"])
    assert set(becel.load(root, tasks=["snli", "rte"])) == {(t, k) for t in ["snli"] for k in becel.KINDS} | {
        ("rte", "symmetric")
    }
