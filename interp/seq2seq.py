"""Encoder-decoder models (T5-XL, FlanT5-XL; Tables 4 and 5): how every analysis is defined.

The paper's analyses are written for causal LMs: a prompt, its last token, the residual stream
there, the next-token prediction. For an encoder-decoder (:attr:`Model.is_encoder_decoder`) this
module fixes one analogue of each and implements it; :mod:`interp.capture`,
:mod:`interp.scoring` and :mod:`interp.selfcheck` call it for such a model and leave the causal
path untouched.

**Prompts.** The query text (Table 3's prompt, exactly as for a causal model) is the **encoder's**
input, tokenized by the model's tokenizer (T5 appends ``</s>``, as in training). The **decoder**
starts from ``decoder_start_token_id`` (T5: ``<pad>``) and produces the answer. No chat template:
T5-XL is a base model (plain prompts); FlanT5-XL is an IFT model without a chat template, so it
gets Table 3's IFT prompts as plain text, instruction and query in the encoder input
(:data:`interp.models.PLAIN_FORMAT`): FlanT5 was tuned on plain instruction text, without
dialogue markers.

**The answer position.** Every analysis that reads "the last token" reads the **decoder's first
position** (the start token): the vector from which the model predicts its first answer token,
the exact analogue of a causal LM's last prompt token. ``capture(..., positions="last")`` keeps
it; a token index or :class:`~interp.capture.Span` addresses an *encoder* token instead (its
vectors come from the encoder stack: ``resid`` has the encoder's layers, ``final`` is the
encoder's final-normed output there, no logits).

**Outermost representation** (Table 1/4; BECEL probe features): the decoder's final-normed hidden
state at its first position (``acts.final``; Hugging Face's last ``decoder_hidden_states``
entry), the default, because it is the representation the model answers from, as the causal
models' last-token final state, so Tables 1 and 4 compare like with like. The encoder's
final-normed output mean-pooled over the input's tokens (``acts.encoder_mean``;
``representation = "encoder_mean"`` in a sweep) is offered as an option: a sentence embedding of
the input alone that the decoder has not yet read, and the common way to embed text with T5.

**Residual stream and block updates** (layer gap Fig. 4/6/7, relations Fig. 3, extraction Fig.
5/8): the **decoder** stack at its first position. ``resid[:, 0]`` is
``decoder_blocks.0.hook_resid_pre`` (the start token's embedding), ``resid[:, l + 1]`` is
``decoder_blocks.{l}.hook_resid_post``. The "MHSA" update a_l (``attn_out``) is the self-attention
**plus** the cross-attention update of decoder block l: cross-attention is how the input reaches
the answer position, so it is part of what attention writes there; ``cross_attn_out`` keeps the
cross-attention part alone (self-attention = ``attn_out - cross_attn_out``). f_l (``mlp_out``) is
the decoder MLP's update. ``resid_post = resid_pre + attn_out + mlp_out`` holds exactly (tested).
:attr:`Model.n_layers` is the decoder's depth. Fig. 3's footnote 6 (pairs whose last token
differs) compares the query's last encoder token before ``</s>`` (``token_index``: every decoder
input is the same start token). The logit lens (:mod:`interp.lens`) applies the
decoder's final norm and the model's own unembedding (with T5's ``d_model ** -0.5`` output scale
where the config has it).

**Not defined: Fig. 2's attribute rate.** It projects the *subject token's* residual stream onto
the vocabulary. For an encoder-decoder the subject token lives in the encoder, whose states are
never trained against the unembedding (only the decoder's outputs are), so the rate has no
meaning there; the sweep records the unit as skipped with :data:`ATTRIBUTES_REASON`
(:class:`NotApplicable`), and the report lists it.

**PARAREL scoring.** A candidate object's tokens are those the decoder would generate: the
tokenizer's encoding of the object as a target, without the ``</s>`` T5's tokenizer appends
(:func:`target_tokens`; the EOS is not scored: the object need not end the answer). Its score is
``sum_t log P(c_t | query, c_<t)``, teacher-forced in the decoder after the start token. The exact
pruned search of :func:`interp.scoring.score_candidates` is reused unchanged with
:class:`Runner`: the encoder runs once per query (batched, right-padded with a mask), the first
decoder step gives every candidate's first-token bound, and the multi-token candidates still in
the race run batched through the decoder (``[start] + c[:-1]``, right-padded) on the query's
encoder output. No key/value cache is used (the decoder's inputs are a few tokens).

**MMLU.** The encoder gets the prompt ending in ``"Answer:"``; the answer is the argmax over the
letters' log-probabilities at the decoder's first step, each letter's token being its first (and
only) target token (``"A"`` -> ``▁A`` for T5).

**BECEL.** Probe features: the outermost representation above. Fine-tuning
(:func:`interp.finetune.finetune_classifier`) works too: the head reads the decoder's
final-normed first position, the encoder reading the example's text.

**Other encoder-decoders.** ``load_model`` accepts every encoder-decoder LM class the bridge
supports, but only T5 (``T5ForConditionalGeneration``, original and v1.1 / FlanT5 variants) is
tested; the hook names used (``decoder_blocks.{l}.hook_cross_attn_out``, ``encoder_ln_final``,
``decoder_ln_final``) and the unembedding are T5's, and the sweep's self-check (capture against a
plain Hugging Face forward) stops any model for which they are not right.

**Checks.** The self-check compares :func:`capture_encoder_decoder` (batched, padded, stopped at
the decoder's final norm) with a plain Hugging Face forward of each prompt alone, and the pruned
scoring with :func:`naive_score_candidates` (one unbatched forward per candidate); the causal
KV-cache probe is skipped (recorded as such: no cache is reused).

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("t5", chat=False)
    >>> from interp.capture import capture
    >>> acts = capture(model, ["The capital of France is"])
    >>> acts.resid.shape[1] == model.n_layers + 1, acts.cross_attn_out.shape[1] == model.n_layers
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from interp.models import Model

#: ``representation`` name of the encoder's mean-pooled final-normed output (Table 1/4 option)
ENCODER_MEAN = "encoder_mean"

#: why Fig. 2's attribute rate is skipped for an encoder-decoder
ATTRIBUTES_REASON = (
    "not defined for an encoder-decoder model: the subject token's residual stream lives in the "
    "encoder, whose states are never trained against the unembedding (only the decoder's are), "
    "so projecting them onto the vocabulary (the paper's attribute rate) has no meaning")

#: why an encoder-decoder reuses no key/value cache (the causal cache probe is skipped)
KV_CACHE_REASON = ("the encoder runs once per query and its output is shared by every candidate; "
                   "the decoder runs each candidate's few tokens whole")

_KINDS = ("resid", "attn_out", "mlp_out")


class NotApplicable(ValueError):
    """An analysis that is not defined for this model (e.g. Fig. 2's attribute rate for an
    encoder-decoder). The sweep stores the unit as skipped, with this reason, instead of failing."""


# --------------------------------------------------------------------------------------------
# tokens


def target_tokens(model: Model, texts: Sequence[str]) -> list[list[int]]:
    """Each text's tokens as the decoder would generate them: the tokenizer's encoding of the
    stripped text as a target, without the EOS the tokenizer appends (T5: ``"Paris"`` ->
    ``[▁Paris]``, not ``[▁Paris, </s>]``).

    Raises ``ValueError`` naming a text that has no token."""
    tok = model.tokenizer
    enc = tok(text_target=[t.strip() for t in texts], add_special_tokens=True)["input_ids"]
    eos = tok.eos_token_id
    out = []
    for t, ids in zip(texts, enc):
        ids = list(ids)
        if eos is not None and ids and ids[-1] == eos:
            ids = ids[:-1]
        if not ids:
            raise ValueError(f"candidates: {t.strip()!r} has no token as a decoder target")
        out.append(ids)
    return out


def continuations(model: Model, prompt: str, texts: Sequence[str]) -> Any:
    """:class:`interp.scoring.Continuations` for an encoder-decoder: the prompt's (encoder)
    tokens and each text's :func:`target_tokens` (the answer does not share a tokenization with
    the prompt, so nothing merges)."""
    from interp.scoring import Continuations

    head = model.tokenize(prompt)
    tails = target_tokens(model, texts)
    return Continuations(head, tails, [False] * len(tails), [len(head)] * len(tails))


def query_end(model: Model, ids: Sequence[int]) -> int:
    """Index of the query's last token in the encoder input: the last token before the EOS the
    tokenizer appends (the token footnote 6 of the paper compares across paraphrases)."""
    eos = model.tokenizer.eos_token_id
    n = len(ids) - 1
    return n - 1 if n > 0 and eos is not None and ids[n] == eos else n


# --------------------------------------------------------------------------------------------
# final norm and unembedding


def final_norm(model: Model, resid: Float[Tensor, "n d_model"]) -> Float[Tensor, "n d_model"]:
    """The decoder's final norm applied to decoder residual-stream vectors."""
    return model.bridge.decoder_ln_final(resid.to(model.device, model.dtype))


