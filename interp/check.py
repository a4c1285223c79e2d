"""``interp check MODEL``: a conformance report for one model spec, before a sweep trusts it.

Each check passes or fails with the number it measured; any failure makes the report fail
(``interp check`` then exits 1). The checks, on built-in sample prompts (no data set needed):

* ``loads``: the spec loads; its architecture and block kind (sequential, or parallel
  attention/MLP as Falcon's);
* ``hooks``: every hook point capture reads exists for every layer; the report names the vectors
  used as a_l, f_l and the outermost representation, and the Hugging Face module each comes from;
* ``residual``: ``resid_post = resid_pre + a_l + f_l`` at several positions of each prompt;
* ``hf_logits``: the bridge's logits and the captured residual stream equal the outputs of the
  Hugging Face model itself, recorded before the bridge wrapped it
  (:func:`interp.models.observe_boot`), at every position;
* ``logit_lens``: the lens with the final norm on the last ``resid_post`` gives the logits;
* the sweep's self-check (:func:`interp.selfcheck.verify`, on PARAREL-style sample queries and an
  MMLU prompt): ``bos_once``, ``capture`` (batched, padded, cached capture = a plain forward),
  ``answer_tokens`` (pruned, cached scoring = exhaustive teacher forcing), ``letters``; and
  ``kv_cache``: the key/value cache is filled and reused;
* ``boundary``: each sample answer's tokens after its prompt (the tail of the joint
  tokenization; merges across the boundary are reported, they are handled).

Then the facts: which vectors are a_l, f_l and the outermost representation (the Hugging Face
module each is read from), the prompt format with one rendered example, and the BOS token.

Differences are relative to each vector's largest entry when it exceeds 1
(:func:`interp.selfcheck.relative_error`); tolerance 1e-3 in float32, 5e-2 in half precision.
A sweep runs only the quick form (the self-check) before a model's first unit.

Example:
    >>> report = check("tiny:falcon")
    >>> report.passed, [c.name for c in report.checks][:4]
    (True, ['loads', 'hooks', 'residual', 'hf_logits'])
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from interp.models import Model
from interp.selfcheck import Check, guard, relative_error, tolerance

#: (PARAREL pattern, subject, object) of the sample queries; every object is a candidate answer
SAMPLE_FACTS: tuple[tuple[str, str, str], ...] = (
    ("The capital of [X] is [Y].", "France", "Paris"),
    ("The capital of [X] is [Y].", "Italy", "Rome"),
    ("The capital of [X] is [Y].", "Japan", "Tokyo"),
    ("The official language of [X] is [Y].", "Australia", "English"),
    ("[X] is developed by [Y].", "Windows 95", "Microsoft"),
)

#: plain texts run through the untouched Hugging Face model (``hf_logits``) and the residual check
SAMPLE_TEXTS: tuple[str, ...] = (
    "The Eiffel Tower is located in the city of",
    "Hi",
    "I ate the cheese. She was born in London and died in New York, where",
    "A much longer prompt about the many things that happen every day in the world of",
)

#: one MMLU question for the ``letters`` check
SAMPLE_MMLU = ("astronomy", "Which planet is closest to the Sun?",
               ("Mercury", "Venus", "Earth", "Mars"))

#: the hook points capture reads, per layer, and the one before the final norm
LAYER_HOOKS = ("hook_resid_pre", "hook_attn_out", "hook_mlp_out", "hook_resid_post")
FINAL_HOOK = "ln_final.hook_in"


@dataclass(frozen=True)
class Reference:
    """One text's outputs from the untouched Hugging Face model (float32, CPU)."""

    ids: list[int]
    logits: torch.Tensor  # [pos, d_vocab]
    hidden: torch.Tensor  # [n_layers + 1, pos, d_model]: HF's hidden_states (last: final-normed)


