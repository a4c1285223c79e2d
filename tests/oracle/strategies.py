"""Hypothesis strategies: prompt lists with the shapes that break batched, padded, cached code."""

from __future__ import annotations

from hypothesis import strategies as st

WORDS = ["The", "capital", "of", "France", "is", "located", "in", "Rome", "city", "known", "as",
         "Paris", "and", "was", "born", "speaks", "language", "official", "Tokyo", "river",
         "a", "the", "Berlin", "works", "for", "at", "Japan", "Sweden", "music", "plays"]
PREFIXES = ["", "Answer briefly, please. ", "Question: complete the sentence. "]
ANSWERS = ["Paris", "New York", "Rome", "Buenos Aires", "the United Kingdom", "Saint Petersburg",
           "Ulaanbaatar", "Lyon", "x", "Rio de Janeiro", "Japan", "Oslo"]

words = st.sampled_from(WORDS)
sentences = st.lists(words, min_size=1, max_size=9).map(" ".join)


@st.composite
def prompt_lists(draw) -> list[str]:
    """One prompt, identical prompts, prompts that differ only in their last word, a prompt that
    is a prefix of another, unrelated prompts (no common prefix, or BOS only) and mixed lengths,
    after an optional shared prefix (a chat template's stand-in), optionally ending in a space,
    in random order."""
    prefix = draw(st.sampled_from(PREFIXES))
    base = draw(sentences)
    kind = draw(st.sampled_from(["one", "identical", "last_word", "prefix_of", "unrelated"]))
    if kind == "one":
        texts = [base]
    elif kind == "identical":
        texts = [base] * draw(st.integers(2, 4))
    elif kind == "last_word":
        texts = [f"{base} {w}" for w in draw(st.lists(words, min_size=2, max_size=4))]
    elif kind == "prefix_of":
        texts = [base, f"{base} {draw(sentences)}"]
    else:
        texts = draw(st.lists(sentences, min_size=2, max_size=6))
    # a trailing space makes SentencePiece tokenizers merge it with an answer's leading space
    end = draw(st.sampled_from(["", "", " "]))
    return [prefix + t + end for t in draw(st.permutations(texts))]


@st.composite
def positions_for(draw, prompts: list[str]) -> list:
    """One position per prompt: "last", a token index (a fraction, resolved by the test), or the
    character span of one of its whole words (a subject span)."""
    from interp.capture import Span

    out = []
    for p in prompts:
        kind = draw(st.sampled_from(["last", "index", "span"]))
        if kind == "last":
            out.append("last")
        elif kind == "index":
            out.append(("index", draw(st.floats(0, 0.999))))
        else:  # a whole word (a word may also occur inside another: "at" in "located")
            starts = [i for i, ch in enumerate(p) if ch != " " and (i == 0 or p[i - 1] == " ")]
            start = draw(st.sampled_from(starts))
            end = p.find(" ", start)
            out.append(Span(start, len(p) if end == -1 else end))
    return out