def output_scale(model: Model) -> float:
    """The factor Hugging Face applies to the decoder's output before the unembedding: T5 with
    tied embeddings (the original T5) scales by ``d_model ** -0.5``; T5 v1.1 / FlanT5 do not."""
    cfg = model.hf_model.config
    flag = getattr(cfg, "scale_decoder_outputs", None)
    if flag is None and getattr(cfg, "model_type", "") in ("t5", "mt5", "longt5"):
        flag = getattr(cfg, "tie_word_embeddings", False)
    return float(cfg.d_model) ** -0.5 if flag else 1.0


def unembed(model: Model, final: Float[Tensor, "n d_model"]) -> Float[Tensor, "n d_vocab"]:
    """Logits of final-normed decoder vectors, as the Hugging Face model computes them (output
    scale, ``lm_head``, and a ``final_logits_bias`` where the model has one)."""
    hf = model.hf_model
    x = final.to(model.device, model.dtype)
    scale = output_scale(model)
    if scale != 1.0:
        x = x * scale
    logits = hf.get_output_embeddings()(x)
    bias = getattr(hf, "final_logits_bias", None)
    if bias is not None:
        logits = logits + bias.to(logits.dtype)
    return logits


# --------------------------------------------------------------------------------------------
# capture


def pad_right(ids: Sequence[Sequence[int]], pad_id: int, device: torch.device
              ) -> tuple[Tensor, Tensor]:
    """Right-pad token lists into ``(tokens, attention_mask)`` (T5's relative positions make the
    side irrelevant for the real tokens; right padding is T5's convention)."""
    width = max(len(x) for x in ids)
    toks = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, x in enumerate(ids):
        toks[r, : len(x)] = torch.tensor(list(x), dtype=torch.long)
        mask[r, : len(x)] = 1
    return toks.to(device), mask.to(device)


