#!/usr/bin/env python
"""Write the notebooks of ``notebooks/`` from the cell sources below (outputs stripped).

The notebooks are generated so that they can be reviewed as code: edit this file, then run

    python scripts/make_notebooks.py            # rewrite notebooks/*.ipynb
    python scripts/make_notebooks.py --check    # exit 1 if a notebook differs from its source

``tests/integration/test_notebooks.py`` executes every notebook on tiny models and checks that the
committed files carry no outputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

# Every notebook starts with this cell: find the repository root whether Jupyter runs the
# notebook from notebooks/ (its default) or from the repository root.
FIND_ROOT = '''\
from pathlib import Path


def find_root(start: Path = Path.cwd()) -> Path:
    """The checkout's root (the directory holding configs/paper.toml)."""
    for p in (start, *start.parents):
        if (p / "configs" / "paper.toml").is_file():
            return p
    raise FileNotFoundError("run this notebook from a checkout of interp (configs/paper.toml not found)")


ROOT = find_root()'''

# --------------------------------------------------------------------------------- 01 quickstart

QUICKSTART = [
    ("md", """\
# interp quickstart: capture, logit lens, one figure

This notebook walks through the three building blocks that every analysis of the reproduction of
Fierro, Li & Søgaard (2024), *Does Instruction Tuning Make LLMs More Consistent?*, is made of:

1. **load a model** — `interp.load_model` wraps a Hugging Face causal LM in a TransformerLens
   `TransformerBridge` (hooks on every block) together with its tokenizer and prompt format;
2. **capture** — `interp.capture` runs a batch of prompts once and keeps only the positions you
   ask for (here: the last token and the last token of the subject) of the residual stream and of
   each block's attention (MHSA) and MLP updates;
3. **the logit lens** — `interp.lens` projects any of those vectors onto the vocabulary.

It runs on a CPU in seconds with the offline SmolLM2-135M-Instruct (see the README for the
install). Set the environment variable `INTERP_NB_MODEL` to use another model: an alias
(`interp models` lists them), a Hugging Face id, a local checkpoint, or `tiny:llama-chat` (a tiny
random model: fast, but its predictions are noise)."""),
    ("code", FIND_ROOT + '''

import os

import torch

import interp
from interp import Span, capture, lens, load_model
from interp.prompts import pararel_prompt

MODEL = os.environ.get("INTERP_NB_MODEL", "smollm2-135m-instruct")'''),
    ("md", """\
## 1. Load a model

`load_model` picks the device (CUDA, then MPS, then CPU) and the dtype (float32 on the CPU). The
returned `Model` carries the bridge (`model.bridge`), the tokenizer, the sizes, and whether it is
an instruction-tuned (chat) model: an IFT model is prompted through its own chat template, a base
model with plain text (the paper's Table 3)."""),
    ("code", '''\
model = load_model(MODEL)
print(f"{model.name}: {model.n_layers} layers, d_model = {model.d_model}, "
      f"vocabulary = {model.d_vocab}, chat (IFT) = {model.is_chat}, device = {model.device}")'''),
    ("md", """\
## 2. PARAREL-style prompts

PARAREL queries are cloze patterns such as `The capital of [X] is [Y].`: `[X]` is the subject and
the object `[Y]` must end the pattern, so that the model's next token is the answer.
`pararel_prompt(model, i, pattern, subject)` renders Table 3's prompt `i` (0–2) for the model's
kind and returns the prompt and the character span of the subject in it."""),
    ("code", '''\
FACTS = [  # (pattern, subject, expected object)
    ("The capital of [X] is [Y].", "France", "Paris"),
    ("The capital of [X] is [Y].", "Japan", "Tokyo"),
    ("The official language of [X] is [Y].", "Italy", "Italian"),
    ("[X] is located in the continent of [Y].", "Kenya", "Africa"),
]
prompts, spans = [], []
for pattern, subject, _ in FACTS:
    prompt, span = pararel_prompt(model, 0, pattern, subject)
    prompts.append(prompt)
    spans.append(span)
