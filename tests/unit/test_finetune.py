"""interp.analyses.finetune: the logistic-regression probe (known answers), BECEL inputs, the
probe and fine-tuning on a tiny model, and the BECEL runner on the demo data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interp.analyses.consistency import BecelTask
from interp.analyses.finetune import (
    LinearProbe,
    becel_text,
    features,
    finetune_classifier,
    fit_logistic,
    fit_probe,
    probe_predict,
    run_becel,
    select_l2,
)
from interp.data import becel, demo_path
from interp.data.becel import Example




def test_becel_text_formats():
    e = Example("A dog runs.", "An animal moves.", 0)
    assert becel_text("rte", e) == ("Premise: A dog runs.\nHypothesis: An animal moves.\n"
                                    "Does the premise entail the hypothesis?")
    assert becel_text("mrpc", e).startswith("Sentence 1: A dog runs.\nSentence 2: An animal moves.")
    w = Example("I'll toss you for it.", "Steve tossed John the ball.", 1, "toss")
    assert '"toss"' in becel_text("wic", w)
    with pytest.raises(ValueError, match="target word"):
        becel_text("wic", e)
    with pytest.raises(ValueError, match="unknown BECEL task"):
        becel_text("boolq", e)


def objective_gradient(p: LinearProbe, x: np.ndarray, y: list[int]) -> float:
    """Max |gradient| of mean CE + l2/2 |W|^2 at the fitted parameters (0 at the optimum)."""
    z = (torch.tensor(x) - torch.tensor(p.mean)) / torch.tensor(p.std)
    w = torch.tensor(p.weight, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(p.bias, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z @ w + b, torch.tensor(y)) + 0.5 * p.l2 * (w * w).sum()
    loss.backward()
    return float(max(w.grad.abs().max(), b.grad.abs().max()))


def test_logistic_known_answer_symmetric_1d():
    # x = -1, +1 with labels 0, 1 (standardised: the same). By symmetry b = 0 and w1 = -w0 = v,
    # and the optimum of log(1 + exp(-2v)) + l2 v^2 satisfies 2 / (1 + exp(2v)) = 2 l2 v.
    p = fit_logistic([[-1.0], [1.0]], [0, 1], l2=0.5)
    v = p.weight[0][1]
    assert p.weight[0][0] == pytest.approx(-v, abs=1e-8)
    assert sum(p.bias) == pytest.approx(0.0, abs=1e-8) and p.bias[0] == pytest.approx(p.bias[1], abs=1e-8)
    assert 1 / (1 + np.exp(2 * v)) == pytest.approx(0.5 * v, abs=1e-7)
    assert p.predict_proba([[1.0]])[0, 1] == pytest.approx(1 / (1 + np.exp(-2 * v)))


def test_logistic_multiclass_optimum_and_determinism():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)) * [1, 10, 0.1, 1, 1] + 3
    y = (x[:, 0] + x[:, 1] / 10 > 3).astype(int) + (x[:, 3] > 3.5).astype(int)
    a = fit_logistic(x, y.tolist(), l2=1e-2)
    b = fit_logistic(x, y.tolist(), l2=1e-2)
    assert a == b
    assert a.n_classes == 3
    assert objective_gradient(a, x, y.tolist()) < 1e-5
    assert np.mean(np.array(a.predict(x)) == y) > 0.8  # y is not linearly separable
    assert LinearProbe.from_dict(json.loads(json.dumps(a.to_dict()))) == a


def test_logistic_constant_feature_and_bad_input():
    p = fit_logistic([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0]], [0, 0, 1, 1], l2=1e-3)
    assert p.std[1] == 1.0 and p.predict([[0.1, 1.0], [2.9, 1.0]]) == [0, 1]
    with pytest.raises(ValueError, match="labels"):
        fit_logistic([[0.0], [1.0]], [0])
    with pytest.raises(ValueError, match="NaN"):
        fit_logistic([[np.nan], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="labels"):
        fit_logistic([[0.0], [1.0]], [0, 3], n_classes=2)
    with pytest.raises(ValueError, match="features"):
        p.predict([[1.0]])


def test_select_l2_prefers_stronger_regularisation_on_ties():
    x = [[float(i)] for i in range(20)]
    y = [int(i >= 10) for i in range(20)]
    assert select_l2(x, y, grid=(1e-3, 1e-1), seed=0) == 1e-1  # both perfectly accurate


def test_features_dedupe_texts(tiny_llama):
    e = Example("A dog runs.", "An animal moves.", 0)
    f = features(tiny_llama, "snli", [e, e, Example("A cat.", "An animal.", 1)])
    assert f.shape == (3, tiny_llama.d_model)
    torch.testing.assert_close(f[0], f[1])


def test_probe_on_a_tiny_model(tiny_gemma):
    train = becel.load_split("snli", "train", demo_path("becel"))
    probe = fit_probe(tiny_gemma, "snli", train)
    assert probe.task == "snli" and probe.n_classes == 3
    preds = probe_predict(tiny_gemma, probe, train)
    assert len(preds) == len(train) and set(preds) <= {0, 1, 2}
    # 30 examples in 32 dimensions: a (weakly regularised) probe separates the training set
    sharp = fit_probe(tiny_gemma, "snli", train, l2=1e-4)
    assert np.mean(np.array(probe_predict(tiny_gemma, sharp, train)) == [e.label for e in train]) > 0.9


def test_finetune_leaves_the_model_untouched(tiny_llama):
    train = becel.load_split("mrpc", "train", demo_path("becel"))[:12]
    val = becel.load_split("mrpc", "validation", demo_path("becel"))[:6]
    before = {k: v.clone() for k, v in tiny_llama.hf_model.state_dict().items()}
    ft = finetune_classifier(tiny_llama, "mrpc", train, val, lrs=(1e-3, 1e-4), batch_size=4,
                             epochs=2, patience=1)
    assert ft.lr in (1e-3, 1e-4) and 1 <= ft.epochs_run <= 2 and 0 <= ft.val_accuracy <= 1
    assert set(ft.predict(val)) <= {0, 1} and len(ft.predict(val)) == len(val)
    after = tiny_llama.hf_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_run_becel_on_demo_data(tiny_llama):
    r = run_becel(tiny_llama, "snli", demo_path("becel"), n_pairs=6)
    assert isinstance(r, BecelTask) and r.task == "snli"
    assert r.semantic.n == 6 and r.negation.n == 6 and r.symmetric.n == 6
    assert r.accuracy.n == len(becel.load_split("snli", "test", demo_path("becel")))
    for iv in (r.symmetric, r.semantic, r.negation, r.negation_flip, r.accuracy):
        assert 0.0 <= iv.estimate <= 1.0
    assert BecelTask.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    with pytest.raises(ValueError, match="method"):
        run_becel(tiny_llama, "snli", demo_path("becel"), method="svm")
    with pytest.raises(ValueError, match="unknown BECEL task"):
        run_becel(tiny_llama, "boolq", demo_path("becel"))


def test_finetuning_learns_a_separable_task():
    """Fine-tuning (the paper's BECEL classifier) LEARNS: on a toy task whose label is one word of
    the first sentence, a tiny random model's held-out accuracy rises from chance to >= 0.9."""
    from interp.testing import tiny_model

    model = tiny_model("llama", chat=False, seed=11)
    fillers = ["It is widely known.", "Everyone knows that.", "The river is long.",
               "People speak Japanese.", "Water is wet.", "She was born in London."]

    def examples(n: int, offset: int) -> list[Example]:
        out = []
        for i in range(n):
            city, label = (("Paris", 1) if (i + offset) % 2 else ("Rome", 0))
            out.append(Example(f"The trip went to {city} again.", fillers[(i + offset) % len(fillers)],
                               label))
        return out

    train, val, test = examples(48, 0), examples(12, 100), examples(24, 200)
    ft = finetune_classifier(model, "mrpc", train, val, lrs=(3e-3,), batch_size=8, epochs=8,
                             patience=3, seed=0)
    acc = float(np.mean([p == e.label for p, e in zip(ft.predict(test), test)]))
    assert acc >= 0.9, f"held-out accuracy {acc:.2f} after fine-tuning (chance 0.5)"


def test_run_becel_records_its_method(tiny_llama):
    r = run_becel(tiny_llama, "snli", demo_path("becel"), n_pairs=4, n_train=20)
    assert r.method == "probe" and r.to_dict()["method"] == "probe"
    d = r.to_dict()
    del d["method"]  # a unit stored before methods were recorded
    assert BecelTask.from_dict(d).method == "probe"