def capture_encoder_decoder(model: Model, prompts: Sequence[Any], ids: list[list[int]],
                            sets: dict[str, list[Any]], keep_of: dict[str, tuple[str, ...]],
                            logit_sets: set[str], as_mapping: bool, batch_size: int,
                            progress: bool | None) -> Any:
    """:func:`interp.capture.capture` for an encoder-decoder (called by it; see the module
    docstring for what is kept). Same batching (length-sorted batches of ``batch_size``
    prompts), padding (an attention mask over the right-padded encoder input) and memory rules
    (only the kept positions leave the forward; the forward stops at the decoder's final norm)
    as for a causal model. The decoder input is one start token per prompt."""
    from interp.capture import Activations, _chunked_unembed, _resolve_position, _StopForward

    names = list(sets)
    dec_sets = [s for s in names if all(isinstance(p, str) and p == "last" for p in sets[s])]
    for s in names:
        if s not in dec_sets and any(isinstance(p, str) and p == "last" for p in sets[s]):
            raise ValueError(f"positions{'' if s == '_' else f'[{s!r}]'}: an encoder-decoder's "
                             "'last' is the decoder's first position; a set must not mix it with "
                             "encoder token positions")
    enc_sets = [s for s in names if s not in dec_sets]
    bad = sorted(set(logit_sets) & set(enc_sets))
    if bad:
        raise ValueError(f"logits: {bad} are encoder positions of an encoder-decoder; logits exist "
                         "only at the decoder's first position ('last')")
    n = len(ids)
    tok_index = {s: torch.tensor([_resolve_position(model, i, prompts[i], ids[i], sets[s][i])
                                  for i in range(n)], dtype=torch.long) for s in enc_sets}
    ends = torch.tensor([query_end(model, x) for x in ids], dtype=torch.long)
    Ld, Le = model.n_layers, len(model.bridge.encoder_blocks)
    dec_kinds = [k for k in _KINDS if any(k in keep_of[s] for s in dec_sets)]
    enc_kinds = {s: [k for k in _KINDS if k in keep_of[s]] for s in enc_sets}
    device, start = model.device, model.decoder_start_token_id

    order = sorted(range(n), key=lambda i: len(ids[i]))
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    show = progress if progress is not None else len(batches) > 1
    dec_store: dict[str, list[Tensor]] = {k: [] for k in dec_kinds + ["cross"] * ("attn_out" in dec_kinds)}
    enc_store: dict[tuple[str, str], list[Tensor]] = {(s, k): [] for s in enc_sets for k in enc_kinds[s]}
    finals: dict[str, list[Tensor]] = {s: [] for s in names}
    means: list[Tensor] = []

    for batch in tqdm(batches, desc=f"capture {model.name}", unit="batch", disable=not show):
        enc, mask = pad_right([ids[i] for i in batch], model.pad_token_id, device)
        dec = torch.full((len(batch), 1), start, dtype=torch.long, device=device)
        rows = torch.arange(len(batch), device=device)
        where = {s: tok_index[s][batch].to(device) for s in enc_sets}
        got: dict[Any, list[Tensor | None]] = {}
        for k in dec_kinds:
            got[k] = [None] * (Ld + (k == "resid"))
        if "attn_out" in dec_kinds:
            got["self"], got["cross"] = [None] * Ld, [None] * Ld
        for s in enc_sets:
            for k in enc_kinds[s]:
                got[(s, k)] = [None] * (Le + (k == "resid"))
        out: dict[str, Tensor] = {}

        def keep_dec(key: Any, slot: int):
            def fn(t: Tensor, hook: Any) -> Tensor:
                got[key][slot] = t[:, 0].float()
                return t
            return fn

        def keep_enc(kind: str, slot: int):
            def fn(t: Tensor, hook: Any) -> Tensor:
                for s in enc_sets:
                    if kind in enc_kinds[s]:
                        got[(s, kind)][slot] = t[rows, where[s]].float()
                return t
            return fn

        def enc_final(t: Tensor, hook: Any) -> Tensor:
            m = mask[..., None].to(t.dtype)
            out["mean"] = ((t * m).sum(1) / m.sum(1)).float()
            for s in enc_sets:
                out[s] = t[rows, where[s]].float()
            return t

        def dec_final(t: Tensor, hook: Any) -> Tensor:
            out["dec"] = t[:, 0].float()
            raise _StopForward

        hooks: list[tuple[str, Any]] = []
        hook_of = {"resid": "hook_resid_post", "attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out"}
        for k in dec_kinds:
            if k == "resid":
                hooks.append(("decoder_blocks.0.hook_resid_pre", keep_dec("resid", 0)))
            for layer in range(Ld):
                key = "self" if k == "attn_out" else k
                hooks.append((f"decoder_blocks.{layer}.{hook_of[k]}",
                              keep_dec(key, layer + (k == "resid"))))
                if k == "attn_out":
                    hooks.append((f"decoder_blocks.{layer}.hook_cross_attn_out",
                                  keep_dec("cross", layer)))
        for k in {k for s in enc_sets for k in enc_kinds[s]}:
            if k == "resid":
                hooks.append(("encoder_blocks.0.hook_resid_pre", keep_enc("resid", 0)))
            for layer in range(Le):
                hooks.append((f"encoder_blocks.{layer}.{hook_of[k]}",
                              keep_enc(k, layer + (k == "resid"))))
        hooks += [("encoder_ln_final.hook_out", enc_final), ("decoder_ln_final.hook_out", dec_final)]
        with torch.inference_mode(), model.bridge.hooks(fwd_hooks=hooks):
            try:
                model.bridge(enc, return_type=None, attention_mask=mask, decoder_input=dec)
            except _StopForward:
                pass
        if "dec" not in out or "mean" not in out:
            raise RuntimeError(f"{model.name}: the encoder/decoder final-norm hooks did not fire: "
                               "unsupported encoder-decoder architecture?")
        if "attn_out" in dec_kinds:
            got["attn_out"] = [a + c for a, c in zip(got["self"], got["cross"])]
        for k in dec_store:
            dec_store[k].append(torch.stack(got[k], dim=1).cpu())  # [b, L(+1), d]
        for (s, k) in enc_store:
            enc_store[(s, k)].append(torch.stack(got[(s, k)], dim=1).cpu())
        for s in dec_sets:
            finals[s].append(out["dec"])
        for s in enc_sets:
            finals[s].append(out[s])
        means.append(out["mean"].cpu())

    inverse = torch.empty(n, dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(n)
    cat = lambda parts: torch.cat(parts)[inverse]  # noqa: E731 - back to the caller's order
    dec_kept = {k: cat(v) for k, v in dec_store.items()}
    enc_kept = {key: cat(v) for key, v in enc_store.items()}
    mean = cat(means)
    result = {}
    for s in names:
        final = torch.cat(finals[s])[inverse.to(finals[s][0].device)]
        if s in dec_sets:
            kinds = keep_of[s]
            pick = lambda k: dec_kept[k] if k in kinds else None  # noqa: E731
            with torch.inference_mode():
                lg = _chunked_unembed(model, final) if s in logit_sets else None
            result[s] = Activations(
                resid=pick("resid"), attn_out=pick("attn_out"), mlp_out=pick("mlp_out"),
                final=final.cpu(), logits=lg, token_index=ends.clone(), tokens=ids,
                cross_attn_out=dec_kept["cross"] if "attn_out" in kinds else None,
                encoder_mean=mean)
        else:
            pick = lambda k: enc_kept.get((s, k))  # noqa: E731
            result[s] = Activations(
                resid=pick("resid"), attn_out=pick("attn_out"), mlp_out=pick("mlp_out"),
                final=final.cpu(), logits=None, token_index=tok_index[s].clone(), tokens=ids,
                encoder_mean=mean)
    return result if as_mapping else result["_"]


# --------------------------------------------------------------------------------------------
# candidate scoring


@dataclass
class Encoded:
    """A batch of queries after the encoder: what the decoder passes need."""

    queries: list[int]
    hidden: Tensor  # [b, enc, d]: the encoder's final output
    mask: Tensor  # [b, enc]


def _decode(hf: Any, hidden: Tensor, mask: Tensor, decoder_ids: Tensor) -> Tensor:
    from transformers.modeling_outputs import BaseModelOutput

    return hf(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), attention_mask=mask,
              decoder_input_ids=decoder_ids, use_cache=False).logits


