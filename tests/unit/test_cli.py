"""The `interp` command: sweep (plan / run), report, models, and clear errors."""

from __future__ import annotations

import os

import pytest

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
    # mrpc's 3 per-prompt jobs and its pooled one, and the sanity flags over every unit
    assert "plan: 5 jobs, 5 units (0 stored, 5 to run)" in capsys.readouterr().out
    assert main(["sweep", str(cfg)]) == 0
    assert "5 units computed, 0 already stored, 0 failed" in capsys.readouterr().out
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
    with pytest.raises(SystemExit) as e:  # argparse: usage and one line
        main(["sweep", str(tmp_path / "any.toml"), "--executor", "processes", "--workers", "0"])
    assert e.value.code == 2 and "--workers: must be >= 1, got 0" in capsys.readouterr().err


def test_models_lists_aliases(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m-instruct" in out and "gemma3-270m" in out


def _store_with_a_unit(root):
    from interp.results import ResultStore, UnitKey

    store = ResultStore(root)
    store.save(UnitKey("m", "pararel", "extraction", 1), {"rate": [0.0, 0.5]}, config={}, model_spec="m",
               seed=0, timings={})
    return store


def test_report_refuses_an_empty_store(tmp_path, capsys):
    (tmp_path / "res").mkdir()
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "res"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"interp report: no results to report in '{tmp_path / 'res'}'" in err and "no unit files" in err
    assert not out.exists()
    bad = tmp_path / "res" / "m" / "pararel" / "extraction" / "p1.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"truncated": ')
    assert main(["report", str(tmp_path / "res"), "-o", str(out)]) == 2
    assert "1 unit file(s) are invalid, e.g. m/pararel/extraction/p1.json" in capsys.readouterr().err
    assert not out.exists()


def test_report_refuses_a_results_path_that_is_not_a_readable_dir(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    assert main(["report", str(tmp_path / "file"), "-o", str(tmp_path / "r.html")]) == 2
    assert f"'{tmp_path / 'file'}' is not a directory of results (not a directory)" in capsys.readouterr().err
    _store_with_a_unit(tmp_path / "res")
    import interp.report.build

    monkeypatch.setattr(interp.report.build.os, "access", lambda path, mode: False)  # as if chmod 000
    assert main(["report", str(tmp_path / "res"), "-o", str(tmp_path / "r.html")]) == 2
    assert f"cannot read the results directory '{tmp_path / 'res'}' (permission denied)" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may read and write anything")
def test_report_unreadable_and_read_only_dirs(tmp_path, capsys):
    _store_with_a_unit(tmp_path / "res")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["report", str(tmp_path / "res"), "-o", str(ro / "r.html")]) == 2
        assert f"cannot write the report to '{ro / 'r.html'}'" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)
    (tmp_path / "res").chmod(0o000)
    try:
        assert main(["report", str(tmp_path / "res"), "-o", str(tmp_path / "r.html")]) == 2
        assert "cannot read the results directory" in capsys.readouterr().err
    finally:
        (tmp_path / "res").chmod(0o755)


def test_report_refuses_an_unwritable_output_before_rendering(tmp_path, capsys, monkeypatch):
    import interp.report.build

    _store_with_a_unit(tmp_path / "res")
    rendered = []
    monkeypatch.setattr(interp.report.build, "render_section", lambda *a: rendered.append(1) or ("", "ok"))
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "r.html"  # its directory is a file
    assert main(["report", str(tmp_path / "res"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"interp report: cannot write the report to '{out}': ") and err.count("\n") == 1
    assert main(["report", str(tmp_path / "res"), "-o", str(tmp_path)]) == 2
    assert f"cannot write the report to '{tmp_path}': it is a directory" in capsys.readouterr().err
    assert rendered == []


def test_every_cli_option_has_help() -> None:
    """Every argument of every subcommand says what it is (issue: CLI options without help)."""
    import argparse

    from interp.cli import build_parser

    ap = build_parser()
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {act.dest}" for name, p in sub.choices.items() for act in p._actions
               if not isinstance(act, argparse._HelpAction) and not act.help]
    assert missing == []


def test_top_level_options_and_subcommands_have_help() -> None:
    import argparse

    from interp.cli import build_parser

    ap = build_parser()
    assert all(act.help for act in ap._actions if not isinstance(act, argparse._HelpAction))
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(c.dest for c in sub._choices_actions if c.help) == sorted(sub.choices)


def test_report_keeps_the_title_when_rebuilt(tmp_path, capsys):
    """The title given once (as `interp demo` gives its own) is kept in the store and reused by
    `interp report`; --title replaces it."""
    from interp.report import build_report
    from interp.report.build import DEFAULT_TITLE, REPORT_SETTINGS

    store = _store_with_a_unit(tmp_path / "res")
    out = tmp_path / "r.html"
    assert main(["report", str(store.root), "-o", str(out)]) == 0
    assert f"<title>{DEFAULT_TITLE}</title>" in out.read_text()  # nothing kept yet: the default
    build_report(store, tmp_path / "first.html", title="interp demo: my title")
    assert (store.root / REPORT_SETTINGS).exists()
    assert main(["report", str(store.root), "-o", str(out)]) == 0
    assert "<title>interp demo: my title</title>" in out.read_text()
    assert main(["report", str(store.root), "-o", str(out), "--title", "Another"]) == 0
    assert "<title>Another</title>" in out.read_text()
    assert main(["report", str(store.root), "-o", str(out)]) == 0
    assert "<title>Another</title>" in out.read_text()
    capsys.readouterr()


def test_library_warnings_go_through_logging_once(monkeypatch, caplog, capsys):
    """A library's warnings are logged (WARNING, logger py.warnings), each distinct message once,
    not written over the progress bars; the warnings module is restored afterwards."""
    import logging
    import warnings

    import interp.cli

    def warn_a_lot(a):
        for _ in range(3):
            warnings.warn("`foo` is deprecated", FutureWarning)
        warnings.warn("something else", UserWarning)
        return 0

    monkeypatch.setattr(interp.cli, "_cmd_models", warn_a_lot)
    before = warnings.showwarning
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="py.warnings"):
        warnings.simplefilter("always")
        assert main(["models"]) == 0
    logged = [r.getMessage() for r in caplog.records if r.name == "py.warnings"]
    assert len(logged) == 2 and "FutureWarning: `foo` is deprecated" in logged[0]
    assert "UserWarning: something else" in logged[1]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "py.warnings")
    assert warnings.showwarning is before
    assert "deprecated" not in capsys.readouterr().err  # not printed by the warnings module
