"""The HTML report on a synthetic result store: self-contained, sections in order, absent reasons,
registry plumbing. ``synthetic_store`` is also used by tests/integration/test_report_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.offline
import pytest

from interp import figures, report, summaries
from interp.figures import Curve, layer_curves
from interp.report import Absent, Section, SectionRegistry, Table, build_report, html_table, model_role
from interp.summaries import _gap_items
from interp.results import ResultStore, UnitKey
from interp.stats import grouped_bootstrap_ci

MODELS = (("gemma3-270m", "base", 6), ("smollm2-135m-instruct", "IFT", 8))
RELATIONS = ("P36", "P103")


def _attributes_payload(model: str, n_layers: int, prompt: int | None, rng: np.random.Generator) -> dict:
    from interp.analyses.attributes import AttributeRates

    items = tuple((rel, f"{rel}-s{i}") for rel in RELATIONS for i in range(4))
    depth = np.linspace(0, 1, n_layers)
    item_rates = np.clip(0.25 * np.sin(np.pi * depth)[None, :] + rng.normal(0, 0.03, (len(items), n_layers)), 0, 1)
    rate = []
    for j in range(n_layers):
        groups = [[item_rates[i, j] for i, it in enumerate(items) if it[0] == rel] for rel in RELATIONS]
        rate.append(grouped_bootstrap_ci(groups, n_boot=50, seed=0))
    res = AttributeRates(
        model=model, normed=True, top=50, layers=tuple(range(n_layers)), rate=tuple(rate),
        per_relation={rel: tuple(item_rates[[i for i, it in enumerate(items) if it[0] == rel]].mean(0))
                      for rel in RELATIONS},
        items=items, item_rates=tuple(tuple(float(v) for v in row) for row in item_rates), n_queries=8,
        n_distinct_prompts=8, excluded_subjects=("Atlantis",), n_excluded_queries=1, n_short=0,
        prompt_index=prompt,
    )
    return res.to_dict()


def _queries(prompt: int) -> list:
    from interp.capture import Span
    from interp.queries import ParaRelQuery

    out = []
    for rel in RELATIONS:
        for pat in range(3):
            for fact in range(4):
                pattern = f"[X] {rel} pattern{pat} word{pat} [Y]"
                subject, obj = f"{rel}-s{fact}", f"{rel}-o{fact}"
                out.append(ParaRelQuery(rel, pat, pattern, fact, subject, obj, prompt,
                                        pattern.replace("[X]", subject).replace(" [Y]", ""), Span(0, len(subject))))
    return out


def _layer_payloads(n_layers: int, prompt: int, rng: np.random.Generator, d: int = 16) -> dict[str, dict]:
    """Real result types of the PARAREL layer analyses, computed by the analyses on random vectors."""
    import dataclasses

    import torch

    from interp.analyses.extraction import pararel_clusters, rates_from_events
    from interp.analyses.paraphrase_gap import SplitLayerGaps, gap_by_layer, pararel_inputs
    from interp.analyses.relations import relation_curves_from_resid

    qs = _queries(prompt)
    g = torch.Generator().manual_seed(int(rng.integers(1 << 30)))
    centers = torch.randn(len(RELATIONS) * 4, 1, d, generator=g)
    resid = centers[[RELATIONS.index(q.relation) * 4 + q.fact_index for q in qs]]
    resid = resid + 0.8 * torch.randn(len(qs), n_layers, d, generator=g) * torch.linspace(0.2, 1.5, n_layers)[:, None]
    inputs = pararel_inputs(qs)
    half = [s[: max(2, len(s) - 1)] for s in inputs.sets]
    split = SplitLayerGaps(*(dataclasses.replace(gap_by_layer(resid, sets, n_boot=50, seed=0), split=name)
                             for name, sets in (("all", inputs.sets), ("consistent", half), ("inconsistent", half))))
    rel = relation_curves_from_resid(resid, qs, None, max_pairs=20, n_boot=50, model="m")
    events = {b: torch.rand(len(qs), n_layers, generator=g) < p for b, p in (("mhsa", 0.15), ("mlp", 0.05))}
    extraction = rates_from_events(events, model="m", prompt_index=prompt, clusters=pararel_clusters(qs),
                                   n_boot=50)
    return {"layer_gap": split.to_dict(), "relations": rel.to_dict(), "extraction": extraction.to_dict()}


def _gap_payload(dataset: str, prompt: int, rng: np.random.Generator) -> dict:
    import torch

    from interp.analyses.paraphrase_gap import cosine_gap

    x = torch.tensor(rng.normal(size=(24, 12)), dtype=torch.float32)
    x[1::2] = x[0::2] + 0.7 * torch.tensor(rng.normal(size=(12, 12)), dtype=torch.float32)
    sets = [[2 * i, 2 * i + 1] for i in range(12)]
    non = [(2 * i, 2 * i + 3) for i in range(11)] if dataset == "mrpc" else None
    return cosine_gap(x, sets, non, n_boot=50, seed=0, representation="post_norm").to_dict()


def _pararel_consistency_payload(prompt: int, rng: np.random.Generator) -> dict:
    from interp.analyses.consistency import pararel_consistency

    qs = _queries(prompt)
    preds = [q.object if rng.random() < 0.6 else "other" for q in qs]
    return pararel_consistency(qs, preds, prompt_index=prompt, n_boot=50).to_dict()


def _mmlu_payload(rng: np.random.Generator) -> dict:
    from interp.analyses.consistency import mmlu_setups, mmlu_spread
    from interp.data.mmlu import Question

    questions = [Question("alpha", f"q{i}", ("w", "x", "y", "z"), int(rng.integers(4))) for i in range(12)]
    setups = mmlu_setups(questions)
    logprobs = [np.log(rng.dirichlet(np.ones(4), size=len(questions))) for _ in setups]
    return mmlu_spread([qs for _, qs in setups], logprobs, [s for s, _ in setups], n_boot=50).to_dict()


def _becel_payload(task: str, rng: np.random.Generator) -> dict:
    from interp.analyses.consistency import becel_consistency
    from interp.data.becel import Example, PerturbedPair

    pairs, po, pp = {}, {}, {}
    for kind in ("symmetric", "semantic", "negational"):
        ps = [PerturbedPair(task, kind, Example("a", "b", 0), Example("a", "c", 1 if kind == "negational" else 0),
                            kind != "negational") for _ in range(10)]
        pairs[kind], po[kind], pp[kind] = ps, rng.integers(0, 2, 10).tolist(), rng.integers(0, 2, 10).tolist()
    labels = rng.integers(0, 2, 20).tolist()
    return becel_consistency(task, po, pp, pairs, labels, rng.integers(0, 2, 20).tolist(), n_boot=50).to_dict()


def _sweep_config(root: Path, models, prompts, analyses,
                  datasets=("pararel", "mrpc", "tapaco", "mmlu", "becel")) -> "SweepConfig":
    """The sweep config a synthetic store stands for (datasets at paths that do not exist)."""
    from interp.config import Limits, ModelConfig, SweepConfig

    bases = [m for m, role, _ in models if role == "base"]
    cfgs = tuple(ModelConfig(m, "tiny:gemma3", "base" if role == "base" else "ift",
                             bases[0] if role != "base" and len(bases) == 1 else None)
                 for m, role, _ in models)
    names = tuple(analyses) + (("spread",) if "consistency" in analyses else ())
    return SweepConfig(models=cfgs, datasets={ds: str(root / "no-data" / ds) for ds in datasets}, analyses=names, prompts=tuple(prompts), output=str(root),
                       limits=Limits(becel_tasks=("snli", "wic"), n_boot=50))


def synthetic_store(root: Path, *, models=MODELS, prompts=(0, 1, 2), pooled: bool = False,
                    analyses=("attributes",), finish: bool = True) -> ResultStore:
    """A store of real analysis result types (computed on random vectors) for a base and an IFT
    model, per prompt (+ ``prompt="all"`` pooled units for Fig. 2 when ``pooled``). ``analyses``:
    any of attributes, gap, layer_gap, relations, extraction, consistency (PARAREL, MMLU spread, BECEL).
    With ``finish`` the pipeline then does what a sweep does after the models ran: the units pooled
    over prompts (and BECEL's tasks) and the cross-model summaries (the report computes neither)."""
    from interp.provenance import Provenance

    store = ResultStore(root)
    cfg = _sweep_config(root, models, prompts, analyses)
    prov = Provenance(cfg)
    rng = np.random.default_rng(0)
    for model, role, n_layers in models:
        common = dict(config={"model_role": role, "normed": True, "max_facts": 4, "representation": "post_norm"},
                      model_spec=model, seed=0, timings={"capture_s": 0.1, "analysis_s": 0.01})

        def save(key: UnitKey, payload: dict) -> None:
            store.save(key, payload, provenance=prov.record(key), **common)  # noqa: B023
        for prompt in prompts:
            if "attributes" in analyses:
                save(UnitKey(model, "pararel", "attributes", prompt), _attributes_payload(model, n_layers, prompt, rng))
            layer = _layer_payloads(n_layers, prompt, rng)
            for name, payload in layer.items():
                if name in analyses:
                    save(UnitKey(model, "pararel", name, prompt), payload)
            if "gap" in analyses:
                for ds in ("mrpc", "tapaco", "pararel"):
                    save(UnitKey(model, ds, "gap", prompt), _gap_payload(ds, prompt, rng))
            if "consistency" in analyses:
                save(UnitKey(model, "pararel", "consistency", prompt), _pararel_consistency_payload(prompt, rng))
        if "consistency" in analyses:
            save(UnitKey(model, "mmlu", "spread", "all"), _mmlu_payload(rng))
            for task in ("snli", "wic"):
                save(UnitKey(model, "becel", "consistency", "all", task), _becel_payload(task, rng))
        if pooled and "attributes" in analyses:
            save(UnitKey(model, "pararel", "attributes", "all"), _attributes_payload(model, n_layers, None, rng))
    if finish:
        finish_store(cfg)
    return store


def finish_store(cfg) -> None:
    """What a sweep does once the models ran: pool over prompts, then the cross-model summaries."""
    from interp.sweep import run

    rep = run(cfg, only=lambda j: j.pooled, progress=False)
    assert rep.failed == [], rep.summary()


ALL_ANALYSES = ("attributes", "gap", "layer_gap", "relations", "extraction", "consistency")


def _plotlyjs_count(text: str) -> int:
    return text.count(plotly.offline.get_plotlyjs()[:200])


def _outside_plotlyjs(text: str) -> str:
    js = plotly.offline.get_plotlyjs()
    assert text.count(js) == 1
    return text.replace(js, "")


# ---------------------------------------------------------------------------------------------


def test_model_role_known_answers() -> None:
    assert model_role({"config": {"model": {"kind": "ift"}}}) == "ift"  # what the pipeline writes
    assert model_role({"config": {"model_role": "base"}}) == "base"
    assert model_role({"config": {"model": {"is_chat": True}}}) == "ift"
    # never guessed from the model's name: a unit without its config's kind has no role
    assert model_role({"config": {}, "model_spec": "smollm2-135m-instruct"}) == "?"
    assert model_role({"config": {}, "model_spec": "someone/unknown"}) == "?"


def test_roles_base_pairing_and_config_notes(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results")
    rng = np.random.default_rng(0)
    for model, cfg in (("b1", {"kind": "base"}), ("b2", {"kind": "base"}),
                       ("i1", {"model": {"kind": "ift", "base": "b2"}, "notes": ["not a matched pair"]})):
        store.save(UnitKey(model, "pararel", "attributes", "all"), _attributes_payload(model, 3, None, rng),
                   config=cfg, model_spec=model, seed=0, timings={})
    ctx = report.ReportContext(store)
    assert [(m.label, m.role) for m in ctx.models] == [("b1", "base"), ("b2", "base"), ("i1", "ift")]
    assert report.base_of(ctx, "i1") == "b2"  # from the config, although two base models are present
    text = build_report(store, tmp_path / "r.html").read_text()
    assert "<li>not a matched pair</li>" in text and "<td>i1</td><td>i1</td><td>IFT</td>" in text
    # the comparison is the pipeline's (interp.summaries); the report computes none from raw units
    cmp = text[text.index('<section id="base_vs_ift"'):]
    assert "needs the base-vs-IFT comparison the sweep stores" in cmp[: cmp.index("</section>")]


def test_html_table_escapes_and_formats() -> None:
    out = html_table(Table(["model", "<gap>"], [["a&b", 0.12345], ["c", float("nan")]], caption="T"))
    assert "<th>&lt;gap&gt;</th>" in out and "<td>a&amp;b</td>" in out
    assert "<td>0.123</td>" in out and "<td>n/a</td>" in out and "<caption>T</caption>" in out
    with pytest.raises(ValueError, match="row has 1 cells"):
        html_table(Table(["a", "b"], [["x"]]))


def test_empty_store_report(tmp_path: Path) -> None:
    out = build_report(tmp_path / "results", tmp_path / "r.html")
    text = out.read_text()
    assert _plotlyjs_count(text) == 1
    assert "No valid results in the store" in text
    for s in report.SECTIONS:
        assert f'id="{s.id}"' in text and 'data-status="absent"' in text
    assert "Table 1 needs `gap` results on mrpc / tapaco / pararel" in text
    assert "Table 7 needs &gt;= 3 IFT models (a correlation across models); 0 present" in text
    assert 'class="plotly-graph-div"' not in text


def test_report_with_results(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path / "results", pooled=True)
    note = "the two demo models are not a matched base/IFT pair"
    out = build_report(store, tmp_path / "out" / "report.html", title="Demo", notes=[note])
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<title>Demo</title>" in text
    assert _plotlyjs_count(text) == 1
    # header: models with roles, notes, options
    assert "<td>gemma3-270m</td><td>gemma3-270m</td><td>base</td>" in text
    assert "<td>smollm2-135m-instruct</td><td>smollm2-135m-instruct</td><td>IFT</td>" in text
    assert note in text and "Representation / lens / scoring options used" in text
    assert "<td>normed</td><td>True</td><td>attributes</td>" in text
    assert "<td>representation</td><td>post_norm</td><td>sweep config</td>" in text
    # sections in the paper's order
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert ids == ["findings", "sanity", "table1", "table2", "pararel_relations", "pararel_examples", "table45",
                   "table6", "fig2", "fig3", "fig4", "fig5", "fig8", "knockout", "table7", "base_vs_ift", "other"]
    findings = text[text.index('<section id="findings"'):text.index('<section id="table1"')]
    assert "<td>gemma3-270m → smollm2-135m-instruct</td>" in findings
    assert re.search(r"<td>(more consistent|less consistent|no detectable change|higher|lower)</td>", findings)
    assert "Tables 4 and 5 show further families" in text  # one family: no Tables 4/5 block
    fig2 = text[text.index('<section id="fig2"'):text.index('<section id="fig3"')]
    assert 'data-status="ok"' in fig2 and fig2.count('class="plotly-graph-div"') == 1
    assert re.search(r"<td>0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]</td>", fig2)  # a number with its 95% interval
    assert "Table 7 needs &gt;= 3 IFT models (a correlation across models); 1 present" in text
    # footer: versions and the files used
    assert "Package versions" in text and "transformer-lens" in text
    assert "gemma3-270m/pararel/attributes/pall.json" in text
    assert "Result files used (10)" in text  # 2 models x (3 prompts + pooled), + the base-vs-IFT and sanity summaries


def test_report_with_every_analysis(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path / "results", analyses=ALL_ANALYSES)
    text = build_report(store, tmp_path / "r.html", strict=True).read_text()

    def section(sid: str) -> str:
        start = text.index(f'<section id="{sid}"')
        return text[start:text.index("</section>", start)]

    # the findings' mechanism table: each model's peaks, read from its pooled units
    from interp.analyses.attributes import AttributeRates

    findings = section("findings")
    assert "Mechanism: where the models retrieve attributes" in findings
    layer, rate = AttributeRates.from_dict(store.load(UnitKey("gemma3-270m", "pararel", "attributes", "all")).payload).peak
    assert f"<td>gemma3-270m</td><td>base</td><td>layer {layer}: {figures.fmt_num(rate)}</td>" in findings
    for sid, n_figs in (("table1", 1), ("fig2", 1), ("fig3", 1), ("fig4", 2), ("fig5", 1), ("fig8", 1)):
        body = section(sid)
        assert 'data-status="ok"' in body, sid
        assert body.count('class="plotly-graph-div"') == n_figs, sid
    t1 = section("table1")
    assert "<th>MRPC</th><th>TAPACO</th><th>PARAREL</th>" in t1
    assert re.search(r"<td>gemma3-270m</td><td>base</td><td>-?\d\.\d{3} \[-?\d\.\d{3}, -?\d\.\d{3}\]</td>", t1)
    assert "after the final norm" in t1
    assert "std over models" in section("fig3") and "relation layers" in section("fig3")
    assert "Figure 7" in section("fig4") and "events" in section("fig5")
    assert "95% intervals (hover): cluster bootstrap over (relation, fact) items" in section("fig5")
    assert "<td>normed</td><td>False</td><td>extraction</td>" in text  # the payload's own option wins
    cmp = section("base_vs_ift")
    assert 'data-status="ok"' in cmp
    for metric in ("Table 1 gap, MRPC", "Table 1 gap, TAPACO", "Table 1 gap, PARAREL",
                   "Fig. 2 attribute rate (mean over layers)"):
        assert f"<td>{metric}</td><td>gemma3-270m</td><td>smollm2-135m-instruct</td>" in cmp
    assert "12 paraphrase sets" in cmp and "8 (relation, subject) items" in cmp
    assert "Table 7 needs &gt;= 3 IFT models" in section("table7")
    t2 = section("table2")
    assert 'data-status="ok"' in t2 and t2.count('class="plotly-graph-div"') == 1
    assert re.search(r"<td>smollm2-135m-instruct</td><td>IFT</td><td>\d+\.\d \[[\d.]+, [\d.]+\]( \(chance\))?</td>", t2)
    assert " sd</td>" in t2 and "predicted-letter distribution" in t2
    t6 = section("table6")
    assert 'data-status="ok"' in t6 and "<td>SNLI</td>" in t6 and "<td>WIC</td>" in t6
    assert "<td>PARAREL consistency (item mean)</td>" in cmp and "8 (relation, fact) items" in cmp


def test_base_vs_ift_known_answer() -> None:
    metric = summaries.PairedMetric("m", "a", "d", lambda d: d["items"])
    row = summaries.compare(metric, "b", "i", {"items": {"x": 0.0, "y": 0.0, "z": 1.0, "only_b": 5.0}},
                            {"items": {"x": 1.0, "y": 1.0, "z": 1.0}})
    assert row["n"] == 3 and row["base_value"] == pytest.approx(1 / 3) and row["ift_value"] == 1.0
    assert row["diff"].estimate == pytest.approx(2 / 3)
    assert summaries.compare(metric, "b", "i", {"items": {"x": 0.0}}, {"items": {"x": 1.0}}) is None
    # exact permutation p: differences (1, 1, 0); of the 8 swaps, |mean| >= 2/3 for 4 (the zero swaps freely)
    assert row["p_value"] == pytest.approx(4 / 8)
    # Table 1 gap units, MRPC-style (independent non-pairs): sets and non-pairs scaled by
    # (S + K) / S and -(S + K) / K; their mean is the gap (.6 - .2 = .4)
    items = _gap_items({"set_cos": [0.5, None, 0.7], "nonpair_cos": [0.1, 0.3]})
    assert items == pytest.approx({"set 0": 1.0, "set 2": 1.4, "non-pair 0": -0.2, "non-pair 1": -0.6})
    assert sum(items.values()) / len(items) == pytest.approx(0.4)
    # random non-pairs across sets: each set carries half of each non-pair touching it, times S / K
    # = 3 / 2: set 0: .9 - 1.5 * (.2 / 2 + .4 / 2) = .45, set 1: .6 - 1.5 * .1 = .45, set 2: .3 - 1.5 * .2 = 0
    items = _gap_items({"set_cos": [0.9, 0.6, 0.3], "nonpair_cos": [0.2, 0.4],
                               "nonpair_sets": [[0, 1], [0, 2]]})
    assert items == pytest.approx({"set 0": 0.45, "set 1": 0.45, "set 2": 0.0})
    assert sum(items.values()) / 3 == pytest.approx(0.6 - 0.3)  # mean(set_cos) - mean(nonpair_cos)


def test_base_vs_ift_mmlu_spread_known_answer() -> None:
    """Two questions, 3 instructions x 1 ordering. Base: question accuracies per instruction
    (1, 0, 0), (1, 0, 0) -> means (1, 0, 0), spread 1. IFT: (1, 1, 1), (0, 0, 0) -> (.5, .5, .5),
    spread 0. Accuracy: base 1/3, IFT 1/2."""
    from interp.analyses.consistency import MMLUSetup, MMLUSpread, SetupResult
    from interp.stats import Interval

    def payload(cols: list[str]) -> dict:
        iv = Interval(0.5, 0.4, 0.6, 2)
        setups = tuple(SetupResult(i, 0, iv, (1, 1, 0, 0)) for i in range(3))
        return MMLUSpread(setups, iv, iv, iv, (0.5,) * 3, False, 0.5, 2, ("x",),
                          question_ids=("q1", "q2"), correct=tuple(cols)).to_dict()

    base, ift = payload(["11", "00", "00"]), payload(["10", "10", "10"])
    acc, spread = [m for m in summaries.PAIRED_METRICS if m.dataset == "mmlu"]
    row = summaries.compare(spread, "b", "i", base, ift)
    assert (row["base_value"], row["ift_value"], row["diff"].estimate) == pytest.approx((1.0, 0.0, -1.0))
    # swapping question 2 alone gives means (1, .5, .5) vs (.5, 0, 0): |diff| = 0; swapping both: +1
    assert row["p_value"] == pytest.approx(2 / 4) and row["n"] == 2
    row = summaries.compare(acc, "b", "i", base, ift)
    assert (row["base_value"], row["ift_value"]) == pytest.approx((1 / 3, 1 / 2))
    assert MMLUSetup(0, 0) == MMLUSetup(0, 0)


def test_findings_verdicts_by_hand() -> None:
    assert summaries.verdict(0.1, 0.01, "higher") == "more consistent"
    assert summaries.verdict(0.1, 0.01, "lower") == "less consistent"
    assert summaries.verdict(-0.1, 0.04, "lower") == "more consistent"
    assert summaries.verdict(-0.1, 0.2, "lower") == "no detectable change"
    assert summaries.verdict(0.3, 0.001, None) == "higher"
    assert summaries.verdict(0.0, 0.001, "higher") == "no detectable change"


def test_report_is_self_contained(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path / "results", prompts=(0,))
    text = _outside_plotlyjs(build_report(store, tmp_path / "r.html").read_text())
    assert not re.search(r"<script[^>]+src=", text) and not re.search(r"<link[\s>]", text) and "@import" not in text
    assert "http://" not in text and "https://" not in text  # no CDN, no web fonts, no links out
    assert "mathjax" not in text.lower()


def test_report_shows_the_pipelines_pooled_unit_and_pools_nothing(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path / "results", prompts=(0, 1))
    text = build_report(store, tmp_path / "r.html").read_text()
    fig2 = text[text.index('<section id="fig2"'):text.index('<section id="fig3"')]
    assert "mean over prompts" in fig2  # the dropdown offers the pooled curve
    assert fig2.count("<td>mean</td>") == 2  # one pooled row per model in the table
    # without the pipeline's pooled units, the report shows the prompts only (it computes nothing)
    store = synthetic_store(tmp_path / "r2", prompts=(0, 1), finish=False)
    fig2 = _section(build_report(store, tmp_path / "r2.html").read_text(), "fig2")
    assert "<td>mean</td>" not in fig2 and "<td>0</td>" in fig2


def test_custom_sections_failures_and_strict(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path / "results", prompts=(0,))
    reg = SectionRegistry()

    @reg.register("custom", "Custom: a table, a figure and raw HTML", order=1)
    def _custom(ctx):
        units = ctx.units(analysis="attributes")
        fig = layer_curves([Curve(u.key.model, [1, 2]) for u in units], title="c", yaxis="y")
        return [Table(["model"], [[u.key.model] for u in units]), fig, "<p id='raw'>raw</p>"]

    @reg.register("broken", "Broken section", order=2)
    def _broken(ctx):
        raise RuntimeError("boom")

    reg.add(Section("later", "Later", lambda ctx: Absent("because"), order=0.5))
    assert [s.id for s in reg] == ["later", "custom", "broken"]
    text = build_report(store, tmp_path / "r.html", sections=reg).read_text()
    assert text.index('id="later"') < text.index('id="custom"') < text.index('id="broken"')
    assert "<p id='raw'>raw</p>" in text and 'id="fig-custom-1"' in text
    assert "Absent: because" in text
    assert 'data-status="failed"' in text and "RuntimeError: boom" in text
    assert "gemma3-270m/pararel/attributes/p0.json" in text  # marked used by the custom section
    with pytest.raises(RuntimeError, match="boom"):
        build_report(store, tmp_path / "r2.html", sections=reg, strict=True)
    with pytest.raises(ValueError, match="section id"):
        reg.add(Section("bad id!", "x", lambda ctx: ""))


def test_default_registry_can_be_replaced(tmp_path: Path) -> None:
    reg = report.SECTIONS.copy()
    reg.register("table1", "Table 1 (mine)", order=10)(lambda ctx: Table(["x"], [["1"]]))
    assert len(reg) == len(report.SECTIONS) and reg.get("table1").title == "Table 1 (mine)"
    assert report.SECTIONS.get("table1").title != "Table 1 (mine)"  # the copy is independent
    text = build_report(tmp_path / "none", tmp_path / "r.html", sections=reg).read_text()
    assert "Table 1 (mine)" in text


def test_invalid_units_and_roles_override(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path / "results", prompts=(0,))
    store.path(UnitKey("gemma3-270m", "pararel", "attributes", 0)).write_text('{"truncated": ')
    text = build_report(store, tmp_path / "r.html", roles={"smollm2-135m-instruct": "base"}).read_text()
    assert "Invalid result files ignored (1)" in text and "not valid JSON" in text
    assert "No IFT model present" in text


def test_unknown_role_is_noted(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results")
    store.save(UnitKey("mystery", "pararel", "attributes", 0),
               _attributes_payload("mystery", 3, 0, np.random.default_rng(0)),
               config={}, model_spec="org/mystery", seed=0, timings={})
    text = build_report(store, tmp_path / "r.html").read_text()
    assert "Role (base / IFT) unknown for: mystery" in text


def test_bad_section_return_type(tmp_path: Path) -> None:
    reg = SectionRegistry([Section("x", "X", lambda ctx: 42)])
    with pytest.raises(TypeError, match="returned int"):
        build_report(tmp_path / "none", tmp_path / "r.html", sections=reg, strict=True)


def test_figure_div_is_rendered_once_per_figure(tmp_path: Path) -> None:
    reg = SectionRegistry([Section("two", "Two figures", lambda ctx: [go.Figure(), go.Figure()])])
    text = build_report(tmp_path / "none", tmp_path / "r.html", sections=reg).read_text()
    assert text.count('class="plotly-graph-div"') == 2 and 'id="fig-two-2"' in text


def test_table7_with_three_ift_models(tmp_path: Path) -> None:
    models = (("base", "base", 4), ("i1", "IFT", 4), ("i2", "IFT", 4), ("i3", "IFT", 4))
    store = synthetic_store(tmp_path / "results", models=models, prompts=(0,), analyses=("extraction", "consistency"))
    text = build_report(store, tmp_path / "r.html", strict=True).read_text()
    t7 = text[text.index('<section id="table7"'):text.index("</section>", text.index('<section id="table7"'))]
    assert 'data-status="ok"' in t7 and t7.count('class="plotly-graph-div"') == 1
    assert "<th>Block</th><th>Layer: block index (0-based)</th><th>Pearson</th><th>P-value</th>" in t7
    assert "i1, i2, i3" in t7 and not re.search(r"\bbase\b", t7.split("models:")[-1].split("<")[0])  # IFT only


def test_base_vs_ift_becel_macro_over_tasks() -> None:
    """Task a: 2 pairs, base flips 0 of 2, IFT 2 of 2; task b: 1 pair, both flip. Table 2's
    flip rate is the mean over tasks: base (0 + 1) / 2 = .5, IFT (1 + 1) / 2 = 1."""
    from interp.analyses.consistency import BecelTask
    from interp.stats import Interval

    def payload(same_a: str) -> dict:
        iv = Interval(0.5, 0.4, 0.6, 2)
        units = lambda ids, same: {"negational": {"ids": ids, "same": same, "expect_same": "0" * len(ids)}}  # noqa: E731
        return {"tasks": [BecelTask("a", *[iv] * 5, units=units(["p", "q"], same_a)).to_dict(),
                          BecelTask("b", *[iv] * 5, units=units(["r"], "0")).to_dict()]}

    metric = next(m for m in summaries.PAIRED_METRICS if m.name.startswith("BECEL negation flip"))
    row = summaries.compare(metric, "b", "i", payload("11"), payload("00"))
    assert (row["base_value"], row["ift_value"]) == pytest.approx((0.5, 1.0)) and row["n"] == 3


def _store_with_consistency(root: Path, consistency: dict[str, tuple[str, float]]) -> ResultStore:
    """Extraction results (prompt 0) for every model, and a PARAREL consistency payload with the
    given estimate: ``consistency[model] = (role, estimate)``."""
    from interp.analyses.consistency import ParaRelConsistency
    from interp.stats import Interval

    from interp.provenance import Provenance

    models = tuple((m, role, 4) for m, (role, _) in consistency.items())
    store = synthetic_store(root, models=models, prompts=(0,), analyses=("extraction",), finish=False)
    cfg = _sweep_config(root, models, (0,), ("extraction", "consistency"), datasets=("pararel",))
    for model, (role, c) in consistency.items():
        payload = ParaRelConsistency(Interval(0.5, 0.4, 0.6, 10), Interval(c, c - 0.05, c + 0.05, 10), 0.5, (), (),
                                     (), (), (), prompt_index=0).to_dict()
        key = UnitKey(model, "pararel", "consistency", 0)
        store.save(key, payload, config={"model_role": role}, model_spec=model, seed=0, timings={},
                   provenance=Provenance(cfg).record(key))
    finish_store(cfg)
    return store


def _section(text: str, sid: str) -> str:
    start = text.index(f'<section id="{sid}"')
    return text[start:text.index("</section>", start)]


def test_fig5_fig8_colored_by_consistency_vs_base(tmp_path: Path) -> None:
    """Base 0.5; IFT 0.6, 0.4, 0.7 -> higher, lower, higher (as the paper's Fig. 5 / 8)."""
    cons = {"base": ("base", 0.5), "i1": ("IFT", 0.6), "i2": ("IFT", 0.4), "i3": ("IFT", 0.7)}
    store = _store_with_consistency(tmp_path / "results", cons)
    ctx = report.ReportContext(store)
    classes, note = report.extraction_classes(ctx)
    assert classes == {"base": "base", "i1": "higher", "i2": "lower", "i3": "higher"}
    assert note == figures.consistency_classes_note(summaries.CONSISTENCY_CLOSE)
    text = build_report(store, tmp_path / "r.html", strict=True).read_text()
    for sid in ("fig5", "fig8"):
        body = _section(text, sid)
        assert 'data-status="ok"' in body
        assert "yellow: lower or equal" in body and "Colored by model" not in body
        for name in ("base (base)", "i1 (higher)", "i2 (lower)", "i3 (higher)"):
            assert f'"name":"{name}"' in body, (sid, name)
        assert figures.CLASS_COLORS["lower"] in body
        assert "<th>peak layer: block index (0-based)</th>" in body
    assert figures.LAYER_NUMBERING_NOTE.split(":")[0] in text  # the header says how layers are numbered


def test_fig5_falls_back_to_model_colors(tmp_path: Path) -> None:
    """One IFT model (or no base consistency): colored by model, and the note says why."""
    store = _store_with_consistency(tmp_path / "results", {"base": ("base", 0.5), "i1": ("IFT", 0.6)})
    assert report.extraction_classes(report.ReportContext(store))[0] is None
    body = _section(build_report(store, tmp_path / "r.html", strict=True).read_text(), "fig5")
    assert 'data-status="ok"' in body and "Colored by model" in body and "1 IFT model(s) have both" in body
    assert '"name":"i1 (higher)"' not in body and '"name":"i1 (IFT)"' in body  # the role in the legend
    store = _store_with_consistency(tmp_path / "r2", {"i1": ("IFT", 0.6), "i2": ("IFT", 0.4)})  # no base
    assert report.extraction_classes(report.ReportContext(store))[0] is None


def test_require_units_and_unwritable_output(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no results to report in .*: it holds no unit files"):
        build_report(tmp_path, tmp_path / "r.html", require_units=True)
    with pytest.raises(ValueError, match=r"'.*nothing' is not a directory of results \(no such directory\)"):
        build_report(tmp_path / "nothing", tmp_path / "r.html", require_units=True)
    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError, match=r"cannot write the report to '.*/f/r\.html'"):
        build_report(tmp_path, tmp_path / "f" / "r.html")
    assert not (tmp_path / "r.html").exists()


def _numbers(text: str) -> dict:
    import json

    m = re.search(r'<script type="application/json" id="report-numbers">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def test_tables_downloadable_and_sections_name_their_unit_files(tmp_path: Path) -> None:
    """Every table has a CSV button whose numbers are embedded once (the page's JSON, by section,
    with each section's unit files); each section lists the unit files it was built from."""
    store = synthetic_store(tmp_path / "results", prompts=(0,), analyses=("attributes", "gap"))
    text = build_report(store, tmp_path / "r.html", strict=True).read_text()
    numbers = _numbers(text)
    tables = {t["id"]: t for s in numbers["sections"] for t in s["tables"]}
    assert text.count('class="csv"') == len(tables) == text.count("</table>")
    assert all(f'data-table="{tid}"' in text for tid in tables)
    assert [s["id"] for s in numbers["sections"]] == ["overview", *(s.id for s in report.SECTIONS), "provenance"]
    t1 = tables["table1-t1"]
    assert t1["header"] == ["model", "role", "MRPC", "TAPACO", "PARAREL"]
    assert [r[:2] for r in t1["rows"]] == [["gemma3-270m", "base"], ["smollm2-135m-instruct", "IFT"]]
    assert t1["rows"][0][2] in _section(text, "table1")  # the cells as shown
    assert "base_vs_ift" in numbers["summaries"] and numbers["summaries"]["base_vs_ift"]["rows"]
    files = next(s for s in numbers["sections"] if s["id"] == "table1")["unit_files"]
    # 2 models x 3 datasets x (p0, pooled), + the sanity flags it shows
    assert len(files) == 13 and "gemma3-270m/mrpc/gap/pall.json" in files and "_sweep/_all/sanity/pall.json" in files
    body = _section(text, "table1")
    assert "built from 13 unit files" in body and "<code>gemma3-270m/mrpc/gap/p0.json</code>" in body
    assert "built from" not in _section(text, "table7")  # absent: read nothing
    # the provenance table of the files used is collapsible; the navigation stays on top
    assert "<details><summary>Result files used (" in text and '<nav id="toc">' in text
    assert "position:sticky" in text and 'id="download-json"' in text


def test_embedded_numbers_are_strict_json_and_cannot_close_the_script(tmp_path: Path) -> None:
    reg = SectionRegistry([Section("x", "X", lambda ctx: Table(["a</script><b>", "n"], [["x & y", float("nan")],
                                                                                        ["z", 1.5]]))])
    text = build_report(tmp_path / "none", tmp_path / "r.html", sections=reg).read_text()
    assert "a</script><b>" not in text.split('id="report-numbers">')[1]
    t = next(s for s in _numbers(text)["sections"] if s["id"] == "x")["tables"][0]
    assert t["header"][0] == "a</script><b>" and t["rows"] == [["x & y", None], ["z", 1.5]]