class Runner:
    """The forwards of :func:`interp.scoring.score_candidates` for an encoder-decoder (the same
    interface as its causal runner): ``suffix`` runs the queries' encoder once and the decoder's
    first step (first-token log-probabilities), ``continuation`` teacher-forces candidates in the
    decoder on the encoder output of their query. ``longest_continuation`` and ``share_prefix``
    are accepted for the interface; no key/value cache is used."""

    def __init__(self, model: Model, ids: list[list[int]], longest_continuation: int = 0,
                 share_prefix: bool = True):
        self.model, self.hf, self.ids, self.device = model, model.hf_model, ids, model.device
        self.start, self.pad = model.decoder_start_token_id, model.pad_token_id

    def suffix(self, queries: list[int]) -> tuple[Encoded, Tensor]:
        enc, mask = pad_right([self.ids[i] for i in queries], self.pad, self.device)
        hidden = self.hf.get_encoder()(input_ids=enc, attention_mask=mask).last_hidden_state
        dec = torch.full((len(queries), 1), self.start, dtype=torch.long, device=self.device)
        logits = _decode(self.hf, hidden, mask, dec)[:, 0]
        return Encoded(list(queries), hidden, mask), torch.log_softmax(logits.float(), -1)

    def continuation(self, s: Encoded, rows: list[int], tokens: list[list[int]]) -> list[float]:
        """Sum of log P(c_t | query, c_<t) over t >= 1 of each candidate ``tokens[r]`` (>= 2
        tokens) of query row ``rows[r]`` of ``s``."""
        width = max(len(t) for t in tokens)
        inp = torch.full((len(tokens), width), self.pad, dtype=torch.long)
        tgt = torch.zeros((len(tokens), width - 1), dtype=torch.long)
        real = torch.zeros((len(tokens), width - 1), dtype=torch.bool)
        for r, t in enumerate(tokens):
            inp[r, 0] = self.start
            inp[r, 1:len(t)] = torch.tensor(t[:-1])
            tgt[r, : len(t) - 1] = torch.tensor(t[1:])
            real[r, : len(t) - 1] = True
        idx = torch.tensor(rows, dtype=torch.long, device=self.device)
        logits = _decode(self.hf, s.hidden[idx], s.mask[idx], inp.to(self.device))[:, 1:]
        lp = torch.log_softmax(logits.float(), -1).gather(-1, tgt.to(self.device)[..., None])[..., 0]
        return torch.where(real, lp.double().cpu(), 0.0).sum(-1).tolist()


