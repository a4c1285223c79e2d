"""interp.data.attributes: token filter and a known-answer attribute set with a hand-built tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp.data import attributes
from interp.data.attributes import attribute_set, filter_tokens, keep_token, normalize_token, stopwords


def test_stopwords_are_nltk_english() -> None:
    words = stopwords()
    assert len(words) >= 179  # 179 in the shipped copy; newer NLTK corpora add a few
    assert {"the", "through", "don't", "wouldn't"} <= words
    assert attributes.STOPWORDS is words


def test_shipped_copy_is_179_words() -> None:
    text = (Path(attributes.__file__).parent / "stopwords_english.txt").read_text(encoding="utf-8")
    assert len(set(text.split())) == 179


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ĠParis", "Paris"), ("▁Paris", "Paris"), (" Paris", "Paris"), ("Paris\n", "Paris"), ("paris", "paris")],
)
def test_normalize_token_keeps_case(raw: str, expected: str) -> None:
    assert normalize_token(raw) == expected


@pytest.mark.parametrize(
    ("token", "kept"),
    [(" Paris", True), ("ĠThe", False), (" the", False), ("ab", False), (" ab ", False), ("abc", True),
     (" \ufffd\ufffd\ufffd", False), ("...", True)],
)  # fmt: skip
def test_keep_token(token: str, kept: bool) -> None:
    assert keep_token(token, stopwords()) is kept


def test_filter_tokens_dedupes_in_order() -> None:
    top = [" Paris", "Paris", " the", " France", ",", " capital", "ĠFrance"]
    assert filter_tokens(top) == ["Paris", "France", "capital"]
    assert filter_tokens(top, limit=2) == ["Paris", "France"]


def _tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    words = ["[UNK]", "Paris", "The", "Ġis", "Ġthe", "Ġcapital", "Ġof", "ĠFrance", ".", "ĠSeine", "Ġflows",
             "Ġthrough", "ĠParis", "Ġa", "Ġcity"]  # fmt: skip
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    # byte-level pre-tokenization and decoding, as GPT-2 / SmolLM2 ("Ġ" marks a leading space)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = tokenizers.decoders.ByteLevel()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


def test_attribute_set_known_answer() -> None:
    tokenizer = _tokenizer()
    assert tokenizer.decode([tokenizer.convert_tokens_to_ids("ĠParis")]) == " Paris"
    snippets = ["Paris is the capital of France.", "The Seine flows through Paris.", "Paris is a city."]
    # dropped: stopwords (is, the, The, of, through), short tokens (".", "a"); " Paris" == "Paris"
    assert attribute_set(snippets, tokenizer) == frozenset({"Paris", "capital", "France", "Seine", "flows", "city"})
    assert attribute_set([], tokenizer) == frozenset()
