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
# # Reproducing Fierro, Li & Søgaard (2024)
#
# The paper compares **LLaMA-7B** with ten instruction-tuned (IFT) versions of it from Wang et al.
# (2023a), *How far can camels go?* (the open-instruct / Tulu models), on
#
# * **consistency**: PARAREL accuracy and consistency, MMLU accuracy and spread over instructions and
#   answer orderings, BECEL consistency under paraphrase and negation (Tables 2, 5, 6);
# * **representations**: cos(paraphrases) − cos(non-paraphrases) on MRPC, TAPACO and PARAREL
#   (Table 1, Fig. 4, 6, 7), and same- vs different-relation similarity (Fig. 3);
# * **mechanisms**: the subject-attribute rate (Fig. 2) and the MHSA / MLP extraction rates
#   (Fig. 5, 8) with their correlation to consistency (Table 7).
#
# In interp the whole study is **one sweep config**: `configs/paper.toml`. This notebook explains it,
# plans it without loading a model, shows the commands that run it, and then runs the *same* config
# scaled down to two tiny random models and the demo data, so that it executes anywhere in seconds.

# %%
from pathlib import Path


def find_root(start: Path = Path.cwd()) -> Path:
    """The checkout's root (the directory holding configs/paper.toml)."""
    for p in (start, *start.parents):
        if (p / "configs" / "paper.toml").is_file():
            return p
    raise FileNotFoundError("run this notebook from a checkout of interp (configs/paper.toml not found)")


ROOT = find_root()

import os
import tempfile
import tomllib

import torch

from interp.config import load_config
from interp.results import ResultStore
from interp.sweep import format_plan, plan, run

PAPER = ROOT / "configs" / "paper.toml"
print(PAPER.read_text())

# %% [markdown]
# ## The config
#
# * **`[sweep]`** — where the results go (`output`, relative to the config file), the seed, the batch
#   size and the dtype (bfloat16 on a GPU), and the Wikipedia snippet cache used by the
#   subject-attribute rate (Fig. 2; fetched online once, then read offline).
# * **`[[models]]`** — one entry per model: a `label` (the name in results and figures), a `spec`
#   (a Hugging Face id or a local directory: the open-instruct models are released as weight diffs
#   against LLaMA-7B, recovered into local directories), and a role: `kind = "base"` or
#   `kind = "ift"` with `base = "<label of its base>"`. IFT models are prompted through their chat
#   format (Table 3's `<user>` / `<assistant>`), base models with plain text. The base/IFT roles
#   drive the report's base-vs-IFT comparisons.
# * **`[datasets]`** — a local path per dataset, or `"download"`: fetch the original files once into
#   the cache (`$INTERP_CACHE/data`).
# * **`[limits]`** — caps for quicker runs (every one defaults to "everything"); here only the MRPC
#   split (`test`, as the paper) and the size of BECEL's probe training sets.

# %%
cfg = load_config(PAPER)
for m in cfg.models:
    role = "base" if m.kind == "base" else f"IFT of {m.base}"
    print(f"{m.label:20s} {role:16s} chat format: {m.chat!s:5s}  {m.spec}")
print("\ndatasets:", cfg.datasets)
print("analyses:", {ds: cfg.wanted(ds) for ds in cfg.datasets})
print("prompts:", cfg.prompts, " output:", cfg.output)

# %% [markdown]
# ## The plan (a dry run: no model is loaded)
#
# `plan(cfg)` lists the **jobs**: each job is one forward pass (one model × one dataset × one of
# Table 3's prompts) shared by every analysis of that dataset; a BECEL job fits and evaluates one
# task's probe; a job with prompt `all` pools the per-prompt results. Each analysis result is a
# **unit**, stored as one JSON file the moment it is computed — a sweep that is killed and started
# again recomputes nothing that is stored. `format_plan` marks what is already in the results
# directory. This is what `interp sweep configs/paper.toml --dry-run` prints.

# %%
jobs = plan(cfg)
text = format_plan(jobs, ResultStore(cfg.output), cfg).splitlines()
print("\n".join(text[:22]))
print(f"  ... ({len(text) - 22} more jobs: the same for every IFT model)")

# %% [markdown]
# ## Running it
#
# From a shell, in the repository:
#
# ```bash
# interp sweep configs/paper.toml --dry-run          # the plan above
# interp sweep configs/paper.toml                    # local: one model at a time, resumable
# interp sweep configs/paper.toml --executor ray     # one Ray task per job, one GPU each
# interp report ../results/paper -o paper.html       # one self-contained HTML report
# ```
#
# With `--executor ray` (`pip install 'interp[ray]'`; `--address` for an existing cluster) the jobs
# run in parallel, one GPU per task, and write into the same results directory; the pooled units are
# computed at the end. Each 7B model needs about 14 GB of GPU memory in bfloat16.
#
# The cell below runs the full sweep from Python when a GPU is present (and the open-instruct
# checkpoints have been recovered to the paths of the config); otherwise it says why it is skipped.
# Set `INTERP_NB_RUN_PAPER=0` to skip it anyway.

