"""``interp check MODEL``: a conformance report for one model spec, before a sweep trusts it.

Each check passes, fails or is skipped (with the reason; a skipped check is not a failure), with
the number it measured; any failure makes the report fail (``interp check`` then exits 1). An
error inside a check fails that check, naming the error: the report itself never crashes. The
checks, on built-in sample prompts (no data set needed):

* ``loads``: the spec loads; its architecture and block kind (sequential, parallel
  attention/MLP as Falcon's, or encoder-decoder);
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

**Encoder-decoders** (T5, FlanT5; :mod:`interp.seq2seq`): the same checks in their
encoder-decoder form. ``hooks``: ``decoder_blocks.{l}`` (with ``hook_cross_attn_out``),
``encoder_blocks.{l}`` and both final norms; ``residual``: ``resid_post = resid_pre + attn_out +
cross_attn_out + mlp_out`` at the decoder's first position, and the encoder's identity at three
encoder tokens; ``hf_logits``: the untouched model's outputs with ``decoder_input_ids`` = the start
token (decoder logits, decoder and encoder hidden states, the encoder mean); ``logit_lens``: the
last decoder layer's ``resid_post``; the self-check's encoder-decoder form
(:func:`interp.seq2seq.check_capture`, :func:`~interp.seq2seq.check_answers`); ``boundary``: the
answers as decoder targets, without the EOS; ``kv_cache`` is skipped (no cache is reused). The
facts name a_l = the decoder's self- plus cross-attention, f_l = the decoder's MLP, outermost =
the decoder's first position after the final norm.

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
from interp.selfcheck import Check, _short as _short_text, guard, relative_error, tolerance

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
#: an encoder-decoder's: per decoder layer (``encoder_blocks.{l}`` have :data:`LAYER_HOOKS`), and
#: the final norms' outputs
DECODER_HOOKS = ("hook_resid_pre", "hook_attn_out", "hook_cross_attn_out", "hook_mlp_out",
                 "hook_resid_post")
SEQ2SEQ_FINAL_HOOKS = ("encoder_ln_final.hook_out", "decoder_ln_final.hook_out")

#: a check that passed with a detail starting with ``"skipped ("`` was not run: it does not
#: apply to the model (shown as SKIP, with the reason)
SKIPPED = "skipped"


def skipped(name: str, reason: str) -> Check:
    """A check that does not apply to this model: shown as SKIP with ``skipped (reason)``; not a
    failure."""
    return Check(name, True, f"{SKIPPED} ({reason})")


def is_skipped(c: Check) -> bool:
    return c.passed and c.detail.startswith(f"{SKIPPED} (")


@dataclass(frozen=True)
class Reference:
    """One text's outputs from the untouched Hugging Face model (float32, CPU).

    For an encoder-decoder, the text is the encoder's input and the decoder's is its start token:
    ``logits`` is ``[1, d_vocab]`` and ``hidden`` HF's ``decoder_hidden_states`` there
    (``[n_layers + 1, 1, d_model]``); ``encoder_hidden`` its ``encoder_hidden_states``."""

    ids: list[int]
    logits: torch.Tensor  # [pos, d_vocab]
    hidden: torch.Tensor  # [n_layers + 1, pos, d_model]: HF's hidden_states (last: final-normed)
    encoder_hidden: torch.Tensor | None = None  # [n_encoder_layers + 1, pos, d_model]


@dataclass
class Conformance:
    """The report of :func:`check`: each check (pass/fail/skipped, what it measured) and facts
    about the model (architecture, vectors, prompt format, BOS)."""

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

    @property
    def skipped(self) -> list[Check]:
        return [c for c in self.checks if is_skipped(c)]

    def format(self, width: int = 100) -> str:
        """The report as a text table: check, PASS/FAIL/SKIP, measured; then the model's facts."""
        name_w = max(len(c.name) for c in self.checks) + 2
        lead = name_w + 8
        lines = [f"interp check {self.spec}", "", f"{'check':{name_w}}{'result':8}measured"]
        for c in self.checks:
            text = c.detail + (f" [sample: {c.sample}]" if c.sample and not c.passed else "")
            body = textwrap.wrap(text, max(40, width - lead)) or [""]
            result = "SKIP" if is_skipped(c) else "PASS" if c.passed else "FAIL"
            lines.append(f"{c.name:{name_w}}{result:8}{body[0]}")
            lines += [" " * lead + b for b in body[1:]]
        if self.info:
            lines.append("")
            key_w = max(len(k) for k, _ in self.info) + 2
            for k, v in self.info:
                body = textwrap.wrap(v, max(40, width - key_w)) or [""]
                lines.append(f"{k:{key_w}}{body[0]}")
                lines += [" " * key_w + b for b in body[1:]]
        lines.append("")
        skip = self.skipped
        skip_text = (f" ({len(skip)} skipped: {', '.join(c.name for c in skip)})" if skip else "")
        if self.passed:
            lines.append(f"PASSED: {len(self.checks)} checks{skip_text} in {self.seconds:.1f} s")
        else:
            lines.append(f"FAILED: {len(self.failed)} of {len(self.checks)} checks ("
                         + ", ".join(c.name for c in self.failed) + ")")
        return "\n".join(lines)