@dataclass
class Conformance:
    """The report of :func:`check`: each check (pass/fail, what it measured) and facts about
    the model (architecture, vectors, prompt format, BOS)."""

    spec: str
    checks: list[Check]
    info: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def format(self, width: int = 100) -> str:
        """The report as a text table: check, PASS/FAIL, measured; then the model's facts."""
        name_w = max(len(c.name) for c in self.checks) + 2
        lead = name_w + 8
        lines = [f"interp check {self.spec}", "", f"{'check':{name_w}}{'result':8}measured"]
        for c in self.checks:
            text = c.detail + (f" [sample: {c.sample}]" if c.sample and not c.passed else "")
            body = textwrap.wrap(text, max(40, width - lead)) or [""]
            lines.append(f"{c.name:{name_w}}{'PASS' if c.passed else 'FAIL':8}{body[0]}")
            lines += [" " * lead + b for b in body[1:]]
        if self.info:
            lines.append("")
            key_w = max(len(k) for k, _ in self.info) + 2
            for k, v in self.info:
                body = textwrap.wrap(v, max(40, width - key_w)) or [""]
                lines.append(f"{k:{key_w}}{body[0]}")
                lines += [" " * key_w + b for b in body[1:]]
        lines.append("")
        if self.passed:
            lines.append(f"PASSED: {len(self.checks)} checks in {self.seconds:.1f} s")
        else:
            lines.append(f"FAILED: {len(self.failed)} of {len(self.checks)} checks ("
                         + ", ".join(c.name for c in self.failed) + ")")
        return "\n".join(lines)


def reference_outputs(hf: Any, tokenizer: Any, texts: Sequence[str] = SAMPLE_TEXTS
                      ) -> list[Reference]:
    """Plain, unpadded, uncached forwards of ``texts`` (tokenized as the model sees them) through
    a Hugging Face model that the bridge has not wrapped."""
    device = next(hf.parameters()).device
    out = []
    with torch.inference_mode():
        for text in texts:
            ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
            o = hf(input_ids=torch.tensor([ids], device=device), output_hidden_states=True,
                   use_cache=False)
            out.append(Reference(ids, o.logits[0].float().cpu(),
                                 torch.stack([h[0] for h in o.hidden_states]).float().cpu()))
    return out


def check(spec: str, *, chat: bool | None = None, device: str | torch.device | None = None,
          dtype: str | torch.dtype | None = None) -> Conformance:
    """Load ``spec`` (any :func:`~interp.models.load_model` spec) and check it.

    Args:
        spec: the model spec.
        chat: True/False to force the chat (IFT) / base prompt format; default: the spec's.
        device, dtype: as for :func:`~interp.models.load_model`.
    """
    from interp.models import load_model, observe_boot

    t0 = time.perf_counter()
    refs: list[Reference] = []
    boot: dict[str, str] = {}  # the Hugging Face class, once loaded; why its forward failed

    def record(hf: Any, tok: Any) -> None:
        boot["class"] = type(hf).__name__
        try:
            refs.extend(reference_outputs(hf, tok))
        except Exception as e:  # noqa: BLE001 - reported by hf_logits
            refs.clear()
            boot["error"] = f"{type(e).__name__}: {e}"

    try:
        with observe_boot(record):
            model = load_model(spec, device=device, dtype=dtype, is_chat=chat)
    except Exception as e:  # noqa: BLE001 - reported as the failed first check
        msg = f"{type(e).__name__}: {e}"
        if "class" in boot:
            msg = (f"the Hugging Face model ({boot['class']}) loaded, but the TransformerLens "
                   f"bridge could not wrap it: {msg}")
        return Conformance(spec, [Check("loads", False, msg)],
                           seconds=round(time.perf_counter() - t0, 2))
    report = check_model(model, reference=refs, load_seconds=time.perf_counter() - t0)
    report.spec = spec
    if "error" in boot:
        report.checks = [Check(c.name, False, "the Hugging Face model's own forward failed: "
                               + boot["error"]) if c.name == "hf_logits" else c
                         for c in report.checks]
    return report