print(repr(prompts[0]))
print("subject span:", spans[0], "->", repr(prompts[0][spans[0].start:spans[0].end]))'''),
    ("md", """\
## 3. Capture

One batched forward (left-padded, with an attention mask) keeps, at each requested position:

* `resid` `[n, n_layers + 1, d_model]` — the residual stream: index 0 is the embedding, index
  `l + 1` is `blocks.{l}.hook_resid_post`;
* `attn_out` `[n, n_layers, d_model]` — the MHSA update $a_l$ added to the residual stream
  (`blocks.{l}.hook_attn_out`);
* `mlp_out` `[n, n_layers, d_model]` — the MLP update $f_l$ (`blocks.{l}.hook_mlp_out`);
* `final` `[n, d_model]` — the last residual after the final norm (the "outermost
  representation"), and `logits` `[n, d_vocab]`, the model's own next-token logits.

A mapping of positions gives one `Activations` per name, from the same forward. Memory grows with
prompts × layers × d_model, never with the prompt length."""),
    ("code", '''\
acts = capture(model, prompts, positions={"last": "last", "subject": spans})
last, subj = acts["last"], acts["subject"]
print("resid   ", tuple(last.resid.shape))
print("attn_out", tuple(last.attn_out.shape))
print("mlp_out ", tuple(last.mlp_out.shape))
print("final   ", tuple(last.final.shape), " logits", tuple(last.logits.shape))
for i, (_, subject, _) in enumerate(FACTS):
    tok = subj.tokens[i][subj.token_index[i]]
    print(f"{subject!r}: last subject token #{int(subj.token_index[i])} = {model.tokenizer.decode([tok])!r}")'''),
    ("md", """\
## 4. The logit lens

`lens.top_k(model, x, k)` projects vectors onto the vocabulary with the unembedding and returns
the `k` best tokens with their probabilities (softmax over the whole vocabulary). `acts.final` is
already normalised, so projecting it (with the default `normed=False`) gives exactly the model's
next-token distribution."""),
    ("code", '''\
top = lens.top_k(model, last.final, k=5)
assert torch.equal(top.ids[:, 0], last.predictions)  # the lens on `final` = the model's own top-1
for (_, subject, gold), toks, probs in zip(FACTS, top.strings, top.probs.tolist()):
    cells = ", ".join(f"{t!r} {p:.2f}" for t, p in zip(toks, probs))
    print(f"{subject:8s} (gold {gold!r}): {cells}")'''),
    ("md", """\
### Per layer: what does each block write?

The same projection applied inside the network shows what each residual state, MHSA update and
MLP update "says" about the next token. There are two conventions:

* `normed=False` (**interp's default**, as in the paper's reference code and Geva et al. 2023):
  project the raw vector, `W_U x`. This is what the extraction rates of Fig. 5 / 8 use for the
  updates $a_l$ and $f_l$, which are not normalised when they are added to the residual stream.
* `normed=True`: apply the model's final norm first, `W_U norm(x)` — the classic logit lens of the
  residual stream; for the last residual state it gives the model's own logits.

The table shows the top-1 token of each block at the last position of the first prompt, under
both conventions. `lens.argmax` gives the same ids without decoding (cheaper for big sweeps)."""),
    ("code", '''\
from IPython.display import HTML, display

from interp.report import Table, html_table

i = 0  # the first prompt
raw = {k: lens.top_k(model, getattr(last, k)[i], k=1) for k in ("resid", "attn_out", "mlp_out")}
normed = {k: lens.top_k(model, getattr(last, k)[i], k=1, normed=True) for k in raw}
assert torch.equal(lens.argmax(model, last.attn_out[i]), raw["attn_out"].ids[:, 0])

rows = []
for layer in range(model.n_layers):
    row = [str(layer)]
    for k in ("resid", "attn_out", "mlp_out"):
        j = layer + 1 if k == "resid" else layer  # resid[0] is the embedding
        row += [repr(raw[k].strings[j][0]), repr(normed[k].strings[j][0])]
    rows.append(row)