# %%
missing = [m.spec for m in cfg.models if m.spec.startswith("/") and not Path(m.spec).is_dir()]
if not torch.cuda.is_available():
    print("skipped: no CUDA GPU here (the paper's 7B models need one; each takes ~14 GB in bfloat16)")
elif os.environ.get("INTERP_NB_RUN_PAPER", "1") == "0":
    print("skipped: INTERP_NB_RUN_PAPER=0")
elif missing:
    print(f"skipped: {len(missing)} model directories are missing, e.g. {missing[0]} "
          "(recover the open-instruct weight diffs first; see the comment at the top of the config)")
else:
    paper_report = run(cfg)  # resumable: run it again after an interruption
    print(paper_report.summary())

# %% [markdown]
# ## The same study, scaled down (runs anywhere)
#
# To see the whole pipeline end to end without a GPU, take the **same config** and change only the
# models, the data and the limits:
#
# * models: `tiny:gemma3` as the base and `tiny:llama-chat` as its "IFT" version — tiny random
#   models built in memory (a Gemma-3 and a Llama-architecture chat model, 2 layers, d_model = 32),
#   so the numbers are noise: this checks the plumbing, not the paper;
# * data: the small hand-written demo sets shipped in `data/` (`interp.data.demo_path`), in the
#   datasets' original file formats, with their Wikipedia snippets for the attribute rate;
# * limits: 3 PARAREL relations × 4 facts, 8 MRPC pairs, 6 TAPACO sets, 3 MMLU questions per subject,
#   one BECEL task with 16 training pairs, 100 bootstrap resamples;
# * output: a temporary directory.

# %%
from interp.config import from_dict
from interp.data import demo_path

raw = tomllib.loads(PAPER.read_text())
raw["models"] = [
    {"label": "tiny-base", "spec": "tiny:gemma3", "kind": "base"},
    {"label": "tiny-ift", "spec": "tiny:llama-chat", "kind": "ift", "base": "tiny-base"},
]
raw["datasets"] = {name: str(demo_path(name)) for name in raw["datasets"]}
raw["limits"] = {
    "pararel_relations": ["P36", "P37", "P1376"], "pararel_max_facts": 4,
    "mrpc_split": "dev", "mrpc_max_pairs": 8, "tapaco_max_sets": 6,
    "mmlu_limit": 3, "becel_tasks": ["snli"], "becel_max_train": 16, "becel_max_eval": 8,
    "n_boot": 100,
}
workdir = Path(tempfile.mkdtemp(prefix="interp-paper-small-"))
raw["sweep"].update(output=str(workdir / "results"), dtype="float32", batch_size=64,
                    wikipedia=str(demo_path("wikipedia")), wikipedia_offline=True,
                    notes=["Scaled-down run of configs/paper.toml: tiny random models, demo data."])
small = from_dict(raw, base_dir=PAPER.parent, source="configs/paper.toml (scaled down)")
print(format_plan(plan(small), ResultStore(small.output), small))

# %%
small_report = run(small, progress=False)
print(small_report.summary())
assert not small_report.failed

# %% [markdown]
# Running it again computes nothing: every unit is already stored (this is how an interrupted sweep
# resumes).

# %%
again = run(small, progress=False)
print(again.summary())
assert again.computed == []

# %% [markdown]
# ## The report
#
# `build_report` (the `interp report` command) turns a results directory into one self-contained
# HTML file with every table and figure of the paper that the results allow, each with its
# intervals, and the base-vs-IFT comparisons. Open the file in a browser; it needs no network.

# %%
from interp.report import build_report

html_path = build_report(small.output, workdir / "report.html", title="Scaled-down reproduction (tiny models)",
                         notes=small.notes)
print(f"wrote {html_path} ({html_path.stat().st_size / 1e6:.1f} MB)")

# %% [markdown]
# The figures are also available one by one from `interp.figures`; for example Table 2 (accuracy,
# consistency and spread) from the pooled units of the store. `03_explore_results.ipynb` shows how to
# read a results directory in detail.

# %%
from interp import figures

store = ResultStore(small.output)
table2_input = {}
for m in small.models:
    per = table2_input.setdefault(m.label, {})
    for u in store.iter_units(model=m.label, dataset="pararel", analysis="consistency", prompt="all"):
        per["pararel"] = u.payload
    for u in store.iter_units(model=m.label, dataset="mmlu", analysis="spread", prompt="all"):
        per["mmlu"] = u.payload
    for u in store.iter_units(model=m.label, dataset="becel", prompt="all", extra=""):
        per["becel"] = u.payload  # the unit the sweep pooled over BECEL's tasks
figures.table2(table2_input)
