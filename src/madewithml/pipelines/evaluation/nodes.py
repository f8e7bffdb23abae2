"""Nodes of the evaluation pipeline: holdout predictions, metrics, slices, baseline, promotion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from matplotlib.figure import Figure  # plots are files: no pyplot, no backend
from sklearn.pipeline import Pipeline
from transformers import PreTrainedTokenizerBase

from madewithml.baseline import make_baseline
from madewithml.metrics import confusion, per_class_scores, weighted_scores
from madewithml.model import TagClassifier
from madewithml.pipelines.data_processing.nodes import tokenize_texts
from madewithml.pipelines.inference.nodes import most_likely_tag, predict_tags
from madewithml.promotion import decide_promotion
from madewithml.slices import slice_masks
from madewithml.text_cleaning import project_text


def predict_holdout(
    holdout_projects: pd.DataFrame,
    model: TagClassifier,
    tokenizer: PreTrainedTokenizerBase,
    class_to_index: dict[str, int],
    mlflow_model: Any,
    max_length: int,
    batch_size: int,
) -> pd.DataFrame:
    """Predictions for every holdout row: by `mlflow_model` when one is given, else by the
    project's trained model through the inference pipeline's own nodes.

    The prediction is the most likely tag, as in the seed's evaluation: the threshold that a
    logged model applies (`inference.threshold`) is a serving rule, so it is undone here.
    """
    if mlflow_model is not None:
        predictions = mlflow_model.predict(holdout_projects[["title", "description"]])
        predictions.index = holdout_projects.index
        predictions["prediction"] = most_likely_tag(predictions)
    else:
        inputs = tokenize_texts(holdout_projects, tokenizer, max_length)
        predictions = predict_tags(model, inputs, class_to_index, batch_size)
    return pd.concat([holdout_projects[["id", "tag"]], predictions], axis=1)


def fit_baseline(train_projects: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    """TF-IDF + linear classifier fitted on the training split."""
    texts = project_text(
        train_projects["title"], train_projects["description"], params["remove_stopwords"]
    )
    return make_baseline(params).fit(texts, train_projects["tag"])


def predict_baseline(
    baseline: Pipeline, holdout_projects: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """The baseline's prediction for every holdout row."""
    texts = project_text(
        holdout_projects["title"], holdout_projects["description"], params["remove_stopwords"]
    )
    return holdout_projects[["id", "tag"]].assign(prediction=baseline.predict(texts))


def score_predictions(predictions: pd.DataFrame, class_to_index: dict[str, int]) -> dict:
    """Overall weighted scores, per-class scores and the confusion matrix."""
    classes = sorted(class_to_index, key=class_to_index.get)
    y_true, y_pred = predictions["tag"].tolist(), predictions["prediction"].tolist()
    return {
        "overall": weighted_scores(y_true, y_pred),
        "per_class": per_class_scores(y_true, y_pred, classes),
        "confusion_matrix": {"classes": classes, "matrix": confusion(y_true, y_pred, classes)},
    }