header = ["layer", "resid", "resid (normed)", "attn_out a_l", "a_l (normed)", "mlp_out f_l", "f_l (normed)"]
caption = f"lens top-1 at the last token of prompt {i} ({FACTS[i][0].replace('[X]', FACTS[i][1])})"
display(HTML(html_table(Table(header, rows, caption=caption))))'''),
    ("md", """\
## 5. The residual decomposition

The residual stream is a sum: every block adds its MHSA update and its MLP update to it, so the
last residual state equals the embedding plus every $a_l$ plus every $f_l$:

$$x_L = x_0 + \\sum_l a_l + \\sum_l f_l .$$

This is what makes it meaningful to project a single update $a_l$ (the extraction event of the
paper's §5 is `argmax(E a_l) == the final prediction`). The check below holds on every model
interp supports (a test guards it against changes in TransformerLens)."""),
    ("code", '''\
x_L = last.resid[:, -1]
rebuilt = last.resid[:, 0] + last.attn_out.sum(dim=1) + last.mlp_out.sum(dim=1)
err = (x_L - rebuilt).abs().max().item()
print(f"max |resid_post - (embed + sum attn_out + sum mlp_out)| = {err:.2e} (|x_L| max {x_L.abs().max():.1f})")
assert torch.allclose(x_L, rebuilt, atol=1e-3 * max(1.0, x_L.abs().max().item()))

# and the normed lens on the last residual state is the model's own logits
assert torch.equal(lens.argmax(model, x_L, normed=True), last.predictions)'''),
    ("md", """\
## 6. One figure: when does the answer appear?

The probability of the model's final top-1 token under the (normed) logit lens of the residual
stream, layer by layer, for each prompt. `interp.figures.layer_curves` draws one line per series
(click a legend entry to hide it); the same builder draws every per-layer figure of the report."""),
    ("code", '''\
from interp.figures import Curve, layer_curves

probs = lens.project(model, last.resid, normed=True).softmax(dim=-1)  # [n, n_layers + 1, d_vocab]
answer = last.predictions  # the final top-1 token of each prompt
curves = []
for i, (_, subject, _) in enumerate(FACTS):
    token = model.tokenizer.decode([int(answer[i])])
    curves.append(Curve(model=f"{subject} -> {token!r}", y=probs[i, :, answer[i]].tolist(),
                        x=list(range(model.n_layers + 1))))
fig = layer_curves(curves, title=f"{model.name}: P(final top-1 token) under the logit lens",
                   yaxis="probability", xaxis="residual stream (0 = embedding, l + 1 = after block l)")
fig'''),
    ("md", """\
## Next

* `02_reproduce_the_paper.ipynb` — the paper's models and datasets as one sweep config, and a
  scaled-down run of the same config that works anywhere;
* `03_explore_results.ipynb` — open a results directory: units, provenance, result objects,
  figures and the HTML report."""),
]

# ------------------------------------------------------------------------ 02 reproduce the paper

REPRODUCE = [
    ("md", """\
# Reproducing Fierro, Li & Søgaard (2024)

The paper compares **LLaMA-7B** with ten instruction-tuned (IFT) versions of it from Wang et al.
(2023a), *How far can camels go?* (the open-instruct / Tulu models), on

* **consistency**: PARAREL accuracy and consistency, MMLU accuracy and spread over instructions and
  answer orderings, BECEL consistency under paraphrase and negation (Tables 2, 5, 6);
* **representations**: cos(paraphrases) − cos(non-paraphrases) on MRPC, TAPACO and PARAREL
  (Table 1, Fig. 4, 6, 7), and same- vs different-relation similarity (Fig. 3);
* **mechanisms**: the subject-attribute rate (Fig. 2) and the MHSA / MLP extraction rates
  (Fig. 5, 8) with their correlation to consistency (Table 7).

In interp the whole study is **one sweep config**: `configs/paper.toml`. This notebook explains it,
plans it without loading a model, shows the commands that run it, and then runs the *same* config
scaled down to two tiny random models and the demo data, so that it executes anywhere in seconds."""),
    ("code", FIND_ROOT + '''

