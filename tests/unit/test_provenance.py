"""A stored unit is reused only when what produced it is unchanged (interp.provenance): changing a
setting that affects numbers recomputes exactly the affected units; --keep-stale keeps them, and the
report marks them."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from interp.cli import main
from interp.config import load_config
from interp.provenance import NO_PROVENANCE, Provenance
from interp.report import build_report
from interp.results import ResultStore, UnitKey
from interp.sweep import format_plan, plan, run

CONFIG = """
[sweep]
output = "{out}"
seed = 0
batch_size = 4
dtype = "float32"
prompts = [0, 1]
analyses = ["consistency", "gap", "extraction", "spread"]

[[models]]
label = "tiny-a"
spec = "tiny:gemma3"
kind = "base"

[[models]]
label = "tiny-b"
spec = "tiny:llama-chat"
kind = "ift"
base = "tiny-a"

[datasets]
pararel = "{data}/pararel"
mrpc = "{data}/mrpc"
mmlu = "{data}/mmlu"

[limits]
pararel_relations = ["P30"]
pararel_max_facts = 2
mrpc_max_pairs = 4
mmlu_subjects = ["astronomy"]
mmlu_limit = 2
n_boot = 20
"""
# models x (pararel, mrpc, mmlu: 2 prompts + pooled), + 4 cross-model summaries (base vs IFT, Fig. 5/8 classes,
# sanity flags, example facts)
PER_MODEL = (3 * 2 + 3) + (2 + 1) + (2 + 1)
N_UNITS = 2 * PER_MODEL + 4
#: the cross-model units (interp.summaries): recomputed whenever a unit they read changes
SUMMARIES = {"_sweep / _all / base_vs_ift / prompt all", "_sweep / pararel / consistency_classes / prompt all",
             "_sweep / _all / sanity / prompt all", "_sweep / pararel / examples / prompt all"}
#: the summary that reads every unit
SANITY = "_sweep / _all / sanity / prompt all"


def _config(tmp: Path, name: str, data: Path, *edits: tuple[str, str]) -> Path:
    text = CONFIG.format(out=tmp / name, data=data)
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    p = tmp / f"{name}.toml"
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def base(tmp_path_factory, demo_data: Path) -> tuple[Path, Path]:
    """(a copy of the demo data, the results of one sweep over it)."""
    tmp = tmp_path_factory.mktemp("prov")
    data = tmp / "data"
    for name in ("pararel", "mrpc", "mmlu"):
        shutil.copytree(demo_data / name, data / name)
    rep = run(load_config(_config(tmp, "base", data)), progress=False)
    assert rep.failed == [] and len(rep.computed) == N_UNITS, rep.summary()
    return data, tmp / "base"


def _rerun(tmp: Path, base: tuple[Path, Path], *edits: tuple[str, str], data: Path | None = None,
           model: str | None = None, name: str = "r"):
    """Copy the base results, change the config, run again (the jobs of ``model`` only, if
    given): (report, config path)."""
    shutil.copytree(base[1], tmp / name)
    p = _config(tmp, name, data or base[0], *edits)
    only = None if model is None else (lambda j: j.model == model)
    return run(load_config(p), progress=False, only=only), p


def _all_units(p: Path, model: str | None = None) -> set[str]:
    return {str(u) for j in plan(load_config(p)) for u in j.units if model in (None, u.model)}


def test_unchanged_config_reuses_everything(tmp_path, base):
    rep, _ = _rerun(tmp_path, base)
    assert rep.computed == [] and rep.stale == [] and len(rep.stored) == N_UNITS


def test_seed_change_recomputes_everything(tmp_path, base):
    rep, p = _rerun(tmp_path, base, ("seed = 0", "seed = 1"), model="tiny-a")
    assert set(rep.computed) == _all_units(p, "tiny-a")
    assert {why for _, why in rep.stale} == {"seed 0 -> 1"}
    assert rep.failed == []


def test_model_spec_change_recomputes_that_model_only(tmp_path, base):
    rep, p = _rerun(tmp_path, base, ('"tiny:llama-chat"', '"tiny:llama-chat-seed1"'))
    assert set(rep.computed) == {u for u in _all_units(p) if u.startswith("tiny-b /")} | SUMMARIES
    assert {why for u, why in rep.stale if u not in SUMMARIES} == {"model.spec tiny:llama-chat -> tiny:llama-chat-seed1"}
    assert all(why.startswith("inputs ") for u, why in rep.stale if u in SUMMARIES)
    assert len(rep.stored) == PER_MODEL


def test_pararel_limit_change_recomputes_pararel_only(tmp_path, base):
    rep, p = _rerun(tmp_path, base, ("pararel_max_facts = 2", "pararel_max_facts = 3"))
    assert set(rep.computed) == {u for u in _all_units(p) if " / pararel / " in u} | SUMMARIES
    assert {why for u, why in rep.stale if u not in SUMMARIES} == {"limits.pararel_max_facts 2 -> 3"}


def test_n_boot_change_spares_units_without_bootstrap(tmp_path, base):
    rep, p = _rerun(tmp_path, base, ("n_boot = 20", "n_boot = 30"), model="tiny-a")
    spared = {u for u in _all_units(p, "tiny-a") if "/ mmlu / spread /" in u and not u.endswith("prompt all")}
    assert len(spared) == 2  # MMLU's per-prompt log-probs (extraction draws a cluster bootstrap)
    assert set(rep.computed) == _all_units(p, "tiny-a") - spared
    assert set(rep.stored) == spared


def test_dataset_content_change_recomputes_that_dataset_only(tmp_path, base):
    data = tmp_path / "data2"  # another directory with the same files: nothing is stale ...
    shutil.copytree(base[0], data)
    rep, _ = _rerun(tmp_path, base, data=data, name="same")
    assert rep.computed == []
    tsv = data / "mrpc" / "dev.tsv"  # ... until a file's content changes
    lines = tsv.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace("the", "a", 1) if "the" in lines[1] else lines[1].replace(" ", "  ", 1)
    tsv.write_text("".join(lines))
    rep, p = _rerun(tmp_path, base, data=data, name="changed")
    assert set(rep.computed) == {u for u in _all_units(p) if " / mrpc / " in u} | {
        "_sweep / _all / base_vs_ift / prompt all", SANITY}
    assert {why for u, why in rep.stale if u not in SUMMARIES} == {"dataset.mrpc content changed (dev.tsv)"}


def test_batch_size_and_device_change_nothing(tmp_path, base):
    rep, _ = _rerun(tmp_path, base, ("batch_size = 4", 'batch_size = 2\ndevice = "cpu"'))
    assert rep.computed == [] and rep.stale == [] and len(rep.stored) == N_UNITS


def test_unit_without_provenance_is_stale(tmp_path, base):
    shutil.copytree(base[1], tmp_path / "r")
    p = _config(tmp_path, "r", base[0])
    cfg = load_config(p)
    store = ResultStore(cfg.output)
    old = UnitKey("tiny-a", "mrpc", "gap", 0)
    store.set_meta(old, "provenance", None)  # as stored before provenance was recorded
    text = format_plan(plan(cfg), store, cfg)
    # the unit, and the sanity flags that read it (fresh again once the unit is: not recomputed)
    assert f"({N_UNITS - 2} stored, 2 stale, 2 to run)" in text.splitlines()[0]
    assert f"stale: {NO_PROVENANCE} [gap]" in text
    rep = run(cfg, progress=False)
    assert rep.computed == [str(old)] and rep.stale[0] == (str(old), NO_PROVENANCE)
    assert [u for u, _ in rep.stale[1:]] == [SANITY]
    assert "provenance" in store.load(old).meta and "stale" not in store.load(old).meta


def test_keep_stale_keeps_and_report_marks(tmp_path, base):
    shutil.copytree(base[1], tmp_path / "r")
    pooled = UnitKey("tiny-a", "mrpc", "gap", "all")
    ResultStore(tmp_path / "r").delete(pooled)  # recomputed from the stale per-prompt units
    p = _config(tmp_path, "r", base[0], ("seed = 0", "seed = 1"))
    tiny_a = lambda j: j.model == "tiny-a"  # noqa: E731
    rep = run(load_config(p), progress=False, keep_stale=True, only=tiny_a)
    assert rep.computed == [str(pooled)]
    assert len(rep.kept_stale) == PER_MODEL - 1 and rep.stale == []
    store = ResultStore(tmp_path / "r")
    assert store.load(UnitKey("tiny-a", "mrpc", "gap", 0)).meta["stale"] == "seed 0 -> 1"
    assert store.load(pooled).meta["stale"] == "pooled from stale units (prompt 0, 1: seed 0 -> 1)"
    html = build_report(store, tmp_path / "r.html").read_text()
    assert "stale: computed under a different configuration (seed 0 -&gt; 1)" in html
    assert "stale: computed under a different configuration (pooled from stale units" in html
    table1 = html[html.index('<section id="table1"'):]
    assert '<div class="stale">' in table1[: table1.index("</section>")]
    # run again without keep_stale: every stale unit is recomputed, nothing is marked any more
    rep = run(load_config(p), progress=False, only=tiny_a)
    assert len(rep.computed) == PER_MODEL and rep.kept_stale == []
    assert all("stale" not in u.meta for u in store.iter_units())
    assert '<div class="stale">' not in build_report(store, tmp_path / "r2.html").read_text()


def test_dry_run_prints_what_changed(tmp_path, base, capsys):
    shutil.copytree(base[1], tmp_path / "r")
    p = _config(tmp_path, "r", base[0], ("seed = 0", "seed = 1"),
                ("pararel_max_facts = 2", "pararel_max_facts = 3"))
    assert main(["sweep", str(p), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"(0 stored, {N_UNITS} stale, {N_UNITS} to run)" in out.splitlines()[0]
    assert "stale: limits.pararel_max_facts 2 -> 3; seed 0 -> 1 [consistency, gap, extraction]" in out
    assert "stale: seed 0 -> 1 [gap]" in out
    assert main(["sweep", str(p), "--dry-run", "--keep-stale"]) == 0
    out = capsys.readouterr().out
    assert f"(0 stored, {N_UNITS} stale kept (--keep-stale), 0 to run)" in out.splitlines()[0]
    assert "stale, kept: seed 0 -> 1 [gap]" in out


def test_limits_affect_only_their_dataset(tmp_path, demo_data):
    """The limits table: becel_* never touches PARAREL, mmlu_limit never BECEL; batch_size and
    device nothing."""
    p = _config(tmp_path, "x", demo_data)
    cfg = load_config(p)
    cfg = replace(cfg, datasets={**cfg.datasets, "becel": str(demo_data / "becel")})
    keys = [UnitKey("tiny-a", "pararel", "gap", 0), UnitKey("tiny-a", "pararel", "gap", "all"),
            UnitKey("tiny-a", "becel", "consistency", "all", "snli"),
            UnitKey("tiny-a", "mmlu", "spread", 1), UnitKey("tiny-a", "mrpc", "gap", 0)]

    def comps(c):
        prov = Provenance(c)
        return {k: prov.components(k) for k in keys}

    ref = comps(cfg)
    lim = cfg.limits
    same = comps(replace(cfg, batch_size=1, device="cpu",
                         limits=replace(lim, becel_max_train=7, becel_method="finetune",
                                        becel_tasks=("rte",))))
    assert [k.dataset for k in keys if same[k] != ref[k]] == ["becel"]
    changed = comps(replace(cfg, limits=replace(lim, mmlu_limit=9)))
    assert [k.dataset for k in keys if changed[k] != ref[k]] == ["mmlu"]
    changed = comps(replace(cfg, representation="pre_norm", lens="normed"))
    assert [k for k in keys if changed[k] != ref[k]] == [keys[0], keys[1], keys[4]]


def test_download_dataset_hashes_its_cache(tmp_path, demo_data, monkeypatch):
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    p = _config(tmp_path, "x", demo_data, (f'mrpc = "{demo_data}/mrpc"', 'mrpc = "download"'))
    cfg = load_config(p)
    key = UnitKey("tiny-a", "mrpc", "gap", 0)
    assert Provenance(cfg).components(key)["dataset.mrpc"] == "absent"  # not downloaded yet
    shutil.copytree(demo_data / "mrpc", tmp_path / "cache" / "data" / "mrpc")
    local = replace(cfg, datasets={**cfg.datasets, "mrpc": str(demo_data / "mrpc")})
    assert Provenance(cfg).components(key) == Provenance(local).components(key)
    assert list(Provenance(cfg).record(key)["files"]["mrpc"]) == ["dev.tsv"]


def test_an_analysis_own_limits_touch_only_its_units(tmp_path, demo_data):
    """knockout_max_queries (Analysis.limits of the knockout) never makes another PARAREL unit stale."""
    cfg = load_config(_config(tmp_path, "x", demo_data))
    keys = [UnitKey("tiny-a", "pararel", "knockout", 0), UnitKey("tiny-a", "pararel", "extraction", 0)]
    before = {k: Provenance(cfg).components(k) for k in keys}
    changed = replace(cfg, limits=replace(cfg.limits, knockout_max_queries=7))
    after = {k: Provenance(changed).components(k) for k in keys}
    assert after[keys[1]] == before[keys[1]]
    assert after[keys[0]]["limits.knockout_max_queries"] == 7 != before[keys[0]].get("limits.knockout_max_queries")
