"""interp.serial: one to_dict / from_dict for every result dataclass.

``EXPECTED`` holds the payloads the hand-written ``to_dict`` methods wrote for the instances of
:func:`examples` (captured before they were replaced), with the one NaN policy applied: the
classes that wrote NaN as a float (``Interval``, ``PairedTest``, ``SpreadTest``, ``Correlation``,
``ParaRelConsistency``, ``ParaRelOverPrompts``, ``MMLUSpread``, ``BecelTask``,
``BecelConsistency``) now write ``None`` like the others; every other key and value is the same.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import pkgutil
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given
from hypothesis import strategies as st

import interp.analyses
from interp.analyses.attributes import AttributeRates
from interp.analyses.consistency import (BecelConsistency, BecelTask, MMLUSpread, ParaRelConsistency,
                                         ParaRelOverPrompts, RelationResult, SetupResult)
from interp.analyses.extraction import (BLOCKS, CorrelationRow, CorrelationTable, EventRates,
                                        ExtractionRates, QueryEvents)
from interp.finetune import LinearProbe
from interp.analyses.paraphrase_gap import GapResult, LayerGap, SplitLayerGaps
from interp.analyses.relations import ModelsCurves, RelationCurves
from interp.serial import Block, Serializable, dump, load
from interp.stats import Correlation, Interval, PairedTest, SpreadTest

NAN = math.nan


def examples() -> dict[str, object]:
    iv = Interval(0.5, 0.25, 0.75, 8)
    iv_nan = Interval(NAN, NAN, NAN, 0, 0.9)
    pr = ParaRelConsistency(
        accuracy=iv, consistency=iv_nan, accuracy_micro=0.4,
        relations=(RelationResult("P17", 3, 2, 6, 0.5, 0.25), RelationResult("P36", 1, 2, 2, 1.0, NAN)),
        undefined=("P36",), keys=(("P17", 0, 1), ("P36", 1, 0)), predictions=("France", "Paris"),
        correct=(True, False), prompt_index=2, restrict=True, casing="lower")
    pr2 = ParaRelConsistency(iv, iv, 0.5, (), (), (), (), ())
    over = ParaRelOverPrompts(
        prompts=(pr, pr2), accuracy_mean=0.45, accuracy_std=0.05, consistency_mean=NAN,
        consistency_std=0.1, accuracy=iv, consistency=iv_nan,
        relation_accuracy={"P17": 0.5, "P36": 1.0}, relation_consistency={"P17": 0.25, "P36": NAN},
        undefined=("P36",))
    st = SpreadTest(0.2, 0.1, 0.04, 12)
    setups = (SetupResult(0, 0, iv, (3, 1, 0, 0)), SetupResult(1, 2, iv_nan, (0, 0, 0, 4)))
    mmlu = MMLUSpread(setups=setups, accuracy=iv, spread=iv, spread_setups=iv_nan,
                      instruction_accuracy=(0.5, NAN), at_chance=False, letter_bias=0.6, n_questions=4,
                      subjects=("astronomy",), chance=0.25, spread_orderings=iv, spread_test=st,
                      question_ids=("q1", "q2", "q3", "q4"), correct=("1010", "0000"))
    mmlu_old = MMLUSpread(setups=setups[:1], accuracy=iv, spread=iv, spread_setups=iv,
                          instruction_accuracy=(0.5,), at_chance=True, letter_bias=0.75, n_questions=4,
                          subjects=())
    units = {"negational": {"ids": ["p", "q"], "same": "10", "expect_same": "00"},
             "test": {"ids": ["t1"], "correct": "1"}}
    bt = BecelTask("rte", iv, iv_nan, iv, iv, iv, method="finetune", n_train=40, n_excluded=2, units=units)
    bt_old = BecelTask("snli", iv, iv, iv, iv, iv)
    becel = BecelConsistency((bt, bt_old), 0.5, 0.5, NAN, 0.5, 0.5)
    attr = AttributeRates(
        model="m", normed=True, top=50, layers=(-1, 0, 1), rate=(iv, iv_nan, iv),
        per_relation={"P17": (0.1, NAN, 0.3)}, items=(("P17", "France"), ("P17", "Italy")),
        item_rates=((0.1, NAN, 0.3), (0.2, 0.2, 0.2)), n_queries=4, n_distinct_prompts=2,
        excluded_subjects=("Atlantis",), n_excluded_queries=1, n_short=0, prompt_index=None)
    ev = EventRates((1, 0, 2), 4)
    ev0 = EventRates((0, 0), 0)
    q = QueryEvents(("P17|0", "P17|0", "P36|1"), {"mhsa": ((0,), (), (1, 2)), "mlp": ((), (2,), ())},
                    {"correct": (True, False, True), "consistent": (False, False, True)})
    ext = ExtractionRates.from_queries("m", 3, True, q, prompt_index=1, n_boot=50, seed=3)
    ext_old = ExtractionRates("m", 2, False, {"all": {"mhsa": ev0, "mlp": EventRates((1, 1), 2)}})
    ct = CorrelationTable(models=("a", "b", "c", "d"), consistency=(0.1, 0.2, 0.3, NAN), split="all",
                          alpha=0.05, rows=(CorrelationRow("mhsa", 0, 0.9, 0.01, 3, 0.02),
                                            CorrelationRow("mlp", 1, NAN, NAN, 3)),
                          dropped=("d",), correction="holm")
    ct_empty = CorrelationTable(("a",), (0.5,), "consistent", 0.05, reason="fewer than 3 models")
    g1 = GapResult(iv, iv, iv_nan, 3, 4, 5, 1, "post_norm", 1, (0.5, NAN, 0.7), (0.1, 0.2),
                   nonpair_sets=((0, 1), (1, 2)))
    g = GapResult(iv, iv, iv, 3, 8, 5, 1, "post_norm", 2, (0.5, NAN, 0.7), (0.1, 0.2), (g1, g1))
    lg1 = LayerGap((iv, iv), (iv, iv_nan), (iv, iv), 2, 3, 4, 0, "consistent", True, 1,
                   ((0.1, 0.2), (NAN, NAN)), ((0.3, 0.4),), nonpair_sets=((0, 1),))
    lg = LayerGap((iv,), (iv,), (iv,), 2, 3, 4, 0)
    slg = SplitLayerGaps(lg1, lg, lg)
    rc1 = RelationCurves((iv, iv_nan), (iv, iv), ("P17", "P36"), ("P19",), (10, 12), (4, 5), (0, 1),
                         "m", True, "token_id", ((0.1, NAN), (0.2, 0.3)), ((0.4, 0.5), (0.6, 0.7)))
    rc = RelationCurves((iv,), (iv,), ("P17",), (), (1,), (1,), None, per_prompt=(rc1,), n_prompts=2)
    mc = ModelsCurves((0.0, 0.5, 1.0), (0.1, 0.2, NAN), (0.0, 0.1, 0.0), (0.3, 0.3, 0.3),
                      (0.0, 0.0, 0.0), (2, 2, 1), ("a", "b"), "relative", (0.0, 0.5))
    mc2 = ModelsCurves((0.0,), (0.1,), (0.0,), (0.3,), (0.0,), (2,), ("a", "b"), "layer", None)
    probe = LinearProbe([0.0, 1.0], [1.0, 2.0], [[0.5, -0.5], [0.25, 0.0]], [0.1, -0.1], 0.01, "rte")
    return {
        "Interval": iv, "Interval_nan": iv_nan, "PairedTest": PairedTest(iv, 0.03),
        "PairedTest_nan": PairedTest(iv, NAN), "SpreadTest": st, "SpreadTest_nan": SpreadTest(NAN, NAN, NAN, 0),
        "Correlation": Correlation(0.9, 0.01, 5), "Correlation_nan": Correlation(NAN, NAN, 3),
        "ParaRelConsistency": pr, "ParaRelConsistency_min": pr2, "ParaRelOverPrompts": over,
        "MMLUSpread": mmlu, "MMLUSpread_min": mmlu_old, "BecelTask": bt, "BecelTask_min": bt_old,
        "BecelConsistency": becel, "AttributeRates": attr, "EventRates": ev, "EventRates_empty": ev0,
        "QueryEvents": q, "ExtractionRates": ext, "ExtractionRates_wilson": ext_old,
        "CorrelationTable": ct, "CorrelationTable_reason": ct_empty, "GapResult": g, "GapResult_one": g1,
        "LayerGap": lg1, "SplitLayerGaps": slg, "RelationCurves": rc, "RelationCurves_one": rc1,
        "ModelsCurves": mc, "ModelsCurves_none": mc2, "LinearProbe": probe,
    }


# The payloads of the hand-written to_dict methods (NaN written as None: the one policy).
IV_NAN = {'estimate': None, 'low': None, 'high': None, 'n': 0, 'confidence': 0.9}
IV = {'estimate': 0.5, 'low': 0.25, 'high': 0.75, 'n': 8, 'confidence': 0.95}
EVENTS_EMPTY = {'counts': [0, 0], 'n': 0, 'interval': 'wilson (queries independent)', 'rates': [None, None],
    'low': [None, None], 'high': [None, None]}
EVENTS = {'counts': [1, 0, 2], 'n': 4, 'interval': 'wilson (queries independent)', 'rates': [0.25, 0.0, 0.5],
    'low': [0.04558726080970055, 0.0, 0.15003898915214953], 'high': [0.6993581574175981, 0.4898908364545973,
        0.8499610108478505]}
BECEL_TASK_MIN = {'task': 'snli', 'method': 'probe', 'n_train': None, 'n_excluded': None, 'units': None,
    'symmetric': IV, 'semantic': IV, 'negation': IV, 'negation_flip': IV, 'accuracy': IV}
BECEL_TASK = {'task': 'rte', 'method': 'finetune', 'n_train': 40, 'n_excluded': 2,
    'units': {'negational': {'ids': ['p', 'q'], 'same': '10', 'expect_same': '00'}, 'test': {'ids': ['t1'],
    'correct': '1'}}, 'symmetric': IV, 'semantic': IV_NAN, 'negation': IV, 'negation_flip': IV,
    'accuracy': IV}
PARAREL_MIN = {'accuracy': IV, 'consistency': IV, 'accuracy_micro': 0.5, 'relations': [], 'undefined': [],
    'keys': [], 'predictions': [], 'correct': [], 'prompt_index': None, 'restrict': None, 'casing': None,
    'texts': [], 'objects': []}  # texts / objects: added for the report's example facts (issue 15)
PARAREL = {'accuracy': IV, 'consistency': IV_NAN, 'accuracy_micro': 0.4, 'relations': [{'relation': 'P17',
    'n_patterns': 3, 'n_items': 2, 'n_queries': 6, 'accuracy': 0.5, 'consistency': 0.25}, {'relation': 'P36',
        'n_patterns': 1, 'n_items': 2, 'n_queries': 2, 'accuracy': 1.0,
    'consistency': None}], 'undefined': ['P36'], 'keys': [['P17', 0, 1], ['P36', 1, 0]],
    'predictions': ['France', 'Paris'], 'correct': [True, False], 'prompt_index': 2, 'restrict': True,
    'casing': 'lower', 'texts': [], 'objects': []}
CURVES_ONE = {'different': [IV, IV_NAN], 'same': [IV, IV], 'relations': ['P17', 'P36'], 'excluded': ['P19'],
    'n_pairs_different': [10, 12], 'n_pairs_same': [4, 5], 'relation_layers': [0, 1], 'model': 'm',
    'embeddings': True, 'last_token': 'token_id', 'per_relation_different': [[0.1, None], [0.2, 0.3]],
    'per_relation_same': [[0.4, 0.5], [0.6, 0.7]], 'n_prompts': 1, 'per_prompt': []}
GAP_ONE = {'cos_para': IV, 'cos_nonpara': IV, 'gap': IV_NAN, 'n_sets': 3, 'n_pairs': 4, 'n_nonpairs': 5,
    'n_excluded': 1, 'representation': 'post_norm', 'n_prompts': 1, 'set_cos': [0.5, None, 0.7],
    'nonpair_cos': [0.1, 0.2], 'per_prompt': [], 'nonpair_sets': [[0, 1], [1, 2]]}
LAYER_GAP_MIN = {'cos_para': [IV], 'cos_nonpara': [IV], 'gap': [IV], 'n_sets': 2, 'n_pairs': 3,
    'n_nonpairs': 4,
    'n_excluded': 0, 'split': 'all', 'embeddings': False, 'n_prompts': 1, 'set_cos': [], 'nonpair_cos': [],
    'per_prompt': [], 'nonpair_sets': None}
LAYER_GAP = {'cos_para': [IV, IV], 'cos_nonpara': [IV, IV_NAN], 'gap': [IV, IV], 'n_sets': 2, 'n_pairs': 3,
    'n_nonpairs': 4, 'n_excluded': 0, 'split': 'consistent', 'embeddings': True, 'n_prompts': 1,
    'set_cos': [[0.1, 0.2], [None, None]], 'nonpair_cos': [[0.3, 0.4]], 'per_prompt': [],
    'nonpair_sets': [[0, 1]]}
EXPECTED: dict[str, dict[str, Any]] = {
    'Interval': IV,
    'Interval_nan': IV_NAN,
    'PairedTest': {'diff': IV, 'p_value': 0.03},
    'PairedTest_nan': {'diff': IV, 'p_value': None},
    'SpreadTest': {'observed': 0.2, 'null_mean': 0.1, 'p_value': 0.04, 'n': 12},
    'SpreadTest_nan': {'observed': None, 'null_mean': None, 'p_value': None, 'n': 0},
    'Correlation': {'r': 0.9, 'p_value': 0.01, 'n': 5},
    'Correlation_nan': {'r': None, 'p_value': None, 'n': 3},
    'ParaRelConsistency': PARAREL,
    'ParaRelConsistency_min': PARAREL_MIN,
    'ParaRelOverPrompts': {'prompts': [PARAREL, PARAREL_MIN], 'accuracy_mean': 0.45, 'accuracy_std': 0.05,
        'consistency_mean': None, 'consistency_std': 0.1, 'accuracy': IV, 'consistency': IV_NAN,
        'relation_accuracy': {'P17': 0.5, 'P36': 1.0}, 'relation_consistency': {'P17': 0.25, 'P36': None},
        'undefined': ['P36']},
    'MMLUSpread': {'setups': [{'instruction': 0, 'ordering': 0, 'accuracy': IV, 'letter_counts': [3, 1, 0,
        0]}, {'instruction': 1, 'ordering': 2, 'accuracy': IV_NAN, 'letter_counts': [0, 0, 0, 4]}],
        'accuracy': IV, 'spread': IV, 'spread_setups': IV_NAN, 'instruction_accuracy': [0.5, None],
        'at_chance': False, 'letter_bias': 0.6, 'n_questions': 4, 'subjects': ['astronomy'], 'chance': 0.25,
        'spread_orderings': IV, 'spread_test': {'observed': 0.2, 'null_mean': 0.1, 'p_value': 0.04, 'n': 12},
        'question_ids': ['q1', 'q2', 'q3', 'q4'], 'correct': ['1010', '0000']},
    'MMLUSpread_min': {'setups': [{'instruction': 0, 'ordering': 0, 'accuracy': IV, 'letter_counts': [3, 1,
        0, 0]}], 'accuracy': IV, 'spread': IV, 'spread_setups': IV, 'instruction_accuracy': [0.5],
        'at_chance': True, 'letter_bias': 0.75, 'n_questions': 4, 'subjects': [], 'chance': 0.25,
        'spread_orderings': None, 'spread_test': None, 'question_ids': [], 'correct': []},
    'BecelTask': BECEL_TASK,
    'BecelTask_min': BECEL_TASK_MIN,
    'BecelConsistency': {'tasks': [BECEL_TASK, BECEL_TASK_MIN], 'accuracy': 0.5, 'symmetric': 0.5,
        'semantic': None, 'negation': 0.5, 'negation_flip': 0.5},
    'AttributeRates': {'model': 'm', 'normed': True, 'top': 50, 'layers': [-1, 0, 1], 'rate': [IV, IV_NAN,
        IV], 'per_relation': {'P17': [0.1, None, 0.3]}, 'items': [['P17', 'France'], ['P17', 'Italy']],
        'item_rates': [[0.1, None, 0.3], [0.2, 0.2, 0.2]], 'n_queries': 4, 'n_distinct_prompts': 2,
        'excluded_subjects': ['Atlantis'], 'n_excluded_queries': 1, 'n_short': 0, 'prompt_index': None},
    'EventRates': EVENTS,
    'EventRates_empty': EVENTS_EMPTY,
    'QueryEvents': {'unit': '(relation, fact) items', 'clusters': ['P17|0', 'P17|0', 'P36|1'], 'mhsa': [[0],
        [], [1, 2]], 'mlp': [[], [2], []], 'masks': {'correct': '101', 'consistent': '001'}},
    'ExtractionRates': {'model': 'm', 'n_layers': 3, 'normed': True, 'prompt_index': 1,
        'interval': 'cluster bootstrap over (relation, fact) items',
        'splits': {'all': {'mhsa': {'counts': [1, 1, 1], 'n': 3,
        'interval': 'cluster bootstrap over (relation, fact) items', 'rates': [0.3333333333333333,
        0.3333333333333333, 0.3333333333333333], 'low': [0.0, 0.0, 0.0], 'high': [0.5, 1.0, 1.0]},
        'mlp': {'counts': [0, 0, 1], 'n': 3, 'interval': 'cluster bootstrap over (relation, fact) items',
        'rates': [0.0, 0.0, 0.3333333333333333], 'low': [0.0, 0.0, 0.0], 'high': [0.6576197724933469,
        0.6576197724933469, 0.5]}}, 'correct': {'mhsa': {'counts': [1, 1, 1], 'n': 2,
        'interval': 'cluster bootstrap over (relation, fact) items', 'rates': [0.5, 0.5, 0.5], 'low': [0.0,
        0.0, 0.0], 'high': [1.0, 1.0, 1.0]}, 'mlp': {'counts': [0, 0, 0], 'n': 2,
        'interval': 'cluster bootstrap over (relation, fact) items', 'rates': [0.0, 0.0, 0.0], 'low': [0.0,
        0.0, 0.0], 'high': [0.6576197724933469, 0.6576197724933469, 0.6576197724933469]}},
        'consistent': {'mhsa': {'counts': [0, 1, 1], 'n': 1,
        'interval': 'cluster bootstrap over (relation, fact) items', 'rates': [0.0, 1.0, 1.0], 'low': [0.0,
        0.20654931437723745, 0.20654931437723745], 'high': [0.7934506856227626, 1.0, 1.0]},
        'mlp': {'counts': [0, 0, 0], 'n': 1, 'interval': 'cluster bootstrap over (relation, fact) items',
        'rates': [0.0, 0.0, 0.0], 'low': [0.0, 0.0, 0.0], 'high': [0.7934506856227626, 0.7934506856227626,
        0.7934506856227626]}}}, 'n_boot': 50, 'seed': 3, 'queries': {'unit': '(relation, fact) items',
        'clusters': ['P17|0', 'P17|0', 'P36|1'], 'mhsa': [[0], [], [1, 2]], 'mlp': [[], [2], []],
        'masks': {'correct': '101', 'consistent': '001'}}},
    'ExtractionRates_wilson': {'model': 'm', 'n_layers': 2, 'normed': False, 'prompt_index': None,
        'interval': 'wilson (queries independent)', 'splits': {'all': {'mhsa': EVENTS_EMPTY,
        'mlp': {'counts': [1, 1], 'n': 2, 'interval': 'wilson (queries independent)', 'rates': [0.5, 0.5],
        'low': [0.09453120573423074, 0.09453120573423074], 'high': [0.9054687942657693,
        0.9054687942657693]}}}},
    'CorrelationTable': {'models': ['a', 'b', 'c', 'd'], 'consistency': [0.1, 0.2, 0.3, None],
        'split': 'all', 'alpha': 0.05, 'reason': None, 'dropped': ['d'], 'correction': 'holm',
        'rows': [{'block': 'mhsa', 'layer': 0, 'r': 0.9, 'p_value': 0.01, 'q_value': 0.02, 'n': 3},
        {'block': 'mlp', 'layer': 1, 'r': None, 'p_value': None, 'q_value': None, 'n': 3}]},
    'CorrelationTable_reason': {'models': ['a'], 'consistency': [0.5], 'split': 'consistent', 'alpha': 0.05,
        'reason': 'fewer than 3 models', 'dropped': [], 'correction': 'bh', 'rows': []},
    'GapResult': {'cos_para': IV, 'cos_nonpara': IV, 'gap': IV, 'n_sets': 3, 'n_pairs': 8, 'n_nonpairs': 5,
        'n_excluded': 1, 'representation': 'post_norm', 'n_prompts': 2, 'set_cos': [0.5, None, 0.7],
        'nonpair_cos': [0.1, 0.2], 'per_prompt': [GAP_ONE, GAP_ONE], 'nonpair_sets': None},
    'GapResult_one': GAP_ONE,
    'LayerGap': LAYER_GAP,
    'SplitLayerGaps': {'all': LAYER_GAP, 'consistent': LAYER_GAP_MIN, 'inconsistent': LAYER_GAP_MIN},
    'RelationCurves': {'different': [IV], 'same': [IV], 'relations': ['P17'], 'excluded': [],
        'n_pairs_different': [1], 'n_pairs_same': [1], 'relation_layers': None, 'model': '',
        'embeddings': False, 'last_token': 'token_id', 'per_relation_different': [], 'per_relation_same': [],
        'n_prompts': 2, 'per_prompt': [CURVES_ONE]},
    'RelationCurves_one': CURVES_ONE,
    'ModelsCurves': {'x': [0.0, 0.5, 1.0], 'different_mean': [0.1, 0.2, None], 'different_std': [0.0, 0.1,
        0.0], 'same_mean': [0.3, 0.3, 0.3], 'same_std': [0.0, 0.0, 0.0], 'n_models': [2, 2, 1],
        'models': ['a', 'b'], 'align': 'relative', 'relation_layers': [0.0, 0.5]},
    'ModelsCurves_none': {'x': [0.0], 'different_mean': [0.1], 'different_std': [0.0], 'same_mean': [0.3],
        'same_std': [0.0], 'n_models': [2], 'models': ['a', 'b'], 'align': 'layer', 'relation_layers': None},
    'LinearProbe': {'mean': [0.0, 1.0], 'std': [1.0, 2.0], 'weight': [[0.5, -0.5], [0.25, 0.0]],
        'bias': [0.1, -0.1], 'l2': 0.01, 'task': 'rte'},
}


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types (NaN equals NaN; floats to 1e-12, for scipy's last digits),
    through dataclasses and containers."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def through_json(x: Serializable) -> Any:
    """``x`` written as strict JSON text and read back."""
    return type(x).from_dict(json.loads(json.dumps(x.to_dict(), allow_nan=False)))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_payloads_are_the_hand_written_ones(name: str) -> None:
    assert same(examples()[name].to_dict(), EXPECTED[name])


@pytest.mark.parametrize("name", list(EXPECTED))
def test_round_trip_through_strict_json(name: str) -> None:
    x = examples()[name]
    assert same(through_json(x), x)
    assert same(type(x).from_dict(x.to_dict()).to_dict(), x.to_dict())


def test_nan_policy() -> None:
    iv = Interval(NAN, math.inf, 0.5, 0)
    assert iv.to_dict() == {"estimate": None, "low": None, "high": 0.5, "n": 0, "confidence": 0.95}
    back = Interval.from_dict(iv.to_dict())  # null -> NaN in a float field (infinities are not kept)
    assert math.isnan(back.estimate) and math.isnan(back.low) and back.high == 0.5
    old = Interval.from_dict({"estimate": NAN, "low": 0.0, "high": 1.0, "n": 3})  # a NaN token, older payloads
    assert math.isnan(old.estimate) and old.confidence == 0.95
    # None stays None where the hint allows it
    assert RelationCurves.from_dict(examples()["RelationCurves"].to_dict()).relation_layers is None
    assert BecelTask.from_dict(EXPECTED["BecelTask_min"]).n_train is None


def test_dump_numpy_and_nested() -> None:
    import numpy as np

    assert dump({"a": np.array([1.5, np.nan]), "b": (np.int64(2), np.float32(0.25), np.bool_(True))}) == \
        {"a": [1.5, None], "b": [2, 0.25, True]}
    assert load(tuple[tuple[Block, int], ...], [["mlp", 1]]) == (("mlp", 1),)


def test_clear_errors() -> None:
    d = examples()["Interval"].to_dict()
    with pytest.raises(ValueError, match=r"Interval.from_dict: unknown key 'estimat'"):
        Interval.from_dict({**d, "estimat": 1.0})
    with pytest.raises(ValueError, match=r"Interval.from_dict: missing key 'low'"):
        Interval.from_dict({k: v for k, v in d.items() if k != "low"})
    with pytest.raises(ValueError, match=r"CorrelationRow.from_dict: field 'block': 'attn' is not one of"):
        CorrelationRow.from_dict({"block": "attn", "layer": 0, "r": 0.1, "p_value": 0.5, "n": 3})
    with pytest.raises(ValueError, match=r"SpreadTest.from_dict: field 'n': expected an int"):
        SpreadTest.from_dict({"observed": 0.1, "null_mean": 0.1, "p_value": 1.0, "n": "3"})
    with pytest.raises(ValueError, match=r"LayerGap.from_dict: field 'split'"):
        LayerGap.from_dict({**EXPECTED["LayerGap"], "split": "paraphrase"})


def test_missing_keys_take_the_defaults() -> None:
    """Payloads written before a field existed load with the field's default."""
    d = {k: v for k, v in EXPECTED["MMLUSpread"].items()
         if k not in ("chance", "spread_orderings", "spread_test", "question_ids", "correct")}
    m = MMLUSpread.from_dict(d)
    assert (m.chance, m.spread_orderings, m.spread_test, m.question_ids, m.correct) == (0.25, None, None, (), ())
    one = EXPECTED["GapResult_one"]
    g = GapResult.from_dict({k: v for k, v in one.items() if k not in ("set_cos", "per_prompt")})
    assert (g.set_cos, g.per_prompt, g.nonpair_sets) == ((), (), ((0, 1), (1, 2)))


