"""Mechanisms of factual recall on the offline models: one PARAREL capture -> attribute rate
(Fig. 2) and MHSA / MLP extraction rates (Fig. 5, 8), with the demo facts and snippets."""

from __future__ import annotations

import json

import pytest

from interp import capture, load_model
from interp.analyses.attributes import attribute_rates, subject_attributes
from interp.analyses.extraction import ExtractionRates, extraction_rates
from interp.data import demo_path, pararel
from interp.models import ModelLoadError
from interp.queries import pararel_queries

pytestmark = pytest.mark.integration

SUBJECT_RELATIONS = ["P36"]  # subjects are countries: the demo snippets cover them
MAX_FACTS = 4


@pytest.fixture(scope="module", params=["smollm2-135m-instruct", "gemma3-270m"])
def real_model(request):
    try:
        return load_model(request.param)
    except (ModelLoadError, ModuleNotFoundError, ImportError) as exc:
        pytest.skip(f"offline model {request.param} unavailable: {exc}")


def test_rates_per_layer_from_one_capture(real_model) -> None:
    m = real_model
    rels = pararel.load(demo_path("pararel"), relations=SUBJECT_RELATIONS)
    qs = pararel_queries(m, rels, 0, max_facts=MAX_FACTS)
    acts = capture(m, [q.prompt for q in qs],
                   positions={"last": "last", "subject": [q.subject_span for q in qs]})
    attrs = subject_attributes(m.tokenizer, {q.subject for q in qs}, cache_dir=demo_path("wikipedia"))
    assert not attrs.missing, f"demo snippets missing for {attrs.missing}"

    att = attribute_rates(m, acts["subject"], qs, attrs, n_boot=200)
    ext = extraction_rates(m, acts["last"], prompt_index=0)

    assert att.layers == tuple(range(m.n_layers)) and len(att.rate) == m.n_layers
    assert att.n_short == 0  # 500 candidates leave >= 50 tokens after filtering on real vocabularies
    assert att.n_excluded_queries == 0 and len(att.items) == MAX_FACTS
    assert all(0.0 <= iv.low <= iv.estimate <= iv.high <= 1.0 for iv in att.rate)
    assert max(att.estimates) > 0.0  # some layer surfaces subject attributes

    for block in ("mhsa", "mlp"):
        ev = ext.get(block)
        assert ev.n == len(qs) and len(ev.counts) == m.n_layers
        assert all(0 <= c <= ev.n for c in ev.counts)
    assert ext.normed is False
    assert ExtractionRates.from_dict(json.loads(json.dumps(ext.to_dict()))) == ext
    json.dumps(att.to_dict(), allow_nan=False)


def test_batched_decoding_matches_attribute_sets(real_model) -> None:
    """The top tokens are decoded in one batch without special tokens; A_s decodes one id at a
    time: the strings agree except for special tokens (<pad>, <unused81>, ...), which are dropped."""
    tok = real_model.tokenizer
    ids = list(range(0, real_model.d_vocab, max(1, real_model.d_vocab // 2000)))
    batched = tok.batch_decode([[i] for i in ids], skip_special_tokens=True)
    special = {i for i, t in tok.added_tokens_decoder.items() if t.special}
    differ = [i for i, b in zip(ids, batched) if b != tok.decode([i])]
    assert set(differ) <= special
    assert all(b == "" for i, b in zip(ids, batched) if i in differ)
