"""The sweep on tiny random models and the demo data: plan, resume after a kill, corrupt units."""

from __future__ import annotations

import math

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from interp.config import ConfigError, load_config
from interp.results import ResultStore
from interp.sweep import format_plan, pending, plan, run

CONFIG = """
[sweep]
output = "{out}"
seed = 0
batch_size = 4
wikipedia = "{data}/wikipedia"

[[models]]
label = "tiny-base"
spec = "tiny:gemma3"
kind = "base"

[[models]]
label = "tiny-ift"
spec = "tiny:llama-chat"
kind = "ift"
base = "tiny-base"

[datasets]
pararel = "{data}/pararel"
mrpc = "{data}/mrpc"
mmlu = "{data}/mmlu"

[limits]
pararel_relations = ["P36", "P37"]
pararel_max_facts = 3
mrpc_max_pairs = 8
mmlu_subjects = ["astronomy"]
mmlu_limit = 3
knockout_max_queries = 6
knockout_max_windows = 2
n_boot = 50
"""


def write_config(tmp: Path, out: str, demo_data: Path) -> Path:
    p = tmp / f"{out}.toml"
    p.write_text(CONFIG.format(out=tmp / out, data=demo_data))
    return p


def payloads(root: Path) -> dict[str, dict]:
    store = ResultStore(root)
    return {str(k): store.load(k).payload for k in store.keys()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, demo_data):
    """One uninterrupted sweep of CONFIG (78 units) and its report, for the tests that compare
    with it (each of them a full sweep less)."""
    cfg = load_config(write_config(tmp_path_factory.mktemp("reference"), "ref", demo_data))
    return cfg, run(cfg, progress=False)


def test_plan_and_rerun_computes_nothing(tmp_path, demo_data, reference):
    fresh = load_config(write_config(tmp_path, "a", demo_data))
    jobs = plan(fresh)
    # per model: pararel 3 prompts + pooled, mrpc 3 + pooled, mmlu 3 + pooled; then one job of the
    # 6 cross-model summaries (base vs IFT, Fig. 5/8 classes, Fig. 3's band, sanity flags, example facts,
    # knockout comparison)
    assert len(jobs) == 2 * (4 + 4 + 4) + 1
    text = format_plan(jobs, ResultStore(fresh.output), fresh)
    assert text.startswith("plan: 25 jobs, 78 units (0 stored, 78 to run)")
    cfg, rep = reference
    assert rep.failed == [], rep.summary()
    assert len(rep.computed) == 78
    store = ResultStore(cfg.output)
    assert pending(plan(cfg), store) == []
    # extraction units keep per-query events; the pooled unit resamples the same PARAREL items
    ext = {(k.model, k.prompt): store.load(k).payload for k in store.keys() if k.analysis == "extraction"}
    assert len(ext) == 2 * 4
    for (model, prompt), d in ext.items():
        assert d["interval"] == "cluster bootstrap over (relation, fact) items" and d["n_boot"] == 50
        assert all(c.count("|") == 1 and c.startswith("P3") for c in d["queries"]["clusters"])
        assert d["splits"]["all"]["mhsa"]["n"] == len(d["queries"]["clusters"])
    for model in ("tiny-base", "tiny-ift"):
        per_prompt = [ext[(model, p)] for p in (0, 1, 2)]
        assert ext[(model, "all")]["queries"]["clusters"] == sum((d["queries"]["clusters"] for d in per_prompt), [])
    again = run(cfg, progress=False)
    assert again.computed == [] and len(again.stored) == 78
    # the processes executor (each model in a worker process with its share of the threads)
    # stores the same 78 units with the same payloads (to float tolerance: a different thread
    # count may change the last bits of a reduction) and reports the workers' self-checks
    par = load_config(write_config(tmp_path, "b", demo_data))
    rep = run(par, executor="processes", progress=False, workers=2)
    assert rep.failed == [] and len(rep.computed) == 78, rep.summary()
    assert set(rep.self_checks) == {"tiny-base", "tiny-ift"}
    assert _close(payloads(par.output), payloads(cfg.output))


def _close(a, b) -> bool:
    """Equal payloads, floats to float32 noise (relative 1e-5, absolute 1e-6), the rest exactly."""
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6) or (a != a and b != b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def test_kill_midway_then_resume_equals_uninterrupted(tmp_path, demo_data, reference):
    """Kill a sweep (SIGKILL) after its first units are stored; the rerun recomputes only the
    missing units and ends with exactly the results of an uninterrupted run."""
    ref_cfg, ref_rep = reference
    assert ref_rep.failed == []
    cfg_path = write_config(tmp_path, "killed", demo_data)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "interp.cli", "sweep", str(cfg_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(out.rglob("*.json"))) < 6:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {str(k) for k in ResultStore(out).keys()}
    assert 6 <= len(before) < 78, "the sweep was not killed midway"
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}

    rep = run(load_config(cfg_path), progress=False)
    assert rep.failed == []
    assert set(rep.computed).isdisjoint(before)  # nothing already stored was recomputed
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items() if str(p).endswith(".json")
               and p.exists())
    assert payloads(out) == payloads(ref_cfg.output)