import os
import tempfile
import tomllib

import torch

from interp.config import load_config
from interp.results import ResultStore
from interp.sweep import format_plan, plan, run

PAPER = ROOT / "configs" / "paper.toml"
print(PAPER.read_text())'''),
    ("md", """\
## The config

* **`[sweep]`** — where the results go (`output`, relative to the config file), the seed, the batch
  size and the dtype (bfloat16 on a GPU), and the Wikipedia snippet cache used by the
  subject-attribute rate (Fig. 2; fetched online once, then read offline).
* **`[[models]]`** — one entry per model: a `label` (the name in results and figures), a `spec`
  (a Hugging Face id or a local directory: the open-instruct models are released as weight diffs
  against LLaMA-7B, recovered into local directories), and a role: `kind = "base"` or
  `kind = "ift"` with `base = "<label of its base>"`. IFT models are prompted through their chat
  format (Table 3's `<user>` / `<assistant>`), base models with plain text. The base/IFT roles
  drive the report's base-vs-IFT comparisons.
* **`[datasets]`** — a local path per dataset, or `"download"`: fetch the original files once into
  the cache (`$INTERP_CACHE/data`).
* **`[limits]`** — caps for quicker runs (every one defaults to "everything"); here only the MRPC
  split (`test`, as the paper) and the size of BECEL's probe training sets."""),
    ("code", '''\
cfg = load_config(PAPER)
for m in cfg.models:
    role = "base" if m.kind == "base" else f"IFT of {m.base}"
    print(f"{m.label:20s} {role:16s} chat format: {m.chat!s:5s}  {m.spec}")
print("\\ndatasets:", cfg.datasets)
print("analyses:", {ds: cfg.wanted(ds) for ds in cfg.datasets})
print("prompts:", cfg.prompts, " output:", cfg.output)'''),
    ("md", """\
## The plan (a dry run: no model is loaded)

`plan(cfg)` lists the **jobs**: each job is one forward pass (one model × one dataset × one of
Table 3's prompts) shared by every analysis of that dataset; a BECEL job fits and evaluates one
task's probe; a job with prompt `all` pools the per-prompt results. Each analysis result is a
**unit**, stored as one JSON file the moment it is computed — a sweep that is killed and started
again recomputes nothing that is stored. `format_plan` marks what is already in the results
directory. This is what `interp sweep configs/paper.toml --dry-run` prints."""),
    ("code", '''\
jobs = plan(cfg)
text = format_plan(jobs, ResultStore(cfg.output), cfg).splitlines()
print("\\n".join(text[:22]))
print(f"  ... ({len(text) - 22} more jobs: the same for every IFT model)")'''),
    ("md", """\
## Running it

From a shell, in the repository:

```bash
interp sweep configs/paper.toml --dry-run          # the plan above
interp sweep configs/paper.toml                    # local: one model at a time, resumable
interp sweep configs/paper.toml --executor ray     # one Ray task per job, one GPU each
interp report ../results/paper -o paper.html       # one self-contained HTML report
```

With `--executor ray` (`pip install 'interp[ray]'`; `--address` for an existing cluster) the jobs
run in parallel, one GPU per task, and write into the same results directory; the pooled units are
computed at the end. Each 7B model needs about 14 GB of GPU memory in bfloat16.

The cell below runs the full sweep from Python when a GPU is present (and the open-instruct
checkpoints have been recovered to the paths of the config); otherwise it says why it is skipped.
Set `INTERP_NB_RUN_PAPER=0` to skip it anyway."""),
    ("code", '''\
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
    print(paper_report.summary())'''),
    ("md", """\
## The same study, scaled down (runs anywhere)

To see the whole pipeline end to end without a GPU, take the **same config** and change only the
models, the data and the limits:

* models: `tiny:gemma3` as the base and `tiny:llama-chat` as its "IFT" version — tiny random
  models built in memory (a Gemma-3 and a Llama-architecture chat model, 2 layers, d_model = 32),
  so the numbers are noise: this checks the plumbing, not the paper;
* data: the small hand-written demo sets shipped in `data/` (`interp.data.demo_path`), in the
  datasets' original file formats, with their Wikipedia snippets for the attribute rate;
* limits: 3 PARAREL relations × 4 facts, 8 MRPC pairs, 6 TAPACO sets, 3 MMLU questions per subject,
  one BECEL task with 16 training pairs, 100 bootstrap resamples;
* output: a temporary directory."""),
    ("code", '''\
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
print(format_plan(plan(small), ResultStore(small.output), small))'''),
    ("code", '''\
