# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exploring a results directory
#
# A sweep (`interp sweep CONFIG`, `interp demo`) writes a **results directory**: one JSON file per
# **unit** — model × dataset × analysis × prompt (+ a variant) — at
# `<model>/<dataset>/<analysis>/p<prompt>.json`, with its provenance. This notebook opens one with
# `interp.results.ResultStore`, rebuilds the analyses' result objects, draws the paper's figures and
# writes the HTML report.
#
# Set `INTERP_NB_RESULTS` to a results directory (default `results/demo`, what `interp demo` writes).
# If it does not exist, a tiny sweep (two tiny random models on the demo data) is run into a
# temporary directory first, so the notebook always runs.

# %%
from pathlib import Path


def find_root(start: Path = Path.cwd()) -> Path:
    """The checkout's root (the directory holding configs/paper.toml)."""
    for p in (start, *start.parents):
        if (p / "configs" / "paper.toml").is_file():
            return p
    raise FileNotFoundError("run this notebook from a checkout of interp (configs/paper.toml not found)")


ROOT = find_root()

import json
import os
import tempfile
from interp.results import ResultStore, UnitKey

RESULTS = Path(os.environ.get("INTERP_NB_RESULTS", "results/demo"))
if not RESULTS.is_absolute() and not RESULTS.is_dir():
    RESULTS = ROOT / RESULTS  # relative to the repository, wherever the notebook runs from

# %% [markdown]
# ## A results directory (or a tiny one)
#
# The fallback sweep is the demo's config (`interp.demo.demo_dict`: the packaged `interp/configs/demo.toml` with its paths filled in)
# with the two real demo models replaced by tiny random ones and tight limits: it takes seconds, and
# its numbers are noise.

# %%
if not ResultStore(RESULTS).keys():
    from interp.config import from_dict
    from interp.data import demo_path
    from interp.demo import demo_dict
    from interp.sweep import run

    print(f"{RESULTS} holds no results: running a tiny sweep first")
    RESULTS = Path(tempfile.mkdtemp(prefix="interp-results-"))
    d = demo_dict(demo_path(), RESULTS)
    d["models"] = [
        {"label": "tiny-base", "spec": "tiny:gemma3", "kind": "base"},
        {"label": "tiny-ift", "spec": "tiny:llama-chat", "kind": "ift", "base": "tiny-base"},
    ]
    d["sweep"].update(batch_size=64, notes=["Tiny random models on the demo data: the numbers are noise."])
    d["limits"].update(pararel_relations=["P36", "P37", "P1376"], pararel_max_facts=4, mrpc_max_pairs=8,
                       tapaco_max_sets=6, mmlu_limit=3, becel_tasks=["snli"], becel_max_train=16,
                       becel_max_eval=8, n_boot=100)
    sweep_report = run(from_dict(d, source="tiny sweep"), progress=False)
    print(sweep_report.summary())
store = ResultStore(RESULTS)
store

# %% [markdown]
# ## Units and the manifest
#
# `store.keys()` lists the valid units (a file that does not validate — truncated, edited, arrays
# missing — is reported by `store.invalid()` and never trusted). `store.manifest()` summarises the
# directory: models, datasets, analyses, every unit's provenance, and the distinct package-version
# sets the units were computed with.

# %%
keys = store.keys()
print(f"{len(keys)} units; invalid files: {store.invalid() or 'none'}")
prompts_of = {}
for k in keys:
    prompts_of.setdefault((k.model, k.dataset, k.analysis), []).append(str(k.prompt) + (f"+{k.extra}" if k.extra else ""))
for (m, ds, a), ps in prompts_of.items():
    print(f"  {m:24s} {ds:8s} {a:12s} prompts {', '.join(ps)}")
print("e.g.", keys[0].relpath)

manifest = store.manifest()
print("\nmodels:  ", manifest["models"])
print("datasets:", manifest["datasets"])
print("analyses:", manifest["analyses"])
print("versions:", json.dumps(manifest["versions"], indent=1))

# %% [markdown]
# ## One unit: payload and meta
#
# `store.load(key)` returns a `StoredUnit`: the `payload` (the analysis result's `to_dict()`, plain
# JSON), its `meta` (the slice of the config that determines it, the model spec, the seed, timings
# per stage, package versions, time and host) and any large `arrays` kept beside it (`.npz`).

# %%
models = manifest["models"]
model = models[0]
key = UnitKey(model, "pararel", "consistency", 0)
if not store.has(key):
    key = keys[0]
unit = store.load(key)
print(unit.key)
print("payload keys:", sorted(unit.payload))
print("meta keys:   ", sorted(unit.meta))
print("model spec:  ", unit.meta["model_spec"], " seed:", unit.meta["seed"])
print("timings (s): ", unit.meta["timings"])
print("versions:    ", unit.meta["versions"])
print("created at:  ", unit.meta["created_at"])

