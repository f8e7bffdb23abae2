"""Evaluation nodes on hand-made inputs with known answers."""

from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from madewithml.pipelines.evaluation.nodes import (
    build_report,
    decide,
    describe_evaluated_model,
    fit_baseline,
    plot_confusion_matrix,
    plot_per_class_f1,
    plot_training_curves,
    predict_baseline,
    predict_holdout,
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


def test_baseline_fits_on_training_rows_and_predicts_every_holdout_row(raw_projects, holdout):
    baseline = fit_baseline(raw_projects, BASELINE)
    predicted = predict_baseline(baseline, holdout, BASELINE)
    assert list(predicted.columns) == ["id", "tag", "prediction"]
    assert len(predicted) == len(holdout)


class _FakePyfunc:
    metadata = SimpleNamespace(model_uri="models:/madewithml-tagger/7", run_id="abc")

    def predict(self, frame):
        """As a logged model answers: unsure (top probability 0.7 < 0.9), hence `other`."""
        assert list(frame.columns) == ["title", "description"]
        probabilities = {tag: [0.1] * len(frame) for tag in CLASS_TO_INDEX}
        probabilities["mlops"] = [0.7] * len(frame)
        return pd.DataFrame({"prediction": ["other"] * len(frame), **probabilities})


def test_predict_holdout_uses_an_mlflow_model_when_given(holdout):
    predicted = predict_holdout(holdout, None, None, CLASS_TO_INDEX, _FakePyfunc(), 32, 8)
    assert predicted["prediction"].tolist() == ["mlops"] * 4  # the most likely tag, no threshold
    assert predicted["id"].tolist() == [1, 2, 3, 4]


def test_predict_holdout_with_the_local_model(holdout, tiny_encoder):
    from madewithml.model import TagClassifier  # noqa: PLC0415
    from madewithml.tokenization import load_tokenizer  # noqa: PLC0415

    model = TagClassifier.from_encoder(str(tiny_encoder), 4, 0.1, "mean")
    cleaned = holdout.assign(text=holdout["title"] + " " + holdout["description"])
    predicted = predict_holdout(
        cleaned, model, load_tokenizer(str(tiny_encoder)), CLASS_TO_INDEX, None, 32, 2
    )
    assert list(predicted.columns[:3]) == ["id", "tag", "prediction"]
    assert set(predicted["prediction"]) <= set(CLASS_TO_INDEX)


def test_describe_evaluated_model():
    assert describe_evaluated_model({}, _FakePyfunc())["model_uri"] == "models:/madewithml-tagger/7"
    local = describe_evaluated_model({"run_id": "r1"}, None)
    assert local["source"] == "local" and local["model_uri"] == "runs:/r1/model"


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
    report = build_report({"source": "local"}, scores, slices, baseline, {"promote": True})
    assert report["lift_over_baseline"]["f1"] == pytest.approx(
        scores["overall"]["f1"] - baseline["overall"]["f1"]
    )
    assert {"timestamp", "per_class", "confusion_matrix", "baseline", "promotion"} <= set(report)
    metrics = report_metrics(report)
    assert metrics["holdout_f1"] == [{"value": scores["overall"]["f1"], "step": 0}]
    assert "holdout_f1_mlops" in metrics and "slice_f1_short_text" in metrics
    assert "slice_f1_nlp_llm" not in metrics  # an empty slice has no F1


def test_plots_are_figures(predictions):
    scores = score_predictions(predictions, CLASS_TO_INDEX)
    history = pd.DataFrame(
        {"epoch": [0, 1], "train_loss": [1.0, 0.5], "val_loss": [0.9, 0.7], "val_f1": [0.6, 0.8]}
    )
    for figure in [
        plot_confusion_matrix(scores),
        plot_per_class_f1(scores, scores),
        plot_training_curves(history),
    ]:
        assert isinstance(figure, plt.Figure) and figure.axes
        plt.close(figure)