def reference_outputs(hf: Any, tokenizer: Any, texts: Sequence[str] = SAMPLE_TEXTS
                      ) -> list[Reference]:
    """Plain, unpadded, uncached forwards of ``texts`` (tokenized as the model sees them) through
    a Hugging Face model that the bridge has not wrapped (an encoder-decoder's decoder gets its
    start token)."""
    device = next(hf.parameters()).device
    cfg = hf.config
    seq2seq = bool(getattr(cfg, "is_encoder_decoder", False))
    if seq2seq:
        start = getattr(cfg, "decoder_start_token_id", None)
        if start is None:
            start = getattr(getattr(cfg, "decoder", None), "decoder_start_token_id", None)
        if start is None:
            raise ValueError("the encoder-decoder's config has no decoder_start_token_id")
    out = []
    with torch.inference_mode():
        for text in texts:
            ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
            inp = torch.tensor([ids], device=device)
            if seq2seq:
                o = hf(input_ids=inp, decoder_input_ids=torch.tensor([[int(start)]], device=device),
                       output_hidden_states=True, use_cache=False)
                out.append(Reference(
                    ids, o.logits[0].float().cpu(),
                    torch.stack([h[0] for h in o.decoder_hidden_states]).float().cpu(),
                    torch.stack([h[0] for h in o.encoder_hidden_states]).float().cpu()))
                continue
            o = hf(input_ids=inp, output_hidden_states=True, use_cache=False)
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
    try:
        report = check_model(model, reference=refs, load_seconds=time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - every check is guarded; this is the last resort
        report = Conformance(spec, [Check("loads", True, "the model loaded"),
                                    Check("check_model", False, f"{type(e).__name__}: {e}")],
                             seconds=round(time.perf_counter() - t0, 2))
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
    checks = [guard("loads", _check_loads, model, load_seconds),
              guard("hooks", _check_hooks, model)]
    refs = list(reference or [])
    if checks[-1].passed:
        checks += _check_forward(model, refs, tol)
    else:
        checks += [skipped(c, "the hook points it reads are missing")
                   for c in ("residual", "hf_logits", "logit_lens")]
    info: list[tuple[str, str]] = []

    def facts(example: str | None) -> None:
        for what, fn, args in (("the vectors", _facts, ()),
                               ("the prompt format", _format_facts, (example,))):
            if what == "the prompt format" and example is None:
                continue
            try:
                info.extend(fn(model, *args))
            except Exception as e:  # noqa: BLE001 - a failed line, not a crash
                checks.append(Check("facts", False, f"{what} could not be described: "
                                    f"{type(e).__name__}: {e}"))

    # the sample queries in each of the paper's three prompts (chat template or plain text);
    # the answers are scored after prompt 0's (teacher forcing is the slow part)
    try:
        queries = {p: [pararel_prompt(model, p, pattern, subject)[0]
                       for pattern, subject, _ in SAMPLE_FACTS] for p in range(N_PROMPTS)}
        letters = [mmlu_prompt(model, 0, *SAMPLE_MMLU)]
    except Exception as e:  # noqa: BLE001 - e.g. a chat template that rejects the dialogue
        checks.append(Check("prompt_format", False, f"the paper's prompts cannot be rendered for "
                            f"this model: {type(e).__name__}: {e}"))
        facts(None)
        return Conformance(model.spec, checks, info, round(time.perf_counter() - t0, 2))
    objects = [o for _, _, o in SAMPLE_FACTS]
    try:
        sc = selfcheck.verify(
            model, {"pararel prompt 0": queries[0],
                    "pararel prompts 1-2": [q for p in range(1, N_PROMPTS) for q in queries[p]]},
            candidates={"pararel prompt 0": objects}, letters=letters, atol=tol)
    except Exception as e:  # noqa: BLE001 - each of its checks is guarded; this is the rest
        checks.append(Check("self_check", False, f"{type(e).__name__}: {e}"))
    else:
        # its kv_cache record (encoder-decoders) comes after the other checks, as the causal one
        checks += [c for c in sc.checks if c.name != "kv_cache"]
        checks.append(guard("kv_cache", _check_kv_cache, model, sc))
    checks.append(guard("boundary", _check_boundary, model, queries[0], objects))
    facts(queries[0][0])
    return Conformance(model.spec, checks, info, round(time.perf_counter() - t0, 2))


# ------------------------------------------------------------------------------------ checks


def _check_loads(model: Model, load_seconds: float | None) -> Check:
    kind = _block_kind(model)[0]
    if model.is_encoder_decoder:
        shape = (f"{_architecture(model)} (encoder-decoder: {len(model.bridge.encoder_blocks)} "
                 f"encoder and {model.n_layers} decoder blocks; the decoder's are analysed)")
    else:
        shape = f"{_architecture(model)} ({kind} block), {model.n_layers} layers"
    return Check("loads", True, f"{shape}, d_model {model.d_model}, vocab {model.d_vocab}, "
                 f"{_dtype(model)} on {model.device}, "
                 f"{'chat/IFT' if model.is_chat else 'base'} prompts"
                 + (f"; {load_seconds:.1f} s" if load_seconds is not None else ""))


def _check_hooks(model: Model) -> Check:
    hooks = model.bridge.hook_dict
    if model.is_encoder_decoder:
        Ld, Le = model.n_layers, len(model.bridge.encoder_blocks)
        want = ([f"decoder_blocks.{l}.{h}" for l in range(Ld) for h in DECODER_HOOKS]
                + [f"encoder_blocks.{l}.{h}" for l in range(Le) for h in LAYER_HOOKS]
                + list(SEQ2SEQ_FINAL_HOOKS))
        found = (f"decoder_blocks.{{0..{Ld - 1}}}.{{{','.join(DECODER_HOOKS)}}}, "
                 f"encoder_blocks.{{0..{Le - 1}}}.{{{','.join(LAYER_HOOKS)}}}, "
                 f"{' and '.join(SEQ2SEQ_FINAL_HOOKS)} found")
    else:
        want = ([f"blocks.{l}.{h}" for l in range(model.n_layers) for h in LAYER_HOOKS]
                + [FINAL_HOOK])
        found = (f"blocks.{{0..{model.n_layers - 1}}}.{{{','.join(LAYER_HOOKS)}}} and "
                 f"{FINAL_HOOK} found")
    missing = [h for h in want if h not in hooks]
    if missing:
        return Check("hooks", False, f"{len(missing)} hook points capture needs are missing: "
                     + ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else ""))
    return Check("hooks", True, found)


