"""interp.finetune: the logistic-regression probe (known answers), BECEL inputs, the
probe and fine-tuning on a tiny model, and the BECEL runner on the demo data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.analyses.consistency import BecelTask
from interp.data import becel, demo_path
from interp.data.becel import Example
from interp.finetune import (
    BecelSplit,
    LinearProbe,
    becel_text,
    features,
    finetune_classifier,
    fit_logistic,
    fit_probe,
    probe_predict,
    run_becel,
    select_l2,
    split_train_eval,
)


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


# --------------------------------------------------------------------------------------------
# no evaluation row is trained on (split_train_eval)

SHARED_BECEL = Path("/work/shared/data/becel")


def write_tsv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """A pandas-style BECEL TSV (header, tab-separated, RFC-4180 quoting)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        w.writerows([[i, *r] for i, r in enumerate(rows)])


def rte_dir(tmp_path: Path) -> Path:
    """RTE-like: 10 training rows T0..T9; symmetric = T1, T4, T7 swapped (T4 with extra
    whitespace); semantic's original = T2; the validation (test) split holds T9 and V0, V1;
    negational's original = V0 (not a training row)."""
    t = [(f"Premise {i}.", f"Hypothesis {i}.", i % 2) for i in range(10)]
    v = [(f"Valid premise {i}.", f"Valid hypothesis {i}.", i % 2) for i in range(2)]
    h = ["index", "label", "sentence1", "sentence2"]
    write_tsv(tmp_path / "rte" / "train.tsv", h, [[y, a, b] for a, b, y in t])
    write_tsv(tmp_path / "rte" / "validation.tsv", h, [[y, a, b] for a, b, y in (t[9], *v)])
    write_tsv(tmp_path / "rte" / "symmetric.tsv", h,
              [[t[1][2], t[1][1], t[1][0]], [t[4][2], " Hypothesis  4. ", "Premise 4."],
               [t[7][2], t[7][1], t[7][0]]])
    write_tsv(tmp_path / "rte" / "semantic.tsv", ["index", "sentence1", "sentence2", "label",
                                                  "sentence2_paraphrase"],
              [[t[2][0], t[2][1], t[2][2], "Hypothesis two, reworded."]])
    write_tsv(tmp_path / "rte" / "negational.tsv", ["index", "sentence1", "sentence2", "label",
                                                    "sentence2_neg", "neg_label", "tag"],
              [[v[0][0], v[0][1], 0, "Not valid hypothesis 0.", 1, "not"]])
    return tmp_path


WIC_HEADER = ["index", "word", "sentence1", "sentence2", "start1", "start2", "end1", "end2", "label"]


def wic_dir(tmp_path: Path) -> Path:
    """WiC-like: symmetric = ALL 10 training rows swapped; validation V0, V1 (semantic and
    negational originals) and V2, which has the sentences of training row 0 but another word."""
    t = [(f"word{i}", f"First {i} sentence.", f"Second {i} sentence.", i % 2) for i in range(10)]
    v = [(f"vword{i}", f"Valid first {i}.", f"Valid second {i}.", i % 2) for i in range(2)]
    v.append(("another", t[0][1], t[0][2], 1))
    row = lambda w, a, b, y: [w, a, b, 0, 0, 1, 1, y]  # noqa: E731
    write_tsv(tmp_path / "wic" / "train.tsv", WIC_HEADER, [row(*r) for r in t])
    write_tsv(tmp_path / "wic" / "validation.tsv", WIC_HEADER, [row(*r) for r in v])
    write_tsv(tmp_path / "wic" / "symmetric.tsv", WIC_HEADER, [row(w, b, a, y) for w, a, b, y in t])
    write_tsv(tmp_path / "wic" / "semantic.tsv", WIC_HEADER + ["sentence2_paraphrase", "start_para", "end_para"],
              [row(*v[0]) + ["Valid second 0, reworded.", 0, 1]])
    write_tsv(tmp_path / "wic" / "negational.tsv",
              WIC_HEADER + ["sentence2_neg", "neg_label", "tag", "start_neg", "end_neg"],
              [row(*v[1]) + ["Not valid second 1.", 1, "not", 0, 1]])
    return tmp_path


def norm_triple(e: Example, swap: bool = False) -> tuple[str, str, str]:
    """(a, b, word) with whitespace collapsed; ``swap``: (b, a, word). Independent of pair_key."""
    a, b = " ".join(e.text_a.split()), " ".join(e.text_b.split())
    return (b, a, e.word or "") if swap else (a, b, e.word or "")


def assert_disjoint(split: BecelSplit) -> None:
    evaluation = {norm_triple(e) for e in split.evaluation}
    assert evaluation >= {norm_triple(e) for e in split.test}
    for e in split.train:
        assert norm_triple(e) not in evaluation and norm_triple(e, swap=True) not in evaluation, e


