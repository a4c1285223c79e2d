"""interp.data on the real files in ../shared/data (skipped when absent) and on the demo set in data/."""

from __future__ import annotations

import collections
import os
import shutil
from pathlib import Path

import pytest

from interp.data import attributes, becel, demo_path, mmlu, mrpc, pararel, tapaco, wikipedia

pytestmark = pytest.mark.integration

SHARED = Path(os.environ.get("INTERP_SHARED_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data")


@pytest.fixture(scope="module")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared/data not found: {SHARED} (set INTERP_SHARED_DATA to the real data)")
    return SHARED


# --- real data --------------------------------------------------------------------------------------


def test_pararel_real(shared: Path) -> None:
    rels = pararel.load(shared / "pararel")
    assert len(rels) == 38
    assert sum(len(r.patterns) for r in rels.values()) == 328
    assert sum(len(r.facts) for r in rels.values()) == 26_946
    assert {k: len(rels[k].causal_patterns) for k in ("P36", "P37", "P103", "P176")} == {
        "P36": 8, "P37": 1, "P103": 2, "P176": 7,
    }  # fmt: skip
    assert collections.Counter(r.cardinality for r in rels.values()) == {"N-1": 23, "N-M": 13, "1-1": 2}
    assert "P1001" not in rels and "P31" not in rels
    assert list(rels) == sorted(rels, key=lambda r: int(r[1:]))
    # the download list is exactly the release's pattern files
    files = sorted(p.stem for p in (shared / "pararel" / "pattern_data" / "graphs_json").glob("P*.jsonl"))
    assert sorted(pararel.RELATION_IDS) == files
    p36 = rels["P36"]
    assert p36.query(p36.causal_patterns[0], "France") == "The capital of France is"
    assert len(p36.facts) == 471
    assert len({f.subject for f in rels["P37"].facts}) < len(rels["P37"].facts)  # repeated subjects kept


def test_mmlu_real(shared: Path) -> None:
    test = mmlu.load(shared / "mmlu")
    assert len(test) == 14_042
    assert sorted({q.subject for q in test}) == sorted(mmlu.SUBJECTS)
    counts = collections.Counter(q.subject for q in test)
    assert (counts["abstract_algebra"], counts["professional_law"], counts["miscellaneous"]) == (100, 1534, 783)
    assert len(mmlu.load(shared / "mmlu", split="dev")) == 285
    assert len(mmlu.load(shared / "mmlu", split="val")) == 1531
    assert len(mmlu.load(shared / "mmlu", subjects=["anatomy", "virology"], limit=3)) == 6
    first = mmlu.load(shared / "mmlu", subjects=["abstract_algebra"], limit=1)[0]
    assert first.question.startswith("Find the degree for the given field extension")
    assert first.choices == ("0", "4", "2", "6") and first.answer == 1


def test_mrpc_real(shared: Path, tmp_path: Path) -> None:
    dev = mrpc.load(shared / "mrpc")
    assert len(dev) == 408
    assert len(mrpc.load(shared / "mrpc", "train")) == 3668
    assert len(mrpc.load(shared / "mrpc", "test")) == 1725
    assert len(mrpc.paraphrases(dev)) + len(mrpc.non_paraphrases(dev)) == 408
    assert dev[0].sentence2.startswith('"The foodservice')  # unbalanced quote, read verbatim
    # building GLUE's splits from the MSR release reproduces the GLUE files byte for byte
    for name in mrpc.SOURCE_FILES:
        shutil.copy(shared / "mrpc" / name, tmp_path / name)
    mrpc.build_glue_splits(tmp_path)
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        assert (tmp_path / name).read_bytes() == (shared / "mrpc" / name).read_bytes(), name


BECEL_ROWS = {
    ("snli", "negational"): 2204, ("snli", "semantic"): 4406, ("snli", "symmetric"): 3237,
    ("rte", "negational"): 153, ("rte", "semantic"): 248, ("rte", "symmetric"): 1241,
    ("mrpc", "negational"): 290, ("mrpc", "semantic"): 202, ("mrpc", "symmetric"): 3668,
    ("wic", "negational"): 536, ("wic", "semantic"): 140, ("wic", "symmetric"): 5428,
}  # fmt: skip
BECEL_SPLITS = {
    ("snli", "test"): 9824, ("snli", "validation"): 9842, ("rte", "train"): 2490, ("rte", "validation"): 277,
    ("mrpc", "train"): 3668, ("mrpc", "validation"): 408, ("mrpc", "test"): 1725,
    ("wic", "train"): 5428, ("wic", "validation"): 638,
}  # fmt: skip


def test_becel_real(shared: Path) -> None:
    root = shared / "becel"
    sets = becel.load(root)
    assert {key: len(pairs) for key, pairs in sets.items()} == BECEL_ROWS
    assert {key: len(becel.load_split(*key, root)) for key in BECEL_SPLITS} == BECEL_SPLITS
    # perturbed originals are rows of the split eval_split() names
    for task in becel.TASKS:
        for kind in becel.KINDS:
            source = {(e.text_a, e.text_b, e.label) for e in becel.load_split(task, becel.eval_split(task, kind), root)}
            originals = [(p.original.text_a, p.original.text_b, p.original.label) for p in sets[task, kind]]
            found = sum(o in source for o in originals)
            assert found >= 0.95 * len(originals), (task, kind, found, len(originals))
    assert all(not p.expect_same for p in sets["snli", "negational"])
    assert {p.perturbed.label for p in sets["snli", "negational"]} == {2}
    assert all(p.original.word for p in sets["wic", "semantic"])


def test_tapaco_excerpt(shared: Path) -> None:
    sets = tapaco.load(shared / "tapaco" / "en.excerpt.txt")
    assert len(sets) == 1 and len(sets[0].sentences) == 5
    assert sets[0].sentences[-1] == "I'm having some cheese."


def test_shipped_stopwords_are_nltk_list(shared: Path) -> None:
    shipped = (Path(attributes.__file__).parent / "stopwords_english.txt").read_text(encoding="utf-8")
    assert shipped.split() == (shared / "stopwords_english.txt").read_text(encoding="utf-8").split()


# --- demo data --------------------------------------------------------------------------------------


def test_demo_data_loads_with_every_loader() -> None:
    rels = pararel.load(demo_path("pararel"))
    assert list(rels) == ["P17", "P30", "P36", "P37", "P103", "P159", "P176", "P178", "P1376"]
    assert sum(len(r.patterns) for r in rels.values()) == 47
    assert sum(len(r.causal_patterns) for r in rels.values()) == 39
    assert sum(len(r.facts) for r in rels.values()) == 212
    assert all(len(r.causal_patterns) >= 4 and len(r.facts) >= 20 for r in rels.values())
    assert {r.cardinality for r in rels.values()} == {"N-1", "1-1", "N-M"}

    dev = mrpc.load(demo_path("mrpc"))
    assert (len(dev), len(mrpc.paraphrases(dev))) == (40, 20)
    sets = tapaco.load(demo_path("tapaco"))
    assert len(sets) == 15 and all(3 <= len(s.sentences) <= 4 for s in sets)
    questions = mmlu.load(demo_path("mmlu"))
    assert len(questions) == 24 and len({q.subject for q in questions}) == 3
    assert {q.subject for q in questions} <= set(mmlu.SUBJECTS)

    root = demo_path("becel")
    for task, sizes in {"snli": (30, 20, 25), "mrpc": (30, 40, 20)}.items():
        assert tuple(len(becel.load_split(task, s, root)) for s in becel.SPLITS) == sizes
        for kind in becel.KINDS:
            pairs = becel.load_perturbed(task, kind, root)
            assert len(pairs) == 10
            source = becel.load_split(task, becel.eval_split(task, kind), root)
            assert all(p.original in source for p in pairs), (task, kind)
    assert [(p.id1, p.sentence1) for p in dev] == [
        (p.id1, e.text_a) for p, e in zip(dev, becel.load_split("mrpc", "validation", root), strict=True)
    ]

    subjects = [f.subject for r in ("P36", "P37", "P30", "P1376") for f in rels[r].facts]
    result = wikipedia.fetch_many(subjects, cache_dir=demo_path("wikipedia"), offline=True, progress=False)
    assert result.missing == ["Peru", "Cuba", "Lima", "Havana"]
    assert len(result.snippets) == 42 and all(len(s) == 10 for s in result.snippets.values())
    assert len(list(demo_path("wikipedia").glob("*.json"))) == 42