def score_slices(holdout_projects: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """Weighted scores on every registered slice of the holdout (see madewithml.slices)."""
    scores = {}
    for name, mask in slice_masks(holdout_projects).items():
        rows = predictions[mask.to_numpy()]
        scores[name] = (
            weighted_scores(rows["tag"].tolist(), rows["prediction"].tolist())
            if len(rows)
            else {"precision": None, "recall": None, "f1": None, "num_samples": 0}
        )
    return scores


def decide(model_scores: dict, baseline_scores: dict, champion: dict) -> dict:
    """Whether the evaluated model should become the champion, and why."""
    decision = decide_promotion(
        model_scores["overall"]["f1"],
        baseline_scores["overall"]["f1"],
        champion.get("holdout_f1") if champion else None,
    )
    return {**decision, "current_champion": champion or None}


def describe_evaluated_model(model_lineage: dict, mlflow_model: Any) -> dict:
    """Which model was evaluated: an MLflow model URI, or the project's latest trained one."""
    if mlflow_model is not None:
        return {
            "source": "mlflow",
            "model_uri": mlflow_model.metadata.model_uri,
            "run_id": mlflow_model.metadata.run_id,
        }
    run_id = model_lineage.get("run_id")
    return {
        "source": "local",
        "model_uri": f"runs:/{run_id}/model" if run_id else None,
        "run_id": run_id,
        "path": "data/06_models/model",
    }


def build_report(
    model: dict, model_scores: dict, slice_scores: dict, baseline_scores: dict, promotion: dict
) -> dict:
    """The evaluation report: data/08_reporting/evaluation.json."""
    lift = {
        name: model_scores["overall"][name] - baseline_scores["overall"][name]
        for name in ["precision", "recall", "f1"]
    }
    return {
        "model": model,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        **model_scores,
        "slices": slice_scores,
        "baseline": baseline_scores,
        "lift_over_baseline": lift,
        "promotion": promotion,
    }


def report_metrics(report: dict) -> dict[str, dict[str, float]]:
    """The report's numbers as MLflow metrics (kedro-mlflow's metrics-history format)."""
    metrics = {f"holdout_{k}": report["overall"][k] for k in ["precision", "recall", "f1"]}
    metrics["baseline_holdout_f1"] = report["baseline"]["overall"]["f1"]
    metrics["lift_f1"] = report["lift_over_baseline"]["f1"]
    for tag, scores in report["per_class"].items():
        metrics[f"holdout_f1_{tag}"] = scores["f1"]
    for name, scores in report["slices"].items():
        if scores["f1"] is not None:
            metrics[f"slice_f1_{name}"] = scores["f1"]
    return {name: [{"value": float(value), "step": 0}] for name, value in metrics.items()}


def plot_confusion_matrix(model_scores: dict) -> Figure:
    """Holdout confusion matrix (rows: true tag, columns: predicted tag)."""
    classes = model_scores["confusion_matrix"]["classes"]
    matrix = model_scores["confusion_matrix"]["matrix"]
    figure = Figure(figsize=(6, 5))
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, count, ha="center", va="center")
    figure.colorbar(image)
    axes.set_title("Holdout confusion matrix")
    figure.tight_layout()
    return figure


def plot_per_class_f1(model_scores: dict, baseline_scores: dict) -> Figure:
    """Holdout F1 per tag, the model beside the baseline."""
    classes = list(model_scores["per_class"])
    model_f1 = [model_scores["per_class"][c]["f1"] for c in classes]
    baseline_f1 = [baseline_scores["per_class"][c]["f1"] for c in classes]
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    positions = range(len(classes))
    axes.bar([p - 0.2 for p in positions], model_f1, width=0.4, label="model")
    axes.bar([p + 0.2 for p in positions], baseline_f1, width=0.4, label="TF-IDF baseline")
    axes.set_xticks(list(positions), classes, rotation=20, ha="right")
    axes.set_ylim(0, 1)
    axes.set_ylabel("F1")
    axes.legend(loc="lower right")
    axes.set_title("Holdout F1 per tag")
    figure.tight_layout()
    return figure


def plot_training_curves(training_history: pd.DataFrame) -> Figure:
    """Train and validation loss, and validation F1, per epoch."""
    epochs = training_history["epoch"] + 1
    figure = Figure(figsize=(9, 3.5))
    losses, f1 = figure.subplots(1, 2)
    losses.plot(epochs, training_history["train_loss"], marker="o", label="train")
    losses.plot(epochs, training_history["val_loss"], marker="o", label="validation")
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.legend()
    f1.plot(epochs, training_history["val_f1"], marker="o", color="tab:green")
    f1.set_xlabel("epoch")
    f1.set_ylabel("validation F1")
    figure.suptitle("Training curves")
    figure.tight_layout()
    return figure