small_report = run(small, progress=False)
print(small_report.summary())
assert not small_report.failed'''),
    ("md", """\
Running it again computes nothing: every unit is already stored (this is how an interrupted sweep
resumes)."""),
    ("code", '''\
again = run(small, progress=False)
print(again.summary())
assert again.computed == []'''),
    ("md", """\
## The report

`build_report` (the `interp report` command) turns a results directory into one self-contained
HTML file with every table and figure of the paper that the results allow, each with its
intervals, and the base-vs-IFT comparisons. Open the file in a browser; it needs no network."""),
    ("code", '''\
from interp.report import build_report

html_path = build_report(small.output, workdir / "report.html", title="Scaled-down reproduction (tiny models)",
                         notes=small.notes)
print(f"wrote {html_path} ({html_path.stat().st_size / 1e6:.1f} MB)")'''),
    ("md", """\
The figures are also available one by one from `interp.figures`; for example Table 2 (accuracy,
consistency and spread) from the pooled units of the store. `03_explore_results.ipynb` shows how to
read a results directory in detail."""),
    ("code", '''\
from interp import figures

store = ResultStore(small.output)
table2_input = {}
for m in small.models:
    per = table2_input.setdefault(m.label, {})
    for u in store.iter_units(model=m.label, dataset="pararel", analysis="consistency", prompt="all"):
        per["pararel"] = u.payload
    for u in store.iter_units(model=m.label, dataset="mmlu", analysis="spread", prompt="all"):
        per["mmlu"] = u.payload
    per["becel"] = [u.payload for u in store.iter_units(model=m.label, dataset="becel")]
figures.table2(table2_input)'''),
]

# --------------------------------------------------------------------------- 03 explore results

EXPLORE = [
    ("md", """\
# Exploring a results directory

A sweep (`interp sweep CONFIG`, `interp demo`) writes a **results directory**: one JSON file per
**unit** — model × dataset × analysis × prompt (+ a variant) — at
`<model>/<dataset>/<analysis>/p<prompt>.json`, with its provenance. This notebook opens one with
`interp.results.ResultStore`, rebuilds the analyses' result objects, draws the paper's figures and
writes the HTML report.

Set `INTERP_NB_RESULTS` to a results directory (default `results/demo`, what `interp demo` writes).
If it does not exist, a tiny sweep (two tiny random models on the demo data) is run into a
temporary directory first, so the notebook always runs."""),
    ("code", FIND_ROOT + '''

import json
import os
import tempfile
from interp.results import ResultStore, UnitKey