def _result_classes() -> list[type]:
    found = pkgutil.iter_modules(interp.analyses.__path__, "interp.analyses.")
    mods = [importlib.import_module(m.name) for m in found]
    mods.append(importlib.import_module("interp.stats"))
    return [c for m in mods for _, c in inspect.getmembers(m, inspect.isclass)
            if c.__module__ == m.__name__ and dataclasses.is_dataclass(c) and hasattr(c, "to_dict")]


def test_every_result_class_is_serializable() -> None:
    classes = _result_classes()
    assert len(classes) >= 20 and all(issubclass(c, Serializable) for c in classes)
    # the overrides (a payload shape of their own) are exactly these
    own = {c.__name__ for c in classes if "to_dict" in vars(c)}
    # (MMLULetterScores, Knockouts: their arrays go beside the payload, ``to_stored``)
    assert own == {"EventRates", "QueryEvents", "ExtractionRates", "MMLULetterScores", "Knockouts"}


# ----------------------------------------------------------------------------------------------
# hypothesis: random instances of every generic class round-trip


def strategy(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the type hint ``tp`` (small; NaN but no infinities; self-nesting one level)."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is float:
        return st.floats(allow_infinity=False, width=64)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-5, 10**6)
    if tp is str:
        return st.text(max_size=4)
    if tp is Any:
        leaf = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3)
        return st.recursive(leaf, lambda s: st.lists(s, max_size=2) | st.dictionaries(st.text(max_size=2), s, max_size=2),
                            max_leaves=4)
    if origin is Literal:
        return st.sampled_from(args)
    if origin is Union or origin is types.UnionType:
        return st.one_of([st.none() if a is type(None) else strategy(a, depth) for a in args])
    if dataclasses.is_dataclass(tp):
        if depth >= 2:
            return st.nothing()
        hints = get_type_hints(tp)
        return st.builds(tp, **{f.name: strategy(hints[f.name], depth + 1) for f in dataclasses.fields(tp)})
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy(args[0], depth), max_size=0 if depth >= 2 else 3).map(tuple)
    if origin is tuple:
        return st.tuples(*(strategy(a, depth) for a in args))
    if origin in (list, Sequence):
        return st.lists(strategy(args[0], depth), max_size=3)
    if origin in (dict, Mapping):
        return st.dictionaries(strategy(args[0], depth), strategy(args[1], depth), max_size=3)
    raise TypeError(f"no strategy for {tp}")


