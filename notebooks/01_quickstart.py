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
# # interp quickstart: capture, logit lens, one figure
#
# This notebook walks through the three building blocks that every analysis of the reproduction of
# Fierro, Li & Søgaard (2024), *Does Instruction Tuning Make LLMs More Consistent?*, is made of:
#
# 1. **load a model** — `interp.load_model` wraps a Hugging Face causal LM in a TransformerLens
#    `TransformerBridge` (hooks on every block) together with its tokenizer and prompt format;
# 2. **capture** — `interp.capture` runs a batch of prompts once and keeps only the positions you
#    ask for (here: the last token and the last token of the subject) of the residual stream and of
#    each block's attention (MHSA) and MLP updates;
# 3. **the logit lens** — `interp.lens` projects any of those vectors onto the vocabulary.
#
# It runs on a CPU in seconds with the offline SmolLM2-135M-Instruct (see the README for the
# install). Set the environment variable `INTERP_NB_MODEL` to use another model: an alias
# (`interp models` lists them), a Hugging Face id, a local checkpoint, or `tiny:llama-chat` (a tiny
# random model: fast, but its predictions are noise).

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

import torch

import interp
from interp import Span, capture, lens, load_model
from interp.prompts import pararel_prompt

MODEL = os.environ.get("INTERP_NB_MODEL", "smollm2-135m-instruct")

# %% [markdown]
# ## 1. Load a model
#
# `load_model` picks the device (CUDA, then MPS, then CPU) and the dtype (float32 on the CPU). The
# returned `Model` carries the bridge (`model.bridge`), the tokenizer, the sizes, and whether it is
# an instruction-tuned (chat) model: an IFT model is prompted through its own chat template, a base
# model with plain text (the paper's Table 3).

# %%
model = load_model(MODEL)
print(f"{model.name}: {model.n_layers} layers, d_model = {model.d_model}, "
      f"vocabulary = {model.d_vocab}, chat (IFT) = {model.is_chat}, device = {model.device}")

# %% [markdown]
# ## 2. PARAREL-style prompts
#
# PARAREL queries are cloze patterns such as `The capital of [X] is [Y].`: `[X]` is the subject and
# the object `[Y]` must end the pattern, so that the model's next token is the answer.
# `pararel_prompt(model, i, pattern, subject)` renders Table 3's prompt `i` (0–2) for the model's
# kind and returns the prompt and the character span of the subject in it.

# %%
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
print("subject span:", spans[0], "->", repr(prompts[0][spans[0].start:spans[0].end]))

# %% [markdown]
# ## 3. Capture
#
# One batched forward (left-padded, with an attention mask) keeps, at each requested position:
#
# * `resid` `[n, n_layers + 1, d_model]` — the residual stream: index 0 is the embedding, index
#   `l + 1` is `blocks.{l}.hook_resid_post`;
# * `attn_out` `[n, n_layers, d_model]` — the MHSA update $a_l$ added to the residual stream
#   (`blocks.{l}.hook_attn_out`);
# * `mlp_out` `[n, n_layers, d_model]` — the MLP update $f_l$ (`blocks.{l}.hook_mlp_out`);
# * `final` `[n, d_model]` — the last residual after the final norm (the "outermost
#   representation"), and `logits` `[n, d_vocab]`, the model's own next-token logits.
#
# A mapping of positions gives one `Activations` per name, from the same forward. Memory grows with
# prompts × layers × d_model, never with the prompt length.

# %%
acts = capture(model, prompts, positions={"last": "last", "subject": spans})
last, subj = acts["last"], acts["subject"]
print("resid   ", tuple(last.resid.shape))
print("attn_out", tuple(last.attn_out.shape))
print("mlp_out ", tuple(last.mlp_out.shape))
print("final   ", tuple(last.final.shape), " logits", tuple(last.logits.shape))
for i, (_, subject, _) in enumerate(FACTS):
    tok = subj.tokens[i][subj.token_index[i]]
    print(f"{subject!r}: last subject token #{int(subj.token_index[i])} = {model.tokenizer.decode([tok])!r}")

# %% [markdown]
# ## 4. The logit lens
#
# `lens.top_k(model, x, k)` projects vectors onto the vocabulary with the unembedding and returns
# the `k` best tokens with their probabilities (softmax over the whole vocabulary). `acts.final` is
# already normalised, so projecting it (with the default `normed=False`) gives exactly the model's
# next-token distribution.

# %%
top = lens.top_k(model, last.final, k=5)
assert torch.equal(top.ids[:, 0], last.predictions)  # the lens on `final` = the model's own top-1
for (_, subject, gold), toks, probs in zip(FACTS, top.strings, top.probs.tolist()):
    cells = ", ".join(f"{t!r} {p:.2f}" for t, p in zip(toks, probs))
    print(f"{subject:8s} (gold {gold!r}): {cells}")

# %% [markdown]
# ### Per layer: what does each block write?
#
# The same projection applied inside the network shows what each residual state, MHSA update and
# MLP update "says" about the next token. There are two conventions:
#
# * `normed=False` (**interp's default**, as in the paper's reference code and Geva et al. 2023):
#   project the raw vector, `W_U x`. This is what the extraction rates of Fig. 5 / 8 use for the
#   updates $a_l$ and $f_l$, which are not normalised when they are added to the residual stream.
# * `normed=True`: apply the model's final norm first, `W_U norm(x)` — the classic logit lens of the
#   residual stream; for the last residual state it gives the model's own logits.
#
# The table shows the top-1 token of each block at the last position of the first prompt, under
# both conventions. `lens.argmax` gives the same ids without decoding (cheaper for big sweeps).

# %%
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
display(HTML(html_table(Table(header, rows, caption=caption))))

# %% [markdown]
# ## 5. The residual decomposition
#
# The residual stream is a sum: every block adds its MHSA update and its MLP update to it, so the
# last residual state equals the embedding plus every $a_l$ plus every $f_l$:
#
# $$x_L = x_0 + \sum_l a_l + \sum_l f_l .$$
#
# This is what makes it meaningful to project a single update $a_l$ (the extraction event of the
# paper's §5 is `argmax(E a_l) == the final prediction`). The check below holds on every model
# interp supports (a test guards it against changes in TransformerLens).

# %%
x_L = last.resid[:, -1]
rebuilt = last.resid[:, 0] + last.attn_out.sum(dim=1) + last.mlp_out.sum(dim=1)
err = (x_L - rebuilt).abs().max().item()
print(f"max |resid_post - (embed + sum attn_out + sum mlp_out)| = {err:.2e} (|x_L| max {x_L.abs().max():.1f})")
assert torch.allclose(x_L, rebuilt, atol=1e-3 * max(1.0, x_L.abs().max().item()))

# and the normed lens on the last residual state is the model's own logits
assert torch.equal(lens.argmax(model, x_L, normed=True), last.predictions)

# %% [markdown]
# ## 6. One figure: when does the answer appear?
#
# The probability of the model's final top-1 token under the (normed) logit lens of the residual
# stream, layer by layer, for each prompt. `interp.figures.layer_curves` draws one line per series
# (click a legend entry to hide it); the same builder draws every per-layer figure of the report.

# %%
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
fig

# %% [markdown]
# ## Next
#
# * `02_reproduce_the_paper.ipynb` — the paper's models and datasets as one sweep config, and a
#   scaled-down run of the same config that works anywhere;
# * `03_explore_results.ipynb` — open a results directory: units, provenance, result objects,
#   figures and the HTML report.