def check_model(model: Model, *, reference: Sequence[Reference] | None = None,
                atol: float | None = None, load_seconds: float | None = None) -> Conformance:
    """Check an already loaded model; ``reference``: :func:`reference_outputs` of its untouched
    Hugging Face model (without it the ``hf_logits`` check fails: nothing to compare with)."""
    from interp import selfcheck
    from interp.prompts import N_PROMPTS, mmlu_prompt, pararel_prompt

    t0 = time.perf_counter() - (load_seconds or 0.0)
    tol = atol if atol is not None else tolerance(model)
    info = _facts(model)
    loaded = (f"{_architecture(model)} ({_block_kind(model)[0]} block), {model.n_layers} "
              f"layers, d_model {model.d_model}, vocab {model.d_vocab}, {_dtype(model)} on "
              f"{model.device}, {'chat/IFT' if model.is_chat else 'base'} prompts"
              + (f"; {load_seconds:.1f} s" if load_seconds is not None else ""))
    checks = [Check("loads", True, loaded), guard("hooks", _check_hooks, model)]
    refs = list(reference or [])
    if checks[-1].passed:
        checks += _check_forward(model, refs, tol)
    # the sample queries in each of the paper's three prompts (chat template or plain text);
    # the answers are scored after prompt 0's (teacher forcing is the slow part)
    try:
        queries = {p: [pararel_prompt(model, p, pattern, subject)[0]
                       for pattern, subject, _ in SAMPLE_FACTS] for p in range(N_PROMPTS)}
        letters = [mmlu_prompt(model, 0, *SAMPLE_MMLU)]
    except Exception as e:  # noqa: BLE001 - e.g. a chat template that rejects the dialogue
        checks.append(Check("prompt_format", False, f"the paper's prompts cannot be rendered for "
                            f"this model: {type(e).__name__}: {e}"))
        return Conformance(model.spec, checks, info, round(time.perf_counter() - t0, 2))
    objects = [o for _, _, o in SAMPLE_FACTS]
    sc = selfcheck.verify(
        model, {"pararel prompt 0": queries[0],
                "pararel prompts 1-2": [q for p in range(1, N_PROMPTS) for q in queries[p]]},
        candidates={"pararel prompt 0": objects}, letters=letters, atol=tol)
    checks += sc.checks
    checks.append(Check("kv_cache", sc.cache_reused, "a cached continuation equals a plain "
                        "forward: shared prefixes and candidate scoring reuse the cache"
                        if sc.cache_reused else "the key/value cache is not filled or not used "
                        "through the bridge: every fast path falls back to uncached forwards "
                        "(exact, much slower); this library stack does not pass the cache on"))
    checks.append(guard("boundary", _check_boundary, model, queries[0], objects))
    info += _format_facts(model, queries[0][0])
    return Conformance(model.spec, checks, info, round(time.perf_counter() - t0, 2))


# ------------------------------------------------------------------------------------ checks


def _check_hooks(model: Model) -> Check:
    hooks = model.bridge.hook_dict
    want = [f"blocks.{l}.{h}" for l in range(model.n_layers) for h in LAYER_HOOKS] + [FINAL_HOOK]
    missing = [h for h in want if h not in hooks]
    if missing:
        return Check("hooks", False, f"{len(missing)} hook points capture needs are missing: "
                     + ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else ""))
    return Check("hooks", True, f"blocks.{{0..{model.n_layers - 1}}}."
                 f"{{{','.join(LAYER_HOOKS)}}} and {FINAL_HOOK} found")


