"""Encoder-decoder models (T5 / FlanT5, the paper's Tables 4 and 5) on tiny random T5s: capture
against plain Hugging Face forwards, the residual decomposition, PARAREL scoring and MMLU letters
against plain per-candidate forwards, prompts, BECEL, and what load_model says about models and
directories it cannot use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from interp.capture import Span, capture
from interp.models import ModelLoadError, load_model

PROMPTS = [
    "The capital of France is",
    "Rome is the capital of",
    "Everyone knows that the Eiffel Tower is in",
    "Paris",
    "I ate the cheese.",
]
CANDIDATES = ["Paris", "Rome", "Italy", "French", "New York", "France", "Madrid"]


@pytest.fixture(scope="module", params=["t5", "t5tied"])
def t5(request):
    from interp.testing import tiny_model

    return tiny_model(request.param, chat=False)


def _plain(model, prompt_ids, decoder_ids=None):
    """One plain, unbatched Hugging Face forward (no hooks, no padding)."""
    dec = decoder_ids if decoder_ids is not None else [model.hf_model.config.decoder_start_token_id]
    with torch.inference_mode():
        return model.hf_model(input_ids=torch.tensor([prompt_ids]), decoder_input_ids=torch.tensor([dec]),
                              output_hidden_states=True)


def _targets(model, text):
    """The object's tokens as the decoder generates them: the target encoding minus T5's EOS."""
    ids = model.tokenizer(text_target=text)["input_ids"]
    assert ids[-1] == model.tokenizer.eos_token_id
    return ids[:-1]


def test_tiny_t5_is_an_encoder_decoder(t5):
    assert t5.is_encoder_decoder and t5.decoder_start_token_id == t5.tokenizer.pad_token_id
    assert t5.n_layers == t5.hf_model.config.num_decoder_layers == 3  # the decoder's depth
    assert not t5.prepends_bos and t5.tokenize("Paris")[-1] == t5.tokenizer.eos_token_id
    assert "encoder-decoder" in repr(t5)


def test_capture_equals_plain_forward_and_decomposes(t5):
    """Batched, padded capture at the decoder's first position = a plain forward of each prompt
    alone; resid_post = resid_pre + (self + cross) attention + MLP at every decoder layer."""
    acts = capture(t5, PROMPTS, batch_size=2)
    L = t5.n_layers
    assert acts.resid.shape == (len(PROMPTS), L + 1, t5.d_model)
    assert acts.attn_out.shape == acts.cross_attn_out.shape == acts.mlp_out.shape == (len(PROMPTS), L, t5.d_model)
    for i, p in enumerate(PROMPTS):
        out = _plain(t5, t5.tokenize(p))
        hs = out.decoder_hidden_states
        torch.testing.assert_close(acts.resid[i, :L], torch.stack([h[0, 0] for h in hs[:L]]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(acts.final[i], hs[L][0, 0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(acts.logits[i], out.logits[0, 0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(acts.encoder_mean[i], out.encoder_last_hidden_state[0].mean(0),
                                   atol=1e-5, rtol=1e-5)
        assert acts.token_index[i] == len(t5.tokenize(p)) - 2  # the query's last token, before </s>
    r = acts.resid
    torch.testing.assert_close(r[:, 1:], r[:, :-1] + acts.attn_out + acts.mlp_out, atol=1e-5, rtol=1e-5)
    assert acts.cross_attn_out.abs().max() > 0 and (acts.attn_out - acts.cross_attn_out).abs().max() > 0
    # the logit lens of the last decoder layer reproduces the logits (final norm + unembedding)
    from interp import lens

    torch.testing.assert_close(lens.project(t5, r[:, -1], normed=True), acts.logits, atol=1e-4, rtol=1e-4)
    # batch size and order do not matter
    again = capture(t5, PROMPTS[::-1], batch_size=5)
    torch.testing.assert_close(again.resid.flip(0), acts.resid, atol=1e-5, rtol=1e-5)


def test_capture_encoder_positions(t5):
    """A Span addresses an encoder token: encoder-stack vectors there, no logits."""
    prompt = PROMPTS[0]
    acts = capture(t5, [prompt], positions={"last": "last", "subject": [Span.of(prompt, "France")]},
                   keep={"last": ("resid",), "subject": ("resid", "attn_out", "mlp_out")}, logits=["last"])
    sub = acts["subject"]
    out = _plain(t5, t5.tokenize(prompt))
    k = int(sub.token_index[0])
    assert t5.tokenizer.convert_ids_to_tokens(t5.tokenize(prompt)[k]) == "\u2581France"
    n_enc = len(t5.hf_model.encoder.block)
    assert sub.resid.shape == (1, n_enc + 1, t5.d_model) and sub.logits is None
    torch.testing.assert_close(sub.resid[0, :n_enc], torch.stack([h[0, k] for h in out.encoder_hidden_states[:n_enc]]),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sub.final[0], out.encoder_last_hidden_state[0, k], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sub.resid[:, 1:], sub.resid[:, :-1] + sub.attn_out + sub.mlp_out, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="logits exist only at the decoder"):
        capture(t5, [prompt], positions={"s": [Span.of(prompt, "France")]}, logits=["s"])


def test_pararel_scoring_equals_plain_per_candidate_forwards(t5):
    """The pruned, batched scoring picks and scores what one plain forward per candidate gives
    (candidates teacher-forced after the decoder's start token; EOS not scored)."""
    from interp.scoring import score_candidates

    oracle = []
    for p in PROMPTS:
        row = []
        for c in CANDIDATES:
            tgt = _targets(t5, c)
            assert t5.tokenizer.eos_token_id not in tgt
            out = _plain(t5, t5.tokenize(p), [t5.decoder_start_token_id] + tgt[:-1])
            lp = torch.log_softmax(out.logits[0].double(), -1)
            row.append(float(lp[torch.arange(len(tgt)), torch.tensor(tgt)].sum()))
        oracle.append(row)
    assert any(len(_targets(t5, c)) > 1 for c in CANDIDATES)  # multi-token candidates are scored too
    full = score_candidates(t5, PROMPTS, CANDIDATES, exhaustive=True, batch_size=2)
    for got, want in zip(full.scores, oracle):
        assert got == pytest.approx(want, abs=1e-4)
    want_best = [max(range(len(CANDIDATES)), key=lambda j: (row[j], -j)) for row in oracle]
    logits = capture(t5, PROMPTS, keep=()).logits
    for first in (None, logits):
        fast = score_candidates(t5, PROMPTS, CANDIDATES, first, batch_size=3)
        assert fast.best == want_best
        assert fast.best_logprob == pytest.approx([row[j] for row, j in zip(oracle, want_best)], abs=1e-4)
        assert fast.n_merged == [0] * len(PROMPTS)


def test_predict_pararel_and_unrestricted(t5):
    from interp.data.pararel import Fact, Relation
    from interp.queries import pararel_queries
    from interp.scoring import naive_score_candidates, predict_pararel

    rel = Relation("P36", "capital", "1-1", ("The capital of [X] is [Y] .", "[X] has the capital [Y]."),
                   (Fact("France", "Paris", "u1"), Fact("Italy", "Rome", "u2"), Fact("USA", "New York", "u3")))
    qs = pararel_queries(t5, {"P36": rel}, 0)
    assert len(qs) == 6
    acts = capture(t5, [q.prompt for q in qs], keep=())
    pred = predict_pararel(t5, qs, acts, candidates={"P36": rel})
    ref = naive_score_candidates(t5, [q.prompt for q in qs], [rel.candidates] * len(qs))
    assert pred.objects == [rel.candidates[j] for j in ref.best]
    un = predict_pararel(t5, qs, acts, restrict=False)
    first = torch.log_softmax(acts.logits, -1).argmax(-1).tolist()
    assert un.objects == [t5.tokenizer.decode([t]) for t in first]
    assert un.correct == [t == _targets(t5, q.object)[0] for t, q in zip(first, qs)]


def test_mmlu_letters_equal_the_first_decoder_step(t5):
    from interp.prompts import mmlu_prompt
    from interp.scoring import letter_token_ids, mmlu_letter_logprobs

    prompts = [mmlu_prompt(t5, i, "astronomy", "What is the Sun?", ("A star", "A planet", "A moon", "A comet"))
               for i in range(3)]
    letters = [_targets(t5, x) for x in "ABCD"]
    assert all(len(x) == 1 for x in letters)
    assert letter_token_ids(t5, prompts[0]) == [x[0] for x in letters]
    got = mmlu_letter_logprobs(t5, prompts, batch_size=2)
    for i, p in enumerate(prompts):
        lp = torch.log_softmax(_plain(t5, t5.tokenize(p)).logits[0, 0].float(), -1)
        torch.testing.assert_close(got[i], lp[[x[0] for x in letters]], atol=1e-4, rtol=1e-4)


def test_flant5_prompts_are_plain_instruction_text():
    """An IFT encoder-decoder without a chat template (FlanT5) gets Table 3's IFT prompts as
    plain text: instruction and query in the encoder input, no dialogue markers."""
    from interp.prompts import mmlu_prompt, pararel_prompt, sentence_prompt
    from interp.testing import tiny_model

    flan = tiny_model("t5", chat=True)
    assert flan.is_chat and flan.is_encoder_decoder and not getattr(flan.tokenizer, "chat_template", None)
    prompt, span = pararel_prompt(flan, 0, "The capital of [X] is [Y].", "France")
    assert prompt == "Complete the sentence with as few words as possible.\nThe capital of France is"
    assert prompt[span.start:span.end] == "France"
    assert sentence_prompt(flan, 1, "I ate the cheese.") == "What does this sentence mean?\nI ate the cheese.\n"
    m = mmlu_prompt(flan, 0, "astronomy", "Q?", ("a", "b", "c", "d"))
    assert m.endswith("D. d\nAnswer:") and "<|user|>" not in m and "<|assistant|>" not in m


def test_selfcheck_passes_and_records_the_skipped_cache_probe(t5):
    from interp import selfcheck

    r = selfcheck.verify(t5, {"demo": PROMPTS[:3]}, candidates={"demo": CANDIDATES},
                         letters=["Q?\nA. x\nB. y\nC. z\nD. w\nAnswer:"])
    assert r.passed, r.checks
    assert [c.name for c in r.checks] == ["bos_once", "capture", "kv_cache", "answer_tokens", "letters"]
    assert "skipped for an encoder-decoder" in r.checks[2].detail and r.cache_reused is False


def test_encoder_mean_representation(t5, tiny_llama):
    from interp.analyses.paraphrase_gap import outermost, table1_unit

    acts = capture(t5, PROMPTS, keep=(), logits=False)
    assert torch.equal(outermost(acts, "encoder_mean"), acts.encoder_mean)
    assert torch.equal(outermost(acts), acts.final)
    r = table1_unit(acts, [[0, 1], [2, 3]], representation="encoder_mean", n_boot=20)
    assert r.representation == "encoder_mean"
    with pytest.raises(ValueError, match="encoder-decoder models only"):
        outermost(capture(tiny_llama, PROMPTS[:2], keep=(), logits=False), "encoder_mean")


def test_attribute_rate_is_not_applicable(t5):
    from interp.analyses.attributes import attribute_rates
    from interp.seq2seq import NotApplicable

    acts = capture(t5, [PROMPTS[0]], positions=[Span.of(PROMPTS[0], "France")], keep=("resid",), logits=False)
    with pytest.raises(NotApplicable, match="encoder-decoder"):
        attribute_rates(t5, acts, [object()], {})


def test_becel_probe_and_finetuning():
    from interp.data.becel import Example
    from interp.finetune import features, finetune_classifier
    from interp.testing import tiny_model

    model = tiny_model("t5", chat=False, seed=3)
    train = [Example(f"The {w} is here.", "It is.", i % 2) for i, w in enumerate(["cat", "dog", "capital", "cheese"] * 2)]
    f = features(model, "snli", train[:3])
    assert f.shape == (3, model.d_model)
    before = {k: v.clone() for k, v in model.hf_model.state_dict().items()}
    ft = finetune_classifier(model, "mrpc", train, train[:4], lrs=(1e-3,), batch_size=4, epochs=1)
    assert len(ft.predict(train[:4])) == 4
    assert all(torch.equal(before[k], v) for k, v in model.hf_model.state_dict().items())


# ---------------------------------------------------------------------------------- load_model


def _save_tiny_t5(path: Path, *, weights: bool = True, tokenizer: bool = True) -> None:
    from interp.testing import tiny_t5_hf, tiny_t5_tokenizer

    hf = tiny_t5_hf("t5")
    if weights:
        hf.save_pretrained(path)
    else:
        hf.config.save_pretrained(path)
    if tokenizer:
        tiny_t5_tokenizer().save_pretrained(path)


def test_load_a_t5_directory(tmp_path):
    _save_tiny_t5(tmp_path / "t5")
    model = load_model(str(tmp_path / "t5"), device="cpu")
    assert model.is_encoder_decoder and model.n_layers == 3
    ids = model.tokenize(PROMPTS[0])
    acts = capture(model, [PROMPTS[0]])
    torch.testing.assert_close(acts.logits[0], _plain(model, ids).logits[0, 0], atol=1e-4, rtol=1e-4)


def test_a_directory_without_weights_says_so(tmp_path):
    _save_tiny_t5(tmp_path / "t5", weights=False)
    with pytest.raises(ModelLoadError, match="no weights"):
        load_model(str(tmp_path / "t5"), device="cpu")


def test_a_directory_without_tokenizer_says_so(tmp_path):
    _save_tiny_t5(tmp_path / "t5", tokenizer=False)
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        load_model(str(tmp_path / "t5"), device="cpu")


def test_a_directory_with_an_unknown_architecture_says_so(tmp_path):
    d = tmp_path / "odd"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "nonesuch", "architectures": ["NonesuchForCausalLM"]}))
    with pytest.raises(ModelLoadError, match="unknown architecture.*nonesuch"):
        load_model(str(d), device="cpu")


