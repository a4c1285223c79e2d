"""The `interp` command: sweep (plan / run), report, models, and clear errors."""

from __future__ import annotations

from interp.cli import main

CONFIG = """
[sweep]
output = "{out}"
analyses = ["gap"]

[[models]]
label = "tiny"
spec = "tiny:gemma3"

[datasets]
mrpc = "{data}/mrpc"

[limits]
mrpc_max_pairs = 6
n_boot = 20
"""


def test_sweep_then_report(tmp_path, demo_data, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(out=tmp_path / "res", data=demo_data))
    assert main(["sweep", str(cfg), "--dry-run"]) == 0
    assert "plan: 4 jobs, 4 units (0 stored, 4 to run)" in capsys.readouterr().out
    assert main(["sweep", str(cfg)]) == 0
    assert "4 units computed, 0 already stored, 0 failed" in capsys.readouterr().out
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "res"), "-o", str(out), "--note", "hello"]) == 0
    html = out.read_text()
    assert "Table 1" in html and "hello" in html
    assert "<script src=" not in html and "<link" not in html  # self-contained: no external loads


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a directory of results" in capsys.readouterr().err


def test_models_lists_aliases(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m-instruct" in out and "gemma3-270m" in out