def _check_forward(model: Model, refs: Sequence[Reference], tol: float) -> list[Check]:
    """``residual``, ``hf_logits`` and ``logit_lens`` from one capture of several positions."""
    from interp import lens
    from interp.capture import capture

    texts = [r.ids for r in refs] or [model.tokenize(t) for t in SAMPLE_TEXTS]
    n = len(texts)
    pos = {"first": 0, "middle": [len(t) // 2 for t in texts], "last": "last"}
    try:
        acts = capture(model, texts, pos, batch_size=2, progress=False)
    except Exception as e:  # noqa: BLE001
        why = f"capture failed: {type(e).__name__}: {e}"
        return [Check(c, False, why) for c in ("residual", "hf_logits", "logit_lens")]
    L = model.n_layers

    # residual: every block adds exactly a_l + f_l
    worst, scale = 0.0, 0.0
    for a in acts.values():
        r = a.resid
        worst = max(worst, relative_error(r[:, :-1] + a.attn_out + a.mlp_out, r[:, 1:]))
        scale = max(scale, float(r.abs().max()))
    out = [Check("residual", worst <= tol,
                 f"max |resid_post - (resid_pre + a_l + f_l)| / max(1, |resid_post|) = "
                 f"{worst:.1e} (tolerance {tol:g}; |resid| up to {scale:.3g}) over {n} prompts "
                 f"x {len(pos)} positions x {L} layers")]

    # hf_logits: the untouched Hugging Face model's logits and hidden states
    if not refs:
        out.append(Check("hf_logits", False, "no reference outputs of the untouched Hugging "
                         "Face model (load the model through interp.check.check)"))
    else:
        errs = dict.fromkeys(("bridge logits", "captured logits", "captured resid",
                              "captured final"), 0.0)
        where = ""
        with torch.inference_mode():
            for i, ref in enumerate(refs):
                got = model.bridge(torch.tensor([ref.ids], device=model.device),
                                   return_type="logits")[0].float().cpu()
                e = {"bridge logits": relative_error(got, ref.logits)}
                for a in acts.values():
                    t = int(a.token_index[i])
                    for k, v in (("captured logits", relative_error(a.logits[i], ref.logits[t])),
                                 ("captured resid", relative_error(a.resid[i, :L],
                                                                   ref.hidden[:L, t])),
                                 ("captured final", relative_error(a.final[i], ref.hidden[L, t]))):
                        e[k] = max(e.get(k, 0.0), v)
                for k, v in e.items():
                    if v > max(tol, *errs.values()):
                        where = f"{k} of text {i}: {_short(model, ref.ids)}"
                    errs[k] = max(errs[k], v)
        worst = max(errs.values())
        out.append(Check("hf_logits", worst <= tol,
                         f"max |interp - Hugging Face| / max(1, |HF|) = {worst:.1e} (tolerance "
                         f"{tol:g}; bridge logits at all {sum(len(r.ids) for r in refs)} positions "
                         f"{errs['bridge logits']:.1e}, captured logits "
                         f"{errs['captured logits']:.1e}, resid {errs['captured resid']:.1e}, "
                         f"final-normed {errs['captured final']:.1e}) over {n} texts",
                         "" if worst <= tol else where))

    # logit_lens: the lens of the last resid_post with the final norm = the model's logits
    last = acts["last"]
    lensed = lens.project(model, last.resid[:, -1], normed=True)
    err = relative_error(lensed, last.logits)
    same = int((lensed.argmax(-1) == last.logits.argmax(-1)).sum())
    out.append(Check("logit_lens", err <= tol and same == n,
                     f"max |lens(resid_post[L-1], normed) - logits| / max(1, |logits|) = "
                     f"{err:.1e} (tolerance {tol:g}); same top-1 token on {same}/{n} prompts"))
    return out


def _check_boundary(model: Model, prompts: Sequence[str], objects: Sequence[str]) -> Check:
    """The tokens of each object after its query: the tail of the joint tokenization."""
    from interp.scoring import continuation_text, continuation_tokens

    shown, merged, bad = [], 0, []
    lengths = []
    for prompt, obj in zip(prompts, objects):
        c = continuation_tokens(model, prompt, [continuation_text(obj)])
        tail = c.tokens[0]
        lengths.append(len(tail))
        pieces = "|".join(repr(model.tokenizer.decode([t])) for t in tail)
        if c.merged[0]:
            merged += 1
            pieces += f" (merged with the prompt's last {len(c.prompt) - c.start[0]} token(s))"
        elif model.tokenizer.decode(tail).strip() != obj.strip():
            bad.append(f"{obj!r} -> {model.tokenizer.decode(tail)!r}")
        shown.append(f"{obj!r} -> {pieces}")
    if bad:
        return Check("boundary", False, "answer tokens do not decode to the answer: "
                     + ", ".join(bad), repr(prompts[0]))
    span = f"{min(lengths)}" + (f"-{max(lengths)}" if max(lengths) > min(lengths) else "")
    return Check("boundary", True, f"{len(objects)} sample objects after their query: "
                 f"{span} token(s) each, {merged} merged across the "
                 "prompt/answer boundary (then scored from the first differing token): "
                 + "; ".join(shown))


# ------------------------------------------------------------------------------- the facts


def _short(model: Model, ids: Sequence[int], n: int = 80) -> str:
    text = model.tokenizer.decode(ids)
    return repr(text if len(text) <= n else text[:n] + "...")


def _architecture(model: Model) -> str:
    archs = getattr(model.hf_model.config, "architectures", None) or [type(model.hf_model).__name__]
    return ", ".join(archs)


def _dtype(model: Model) -> str:
    return str(model.dtype).replace("torch.", "")


def _block_kind(model: Model) -> tuple[str, str]:
    """("parallel" | "sequential", a sentence on how a block adds its updates)."""
    if "Parallel" in type(model.bridge.blocks[0]).__name__:
        return "parallel", ("parallel attention and MLP: both read the same normed resid_pre "
                            "and both updates are added at once")
    return "sequential", "attention, then the MLP on the residual after attention"


def _source(model: Model, hook: str) -> str:
    """The Hugging Face module whose output (or input) a hook point of layer 0 sees, with the
    layer index written ``{l}``."""
    try:
        point = model.bridge.hook_dict[hook].name  # aliases resolved
        obj, path = model.bridge, []
        *parts, end = point.split(".")
        for p in parts:
            obj = obj[int(p)] if p.isdigit() else getattr(obj, p)
            name = getattr(obj, "name", None)
            if p.isdigit() and name:
                path = [name[: -len(p)] + "{l}" if name.endswith(p) else name]
            elif name:
                path.append(name)
        side = {"hook_out": "output", "hook_in": "input"}.get(end, end)
        return f"{side} of {'.'.join(path)}"
    except Exception:  # noqa: BLE001 - only a description
        return "(module not resolved)"


def _facts(model: Model) -> list[tuple[str, str]]:
    kind, how = _block_kind(model)
    L = model.n_layers
    return [
        ("architecture", f"{_architecture(model)}; {type(model.bridge.blocks[0]).__name__}: {how}"),
        ("a_l (MHSA)", f"blocks.{{l}}.hook_attn_out = {_source(model, 'blocks.0.hook_attn_out')}"),
        ("f_l (MLP)", f"blocks.{{l}}.hook_mlp_out = {_source(model, 'blocks.0.hook_mlp_out')}"),
        ("outermost", "post_norm (default): the last token's residual after the final norm = "
                      f"{_source(model, 'ln_final.hook_out')} = HF's last hidden_states entry; "
                      f"pre_norm: blocks.{L - 1}.hook_resid_post"),
    ]


def _format_facts(model: Model, example: str) -> list[tuple[str, str]]:
    tok = model.tokenizer
    if not model.is_chat:
        fmt = "plain text (base model)"
    elif getattr(tok, "chat_template", None):
        fmt = "the tokenizer's chat template (IFT model)"
    else:
        fmt = "the open-instruct (Tulu) format <|user|>/<|assistant|> (IFT model; its tokenizer " \
              "has no chat template)"
    ids = model.tokenize(example)
    bos = tok.bos_token_id
    lead = next((i for i, t in enumerate(ids) if t != bos), len(ids)) if bos is not None else 0
    bos_text = (f"{tok.bos_token!r} (id {bos}): {lead} at the start of the example; the "
                f"tokenizer {'adds' if model.prepends_bos else 'does not add'} it"
                if bos is not None else "the tokenizer has no BOS token")
    return [("prompt format", fmt), ("example", f"{example!r} ({len(ids)} tokens)"),
            ("BOS", bos_text)]
