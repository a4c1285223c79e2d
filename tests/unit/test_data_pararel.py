"""interp.data.pararel on tiny fixture files (no network, no shared data)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from interp.data import DataFormatError, pararel
from interp.data.pararel import Fact, Relation, causal_pattern

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "pararel"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("The capital of [X] is [Y] .", "The capital of [X] is [Y]"),
        ("The capital of [X] is [Y].", "The capital of [X] is [Y]"),
        ("The capital of [X] is [Y]", "The capital of [X] is [Y]"),
        ("The capital of [X] is [Y] .  ", "The capital of [X] is [Y]"),
        ("[X], which has the capital [Y].", "[X], which has the capital [Y]"),
        ("[Y] is the capital of [X].", None),
        ("The [Y] language is spoken in [X] .", None),
        ("[X] is in [Y], Europe.", None),
    ],
)
def test_causal_pattern_rule(pattern: str, expected: str | None) -> None:
    assert causal_pattern(pattern) == expected


def test_relation_properties() -> None:
    rel = Relation(
        "P36", "capital", "1-1",
        ("The capital of [X] is [Y] .", "[X]'s capital, [Y].", "[Y] is the capital of [X]."),
        (Fact("France", "Paris", "a"), Fact("Peru", "Lima", "b"), Fact("France", "Paris", "c")),
    )  # fmt: skip
    assert rel.causal_patterns == ("The capital of [X] is [Y]", "[X]'s capital, [Y]")
    assert rel.candidates == ("Lima", "Paris")
    assert rel.query("The capital of [X] is [Y] .", "France") == "The capital of France is"
    assert rel.query(rel.causal_patterns[1], "France") == "France's capital,"
    with pytest.raises(ValueError, match="does not end with"):
        rel.query("[Y] is the capital of [X].", "France")
    assert hash(rel) == hash(rel)  # frozen records stay hashable


def test_cut_down_relation_keeps_its_candidates() -> None:
    """Candidates are the whole relation's objects: cutting the facts down keeps them."""
    from dataclasses import replace

    rel = Relation("P36", "capital", "1-1", ("The capital of [X] is [Y] .",),
                   (Fact("France", "Paris", "a"), Fact("Peru", "Lima", "b"), Fact("Chad", "Abuja", "c")))
    assert rel.candidates == rel.all_objects == ("Abuja", "Lima", "Paris")
    cut = replace(rel, facts=rel.facts[:1])
    assert cut.facts == rel.facts[:1] and cut.candidates == ("Abuja", "Lima", "Paris")
    loaded = pararel.load(FIXTURE)["P1"]
    assert replace(loaded, facts=loaded.facts[:1]).candidates == ("Fredville", "Oldtown", "Sylvan City")
    with pytest.raises(ValueError, match=r"P36: all_objects lacks the object\(s\) \['Lima'\]"):
        Relation("P36", "capital", "1-1", rel.patterns, rel.facts, all_objects=("Abuja", "Paris"))


def test_load_fixture_defaults() -> None:
    rels = pararel.load(FIXTURE)
    # P10 has a single pattern (min_patterns=2); P99 has facts but no pattern file
    assert list(rels) == ["P1", "P2"]
    p1 = rels["P1"]
    assert (p1.label, p1.cardinality) == ("capital", "1-1")
    assert len(p1.patterns) == 4
    assert p1.causal_patterns == ("The capital of [X] is [Y]", "[X]'s capital is [Y]", "[X] has the capital [Y]")
    # a subject repeated with another object stays a separate fact
    assert [f.uuid for f in p1.facts] == ["u-1", "u-2", "u-3"]
    assert p1.candidates == ("Fredville", "Oldtown", "Sylvan City")
    assert rels["P2"].causal_patterns == ("[X] speaks [Y]",)


def test_load_filters() -> None:
    assert list(pararel.load(FIXTURE, min_patterns=1)) == ["P1", "P2", "P10"]
    assert list(pararel.load(FIXTURE, min_causal_patterns=2)) == ["P1"]
    assert list(pararel.load(FIXTURE, cardinality="N-1")) == ["P2"]
    assert list(pararel.load(FIXTURE, cardinality=["1-1", "N-M"], min_patterns=1)) == ["P1", "P10"]
    assert list(pararel.load(FIXTURE, relations=["P2"])) == ["P2"]
    with pytest.raises(ValueError, match="P404"):
        pararel.load(FIXTURE, relations=["P404"])


def test_cardinality_unknown_without_lama_file(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "p")
    (tmp_path / "p" / "lama_trex_relations.jsonl").unlink()
    rels = pararel.load(tmp_path / "p")
    assert {r.cardinality for r in rels.values()} == {"unknown"}
    assert rels["P1"].label == "P1"


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(FIXTURE, root)
    facts = root / "trex_lms_vocab" / "P2.jsonl"
    facts.write_text(facts.read_text() + '{"sub_label": "X", "obj_label": \n')
    with pytest.raises(DataFormatError, match=r"P2\.jsonl, line 3: expected a JSON object") as err:
        pararel.load(root)
    assert err.value.line == 3 and err.value.path == facts


def test_missing_key_and_missing_files(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(FIXTURE, root)
    patterns = root / "pattern_data" / "graphs_json" / "P2.jsonl"
    patterns.write_text('{"lemma": "x"}\n')
    with pytest.raises(DataFormatError, match=r"P2\.jsonl, line 1: .*'pattern'"):
        pararel.load(root)
    patterns.unlink()
    (root / "trex_lms_vocab" / "P1.jsonl").unlink()
    with pytest.raises(DataFormatError, match=r"trex_lms_vocab/P1\.jsonl: expected the T-REx facts of P1"):
        pararel.load(root)
    with pytest.raises(DataFormatError, match="graphs_json"):
        pararel.load(tmp_path / "nowhere")


def test_empty_files_are_a_counted_skip(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "p"
    shutil.copytree(FIXTURE, root)
    (root / "pattern_data" / "graphs_json" / "P2.jsonl").write_text("")
    (root / "trex_lms_vocab" / "P10.jsonl").write_text("\n")
    with caplog.at_level("WARNING", logger="interp.data.pararel"):
        rels = pararel.load(root, min_patterns=1)
    assert list(rels) == ["P1"]
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "skipped 2 relation(s) with an empty file" in msg
    assert "P2 (pattern_data/graphs_json/P2.jsonl)" in msg and "P10 (trex_lms_vocab/P10.jsonl)" in msg
    # a relation the caller names must not vanish: its empty file raises
    with pytest.raises(DataFormatError, match=r"graphs_json/P2\.jsonl: expected PARAREL pattern lines, got an empty file"):
        pararel.load(root, relations=["P2"])


def test_no_pattern_files_and_empty_field(tmp_path: Path) -> None:
    (tmp_path / "p" / "pattern_data" / "graphs_json").mkdir(parents=True)
    with pytest.raises(DataFormatError, match=r"graphs_json: expected PARAREL pattern files P<id>\.jsonl, got none"):
        pararel.load(tmp_path / "p")
    root = tmp_path / "q"
    shutil.copytree(FIXTURE, root)
    facts = root / "trex_lms_vocab" / "P1.jsonl"
    facts.write_text(facts.read_text() + '{"sub_label": "X", "obj_label": " ", "uuid": "u"}\n')
    with pytest.raises(DataFormatError, match=r"P1\.jsonl, line 4: expected a JSON object with non-empty string keys"):
        pararel.load(root)