def test_split_excludes_exactly_the_evaluation_rows(tmp_path: Path):
    root = rte_dir(tmp_path)
    s = split_train_eval("rte", root, symmetric_max_share=0.5)  # cap floor(0.5 * 10) = 5 >= 3
    assert s.train_split == "train" and {k: len(v) for k, v in s.pairs.items()} == \
        {"symmetric": 3, "semantic": 1, "negational": 1}
    # T1, T4, T7 (symmetric), T2 (semantic), T9 (a test example) are excluded; V0 is no training row
    assert s.n_excluded == 5
    assert [e.text_a for e in s.train] == [f"Premise {i}." for i in (0, 3, 5, 6, 8)]
    assert_disjoint(s)
    # n_train is sampled from what is left, so it is honoured when possible
    small = split_train_eval("rte", root, symmetric_max_share=0.5, n_train=3, seed=1)
    assert len(small.train) == 3 and small.n_excluded == 5 and set(small.train) <= set(s.train)
    assert len(split_train_eval("rte", root, symmetric_max_share=0.5, n_train=8).train) == 5


def test_split_caps_the_symmetric_pairs_at_a_share_of_the_training_split(tmp_path: Path):
    root = rte_dir(tmp_path)
    s = split_train_eval("rte", root)  # default 0.2: floor(0.2 * 10) = 2 of the 3 symmetric pairs
    sym = s.pairs["symmetric"]
    assert len(sym) == 2
    evaluated = {int(p.original.text_a.split()[1].rstrip(".")) for p in sym}
    assert evaluated < {1, 4, 7}
    (kept,) = {1, 4, 7} - evaluated  # the symmetric pair not evaluated trains
    assert s.n_excluded == 4  # 2 symmetric + T2 + T9
    assert sorted(int(e.text_a.split()[1].rstrip(".")) for e in s.train) == sorted({0, 3, 5, 6, 8, kept})
    assert_disjoint(s)
    assert len(split_train_eval("rte", root, n_pairs=1).pairs["symmetric"]) == 1


def test_split_wic_like_symmetric_covers_all_of_train(tmp_path: Path):
    root = wic_dir(tmp_path)
    s = split_train_eval("wic", root)  # floor(0.2 * 10) = 2 symmetric pairs evaluated, 8 train
    assert len(s.pairs["symmetric"]) == 2 and s.n_excluded == 2 and len(s.train) == 8
    assert len(s.test) == 3  # V2 shares training row 0's sentences but not its word: row 0 is kept
    assert_disjoint(s)
    s = split_train_eval("wic", root, symmetric_max_share=0.35)  # floor(3.5) = 3
    assert len(s.pairs["symmetric"]) == 3 and s.n_excluded == 3 and len(s.train) == 7
    s = split_train_eval("wic", root, n_pairs=1, n_train=4)
    assert len(s.pairs["symmetric"]) == 1 and s.n_excluded == 1 and len(s.train) == 4
    assert_disjoint(s)
    s = split_train_eval("wic", root, symmetric_max_share=0.05)  # floor(0.5) = 0: no symmetric pairs
    assert "symmetric" not in s.pairs and s.n_excluded == 0 and len(s.train) == 10


def test_split_bad_input(tmp_path: Path):
    root = wic_dir(tmp_path)
    for share in (0, 1, 1.5, -0.1, True, "0.2"):
        with pytest.raises(ValueError, match="symmetric_max_share"):
            split_train_eval("wic", root, symmetric_max_share=share)
    for name in ("n_train", "n_test", "n_pairs"):
        with pytest.raises(ValueError, match=name):
            split_train_eval("wic", root, **{name: 0})
    with pytest.raises(ValueError, match="unknown BECEL task"):
        split_train_eval("boolq", root)
    # every training row is also a test example: nothing is left to train on
    (root / "wic" / "validation.tsv").write_text((root / "wic" / "train.tsv").read_text())
    with pytest.raises(ValueError, match=r"train\.tsv: every training row is an evaluation row"):
        split_train_eval("wic", root)


@pytest.mark.skipif(not (SHARED_BECEL / "wic" / "train.tsv").is_file(), reason="no shared BECEL data")
def test_split_on_the_real_wic_files():
    """WiC's symmetric.tsv is all 5,428 training pairs swapped: floor(0.2 * 5428) = 1085 of them
    are evaluated; 1086 training rows are excluded (one of those pairs occurs twice in train.tsv)
    and the other 4342 train."""
    s = split_train_eval("wic", SHARED_BECEL)
    assert s.train_split == "train" and len(s.pairs["symmetric"]) == 1085
    assert (len(s.pairs["semantic"]), len(s.pairs["negational"]), len(s.test)) == (140, 536, 638)
    assert s.n_excluded == 1086 and len(s.train) == 5428 - 1086
    assert_disjoint(s)
    s2 = split_train_eval("wic", SHARED_BECEL, n_train=2000)
    assert len(s2.train) == 2000 and s2.n_excluded == 1086 and s2.pairs == s.pairs


def test_run_becel_records_the_training_counts(tiny_llama, tmp_path: Path):
    from interp.figures import table6_rows

    root = rte_dir(tmp_path)
    r = run_becel(tiny_llama, "rte", root, symmetric_max_share=0.5, n_boot=50)
    assert (r.n_train, r.n_excluded) == (5, 5) and r.symmetric.n == 3 and r.accuracy.n == 3
    assert BecelTask.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert table6_rows({"m": [r]})[1][0][-1] == "5 (5 excl.)"
    old = r.to_dict()
    del old["n_train"], old["n_excluded"]  # a unit stored before the counts were recorded
    assert (BecelTask.from_dict(old).n_train, BecelTask.from_dict(old).n_excluded) == (None, None)
    assert table6_rows({"m": [old]})[1][0][-1] == "n/a"