# %% [markdown]
# ## Result objects
#
# Every analysis result is a frozen dataclass with `to_dict()` / `from_dict()`, so a stored payload
# becomes the object again, with its methods and properties. Per-prompt PARAREL consistency is a
# `ParaRelConsistency`; the unit pooled over prompts (`prompt="all"`) a `ParaRelOverPrompts`;
# `ExtractionRates` (Fig. 5 / 8), `AttributeRates` (Fig. 2), `GapResult` (Table 1) and `MMLUSpread`
# (Table 2) likewise. `store.result(key)` returns the class the analysis registered
# (`interp.registry`), so you never need to know which one it is.

# %%
from interp.analyses.attributes import AttributeRates
from interp.analyses.consistency import MMLUSpread, ParaRelConsistency, ParaRelOverPrompts
from interp.analyses.extraction import ExtractionRates
from interp.analyses.paraphrase_gap import GapResult
from interp.figures import fmt_interval


def load(model, dataset, analysis, prompt="all"):
    """The payload of one unit, or None if it is not in the store."""
    k = UnitKey(model, dataset, analysis, prompt)
    return store.load(k).payload if store.has(k) else None


for m in models:
    print(f"== {m}")
    if (d := load(m, "pararel", "consistency", 0)) is not None:
        c = ParaRelConsistency.from_dict(d)
        print(f"  PARAREL prompt 0: accuracy {fmt_interval(c.accuracy)}, consistency {fmt_interval(c.consistency)}"
              f" ({len(c.relations)} relations, {c.n_undefined} without a consistency)")
    if (d := load(m, "pararel", "consistency")) is not None:
        over = ParaRelOverPrompts.from_dict(d)
        print(f"  PARAREL over {len(over.prompts)} prompts: consistency {over.consistency_mean:.3f}"
              f" ± {over.consistency_std:.3f} sd")
    if (d := load(m, "pararel", "extraction")) is not None:
        ex = ExtractionRates.from_dict(d)
        layer, rate, count = ex.peak("mhsa")
        print(f"  MHSA extraction: peak at layer {layer} of {ex.n_layers}: rate {rate:.3f} ({count} events)")
    if (d := load(m, "pararel", "attributes")) is not None:
        at = AttributeRates.from_dict(d)
        layer, rate = at.peak
        print(f"  attribute rate: peak {rate:.3f} at layer {layer}; {len(at.excluded_subjects)} subjects without snippets")
    if (d := load(m, "mrpc", "gap")) is not None:
        print(f"  MRPC gap: {fmt_interval(GapResult.from_dict(d).gap)}")
    if (d := load(m, "mmlu", "spread")) is not None:
        mm = MMLUSpread.from_dict(d)
        print(f"  MMLU: accuracy {fmt_interval(mm.accuracy)} (at chance: {mm.at_chance}), spread {fmt_interval(mm.spread)}")

# %% [markdown]
# ## Figures
#
# `interp.figures` has one plotly builder per table and figure of the paper. They take result
# objects or their dicts, per model (and per prompt: a dropdown switches prompts). The pooled units
# are used here.

# %%
from interp import figures


def pooled(dataset, analysis):
    """{model: pooled payload} for the models that have it."""
    return {m: d for m in models if (d := load(m, dataset, analysis)) is not None}


attributes = pooled("pararel", "attributes")
if attributes:
    display(figures.fig2_attribute_rate(attributes))
else:
    print("no attribute-rate units")

# %%
extraction = pooled("pararel", "extraction")
if extraction:
    display(figures.fig5_mhsa_extraction(extraction))
else:
    print("no extraction units")

# %%
gaps = {m: {ds: d for ds in ("mrpc", "tapaco", "pararel") if (d := load(m, ds, "gap")) is not None}
        for m in models}
gaps = {m: per for m, per in gaps.items() if per}
if gaps:
    from IPython.display import HTML

    from interp.report import Table, html_table

    display(HTML(html_table(Table(*figures.table1_rows(gaps), caption="Table 1 (mean over prompts, 95% CI)"))))
    display(figures.table1(gaps))
else:
    print("no paraphrase-gap units")

# %% [markdown]
# ## The report
#
# `build_report` renders every section the store allows — tables, figures, the base-vs-IFT
# comparison — into one self-contained HTML file (plotly.js inlined: it opens offline). Sections
# without their results say what is missing.

# %%
from interp.report import build_report

out = build_report(store, Path(tempfile.mkdtemp(prefix="interp-report-")) / "report.html")
print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): open it in a browser")