def _check_forward(model: Model, refs: Sequence[Reference], tol: float) -> list[Check]:
    """``residual``, ``hf_logits`` and ``logit_lens`` from one capture of several positions
    (an encoder-decoder's: the decoder's first position, named "last", and three encoder
    tokens)."""
    from interp.capture import capture

    names = ("residual", "hf_logits", "logit_lens")
    try:
        texts = [r.ids for r in refs] or [model.tokenize(t) for t in SAMPLE_TEXTS]
        pos: dict[str, Any] = {"first": 0, "middle": [len(t) // 2 for t in texts], "last": "last"}
        if model.is_encoder_decoder:  # "last": the decoder's first position; others: encoder
            pos["end"] = [len(t) - 1 for t in texts]
        acts = capture(model, texts, pos, batch_size=2, progress=False,
                       logits=["last"] if model.is_encoder_decoder else True)
    except Exception as e:  # noqa: BLE001
        why = f"capture failed: {type(e).__name__}: {e}"
        return [Check(c, False, why) for c in names]
    return [guard("residual", _check_residual, model, acts, tol),
            guard("hf_logits", _check_hf_logits, model, acts, refs, tol),
            guard("logit_lens", _check_logit_lens, model, acts, tol)]


def _identity_error(a: Any) -> tuple[float, float]:
    """(max relative error of resid_post = resid_pre + attn_out + mlp_out, max |resid|)."""
    r = a.resid
    return (relative_error(r[:, :-1] + a.attn_out + a.mlp_out, r[:, 1:]),
            float(r.abs().max()))


def _check_residual(model: Model, acts: dict[str, Any], tol: float) -> Check:
    """Every block adds exactly a_l + f_l (an encoder-decoder's decoder: a_l = self- plus
    cross-attention)."""
    n, L = len(acts["last"].tokens), model.n_layers
    head = "max |resid_post - (resid_pre + a_l + f_l)| / max(1, |resid_post|) = "
    if not model.is_encoder_decoder:
        errs = [_identity_error(a) for a in acts.values()]
        worst, scale = max(e for e, _ in errs), max(s for _, s in errs)
        return Check("residual", worst <= tol,
                     f"{head}{worst:.1e} (tolerance {tol:g}; |resid| up to {scale:.3g}) over "
                     f"{n} prompts x {len(acts)} positions x {L} layers")
    dec, dscale = _identity_error(acts["last"])
    enc_sets = [a for k, a in acts.items() if k != "last"]
    encs = [_identity_error(a) for a in enc_sets]
    enc, escale = max(e for e, _ in encs), max(s for _, s in encs)
    worst = max(dec, enc)
    Le = enc_sets[0].resid.shape[1] - 1
    return Check("residual", worst <= tol,
                 f"{head}{worst:.1e} (tolerance {tol:g}): decoder at its first position, "
                 f"resid_post = resid_pre + attn_out + cross_attn_out + mlp_out: {dec:.1e} "
                 f"(|resid| up to {dscale:.3g}) over {n} prompts x {L} layers; encoder at "
                 f"{len(enc_sets)} token positions: {enc:.1e} (|resid| up to {escale:.3g}) over "
                 f"{n} prompts x {Le} layers")


def _check_hf_logits(model: Model, acts: dict[str, Any], refs: Sequence[Reference],
                     tol: float) -> Check:
    """The untouched Hugging Face model's logits and hidden states."""
    if not refs:
        return Check("hf_logits", False, "no reference outputs of the untouched Hugging Face "
                     "model (load the model through interp.check.check)")
    seq2seq = model.is_encoder_decoder
    L, n = model.n_layers, len(refs)
    keys = ["bridge logits", "captured logits", "captured resid", "captured final"]
    if seq2seq:
        keys += ["encoder resid", "encoder final", "encoder mean"]
        start = torch.tensor([[model.decoder_start_token_id]], device=model.device)
        enc_sets = {k: a for k, a in acts.items() if k != "last"}
    errs = dict.fromkeys(keys, 0.0)
    where = ""
    with torch.inference_mode():
        for i, ref in enumerate(refs):
            ids = torch.tensor([ref.ids], device=model.device)
            if seq2seq:
                got = model.bridge(ids, decoder_input=start, return_type="logits")
            else:
                got = model.bridge(ids, return_type="logits")
            e = {"bridge logits": relative_error(got[0].float().cpu(), ref.logits)}
            # the causal sets keep prompt tokens; an encoder-decoder's "last" is the decoder's
            # only position (0 in the reference), its other sets encoder tokens
            dec_sets = {"last": acts["last"]} if seq2seq else acts
            for a in dec_sets.values():
                t = 0 if seq2seq else int(a.token_index[i])
                for k, v in (("captured logits", relative_error(a.logits[i], ref.logits[t])),
                             ("captured resid", relative_error(a.resid[i, :L],
                                                               ref.hidden[:L, t])),
                             ("captured final", relative_error(a.final[i], ref.hidden[L, t]))):
                    e[k] = max(e.get(k, 0.0), v)
            if seq2seq:
                if ref.encoder_hidden is None:
                    raise ValueError("the reference outputs have no encoder hidden states")
                eh = ref.encoder_hidden
                Le = eh.shape[0] - 1
                for a in enc_sets.values():
                    t = int(a.token_index[i])
                    for k, v in (("encoder resid", relative_error(a.resid[i, :Le], eh[:Le, t])),
                                 ("encoder final", relative_error(a.final[i], eh[Le, t]))):
                        e[k] = max(e.get(k, 0.0), v)
                e["encoder mean"] = relative_error(acts["last"].encoder_mean[i], eh[Le].mean(0))
            for k, v in e.items():
                if v > max(tol, *errs.values()):
                    where = f"{k} of text {i}: {_short(model, ref.ids)}"
                errs[k] = max(errs[k], v)
    worst = max(errs.values())
    head = f"max |interp - Hugging Face| / max(1, |HF|) = {worst:.1e} (tolerance {tol:g}; "
    if seq2seq:
        detail = (head + f"decoder_input_ids = the start token {model.decoder_start_token_id}: "
                  f"bridge logits {errs['bridge logits']:.1e}, captured logits "
                  f"{errs['captured logits']:.1e}, decoder resid {errs['captured resid']:.1e}, "
                  f"decoder final-normed {errs['captured final']:.1e}; encoder resid at "
                  f"{len(enc_sets)} token positions {errs['encoder resid']:.1e}, final-normed "
                  f"{errs['encoder final']:.1e}, mean {errs['encoder mean']:.1e}) over {n} texts")
    else:
        detail = (head + f"bridge logits at all {sum(len(r.ids) for r in refs)} positions "
                  f"{errs['bridge logits']:.1e}, captured logits {errs['captured logits']:.1e}, "
                  f"resid {errs['captured resid']:.1e}, final-normed "
                  f"{errs['captured final']:.1e}) over {n} texts")
    return Check("hf_logits", worst <= tol, detail, "" if worst <= tol else where)


def _check_logit_lens(model: Model, acts: dict[str, Any], tol: float) -> Check:
    """The lens of the last resid_post with the final norm = the model's logits (an
    encoder-decoder's: the last decoder layer, at the decoder's first position)."""
    from interp import lens

    last = acts["last"]
    n = len(last.tokens)
    lensed = lens.project(model, last.resid[:, -1], normed=True)
    err = relative_error(lensed, last.logits)
    same = int((lensed.argmax(-1) == last.logits.argmax(-1)).sum())
    what = "decoder resid_post[L-1] at its first position" if model.is_encoder_decoder \
        else "resid_post[L-1]"
    return Check("logit_lens", err <= tol and same == n,
                 f"max |lens({what}, normed) - logits| / max(1, |logits|) = {err:.1e} "
                 f"(tolerance {tol:g}); same top-1 token on {same}/{n} prompts")


def _check_kv_cache(model: Model, sc: Any) -> Check:
    if model.is_encoder_decoder:
        from interp.seq2seq import KV_CACHE_REASON

        return skipped("kv_cache", "encoder-decoder, no key/value cache is reused: "
                       + KV_CACHE_REASON)
    if sc.cache_reused:
        return Check("kv_cache", True, "a cached continuation equals a plain forward: shared "
                     "prefixes and candidate scoring reuse the cache")
    return Check("kv_cache", False, "the key/value cache is not filled or not used through the "
                 "bridge: every fast path falls back to uncached forwards (exact, much slower); "
                 "this library stack does not pass the cache on")


def _check_boundary(model: Model, prompts: Sequence[str], objects: Sequence[str]) -> Check:
    """The tokens of each object after its query: the tail of the joint tokenization (an
    encoder-decoder's: the object as a decoder target, without the EOS)."""
    from interp.scoring import continuation_text, continuation_tokens

    seq2seq = model.is_encoder_decoder
    eos = model.tokenizer.eos_token_id
    shown, merged, bad = [], 0, []
    lengths = []
    for prompt, obj in zip(prompts, objects):
        c = continuation_tokens(model, prompt, [continuation_text(obj)])
        tail = c.tokens[0]
        lengths.append(len(tail))
        pieces = "|".join(repr(model.tokenizer.decode([t])) for t in tail)
        if seq2seq and (c.merged[0] or (eos is not None and eos in tail)):
            bad.append(f"{obj!r} -> {pieces} (a decoder target must not "
                       + ("merge with the prompt)" if c.merged[0] else "hold the EOS)"))
        elif c.merged[0]:
            merged += 1
            pieces += f" (merged with the prompt's last {len(c.prompt) - c.start[0]} token(s))"
        elif model.tokenizer.decode(tail).strip() != obj.strip():
            bad.append(f"{obj!r} -> {model.tokenizer.decode(tail)!r}")
        shown.append(f"{obj!r} -> {pieces}")
    if bad:
        return Check("boundary", False, "answer tokens do not decode to the answer: "
                     + ", ".join(bad), repr(prompts[0]))
    span = f"{min(lengths)}" + (f"-{max(lengths)}" if max(lengths) > min(lengths) else "")
    if seq2seq:
        return Check("boundary", True, f"{len(objects)} sample objects as decoder targets (the "
                     f"tokenizer's target encoding without its {model.tokenizer.eos_token!r}; "
                     f"the answer is not tokenized with the prompt, nothing merges): {span} "
                     "token(s) each: " + "; ".join(shown))
    return Check("boundary", True, f"{len(objects)} sample objects after their query: "
                 f"{span} token(s) each, {merged} merged across the "
                 "prompt/answer boundary (then scored from the first differing token): "
                 + "; ".join(shown))


# ------------------------------------------------------------------------------- the facts


def _short(model: Model, ids: Sequence[int], n: int = 80) -> str:
    return _short_text(model.tokenizer.decode(ids), n)


def _architecture(model: Model) -> str:
    archs = getattr(model.hf_model.config, "architectures", None) or [type(model.hf_model).__name__]
    return ", ".join(archs)


def _dtype(model: Model) -> str:
    return str(model.dtype).replace("torch.", "")


def _block_kind(model: Model) -> tuple[str, str]:
    """("parallel" | "sequential" | "encoder-decoder", a sentence on how a block adds its
    updates)."""
    if model.is_encoder_decoder:
        return "encoder-decoder", ("each decoder block adds self-attention, then cross-attention "
                                   "on the encoder's output, then the MLP, each on the residual "
                                   "after the previous one")
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
    if model.is_encoder_decoder:
        b = model.bridge
        return [
            ("architecture", f"{_architecture(model)}; encoder-decoder, "
                             f"{len(b.encoder_blocks)} encoder and {L} decoder blocks "
                             f"({type(b.decoder_blocks[0]).__name__}): {how}; the analyses read "
                             "the decoder's first position (its start token), the prompt being "
                             "the encoder's input"),
            ("a_l (MHSA)", "the decoder's self- + cross-attention: decoder_blocks.{l}."
                           "hook_attn_out + decoder_blocks.{l}.hook_cross_attn_out = "
                           f"{_source(model, 'decoder_blocks.0.hook_attn_out')} + "
                           f"{_source(model, 'decoder_blocks.0.hook_cross_attn_out')} "
                           "(cross_attn_out: the cross-attention part alone)"),
            ("f_l (MLP)", "the decoder's MLP: decoder_blocks.{l}.hook_mlp_out = "
                          f"{_source(model, 'decoder_blocks.0.hook_mlp_out')}"),
            ("outermost", "post_norm (default): the decoder's first position after the final "
                          f"norm = {_source(model, 'decoder_ln_final.hook_out')} = HF's last "
                          "decoder_hidden_states entry; encoder_mean: "
                          f"{_source(model, 'encoder_ln_final.hook_out')} mean-pooled over the "
                          f"input's tokens; pre_norm: decoder_blocks.{L - 1}.hook_resid_post"),
            ("unembedding", _unembedding(model)),
        ]
    return [
        ("architecture", f"{_architecture(model)}; {type(model.bridge.blocks[0]).__name__}: {how}"),
        ("a_l (MHSA)", f"blocks.{{l}}.hook_attn_out = {_source(model, 'blocks.0.hook_attn_out')}"),
        ("f_l (MLP)", f"blocks.{{l}}.hook_mlp_out = {_source(model, 'blocks.0.hook_mlp_out')}"),
        ("outermost", "post_norm (default): the last token's residual after the final norm = "
                      f"{_source(model, 'ln_final.hook_out')} = HF's last hidden_states entry; "
                      f"pre_norm: blocks.{L - 1}.hook_resid_post"),
    ]


def _unembedding(model: Model) -> str:
    """How an encoder-decoder's logits (and the logit lens) are computed from the final-normed
    decoder vector."""
    from interp.seq2seq import output_scale

    scale = output_scale(model)
    bias = getattr(model.hf_model, "final_logits_bias", None) is not None
    return ("the model's output embedding (lm_head)"
            + (f" after the output scale d_model ** -0.5 = {scale:.4g} (tied embeddings, as the "
               "original T5)" if scale != 1.0 else ", no output scale")
            + (", plus final_logits_bias" if bias else ""))


def _format_facts(model: Model, example: str) -> list[tuple[str, str]]:
    tok = model.tokenizer
    seq2seq = model.is_encoder_decoder
    if not model.is_chat:
        fmt = "plain text (base model)"
    elif getattr(tok, "chat_template", None):
        fmt = "the tokenizer's chat template (IFT model)"
    elif seq2seq:
        fmt = ("Table 3's IFT prompts as plain text, instruction and query (IFT encoder-decoder "
               "without a chat template, as FlanT5)")
    else:
        fmt = "the open-instruct (Tulu) format <|user|>/<|assistant|> (IFT model; its tokenizer " \
              "has no chat template)"
    if seq2seq:
        fmt += ": the encoder's input"
    ids = model.tokenize(example)
    bos = tok.bos_token_id
    lead = next((i for i, t in enumerate(ids) if t != bos), len(ids)) if bos is not None else 0
    bos_text = (f"{tok.bos_token!r} (id {bos}): {lead} at the start of the example; the "
                f"tokenizer {'adds' if model.prepends_bos else 'does not add'} it"
                if bos is not None else "the tokenizer has no BOS token")
    out = [("prompt format", fmt), ("example", f"{example!r} ({len(ids)} tokens)"),
           ("BOS", bos_text)]
    if seq2seq:
        start = model.decoder_start_token_id
        eos = tok.eos_token_id
        ends = (f"; the example ends with {tok.eos_token!r} (id {eos}), which the tokenizer "
                "appends" if eos is not None and ids and ids[-1] == eos else "")
        out.append(("decoder start", f"{tok.convert_ids_to_tokens(start)!r} (id {start}): the "
                    "decoder's only input; answers are scored as decoder targets after it, "
                    f"without the EOS{ends}"))
    return out