def test_corrupt_unit_is_recomputed(tmp_path, demo_data, reference):
    cfg = load_config(write_config(tmp_path, "c", demo_data))
    shutil.copytree(reference[0].output, cfg.output)  # a complete store of this config
    store = ResultStore(cfg.output)
    victim = next(k for k in store.keys() if k.dataset == "mrpc" and k.prompt == 0)
    path = store.path(victim)
    good = json.loads(path.read_text())["payload"]
    path.write_text(path.read_text()[: len(path.read_text()) // 2])  # a truncated file
    assert not store.has(victim)
    rep = run(cfg, progress=False)
    assert rep.computed == [str(victim)]
    assert store.load(victim).payload == good


def test_config_errors_name_the_problem(tmp_path, demo_data):
    p = write_config(tmp_path, "bad", demo_data)
    p.write_text(p.read_text().replace('kind = "ift"', 'kind = "chat"'))
    with pytest.raises(ConfigError, match='kind must be one of "base", "ift", got "chat"'):
        load_config(p)
    p.write_text(CONFIG.format(out=tmp_path, data=demo_data).replace("[limits]", "[limits]\nfoo = 1"))
    with pytest.raises(ConfigError, match=r"unknown \[limits\] \['foo'\]"):
        load_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_failed_unit_is_reported_not_lost(tmp_path, demo_data):
    """A unit that cannot be computed is reported with its reason; the others are stored."""
    p = write_config(tmp_path, "f", demo_data)
    p.write_text(p.read_text().replace(f'wikipedia = "{demo_data}/wikipedia"\n', ""))
    cfg = load_config(p)
    rep = run(cfg, progress=False, only=lambda j: j.dataset == "pararel" and j.prompt == 0)
    failed = dict(rep.failed)
    assert set(failed) == {"tiny-base / pararel / attributes / prompt 0",
                           "tiny-ift / pararel / attributes / prompt 0"}
    assert all("Wikipedia snippet cache" in why for why in failed.values())
    assert len(rep.computed) == 2 * 6  # the 6 other PARAREL analyses (with the knockout) of each model


@pytest.mark.parametrize("key, bad, allowed", [
    ("becel_method", "svm", '"probe", "finetune"'),
    ("pararel_casing", "upper", '"lower", "pattern"'),
    ("pararel_fact_selection", "last", '"sample", "first"'),
])
def test_choice_limits_are_validated(tmp_path: Path, demo_data: Path, key: str, bad: str,
                                     allowed: str):
    p = write_config(tmp_path, "out", demo_data)
    text = p.read_text()
    with pytest.raises(ConfigError, match=rf'\[limits\] {key} must be one of {allowed}, got "{bad}"'):
        p.write_text(text + f'{key} = "{bad}"\n')
        load_config(p)


def test_becel_symmetric_max_share_is_validated(tmp_path: Path, demo_data: Path):
    p = write_config(tmp_path, "out", demo_data)
    base = p.read_text()
    assert load_config(p).limits.becel_symmetric_max_share == 0.2
    p.write_text(base + "becel_symmetric_max_share = 0.3\n")
    assert load_config(p).limits.becel_symmetric_max_share == 0.3
    for bad in ("1.0", "0", '"0.2"', "true"):
        p.write_text(base + f"becel_symmetric_max_share = {bad}\n")
        with pytest.raises(ConfigError, match=r"\[limits\] becel_symmetric_max_share"):
            load_config(p)


def test_pararel_rendering_limits_reach_the_queries(tmp_path: Path, demo_data: Path, tiny_gemma):
    """``pararel_casing`` and ``pararel_fact_selection`` are read from [limits] and used by the
    PARAREL job's queries (the self-check samples, the cheapest caller that shares them)."""
    from interp.pipeline import Context, self_check_samples

    p = write_config(tmp_path, "out", demo_data)
    assert load_config(p).limits.pararel_casing == "lower"
    p.write_text(p.read_text() + 'pararel_casing = "pattern"\npararel_fact_selection = "first"\n')
    cfg = load_config(p)
    assert (cfg.limits.pararel_casing, cfg.limits.pararel_fact_selection) == ("pattern", "first")
    cfg = replace(cfg, prompts=(1,), datasets={"pararel": cfg.datasets["pararel"]})
    prompts, _, _ = self_check_samples(Context(cfg), tiny_gemma)
    rel = Context(cfg).records("pararel")["P36"]
    first = rel.query(rel.causal_patterns[0], rel.facts[0].subject)
    assert prompts["pararel P36, prompt 1"] == ["Everyone knows that " + first]


def test_lens_setting_is_validated(tmp_path: Path, demo_data: Path):
    p = write_config(tmp_path, "out", demo_data)
    text = p.read_text()
    assert load_config(p).lens == "raw"
    p.write_text(text.replace("[sweep]\n", '[sweep]\nlens = "normed"\n', 1))
    assert load_config(p).lens == "normed"
    p.write_text(text.replace("[sweep]\n", '[sweep]\nlens = "logit"\n', 1))
    with pytest.raises(ConfigError, match=r'\[sweep\] lens must be "raw".*got "logit"'):
        load_config(p)


def test_a_worker_takes_its_share_of_the_threads_before_each_job(tmp_path, demo_data, monkeypatch):
    """``executor="processes"``: the threads are divided among the workers that can still be busy,
    at most one per unfinished model (3 models on 2 workers: halves, not thirds), and the worker
    hands its place back when it ends."""
    import threading

    import torch

    from interp import pipeline

    cfg = load_config(write_config(tmp_path, "t", demo_data))
    active = type("Count", (), {"value": 3})()  # models not finished, as the manager's Value
    left = iter([2, 1])  # another model finishes during each of the first two jobs
    seen: list[int] = []

    def job(ctx, j, store):
        seen.append(torch.get_num_threads())
        active.value = next(left, active.value)
        return [], [], []

    monkeypatch.setattr(pipeline, "locked_job", job)
    saved = torch.get_num_threads()
    try:
        pipeline.model_worker(cfg, ["a", "b", "c"], str(tmp_path / "store"), False,
                              share=(active, threading.Lock(), 4, 2))
    finally:
        torch.set_num_threads(saved)
    assert seen == [2, 2, 4] and active.value == 0