RESULTS = Path(os.environ.get("INTERP_NB_RESULTS", "results/demo"))
if not RESULTS.is_absolute() and not RESULTS.is_dir():
    RESULTS = ROOT / RESULTS  # relative to the repository, wherever the notebook runs from'''),
    ("md", """\
## A results directory (or a tiny one)

The fallback sweep is the demo's config (`interp.demo.demo_dict`, the same as `configs/demo.toml`)
with the two real demo models replaced by tiny random ones and tight limits: it takes seconds, and
its numbers are noise."""),
    ("code", '''\
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
store'''),
    ("md", """\
## Units and the manifest

`store.keys()` lists the valid units (a file that does not validate — truncated, edited, arrays
missing — is reported by `store.invalid()` and never trusted). `store.manifest()` summarises the
directory: models, datasets, analyses, every unit's provenance, and the distinct package-version
sets the units were computed with."""),
    ("code", '''\
keys = store.keys()
print(f"{len(keys)} units; invalid files: {store.invalid() or 'none'}")
prompts_of = {}
for k in keys:
    prompts_of.setdefault((k.model, k.dataset, k.analysis), []).append(str(k.prompt) + (f"+{k.extra}" if k.extra else ""))
for (m, ds, a), ps in prompts_of.items():
    print(f"  {m:24s} {ds:8s} {a:12s} prompts {', '.join(ps)}")
print("e.g.", keys[0].relpath)

manifest = store.manifest()
print("\\nmodels:  ", manifest["models"])
print("datasets:", manifest["datasets"])
print("analyses:", manifest["analyses"])
print("versions:", json.dumps(manifest["versions"], indent=1))'''),
    ("md", """\
## One unit: payload and meta

`store.load(key)` returns a `StoredUnit`: the `payload` (the analysis result's `to_dict()`, plain
JSON), its `meta` (the slice of the config that determines it, the model spec, the seed, timings
per stage, package versions, time and host) and any large `arrays` kept beside it (`.npz`)."""),
    ("code", '''\
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
print("created at:  ", unit.meta["created_at"])'''),
    ("md", """\
## Result objects

Every analysis result is a frozen dataclass with `to_dict()` / `from_dict()`, so a stored payload
becomes the object again, with its methods and properties. Per-prompt PARAREL consistency is a
`ParaRelConsistency`; the unit pooled over prompts (`prompt="all"`) a `ParaRelOverPrompts`;
`ExtractionRates` (Fig. 5 / 8), `AttributeRates` (Fig. 2), `GapResult` (Table 1) and `MMLUSpread`
(Table 2) likewise."""),
    ("code", '''\
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
        print(f"  MMLU: accuracy {fmt_interval(mm.accuracy)} (at chance: {mm.at_chance}), spread {fmt_interval(mm.spread)}")'''),
    ("md", """\
## Figures

`interp.figures` has one plotly builder per table and figure of the paper. They take result
objects or their dicts, per model (and per prompt: a dropdown switches prompts). The pooled units
are used here."""),
    ("code", '''\
from interp import figures


def pooled(dataset, analysis):
    """{model: pooled payload} for the models that have it."""
    return {m: d for m in models if (d := load(m, dataset, analysis)) is not None}


attributes = pooled("pararel", "attributes")
if attributes:
    display(figures.fig2_attribute_rate(attributes))
else:
    print("no attribute-rate units")'''),
    ("code", '''\
extraction = pooled("pararel", "extraction")
if extraction:
    display(figures.fig5_mhsa_extraction(extraction))
else:
    print("no extraction units")'''),
    ("code", '''\
gaps = {m: {ds: d for ds in ("mrpc", "tapaco", "pararel") if (d := load(m, ds, "gap")) is not None}
        for m in models}
gaps = {m: per for m, per in gaps.items() if per}
if gaps:
    from IPython.display import HTML

    from interp.report import Table, html_table

    display(HTML(html_table(Table(*figures.table1_rows(gaps), caption="Table 1 (mean over prompts, 95% CI)"))))
    display(figures.table1(gaps))
else:
    print("no paraphrase-gap units")'''),
    ("md", """\
## The report

`build_report` renders every section the store allows — tables, figures, the base-vs-IFT
comparison — into one self-contained HTML file (plotly.js inlined: it opens offline). Sections
without their results say what is missing."""),
    ("code", '''\
from interp.report import build_report

out = build_report(store, Path(tempfile.mkdtemp(prefix="interp-report-")) / "report.html")
print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): open it in a browser")'''),
]

NOTEBOOK_CELLS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_reproduce_the_paper.ipynb": REPRODUCE,
    "03_explore_results.ipynb": EXPLORE,
}


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook (nbformat 4, no outputs) from ``(kind, source)`` pairs."""
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating gives the same file
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(cells: list[tuple[str, str]]) -> str:
    return nbformat.writes(build(cells)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a notebook is out of date")
    a = ap.parse_args(argv)
    stale = []
    for name, cells in NOTEBOOK_CELLS.items():
        path = NOTEBOOKS / name
        text = render(cells)
        if a.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run python scripts/make_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
