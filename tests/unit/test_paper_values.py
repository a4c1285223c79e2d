"""The paper's values (``interp/paper_values.toml``): complete, well-formed, equal to the paper's
text, and matched to the paper's models of ``configs/paper.toml``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from interp import paper_values as pv

REPO = Path(__file__).resolve().parents[2]
TRANSCRIPTION = REPO.parent / "shared" / "paper" / "fierro-li-sogaard-2024-ift-consistency.txt"
#: each table's rows in the transcription: the line after its "Model" header up to its caption
TABLE_CAPTIONS = {"table1": "Table 1:", "table2": "Table 2:", "table4": "Table 4:", "table5": "Table 5:",
                  "table6": "Table 6:"}


def test_the_file_is_complete_and_well_formed():
    v = pv.load()
    assert v.source["arxiv"] == "2404.15206"
    assert set(v.tables) == set(pv.TABLES)
    llama = {"llama-7b", "baize-7b", "cot-7b", "dolly-7b", "flan-v2-7b", "gpt4-alpaca-7b", "oasst1-7b",
             "sharegpt-7b", "sni-7b", "stanford-alpaca-7b", "unnatural-instr-7b"}
    others = {"t5-xl-lm-adapt", "flan-t5-xl", "falcon-7b", "falcon-7b-instruct"}
    assert set(v.models) == llama | others
    assert set(v.tables["table1"].rows) == set(v.tables["table2"].rows) == llama
    assert set(v.tables["table4"].rows) == set(v.tables["table5"].rows) == others
    assert set(v.tables["table6"].rows) == llama | others
    for t in v.tables.values():
        assert re.fullmatch(r"Table \d, (§\d|App\. [A-Z]\.\d) \(transcription lines \d+-\d+\)", t.cite)
        for row in t.rows.values():
            for r in (row if t.tasks else [row]):
                assert len(r) == len(t.columns)
    # spot checks by hand from the paper
    assert v.tables["table2"].rows["llama-7b"][3] == 81.9
    assert v.tables["table6"].rows["llama-7b"][1][2] == 0.471  # RTE negation
    assert v.tables["table4"].rows["flan-t5-xl"][2] == 1.50e-02


@pytest.mark.parametrize("bad, why", [
    (lambda d: d.pop("table5"), "no \\[table5\\]"),
    (lambda d: d["table1"]["rows"].update({"gpt-2": [0.1, 0.2, 0.3]}), "gpt-2: not one of"),
    (lambda d: d["table2"]["rows"].update({"llama-7b": [1.0, 2.0]}), "expected 7 numbers"),
    (lambda d: d["table6"]["rows"].update({"llama-7b": [[0.1, 0.2, 0.3, "x"]] * 4}), "not all finite"),
    (lambda d: d["table6"]["rows"].update({"llama-7b": [[0.1, 0.2, 0.3, 0.4]]}), "expected 4 task rows"),
    (lambda d: d["models"]["cot-7b"]["names"].append("llama-7b"), "matches both"),
])
def test_a_defect_is_refused_naming_where(bad, why):
    d = tomllib.loads((REPO / "interp" / "paper_values.toml").read_text())
    bad(d)
    with pytest.raises(ValueError, match=why):
        pv.parse(d)


def _transcribed(table: str) -> dict[str, list[float]]:
    lines = TRANSCRIPTION.read_text(encoding="utf-8").splitlines()
    end = next(i for i, ln in enumerate(lines) if ln.startswith(TABLE_CAPTIONS[table]))
    start = max(i for i in range(end) if lines[i].startswith("Model\t"))
    out = {}
    for ln in lines[start + 1:end]:
        cells = [c for c in ln.split("\t") if c.strip()]
        if len(cells) < 2 or not re.search(r"\d", cells[1]):
            continue  # the header's second line
        name = cells[0].replace("(base model)", "").strip()
        nums = [float(x) for c in cells[1:] for x in re.sub(r"</?u>", "", c).split("/")]
        out[pv.match(name)] = nums
    return out


@pytest.mark.skipif(not TRANSCRIPTION.is_file(), reason="the paper's transcription (../shared/paper) is absent")
@pytest.mark.parametrize("table", list(pv.TABLES))
def test_the_values_are_the_papers_text(table):
    t = pv.load().tables[table]
    got = {m: [x for r in (row if t.tasks else [row]) for x in r] for m, row in t.rows.items()}
    assert _transcribed(table) == got


def test_the_paper_configs_models_all_match_and_demo_models_do_not():
    cfg = tomllib.loads((REPO / "configs" / "paper.toml").read_text())
    assert {m["label"]: pv.match(m["label"], m["spec"]) for m in cfg["models"]} == {
        m["label"]: m["label"] for m in cfg["models"]}
    assert pv.match("baize", "/models/open-instruct-baize-7b/") == "baize-7b"  # a local directory
    for label, spec in (("gemma3-270m", "gemma3-270m"), ("smollm2-135m-instruct", "smollm2-135m-instruct"),
                        ("tiny-base", "tiny:llama"), ("llama-13b", "huggyllama/llama-13b")):
        assert pv.match(label, spec) is None


def test_cells():
    assert pv.gap_cell("llama-7b") == "MRPC 0.010 · TAPACO 0.140 · PARAREL 0.474 (Table 1)"
    assert pv.gap_cell("falcon-7b") == "MRPC 7.03e-04 · TAPACO 5.92e-03 · PARAREL 1.73e-02 (Table 4)"
    assert pv.consistency_cell("falcon-7b-instruct") == (
        "MMLU 25.7 / spread 3.8 · PARAREL 55.0 / cons. 72.2 · BECEL 75.4, cons. 85.8 / 99.6 (Table 5)")
    assert pv.becel_task_cell("dolly-7b", "WiC") == "Sym 0.851 · Sem 0.879 · Neg 0.082 · Acc 0.633"
    assert pv.gap_cell(None) == pv.becel_task_cell("llama-7b", "cola") == ""
    assert "arXiv:2404.15206" in pv.citation()
