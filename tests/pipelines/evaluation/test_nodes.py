"""Evaluation nodes on hand-made inputs with known answers."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from madewithml.evaluation.metrics import weighted_scores
from madewithml.pipelines.evaluation.nodes import (
    build_report,
    check_behaviour,
    compare_with_champion,
    decide,
    describe_evaluated_model,
    fit_baseline,
    plot_confusion_matrix,
    plot_per_class_f1,
    plot_threshold_curve,
    predict_baseline,
    predict_holdout,
    promote,
    report_metrics,
    score_baseline,
    score_champion,
    score_model,
)

CLASS_TO_INDEX = {"computer-vision": 0, "mlops": 1, "natural-language-processing": 2, "other": 3}
BASELINE = {
    "classifier": "linear_svc",
    "analyzer": "word",
    "ngram_range": [1, 2],
    "min_df": 1,
    "C": 1.0,
    "seed": 0,
    "remove_stopwords": True,
}


@pytest.fixture
def holdout():
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "title": ["BERT for QA", "YOLO", "Feature store", "Graph nets for molecules"],
            "description": [
                "transformer text model",
                "detection",
                "mlops",
                "graph learning on molecules with message passing networks",
            ],
            "tag": ["natural-language-processing", "computer-vision", "mlops", "other"],
        }
    )


@pytest.fixture
def predictions(holdout):
    # served: one mistake (the mlops row answered other); the most likely tag gets it right
    served = ["natural-language-processing", "computer-vision", "other", "other"]
    return holdout[["id", "tag"]].assign(prediction=served, most_likely=holdout["tag"])


@pytest.fixture
def model_scores(holdout, predictions):
    return score_model(holdout, predictions, CLASS_TO_INDEX, "other")


def _baseline(holdout, answers):
    return score_baseline(
        holdout, holdout[["id", "tag"]].assign(prediction=answers), CLASS_TO_INDEX
    )


def test_the_model_is_scored_as_served_and_by_its_most_likely_tag(model_scores):
    served, most_likely = model_scores["served"], model_scores["most_likely"]
    assert served["overall"]["f1"] == pytest.approx((1 + 1 + 0 + 2 / 3) / 4)
    assert served["per_class"]["mlops"] == {"precision": 0, "recall": 0, "f1": 0, "support": 1}
    assert served["per_class"]["other"]["precision"] == 0.5
    assert served["confusion_matrix"]["classes"] == list(CLASS_TO_INDEX)
    assert served["confusion_matrix"]["matrix"][1] == [0, 0, 0, 1]  # true mlops → other
    assert most_likely["overall"]["f1"] == 1.0
    assert model_scores["answered_other"] == {"served": 0.5, "most_likely": 0.25, "true": 0.25}


def test_the_slices_score_each_slice_on_its_rows(holdout, model_scores):
    slices = model_scores["served"]["slices"]
    assert slices["nlp_llm"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "num_samples": 1}
    # short texts (< 8 words): rows 1 (6 words), 2 (2) and 3 (3); row 3 is the served mistake
    assert slices["short_text"]["num_samples"] == 3
    assert slices["short_text"]["f1"] == pytest.approx((1 + 1 + 0) / 3)
    assert model_scores["most_likely"]["slices"]["short_text"]["f1"] == 1.0


def test_the_model_is_scored_by_position_whatever_the_holdout_index(holdout, predictions):
    shuffled_index = holdout.set_index(pd.Index([40, 30, 20, 10]))
    scores = score_model(shuffled_index, predictions, CLASS_TO_INDEX, "other")
    assert scores["served"]["confusion_matrix"]["matrix"][1] == [0, 0, 0, 1]


def test_the_baseline_is_scored_with_an_empty_slice(holdout):
    rows = holdout.assign(tag="other")  # no NLP rows: nlp_llm is empty
    scores = _baseline(rows, ["other"] * 4)
    assert scores["overall"]["f1"] == 1.0
    assert scores["slices"]["nlp_llm"]["num_samples"] == 0


def _toy(words: dict[str, str], repeat: int) -> pd.DataFrame:
    rows = [
        {
            "id": len(words) * i + k,
            "title": f"{word} project",
            "description": f"{word} {word}",
            "tag": tag,
        }
        for i in range(repeat)
        for k, (tag, word) in enumerate(words.items())
    ]
    return pd.DataFrame(rows)


def test_the_baseline_learns_a_separable_toy_set():
    # Each tag has its own word: a TF-IDF + linear classifier must get every held-out row right.
    words = {
        "computer-vision": "pixels",
        "mlops": "kubernetes",
        "other": "graphs",
        "natural-language-processing": "sentences",
    }
    baseline = fit_baseline(_toy(words, 5), BASELINE)
    holdout = _toy(words, 1).assign(id=[101, 102, 103, 104])
    predicted = predict_baseline(baseline, holdout, BASELINE)
    assert list(predicted.columns) == ["id", "tag", "prediction"]
    assert predicted["id"].tolist() == [101, 102, 103, 104]
    assert predicted["prediction"].tolist() == holdout["tag"].tolist()


def test_predict_holdout_answers_as_served_and_by_the_most_likely_tag(
    holdout, tiny_tagger, tmp_path
):
    from dataclasses import replace  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    from madewithml.core.tagger import Tagger  # noqa: PLC0415
    from madewithml.shipping import packaging as model_logging  # noqa: PLC0415

    # a model whose own threshold (0.99) makes every served answer `other`
    strict = Tagger(
        tiny_tagger.classifier,
        tiny_tagger.tokenizer,
        tiny_tagger.classes,
        replace(tiny_tagger.settings, threshold=0.99),
    )
    model_logging.save_model(strict, tmp_path / "model")
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    predicted = predict_holdout(holdout.set_index(pd.Index([7, 8, 9, 10])), model)
    assert predicted["id"].tolist() == [1, 2, 3, 4]
    assert predicted["tag"].tolist() == holdout["tag"].tolist()
    probabilities = predicted[tiny_tagger.classes].to_numpy()
    expected = tiny_tagger.predict_proba(holdout)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert predicted["prediction"].tolist() == ["other"] * 4  # as served: its own 0.99
    most_likely = [tiny_tagger.classes[i] for i in expected.argmax(axis=1)]
    assert predicted["most_likely"].tolist() == most_likely
    assert set(most_likely) != {"other"}
    assert describe_evaluated_model(model)["threshold"] == 0.99


def test_describe_evaluated_model(tiny_logged_model):
    _, model = tiny_logged_model
    model.metadata.model_uri = "models:/madewithml-tagger/7"
    described = describe_evaluated_model(model)
    assert described["model_uri"] == "models:/madewithml-tagger/7"
    assert described["run_id"] == model.metadata.run_id


def test_promote_carries_the_decision_the_model_its_f1_and_the_holdout():
    holdout = {"rows": 191, "digest": "d" * 64}
    report = {
        "model": {"model_uri": "models:/m/3", "run_id": "r"},
        "overall": {"f1": 0.93},
        "promotion": {
            "promote": True,
            "reason": "better",
            "holdout": holdout,
            "current_champion": {"version": "2", "holdout_f1": 0.9},
        },
    }
    assert promote(report) == {
        "promote": True,
        "model_uri": "models:/m/3",
        "run_id": "r",
        "holdout_f1": 0.93,
        "holdout": holdout,
        "expected_champion": "2",
        "reason": "better",
    }
    report["promotion"] = {"promote": False, "reason": "worse", "holdout": holdout}
    assert promote(report)["promote"] is False
    assert promote(report)["expected_champion"] is None


BIG = {"rows": 191, "digest": "d" * 64}


PASSES = {"passed": 3, "total": 3, "failed": [], "cases": []}


def test_decide_compares_the_served_f1_with_baseline_and_champion(holdout, model_scores):
    served_f1 = model_scores["served"]["overall"]["f1"]  # 0.67; most likely: 1.0
    weak = _baseline(holdout, ["other"] * 4)  # F1 0.1
    perfect = _baseline(holdout, holdout["tag"].tolist())
    assert decide(model_scores, weak, PASSES, {}, BIG, 100, 0.0)["promote"] is True
    assert decide(model_scores, perfect, PASSES, {}, BIG, 100, 0.0)["promote"] is False
    # a champion between the served and the most likely F1: the served score decides
    champion = {"version": "2", "holdout_f1": 0.8}
    assert served_f1 < 0.8 < model_scores["most_likely"]["overall"]["f1"]
    decision = decide(model_scores, weak, PASSES, champion, BIG, 100, 0.0)
    assert decision["promote"] is False and decision["current_champion"] == champion
    assert decision["holdout"] == BIG
    below = {"version": "1", "holdout_f1": 0.6}
    assert decide(model_scores, weak, PASSES, below, BIG, 100, 0.0)["promote"]
    # the gain must exceed the margin
    assert not decide(model_scores, weak, PASSES, below, BIG, 100, served_f1 - 0.6)["promote"]
    small = {"rows": 4, "digest": "d" * 64}
    assert decide(model_scores, weak, PASSES, {}, small, 100, 0.0)["promote"] is False
    fails = {**PASSES, "passed": 2, "failed": ["invariance: {} images"]}
    refused = decide(model_scores, weak, fails, {}, BIG, 100, 0.0)
    assert refused["promote"] is False
    assert "fails 1 behavioural case (invariance: {} images)" in refused["reason"]


def _always_answers(tag):
    class Model:
        def predict(self, frame, params=None):
            rows = len(frame)
            probabilities = {t: [1.0 if t == tag else 0.0] * rows for t in CLASS_TO_INDEX}
            return pd.DataFrame({"prediction": [tag] * rows, **probabilities})

    return Model()


CASES = {
    "invariance": [{"template": "YOLO on {} images", "fill": ["drone", "satellite"]}],
    "minimum_functionality": [{"title": "Feature store", "expected": "mlops"}],
}


def test_the_champion_is_scored_now_on_this_holdout_and_the_behavioural_cases(holdout):
    """Issue 26: a champion promoted on a one-row holdout with F1 1.0 beat every real model
    from then on. Its recorded F1 counts for nothing: the champion is scored on this holdout
    and these cases, as the candidate is."""
    loads = []

    def champion_model():
        loads.append(1)
        return _always_answers("mlops")

    poisoned = {"version": "1", "holdout_f1": 1.0, "holdout_digest": "0" * 64, "holdout_rows": 1}
    summary, scores = score_champion(
        poisoned, champion_model, holdout, CLASS_TO_INDEX, "other", CASES
    )
    assert loads == [1]  # loaded once for both
    assert summary["holdout_f1"] == scores["served"]["overall"]["f1"] < 1.0
    assert summary["recorded_holdout_f1"] == 1.0 and summary["version"] == "1"
    assert scores["served"]["per_class"]["mlops"]["recall"] == 1.0
    assert scores["behaviour"]["passed"] == 2 and summary["behaviour_passed"] == "2/2"
    assert score_champion({}, None, holdout, CLASS_TO_INDEX, "other", CASES) == ({}, {})


def test_the_comparison_report_puts_champion_and_challenger_side_by_side(holdout, model_scores):
    weak = _baseline(holdout, ["other"] * 4)
    champion_scores = score_model(
        holdout,
        holdout[["id", "tag"]].assign(prediction="mlops", most_likely="mlops"),
        CLASS_TO_INDEX,
        "other",
    )
    theirs = check_behaviour(_always_answers("mlops"), CASES)  # passes both cases
    mine = {
        "passed": 1,
        "total": 2,
        "failed": ["minimum_functionality: Feature store"],
        "cases": [
            {**theirs["cases"][0], "answered": ["other", "other"], "passed": True},
            {**theirs["cases"][1], "answered": ["other"], "passed": False},
        ],
    }
    champion = {"version": "4", "holdout_f1": champion_scores["served"]["overall"]["f1"]}
    decision = decide(model_scores, weak, mine, champion, BIG, 100, 0.005)
    model = {"model_uri": "models:/m/5", "run_id": "r5", "threshold": 0.4}
    report = build_report(model, model_scores, weak, mine, decision, {})
    markdown = compare_with_champion(report, {**champion_scores, "behaviour": theirs})
    lines = markdown.splitlines()
    assert lines[0] == "# Challenger vs champion"
    assert "**Decision: not promoted.** It fails 1 behavioural case" in markdown
    assert "- Champion: version 4" in lines and "`models:/m/5`" in markdown
    old, new = champion_scores["served"]["overall"]["f1"], model_scores["served"]["overall"]["f1"]
    assert f"| f1 | {old:.4f} | {new:.4f} | {new - old:+.4f} |" in lines
    assert "| behavioural cases passed | 2/2 | 1/2 | -1 |" in lines
    mlops = model_scores["served"]["per_class"]["mlops"]["f1"]
    assert (
        f"| `mlops` | 1 | {champion_scores['served']['per_class']['mlops']['f1']:.4f} | "
        f"{mlops:.4f} |" in markdown
    )
    assert "| minimum_functionality: Feature store | mlops | mlops | other |" in lines
    assert all(f"| `{name}` |" in markdown for name in report["slices"])
    first = compare_with_champion(
        build_report(
            model,
            model_scores,
            weak,
            PASSES,
            decide(model_scores, weak, PASSES, {}, BIG, 100, 0.005),
            {},
        ),
        {},
    )
    assert "**Decision: promoted.**" in first and "- Champion: none yet" in first
    assert f"| f1 | – | {new:.4f} | – |" in first.splitlines()
    assert "It passes all 3 cases." in first


def test_report_and_its_mlflow_metrics(holdout, model_scores):
    baseline = _baseline(holdout, ["other"] * 4)
    leakage = {
        "same_title_and_description": {"count": 0, "ids": []},
        "same_text": {"count": 1, "ids": [7]},
    }
    model = {"model_uri": "m", "threshold": 0.4}
    report = build_report(model, model_scores, baseline, PASSES, {"promote": True}, leakage)
    assert report["holdout_in_training_data"] == leakage
    served_f1 = model_scores["served"]["overall"]["f1"]
    assert report["overall"]["f1"] == served_f1  # the top-level scores are the served ones
    assert report["most_likely"]["overall"]["f1"] == 1.0
    assert report["lift_over_baseline"]["f1"] == pytest.approx(
        served_f1 - baseline["overall"]["f1"]
    )
    assert "0.4" in report["scored_as"]
    assert {"timestamp", "per_class", "confusion_matrix", "slices", "baseline", "promotion"} <= set(
        report
    )
    metrics = report_metrics(report)
    assert metrics["holdout_in_training_data"] == [{"value": 1.0, "step": 0}]
    assert metrics["holdout_f1"] == [{"value": served_f1, "step": 0}]
    assert metrics["holdout_most_likely_f1"] == [{"value": 1.0, "step": 0}]
    assert metrics["holdout_answered_other"] == [{"value": 0.5, "step": 0}]
    assert metrics["threshold"] == [{"value": 0.4, "step": 0}]
    assert metrics["behaviour_failed"] == [{"value": 0.0, "step": 0}]
    assert metrics["holdout_f1_mlops"] == [{"value": 0.0, "step": 0}]  # served, not most likely
    assert metrics["slice_f1_short_text"][0]["value"] == pytest.approx(2 / 3)
    empty = build_report(
        model,
        score_model(
            holdout.assign(tag="other"),
            holdout.assign(prediction="other", most_likely="other"),
            CLASS_TO_INDEX,
            "other",
        ),
        baseline,
        PASSES,
        {"promote": False},
        leakage,
    )
    assert "slice_f1_nlp_llm" not in report_metrics(empty)  # an empty slice has no F1


def test_the_confusion_matrix_plot_shows_the_served_counts(model_scores):
    figure = plot_confusion_matrix(model_scores)
    axes = figure.axes[0]
    served = model_scores["served"]["confusion_matrix"]["matrix"]
    assert axes.images[0].get_array().tolist() == served
    assert [t.get_text() for t in axes.get_xticklabels()] == list(CLASS_TO_INDEX)
    written = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in axes.texts
    }
    assert written[(1, 3)] == "1" and written[(1, 1)] == "0"  # true mlops answered other
    plt.close(figure)


def test_the_per_class_f1_plot_has_bars_for_served_most_likely_and_baseline(holdout, model_scores):
    baseline = _baseline(holdout, ["other"] * 4)
    figure = plot_per_class_f1(model_scores, baseline)
    served_bars, most_likely_bars, baseline_bars = figure.axes[0].containers
    for bars, scores in [
        (served_bars, model_scores["served"]),
        (most_likely_bars, model_scores["most_likely"]),
        (baseline_bars, baseline),
    ]:
        assert [bar.get_height() for bar in bars] == [
            scores["per_class"][tag]["f1"] for tag in CLASS_TO_INDEX
        ]
    plt.close(figure)


def test_the_threshold_plot_draws_the_holdout_curve_and_marks_the_models_threshold(holdout):
    probabilities = np.array(
        [[0.1, 0.1, 0.7, 0.1], [0.6, 0.2, 0.1, 0.1], [0.2, 0.35, 0.25, 0.2], [0.4, 0.2, 0.2, 0.2]]
    )
    predictions = holdout[["id", "tag"]].join(
        pd.DataFrame(probabilities, columns=list(CLASS_TO_INDEX))
    )
    figure = plot_threshold_curve(predictions, {"threshold": 0.45}, CLASS_TO_INDEX, "other")
    axes = figure.axes[0]
    f1_line, other_line, marker = axes.lines
    assert list(marker.get_xdata()) == [0.45, 0.45]
    # at the lowest threshold every row answers its most likely tag: three right, the
    # `other` row answered computer-vision
    answered = ["natural-language-processing", "computer-vision", "mlops", "computer-vision"]
    first = weighted_scores(holdout["tag"].tolist(), answered)["f1"]
    assert f1_line.get_ydata()[0] == pytest.approx(first)
    assert other_line.get_ydata()[0] == 0.0
    # above 0.7 every answer is `other`: right for one project in four (F1 0.4, weight 1/4)
    assert other_line.get_ydata()[-1] == 1.0
    assert f1_line.get_ydata()[-1] == pytest.approx(0.1)
    plt.close(figure)
