"""Locks that a crash releases, leftovers of killed runs, and two sweeps on one store."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from interp.config import load_config
from interp.locking import file_lock, remove_leftovers
from interp.results import ResultStore
from interp.sweep import run

from test_sweep import payloads, write_config


def test_lock_excludes_and_reports_waiting(tmp_path: Path) -> None:
    p = tmp_path / "a.lock"
    order: list[str] = []
    with file_lock(p) as waited:
        assert waited is False

        def other() -> None:
            with file_lock(p, poll_s=0.01) as w:
                order.append(f"other waited={w}")
        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.2)
        order.append("holder done")
    t.join(5)
    assert order == ["holder done", "other waited=True"]


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    p = tmp_path / "k.lock"
    code = ("import sys, time; sys.path.insert(0, %r); from interp.locking import file_lock\n"
            "with file_lock(%r):\n    print('held', flush=True); time.sleep(60)") % (
        str(Path(__file__).resolve().parents[2]), str(p))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    proc.kill()
    proc.wait()
    with file_lock(p, poll_s=0.01) as waited:  # the kernel released the dead holder's lock
        assert waited is False


def test_remove_leftovers_keeps_young_and_unrelated(tmp_path: Path) -> None:
    old, young, other = tmp_path / ".m.tmp-1", tmp_path / ".m.tmp-2", tmp_path / "keep"
    for d in (old, young, other):
        d.mkdir()
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert remove_leftovers(tmp_path, ".m.tmp-") == [old]
    assert young.exists() and other.exists() and not old.exists()


def test_dequantisation_cleans_a_killed_runs_directory(tmp_path: Path, monkeypatch) -> None:
    from interp import models

    alias = next(iter(models.ALIASES.values()))
    monkeypatch.setattr(models, "_alias_dir", lambda a: tmp_path / a.name)
    leftover = tmp_path / f".{alias.name}.tmp-killed"
    leftover.mkdir()

    def fake(a, target: Path) -> Path:
        target.mkdir()
        (target / models._MARKER).write_text("{}")
        return target
    monkeypatch.setattr(models, "_dequantise", fake)
    assert models._materialise_alias(alias) == tmp_path / alias.name
    assert not leftover.exists()


def test_two_concurrent_sweeps_compute_each_unit_once(tmp_path: Path, demo_data: Path, monkeypatch) -> None:
    """Two sweeps on one store at once (threads): every unit is saved exactly once, the store ends
    equal to a single sweep's, and the second sweep reports the units the first computed."""
    cfg = load_config(write_config(tmp_path, "both", demo_data))
    cfg = type(cfg)(**{**cfg.__dict__, "datasets": {"mrpc": cfg.datasets["mrpc"]}})
    saves: Counter[str] = Counter()
    lock = threading.Lock()
    real_save = ResultStore.save

    def counting(self: ResultStore, key, *a, **k):
        with lock:
            saves[str(key)] += 1
        return real_save(self, key, *a, **k)
    monkeypatch.setattr(ResultStore, "save", counting)
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(run(cfg, progress=False))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert len(reports) == 2 and all(r.failed == [] for r in reports), [r.summary() for r in reports]
    assert saves and max(saves.values()) == 1, saves
    computed = [u for r in reports for u in r.computed]
    assert sorted(computed) == sorted(saves)
    assert sum(len(r.elsewhere) for r in reports) > 0
    single = type(cfg)(**{**cfg.__dict__, "output": str(tmp_path / "single")})
    run(single, progress=False)
    assert payloads(Path(cfg.output)) == payloads(Path(single.output))


def test_store_cleanup_removes_leftovers_of_killed_writers(tmp_path: Path) -> None:
    """A killed save leaves a hidden temporary file or an orphan array file beside the unit
    files: both are removed (the sweep calls this first) once older than the age limit."""
    store = ResultStore(tmp_path / "s")
    d = tmp_path / "s" / "m" / "pararel" / "gap"
    d.mkdir(parents=True)
    junk = d / ".p0.json.abc.tmp"
    orphan = d / f"p0.{'0' * 12}.npz"
    young = d / ".p1.json.def.tmp"
    for f in (junk, orphan, young):
        f.write_text("partial")
    past = time.time() - 7200
    for f in (junk, orphan):
        os.utime(f, (past, past))
    assert sorted(store.cleanup()) == sorted([junk, orphan])
    assert young.exists()
