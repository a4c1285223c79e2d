"""Subject-attribute token sets (the paper's Appendix D, after Geva et al. 2023).

A_s = the distinct tokens of the subject's Wikipedia snippets, tokenized with the model's own
tokenizer, without stopwords (NLTK's English list) and without tokens shorter than 3 characters.
The analysis compares the model's top projected tokens with A_s; both sides must go through the
same :func:`normalize_token` and :func:`keep_token`, which is why they are exported.

Normalisation decision: a token's text is the tokenizer's decoding of that single id, with the
space markers ``Ġ``/``▁`` and surrounding whitespace removed. Case is KEPT, as in Geva et al.
(2023): ``Paris`` and ``paris`` are different tokens of the vocabulary and so different
attributes. Only the stopword test is case-insensitive (``The`` is a stopword like ``the``).
Decoded pieces of a split multi-byte character (containing U+FFFD) are not text and are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

_SPACE_MARKERS = str.maketrans({"Ġ": " ", "▁": " "})
MIN_CHARS = 3


def stopwords() -> frozenset[str]:
    """NLTK's English stopwords: from NLTK's corpus if installed, else the copy in this package.

    Never downloads. The shipped copy is NLTK's 179-word list.

    >>> {"the", "and", "not"} <= stopwords()
    True
    """
    return _stopwords()


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    try:
        from nltk.corpus import stopwords as nltk_stopwords

        return frozenset(nltk_stopwords.words("english"))
    except (ImportError, LookupError, OSError):
        text = resources.files("interp.data").joinpath("stopwords_english.txt").read_text(encoding="utf-8")
        return frozenset(w.strip() for w in text.splitlines() if w.strip())


def __getattr__(name: str) -> Any:  # STOPWORDS, loaded on first use
    if name == "STOPWORDS":
        return _stopwords()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def normalize_token(token_str: str) -> str:
    """A token's text without space markers and surrounding whitespace (case kept).

    >>> normalize_token("ĠParis"), normalize_token("▁Paris"), normalize_token(" Paris\\n")
    ('Paris', 'Paris', 'Paris')
    """
    return token_str.translate(_SPACE_MARKERS).strip()


def keep_token(s: str, stopwords: frozenset[str] | None = None) -> bool:
    """True if the normalized token has >= 3 characters, is text, and is not a stopword.

    >>> keep_token(" Paris"), keep_token(" the"), keep_token(" The"), keep_token("ab")
    (True, False, False, False)
    """
    words = stopwords if stopwords is not None else _stopwords()
    token = normalize_token(s)
    return len(token) >= MIN_CHARS and "\ufffd" not in token and token.lower() not in words


def filter_tokens(
    token_strs: Iterable[str], stopwords: frozenset[str] | None = None, *, limit: int | None = None
) -> list[str]:
    """Normalized tokens that pass :func:`keep_token`, de-duplicated, in order; the first ``limit``.

    Use it on the model's decoded top tokens (e.g. ``limit=50``) to compare them with A_s.

    >>> filter_tokens([" Paris", "Paris", " the", " France", ","], limit=50)
    ['Paris', 'France']
    """
    words = stopwords if stopwords is not None else _stopwords()
    out: dict[str, None] = {}
    for s in token_strs:
        if keep_token(s, words):
            out.setdefault(normalize_token(s), None)
            if limit is not None and len(out) >= limit:
                break
    return list(out)


def attribute_set(snippets: Iterable[str], tokenizer: Any, stopwords: frozenset[str] | None = None) -> frozenset[str]:
    """A_s: the kept, normalized tokens of ``snippets`` under ``tokenizer`` (a Hugging Face tokenizer).

    Each snippet is tokenized without special tokens and every token id is decoded on its own
    (``tokenizer.decode([id])``), as the model's projected tokens are.

    >>> from transformers import AutoTokenizer  # doctest: +SKIP
    >>> attribute_set(["Paris is the capital of France."], AutoTokenizer.from_pretrained("gpt2"))  # doctest: +SKIP
    frozenset({'Paris', 'capital', 'France'})
    """
    words = stopwords if stopwords is not None else _stopwords()
    texts = [s for s in snippets if s]
    if not texts:
        return frozenset()
    ids: set[int] = set()
    for row in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids.update(row)
    decoded = (tokenizer.decode([i]) for i in sorted(ids))
    return frozenset(normalize_token(t) for t in decoded if keep_token(t, words))