def test_an_encoder_only_masked_lm_is_rejected_with_what_is_supported(tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    from interp.testing import tiny_tokenizer

    tok = tiny_tokenizer(add_bos=False, chat=False)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertForMaskedLM(cfg).save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    with pytest.raises(ModelLoadError) as e:
        load_model(str(tmp_path / "bert"), device="cpu")
    msg = str(e.value)
    assert "BertForMaskedLM" in msg and "encoder-only masked language model" in msg
    assert "T5ForConditionalGeneration" in msg and "LlamaForCausalLM" in msg and "FalconForCausalLM" in msg
    from interp.models import from_hf

    with pytest.raises(ModelLoadError, match="BertForMaskedLM"):
        from_hf(BertForMaskedLM(cfg), tok)


# ------------------------------------------------------------------------------ sweep and report

SWEEP = """
[sweep]
output = "{out}"
seed = 0
batch_size = 4
prompts = [0, 1]
wikipedia = "{data}/wikipedia"

[[models]]
label = "tiny-llama"
spec = "tiny:llama"
kind = "base"

[[models]]
label = "tiny-llama-chat"
spec = "tiny:llama-chat"
kind = "ift"
base = "tiny-llama"

[[models]]
label = "tiny-t5"
spec = "tiny:t5"
kind = "base"

[[models]]
label = "tiny-flan-t5"
spec = "tiny:t5-chat-seed1"
kind = "ift"
base = "tiny-t5"

[datasets]
pararel = "{data}/pararel"
mrpc = "{data}/mrpc"
mmlu = "{data}/mmlu"
becel = "{data}/becel"

[limits]
pararel_relations = ["P36", "P37"]
pararel_max_facts = 2
mrpc_max_pairs = 6
mmlu_subjects = ["astronomy"]
mmlu_limit = 3
becel_tasks = ["snli"]
becel_max_train = 24
becel_max_eval = 6
n_boot = 20
"""


def test_t5_through_a_tiny_sweep_and_the_report(tmp_path, demo_data):
    """A tiny T5 / FlanT5 pair next to a causal pair: every unit is computed (Fig. 2's attribute
    rate stored as skipped, with its reason, and counted), a rerun computes nothing, and the
    report shows the T5 family as its own Tables 4/5 block and lists the skip."""
    import re

    from interp.config import load_config
    from interp.report import build_report
    from interp.results import ResultStore
    from interp.sweep import pending, plan, run

    cfg_path = tmp_path / "sweep.toml"
    cfg_path.write_text(SWEEP.format(out=tmp_path / "out", data=demo_data))
    cfg = load_config(cfg_path)
    # the causal family only as far as Tables 1 / 2 need it (time), the T5 family through everything
    only = lambda j: "t5" in j.model or j.dataset in ("mrpc", "mmlu")  # noqa: E731
    rep = run(cfg, progress=False, only=only)
    assert rep.failed == [], rep.summary()
    skipped = dict(rep.skipped)
    # Fig. 2's attribute rate and the attention knockout are not defined for an encoder-decoder
    assert sorted(skipped) == sorted(f"{m} / pararel / {a} / prompt {p}" for m in ("tiny-t5", "tiny-flan-t5")
                                     for a in ("attributes", "knockout") for p in (0, 1, "all"))
    assert all("encoder-decoder" in why for why in skipped.values())
    assert "12 units skipped" in rep.summary()
    for label in ("tiny-t5", "tiny-flan-t5"):
        check = rep.self_checks[label]
        assert check.passed and "kv_cache" in [c.name for c in check.checks]
    store = ResultStore(cfg.output)
    t5_units = {k.analysis: store.load(k).payload for k in store.keys() if k.model == "tiny-t5" and k.prompt == "all"}
    assert t5_units["attributes"] == {"skipped": skipped["tiny-t5 / pararel / attributes / prompt all"]}
    assert set(t5_units) >= {"consistency", "gap", "layer_gap", "relations", "extraction"}
    extraction = store.load(next(k for k in store.keys() if k.model == "tiny-t5" and k.analysis == "extraction"
                                and k.prompt == 0)).payload
    assert len(extraction["splits"]["all"]["mhsa"]["counts"]) == 3  # the decoder's layers
    becel = [k for k in store.keys() if k.dataset == "becel"]
    assert {k.model for k in becel} == {"tiny-t5", "tiny-flan-t5"}
    again = run(cfg, progress=False, only=only)
    assert again.computed == [] and again.failed == [] and again.skipped == []
    assert not pending([j for j in plan(cfg) if only(j)], store)

    text = build_report(store, tmp_path / "r.html").read_text()
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert ids.index("table2") < ids.index("table45") < ids.index("table6")

    def section(sid: str) -> str:
        i = text.index(f'<section id="{sid}"')
        return text[i:text.index("</section>", i)]

    t45, t1, t2 = section("table45"), section("table1"), section("table2")
    assert 'data-status="ok"' in t45 and "tiny-t5 and its IFT models (tiny-flan-t5)" in t45
    assert "<td>tiny-flan-t5</td>" in t45 and "<td>tiny-llama-chat</td>" not in t45
    assert "<td>tiny-llama-chat</td>" in t1 and "<td>tiny-t5</td>" not in t1 and "Tables 4 and 5" in t1
    assert "<td>tiny-t5</td>" not in t2
    assert "Skipped for tiny-t5: pararel attributes (3 units)" in text
    assert 'data-status="failed"' not in text