def teacher_forced(model: Model, prompt_ids: Sequence[int], answer: Sequence[int]) -> float:
    """``sum_t log P(answer_t | prompt, answer_<t)`` from one plain, unbatched Hugging Face
    forward (encoder: the prompt; decoder: the start token and the answer)."""
    dev = model.device
    dec = [model.decoder_start_token_id] + list(answer[:-1])
    with torch.inference_mode():
        logits = model.hf_model(input_ids=torch.tensor([list(prompt_ids)], device=dev),
                                decoder_input_ids=torch.tensor([dec], device=dev)).logits[0]
    lp = torch.log_softmax(logits.double(), -1)
    return float(lp.gather(-1, torch.tensor(list(answer), device=dev)[:, None]).sum())


def naive_score_candidates(model: Model, prompts: Sequence[Any], candidates: Any, *,
                           prune: bool = False) -> Any:
    """:func:`interp.scoring.naive_score_candidates` for an encoder-decoder: one plain forward
    per (query, candidate) (:func:`teacher_forced`), no batching, no reuse of the encoder.
    ``prune`` visits candidates in first-token order and stops by the bound rule."""
    from interp.capture import tokenize_prompts
    from interp.scoring import CandidateScores, _candidate_tables, _per_query_candidates, naive_search

    ids = tokenize_prompts(model, prompts)
    t = _candidate_tables(model, prompts, _per_query_candidates(candidates, len(ids)))
    out = CandidateScores([], [], [], [], [], None if prune else [])
    dev = model.device
    for i, p in enumerate(ids):
        tab = t.tables[t.which[i]]
        with torch.inference_mode():
            first = model.hf_model(input_ids=torch.tensor([p], device=dev), decoder_input_ids=torch.tensor(
                [[model.decoder_start_token_id]], device=dev)).logits[0, 0]
        lp1 = torch.log_softmax(first.double(), -1)
        naive_search(out, [float(lp1[tok[0]]) for tok in tab.tokens],
                     lambda j, p=p, tab=tab: teacher_forced(model, p, tab.tokens[j]),
                     [len(tok) > 1 for tok in tab.tokens], prune=prune)
    return out


