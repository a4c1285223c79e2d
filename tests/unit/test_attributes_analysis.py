"""Subject-attribute rate (Fig. 2): known answers on a tiny model whose unembedding is set by hand."""

from __future__ import annotations

import json
import math

import pytest
import torch

from interp.analyses.attributes import (
    AttributeRates,
    SubjectAttributes,
    attribute_rate,
    attribute_rates,
    subject_attributes,
)
from interp.capture import Activations, Span
from interp.data import demo_path
from interp.data.attributes import keep_token, normalize_token, stopwords
from interp.queries import ParaRelQuery
from interp.testing import tiny_model, tiny_tokenizer


def test_attribute_rate_known_answer() -> None:
    tokens = [" Paris", " the", "Paris", "ab", " Seine", " of", " Louvre", " Rome", " Berlin"]
    # kept, in order: Paris, Seine, Louvre, Rome, Berlin ("the"/"of" stopwords, "ab" short,
    # the second "Paris" a duplicate after normalisation)
    a = {"Paris", "Louvre", "Berlin"}
    assert attribute_rate(tokens, a, top=4) == pytest.approx(2 / 4)  # Paris, Seine, Louvre, Rome
    assert attribute_rate(tokens, a, top=5) == pytest.approx(3 / 5)
    assert attribute_rate(tokens, a, top=50) == pytest.approx(3 / 5)  # only 5 kept
    assert math.isnan(attribute_rate([" the", "of"], a))


# --- a tiny model whose projection ranks known tokens first -------------------------------


@pytest.fixture(scope="module")
def vocab() -> dict:
    """Six keepable tokens (distinct texts) and one stopword token of the tiny tokenizer."""
    tok = tiny_tokenizer()
    words = stopwords()
    texts = tok.batch_decode([[i] for i in range(len(tok))], skip_special_tokens=True)
    keep, seen = [], set()
    for i, t in enumerate(texts):
        if keep_token(t, words) and normalize_token(t) not in seen:
            seen.add(normalize_token(t))
            keep.append(i)
    stop = next(i for i, t in enumerate(texts) if normalize_token(t).lower() in words
                and len(normalize_token(t)) >= 3)
    return {"ids": keep[:6], "text": [normalize_token(texts[i]) for i in keep[:6]], "stop": stop}


@pytest.fixture(scope="module")
def model(vocab: dict):
    """Tiny Llama with W_U set so that direction j ranks its tokens first:
    e0 -> t0 > t1, e1 -> t2 > t3, e2 -> stopword > t4 > t5 (all other logits 0)."""
    m = tiny_model("llama", chat=False)
    t, stop = vocab["ids"], vocab["stop"]
    with torch.no_grad():
        w = m.hf_model.lm_head.weight
        w.zero_()
        for j, ranked in enumerate([[t[0], t[1]], [t[2], t[3]], [stop, t[4], t[5]]]):
            for r, tok_id in enumerate(ranked):
                w[tok_id, j] = 10.0 - r
    return m


def _query(rel: str, pattern: int, subject: str, fact: int = 0) -> ParaRelQuery:
    prompt = f"{subject} is in"
    return ParaRelQuery(rel, pattern, f"p{pattern}", fact, subject, "obj", 0, prompt,
                        Span(0, len(subject)))


def _acts(directions: list[list[int]], d_model: int) -> Activations:
    """resid[i, l] = e_{directions[i][l]} (index 0 = embeddings)."""
    n, width = len(directions), len(directions[0])
    resid = torch.zeros(n, width, d_model)
    for i, row in enumerate(directions):
        for layer, j in enumerate(row):
            resid[i, layer, j] = 1.0
    return Activations(resid=resid, attn_out=None, mlp_out=None, final=torch.zeros(n, d_model),
                       logits=None, token_index=torch.zeros(n, dtype=torch.long),
                       tokens=[[1]] * n)