GENERIC = [Interval, PairedTest, SpreadTest, Correlation, RelationResult, ParaRelConsistency, ParaRelOverPrompts,
           SetupResult, MMLUSpread, BecelTask, BecelConsistency, AttributeRates, CorrelationRow, CorrelationTable,
           GapResult, LayerGap, SplitLayerGaps, RelationCurves, ModelsCurves, LinearProbe]


@pytest.mark.parametrize("cls", GENERIC, ids=lambda c: c.__name__)
def test_hypothesis_round_trip(cls: type) -> None:
    @given(strategy(cls))
    def check(x: Any) -> None:
        assert same(through_json(x), x)
        assert same(cls.from_dict(x.to_dict()), x)
    check()


@st.composite
def query_events(draw: st.DrawFn) -> QueryEvents:
    n = draw(st.integers(1, 6))
    events = st.sets(st.integers(0, 2), max_size=3).map(lambda s: tuple(sorted(s)))
    layers = {b: tuple(draw(events) for _ in range(n)) for b in BLOCKS}
    masks = {"correct": tuple(draw(st.lists(st.booleans(), min_size=n, max_size=n)))}
    clusters = tuple(draw(st.lists(st.sampled_from(["P1|0", "P1|1", "P2|0"]), min_size=n, max_size=n)))
    return QueryEvents(clusters, layers, masks)


@given(query_events(), st.integers(0, 3) | st.none())
def test_hypothesis_extraction_round_trip(q: QueryEvents, prompt: int | None) -> None:
    x = ExtractionRates.from_queries("m", 3, True, q, prompt_index=prompt, n_boot=20, seed=1)
    assert same(through_json(x), x)
    assert same(QueryEvents.from_dict(q.to_dict()), q)
