"""Evaluation nodes on hand-made inputs with known answers."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from madewithml.pipelines.evaluation.nodes import (
    build_report,
    decide,
    describe_evaluated_model,
    fit_baseline,
    plot_confusion_matrix,
    plot_per_class_f1,
    predict_baseline,
    predict_holdout,
    promote,
    report_metrics,
    score_predictions,
    score_slices,
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
    # one mistake: the mlops row is predicted as other
    predicted = ["natural-language-processing", "computer-vision", "other", "other"]
    return holdout[["id", "tag"]].assign(prediction=predicted)


def test_score_predictions(predictions):
    scores = score_predictions(predictions, CLASS_TO_INDEX)
    assert scores["overall"]["f1"] == pytest.approx((1 + 1 + 0 + 2 / 3) / 4)
    assert scores["per_class"]["mlops"] == {"precision": 0, "recall": 0, "f1": 0, "support": 1}
    assert scores["per_class"]["other"]["precision"] == 0.5
    assert scores["confusion_matrix"]["classes"] == list(CLASS_TO_INDEX)
    assert scores["confusion_matrix"]["matrix"][1] == [0, 0, 0, 1]  # true mlops → other


def test_score_slices_scores_each_slice_on_its_rows(holdout, predictions):
    scores = score_slices(holdout, predictions)
    assert scores["nlp_llm"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "num_samples": 1}
    # short texts (< 8 words): rows 1 (6 words), 2 (2) and 3 (3); row 3 is the mistake
    assert scores["short_text"]["num_samples"] == 3
    assert scores["short_text"]["f1"] == pytest.approx((1 + 1 + 0) / 3)


def test_score_slices_with_an_empty_slice(holdout, predictions):
    rows = holdout.assign(tag="other")  # no NLP rows: nlp_llm is empty
    assert score_slices(rows, predictions)["nlp_llm"]["num_samples"] == 0


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


def test_predict_holdout_is_the_logged_models_most_likely_tag(holdout, tiny_tagger, tmp_path):
    from dataclasses import replace  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    from madewithml import model_logging  # noqa: PLC0415
    from madewithml.core.tagger import Tagger  # noqa: PLC0415

    # a model whose own threshold (0.99) would make every answer `other`
    strict = Tagger(
        tiny_tagger.classifier,
        tiny_tagger.tokenizer,
        tiny_tagger.classes,
        replace(tiny_tagger.settings, threshold=0.99),
    )
    model_logging.save_model(strict, tmp_path / "model")
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    model.metadata.model_uri = "models:/madewithml-tagger/7"
    predicted = predict_holdout(holdout.set_index(pd.Index([7, 8, 9, 10])), model)
    assert predicted["id"].tolist() == [1, 2, 3, 4]
    assert predicted["tag"].tolist() == holdout["tag"].tolist()
    probabilities = predicted[tiny_tagger.classes].to_numpy()
    expected = tiny_tagger.predict_proba(holdout)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    # no threshold (the model's own says 0.99): the most likely tag of every row
    most_likely = [tiny_tagger.classes[i] for i in expected.argmax(axis=1)]
    assert predicted["prediction"].tolist() == most_likely
    assert set(most_likely) != {"other"}


def test_describe_evaluated_model(tiny_logged_model):
    _, model = tiny_logged_model
    model.metadata.model_uri = "models:/madewithml-tagger/7"
    described = describe_evaluated_model(model)
    assert described["model_uri"] == "models:/madewithml-tagger/7"
    assert described["run_id"] == model.metadata.run_id


def test_promote_carries_the_decision_the_model_and_its_f1():
    report = {
        "model": {"model_uri": "models:/m/3", "run_id": "r"},
        "overall": {"f1": 0.93},
        "promotion": {"promote": True, "reason": "better"},
    }
    assert promote(report) == {
        "promote": True,
        "model_uri": "models:/m/3",
        "run_id": "r",
        "holdout_f1": 0.93,
        "reason": "better",
    }
    report["promotion"] = {"promote": False, "reason": "worse"}
    assert promote(report)["promote"] is False


def test_decide_compares_with_baseline_and_champion(predictions):
    good = score_predictions(predictions, CLASS_TO_INDEX)
    worse = score_predictions(predictions.assign(prediction="other"), CLASS_TO_INDEX)
    assert decide(good, worse, {})["promote"] is True
    assert decide(worse, good, {})["promote"] is False
    champion = {"version": "2", "holdout_f1": 0.99}
    decision = decide(good, worse, champion)
    assert decision["promote"] is False and decision["current_champion"] == champion


def test_report_and_its_mlflow_metrics(predictions):
    scores = score_predictions(predictions, CLASS_TO_INDEX)
    baseline = score_predictions(predictions.assign(prediction="other"), CLASS_TO_INDEX)
    slices = {"short_text": {"f1": 0.5}, "nlp_llm": {"f1": None}}
    leakage = {
        "same_title_and_description": {"count": 0, "ids": []},
        "same_text": {"count": 1, "ids": [7]},
    }
    report = build_report({"model_uri": "m"}, scores, slices, baseline, {"promote": True}, leakage)
    assert report["holdout_in_training_data"] == leakage
    assert report["lift_over_baseline"]["f1"] == pytest.approx(
        scores["overall"]["f1"] - baseline["overall"]["f1"]
    )
    assert {"timestamp", "per_class", "confusion_matrix", "baseline", "promotion"} <= set(report)
    metrics = report_metrics(report)
    assert metrics["holdout_in_training_data"] == [{"value": 1.0, "step": 0}]
    assert metrics["holdout_f1"] == [{"value": scores["overall"]["f1"], "step": 0}]
    assert "holdout_f1_mlops" in metrics and "slice_f1_short_text" in metrics
    assert "slice_f1_nlp_llm" not in metrics  # an empty slice has no F1


def test_the_confusion_matrix_plot_shows_the_counts(predictions):
    scores = score_predictions(predictions, CLASS_TO_INDEX)
    figure = plot_confusion_matrix(scores)
    axes = figure.axes[0]
    assert axes.images[0].get_array().tolist() == scores["confusion_matrix"]["matrix"]
    assert [t.get_text() for t in axes.get_xticklabels()] == list(CLASS_TO_INDEX)
    written = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in axes.texts
    }
    assert written[(1, 3)] == "1" and written[(1, 1)] == "0"  # true mlops predicted other
    plt.close(figure)


def test_the_per_class_f1_plot_has_a_bar_per_tag_for_model_and_baseline(predictions):
    scores = score_predictions(predictions, CLASS_TO_INDEX)
    baseline = score_predictions(predictions.assign(prediction="other"), CLASS_TO_INDEX)
    figure = plot_per_class_f1(scores, baseline)
    model_bars, baseline_bars = figure.axes[0].containers
    assert [bar.get_height() for bar in model_bars] == [
        scores["per_class"][tag]["f1"] for tag in CLASS_TO_INDEX
    ]
    assert [bar.get_height() for bar in baseline_bars] == [
        baseline["per_class"][tag]["f1"] for tag in CLASS_TO_INDEX
    ]
    plt.close(figure)
