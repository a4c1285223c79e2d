"""Vector-space consistency on the real offline models and ../shared/data (Table 1, Fig. 3, 4).

Small subsets to stay within the suite's budget on 2 CPU cores (about 25 s a model under load):
MRPC dev (first 50 pairs, prompt 0), the TAPACO excerpt (smoke), PARAREL P36 / P103 / P176 with
10 facts each (prompt 0), captured once and shared by the three PARAREL analyses.
"""

from __future__ import annotations

import math

import pytest

from interp.analyses import paraphrase_gap as pg
from interp.analyses import relations as rl
from interp.capture import capture
from interp.data import demo_path, mrpc, pararel, tapaco
from interp.queries import pararel_queries

pytestmark = pytest.mark.integration


def _finite_interval(iv) -> bool:
    return all(math.isfinite(v) for v in (iv.estimate, iv.low, iv.high)) and iv.low <= iv.estimate <= iv.high


def test_mrpc_table1_both_representations(offline_model, shared_data):
    inputs = pg.mrpc_inputs(mrpc.load(shared_data / "mrpc", "dev")[:50])
    acts = capture(offline_model, inputs.prompts(offline_model, 0), keep=("resid",), logits=False,
                   progress=False)
    post = pg.table1_unit(acts, inputs.sets, inputs.non_pairs, n_boot=300)
    pre = pg.table1_unit(acts, inputs.sets, inputs.non_pairs, n_boot=300, representation="pre_norm")
    n_para = sum(len(s) == 2 for s in inputs.sets)
    for r in (post, pre):
        assert r.n_sets == n_para and r.n_nonpairs == len(inputs.non_pairs) == 50 - n_para
        assert all(_finite_interval(iv) for iv in (r.cos_para, r.cos_nonpara, r.gap))
        assert all(-1 <= c <= 1 for c in r.set_cos + r.nonpair_cos)
    # the final norm changes the vectors: the two representations differ
    assert post.cos_para.estimate != pytest.approx(pre.cos_para.estimate, abs=1e-4)


def test_tapaco_excerpt_smoke(offline_model, shared_data):
    excerpt = tapaco.load(shared_data / "tapaco" / "en.excerpt.txt")
    assert len(excerpt) == 1  # one set: no random non-paraphrase pair is possible on its own
    inputs = pg.tapaco_inputs(excerpt + tapaco.load(demo_path("tapaco"), limit_sets=3))
    acts = capture(offline_model, inputs.prompts(offline_model, 1), keep=(), logits=False,
                   progress=False)
    r = pg.table1_unit(acts, inputs.sets, seed=0, n_boot=200)
    assert r.n_sets == 4 and r.n_pairs == r.n_nonpairs and _finite_interval(r.gap)
    with pytest.raises(ValueError, match="2 or more sets"):
        pg.table1_unit(acts.select(list(inputs.sets[0])), [list(range(5))])


def test_pararel_shared_capture_layer_gaps_and_relations(offline_model, shared_data):
    model = offline_model
    rels = pararel.load(shared_data / "pararel", relations=["P36", "P103", "P176"])
    queries = pararel_queries(model, rels, prompt_index=0, max_facts=10)
    acts = capture(model, [q.prompt for q in queries], progress=False)  # once, for all three
    preds = acts.predictions.tolist()

    t1 = pg.table1_unit(acts, pg.pararel_inputs(queries).sets, n_boot=300)
    assert t1.n_sets == 30 and t1.gap.estimate > 0 and _finite_interval(t1.gap)

    gaps = pg.pararel_layer_gaps(acts, queries, preds, n_boot=200)
    assert gaps.all.n_layers == model.n_layers
    assert gaps.consistent.n_pairs + gaps.inconsistent.n_pairs == gaps.all.n_pairs
    assert gaps.all.n_pairs == 10 * (28 + 1 + 21)  # P36: 8 causal patterns, P103: 2, P176: 7
    assert all(_finite_interval(iv) for iv in gaps.all.gap)

    curves = rl.relation_curves(acts, queries, model=model.name, n_boot=200)
    assert curves.n_layers == model.n_layers and curves.relations
    assert all(-1 <= iv.estimate <= 1 for iv in curves.different + curves.same)
    assert rl.RelationCurves.from_dict(curves.to_dict()).relation_layers == curves.relation_layers
