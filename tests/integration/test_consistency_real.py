"""Table 2's three blocks (PARAREL, MMLU, BECEL) on the real offline models and real data, on
small subsets; and the fast candidate scoring against the naive loop on SmolLM2."""

from __future__ import annotations

import json
import math
import os

import pytest

from interp.analyses.consistency import (
    MMLUSpread,
    ParaRelConsistency,
    combine_prompts,
    mmlu_setups,
    mmlu_spread,
    pararel_consistency,
)
from interp.capture import capture
from interp.data import mmlu, pararel
from interp.finetune import run_becel
from interp.prompts import mmlu_prompt
from interp.queries import pararel_queries
from interp.scoring import (
    boundary_mismatches,
    mmlu_letter_logprobs,
    naive_score_candidates,
    predict_pararel,
    score_candidates,
)

pytestmark = pytest.mark.integration




def test_fast_scoring_equals_naive_loop_on_smollm2(smollm2, shared_data):
    rel = pararel.load(shared_data / "pararel", relations=["P176"])["P176"]  # manufacturers
    qs = pararel_queries(smollm2, {"P176": rel}, 0, max_facts=2)[:2]
    prompts = [q.prompt for q in qs]
    assert sum(len(smollm2.tokenizer(" " + c)["input_ids"]) > 1 for c in rel.candidates) >= 10
    assert boundary_mismatches(smollm2, prompts, rel.candidates) == 0
    acts = capture(smollm2, prompts, keep=())
    fast = score_candidates(smollm2, prompts, rel.candidates, acts.logits)
    alone = score_candidates(smollm2, prompts, rel.candidates)
    pruned = naive_score_candidates(smollm2, prompts, rel.candidates, prune=True)
    naive = naive_score_candidates(smollm2, prompts[:1], rel.candidates)  # 44 forwards
    assert fast.best == alone.best == pruned.best
    assert fast.best[0] == naive.best[0]
    ex = score_candidates(smollm2, prompts[:1], rel.candidates, exhaustive=True)
    assert max(abs(a - b) for a, b in zip(ex.scores[0], naive.scores[0])) < 1e-3


# Gemma-3's run (45 s on CI's 2 cores) is in the thorough tier; its scoring, letters and probe paths
# are the same code as SmolLM2's, and its real-model checks are in test_check_real / test_oracle_real
@pytest.mark.parametrize("name", ["smollm2"] + (["gemma3"] if os.environ.get("INTERP_HYPOTHESIS_PROFILE")
                                                == "thorough" else []))
def test_table2_blocks_on_real_data(name, request, shared_data):
    model = request.getfixturevalue(name)
    # PARAREL: P103 (2 causal patterns) and P37 (1: consistency undefined), 10 facts, 1 prompt
    rels = pararel.load(shared_data / "pararel", relations=["P103", "P37"])
    qs = pararel_queries(model, rels, 0, max_facts=10)
    acts = capture(model, [q.prompt for q in qs], keep=())
    preds = predict_pararel(model, qs, acts, candidates=rels)
    res = pararel_consistency(qs, preds, prompt_index=0)
    assert res.undefined == ("P37",)
    assert res.relation("P103").n_items == 10 and res.relation("P103").n_patterns == 2
    assert 0.0 <= res.consistency.low <= res.consistency.estimate <= res.consistency.high <= 1.0
    assert res.accuracy.estimate > 1 / 30  # above chance among P103's 30 candidate languages
    assert ParaRelConsistency.from_dict(json.loads(json.dumps(res.to_dict()))).keys == res.keys
    over = combine_prompts([res])
    assert over.consistency_std == 0.0

    # MMLU: 2 subjects x 2 questions x 9 setups
    qs_mmlu = mmlu.load(shared_data / "mmlu", subjects=["global_facts", "high_school_geography"], limit=2)
    setups = mmlu_setups(qs_mmlu)
    lps = [mmlu_letter_logprobs(model, [mmlu_prompt(model, s.instruction, mmlu.subject_name(q.subject),
                                                    q.question, q.choices) for q in qs])
           for s, qs in setups]
    m = mmlu_spread([qs for _, qs in setups], lps, [s for s, _ in setups])
    assert len(m.setups) == 9 and m.n_questions == 4
    assert all(sum(s.letter_counts) == 4 for s in m.setups)
    assert 0.0 <= m.spread.estimate <= 1.0 and m.spread.estimate <= m.spread_setups.estimate
    assert MMLUSpread.from_dict(json.loads(json.dumps(m.to_dict()))) == m

    # BECEL: SNLI, a linear probe on 40 training pairs, 20 test pairs, 6 pairs per perturbation
    b = run_becel(model, "snli", shared_data / "becel", n_train=40, n_test=20, n_pairs=6)
    assert b.accuracy.n == 20 and b.semantic.n == b.negation.n == b.symmetric.n == 6
    for iv in (b.symmetric, b.semantic, b.negation, b.negation_flip, b.accuracy):
        assert not math.isnan(iv.estimate) and 0.0 <= iv.estimate <= 1.0
    # every SNLI negated pair changes label, so the two negation numbers coincide
    assert b.negation.estimate == b.negation_flip.estimate