# --------------------------------------------------------------------------------------------
# self-check


def plain_forward(model: Model, prompt_ids: Sequence[int]) -> dict[str, Tensor]:
    """One plain Hugging Face forward of one prompt (no padding, no hooks): the decoder's hidden
    states at its first position (``[n_layers + 1, d]``, the last one final-normed), its logits,
    and the encoder's mean-pooled final output."""
    dev = model.device
    with torch.inference_mode():
        out = model.hf_model(input_ids=torch.tensor([list(prompt_ids)], device=dev),
                             decoder_input_ids=torch.tensor([[model.decoder_start_token_id]], device=dev),
                             output_hidden_states=True, use_cache=False)
    return {"hidden": torch.stack([h[0, 0] for h in out.decoder_hidden_states]).float().cpu(),
            "logits": out.logits[0, 0].float().cpu(),
            "encoder_mean": out.encoder_last_hidden_state[0].mean(0).float().cpu()}


def check_capture(model: Model, prompts: Sequence[str], atol: float) -> Any:
    """The self-check's ``capture`` check for an encoder-decoder: the batched, padded capture
    equals a plain forward of each prompt alone (decoder residual stream, final-normed vector,
    logits, encoder mean)."""
    from interp.capture import capture
    from interp.selfcheck import Check, _short, relative_error

    acts = capture(model, list(prompts), keep=("resid",), batch_size=max(2, len(prompts) // 2),
                   progress=False)
    L = model.n_layers
    worst, where = 0.0, ""
    for i, p in enumerate(prompts):
        want = plain_forward(model, acts.tokens[i])
        errs = {"resid": relative_error(acts.resid[i, :L], want["hidden"][:L]),
                "final": relative_error(acts.final[i], want["hidden"][L]),
                "logits": relative_error(acts.logits[i], want["logits"]),
                "encoder_mean": relative_error(acts.encoder_mean[i], want["encoder_mean"])}
        kind, err = max(errs.items(), key=lambda kv: kv[1])
        if not err <= worst:
            worst, where = err, f"{kind} of {_short(p)}"
    ok = worst <= atol
    return Check("capture", ok, f"encoder-decoder: max |capture - plain forward| / max(1, |plain|) "
                 f"= {worst:.2e} (tolerance {atol:g}) over {len(prompts)} prompts (decoder "
                 "position 0: residual stream, final, logits; encoder mean)", where if not ok else "")


def check_answers(model: Model, prompts: Sequence[str], candidates: Sequence[str],
                  atol: float) -> Any:
    """The self-check's ``answer_tokens`` check for an encoder-decoder: the pruned, batched
    scoring picks what exhaustive teacher forcing (one plain forward per candidate) picks."""
    from interp.scoring import score_candidates
    from interp.selfcheck import Check, _short

    fast = score_candidates(model, list(prompts), list(candidates))
    want = naive_score_candidates(model, list(prompts), list(candidates))
    for i, p in enumerate(prompts):
        tot = want.scores[i]
        best = want.best[i]
        if tot[fast.best[i]] < tot[best] - atol or abs(fast.best_logprob[i] - tot[best]) > atol:
            return Check("answer_tokens", False,
                         f"the fast scoring picks {candidates[fast.best[i]]!r} "
                         f"({fast.best_logprob[i]:.4f}), teacher forcing {candidates[best]!r} "
                         f"({tot[best]:.4f})", _short(p))
    return Check("answer_tokens", True, f"{len(prompts)} prompts x {len(candidates)} candidates: "
                 "the same argmax as exhaustive teacher forcing in the decoder (targets without EOS)")


def kv_cache_check() -> Any:
    """The record that the causal key/value-cache probe does not apply (skipped, with why)."""
    from interp.selfcheck import Check

    return Check("kv_cache", True, "skipped for an encoder-decoder: no key/value cache is reused "
                 f"({KV_CACHE_REASON})")