@pytest.fixture(scope="module")
def case(vocab: dict, model) -> dict:
    t = vocab["text"]
    queries = [
        _query("P36", 0, "France"),          # layers: e0, e1
        _query("P36", 1, "France"),          # e2, e1
        _query("P36", 0, "Italy"),           # e0, e0
        _query("P30", 0, "France"),          # e1, e2
        _query("P36", 0, "Atlantis"),        # no snippets: excluded
        _query("P36", 0, "Italy", fact=1),   # same prompt as the third: projected once
    ]
    # column 0 = embeddings (e0 everywhere), then blocks 0 and 1
    dirs = [[0, 0, 1], [0, 2, 1], [0, 0, 0], [0, 1, 2], [0, 0, 0], [0, 0, 0]]
    attrs = {"France": frozenset({t[0], t[1], t[4]}), "Italy": frozenset({t[1]}), "Atlantis": frozenset()}
    return {"queries": queries, "acts": _acts(dirs, model.d_model), "attrs": attrs}


def test_attribute_rates_known_answer(model, case: dict) -> None:
    res = attribute_rates(model, case["acts"], case["queries"], case["attrs"], top=2, n_boot=200)
    # top-2 kept per direction: e0 [t0, t1], e1 [t2, t3], e2 [t4, t5] (the stopword is dropped)
    # (P36, France): layer 0 = mean(e0: 2/2, e2: 1/2) = 0.75, layer 1 = mean(e1: 0, e1: 0) = 0
    # (P36, Italy):  layer 0 = e0: 1/2, layer 1 = e0: 1/2
    # (P30, France): layer 0 = e1: 0,   layer 1 = e2: 1/2
    # macro: P36 = [0.625, 0.25], P30 = [0, 0.5] -> [0.3125, 0.375]
    assert res.layers == (0, 1)
    assert res.estimates == pytest.approx([0.3125, 0.375])
    assert res.per_relation["P36"] == pytest.approx((0.625, 0.25))
    assert res.per_relation["P30"] == pytest.approx((0.0, 0.5))
    items = dict(zip(res.items, res.item_rates))
    assert items[("P36", "France")] == pytest.approx((0.75, 0.0))
    assert items[("P36", "Italy")] == pytest.approx((0.5, 0.5))
    assert res.excluded_subjects == ("Atlantis",) and res.n_excluded_queries == 1
    assert res.n_queries == 6 and res.n_distinct_prompts == 4 and res.n_short == 0
    assert res.rate[0].n == 3 and res.rate[0].low <= 0.3125 <= res.rate[0].high
    assert res.peak == (1, pytest.approx(0.375))
    assert res.normed is False and res.top == 2  # E h, the paper's lens


def test_embeddings_widening_and_lens_option(model, case: dict) -> None:
    args = (model, case["acts"], case["queries"], case["attrs"])
    base = attribute_rates(*args, top=2, n_boot=50)
    emb = attribute_rates(*args, top=2, include_embeddings=True, n_boot=50)
    assert emb.layers == (-1, 0, 1)
    # embeddings are e0 everywhere: P36 = mean(France 1, Italy 1/2), P30 = France 1
    assert emb.estimates == pytest.approx([(0.75 + 1.0) / 2, 0.3125, 0.375])
    # one candidate per projection is too few: the list is widened until 2 tokens survive
    assert attribute_rates(*args, top=2, candidates=1, n_boot=50).estimates == base.estimates
    # the unit rows of these norms are ones, so the final norm keeps the ranking
    assert attribute_rates(*args, top=2, normed=True, n_boot=50).estimates == base.estimates
    # a vocabulary with fewer keepable tokens than `top`: the rate is over the tokens kept
    short = attribute_rates(*args, top=1000, n_boot=50)
    assert short.n_short == 4 * 2
    assert all(0.0 <= e <= 1.0 for e in short.estimates)


def test_plain_mapping_and_subject_attributes(vocab: dict) -> None:
    tok = tiny_tokenizer()
    a = subject_attributes(tok, ["France", "Atlantis", "France"], cache_dir=demo_path("wikipedia"))
    assert list(a.sets) == ["France"] and a.missing == ("Atlantis",)
    assert all(keep_token(t) for t in a.sets["France"])
    b = subject_attributes(tok, ["X", "Y"], snippets={"X": ["The capital of France is Paris."], "Y": ["a b"]})
    assert list(b.sets) == ["X"] and b.missing == ("Y",)  # "a b" keeps no token
    assert isinstance(b, SubjectAttributes)


def test_serialisation_and_pool(model, case: dict) -> None:
    res = attribute_rates(model, case["acts"], case["queries"], case["attrs"], top=2, n_boot=50)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    back = AttributeRates.from_dict(d)
    assert back.estimates == pytest.approx(res.estimates)
    assert back.items == res.items and back.excluded_subjects == res.excluded_subjects
    assert AttributeRates.pool([res, res], n_boot=50).estimates == pytest.approx(res.estimates)
    # a second "prompt" where only (P30, France) occurs, with rates [1.0, 1.0]
    only = AttributeRates.from_dict({**d, "items": [["P30", "France"]], "item_rates": [[1.0, 1.0]]})
    pooled = AttributeRates.pool([res, only], n_boot=50)
    # (P30, France) -> mean([0, .5], [1, 1]) = [.5, .75]; macro with P36 [.625, .25]
    assert pooled.estimates == pytest.approx([(0.625 + 0.5) / 2, (0.25 + 0.75) / 2])
    assert pooled.n_queries == 12 and pooled.prompt_index is None


def test_bad_input(model, case: dict) -> None:
    with pytest.raises(ValueError, match="queries has 5"):
        attribute_rates(model, case["acts"], case["queries"][:5], case["attrs"])
    no_resid = Activations(None, None, None, case["acts"].final, None, case["acts"].token_index,
                           case["acts"].tokens)
    with pytest.raises(ValueError, match="resid"):
        attribute_rates(model, no_resid, case["queries"], case["attrs"])
    wrong = case["acts"].select(range(6))
    wrong.resid = wrong.resid[:, :2]
    with pytest.raises(ValueError, match="layers"):
        attribute_rates(model, wrong, case["queries"], case["attrs"])
    # every subject without snippets: nothing to average, counted, no crash
    res = attribute_rates(model, case["acts"], case["queries"], {}, n_boot=10)
    assert res.n_excluded_queries == 6 and all(math.isnan(e) for e in res.estimates)
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_kept_tokens_equal_the_filtered_full_ranking(arch: str) -> None:
    """The ranking of keepable tokens only (with bitwise-equal rows ranked once) keeps exactly
    what filtering the full matmul's complete ranking keeps, for any first candidate count."""
    from interp import capture, lens
    from interp.analyses.attributes import _kept_top_tokens, keepable_vocabulary
    from interp.data.attributes import filter_tokens

    m = tiny_model(arch, chat=False)
    acts = capture(m, ["The capital of France is", "Rome is", "The capital of France is"])
    x = acts.resid.reshape(-1, m.d_model)
    assert torch.equal(x[: x.shape[0] // 3], x[-(x.shape[0] // 3):])  # repeated rows
    texts, keep = keepable_vocabulary(m)
    assert texts[5] == normalize_token(m.tokenizer.decode([5], skip_special_tokens=True))
    assert bool(keep[5]) == keep_token(m.tokenizer.decode([5], skip_special_tokens=True))
    order = lens.project(m, x).sort(dim=-1, descending=True, stable=True).indices
    words = stopwords()
    decoded = m.tokenizer.batch_decode([[i] for i in range(m.d_vocab)], skip_special_tokens=True)
    for top in (3, 20):
        ref = [filter_tokens((decoded[i] for i in row), words, limit=top) for row in order.tolist()]
        for candidates in (1, 7, 1000):
            got = _kept_top_tokens(m, x, top=top, candidates=candidates, normed=False, chunk_size=16)
            assert got == ref, (top, candidates)
