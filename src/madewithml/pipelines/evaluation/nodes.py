"""Nodes of the evaluation pipeline: holdout predictions, metrics, slices, baseline, promotion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from matplotlib.figure import Figure  # plots are files: no pyplot, no backend
from sklearn.pipeline import Pipeline

from madewithml import scoring
from madewithml.baseline import make_baseline
from madewithml.core.text import project_text
from madewithml.promotion import decide_promotion
from madewithml.stopwords import stopwords


def predict_holdout(holdout_projects: pd.DataFrame, evaluated_model: Any) -> pd.DataFrame:
    """The evaluated model's answers for every holdout row, through the logged model's own
    `predict` (as served): `prediction` is the most likely tag, as in the seed's evaluation
    (the threshold is a serving rule)."""
    predictions = scoring.predict_most_likely(evaluated_model, holdout_projects)
    return pd.concat([holdout_projects[["id", "tag"]], predictions], axis=1)


def fit_baseline(train_projects: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    """TF-IDF + linear classifier fitted on the training split."""
    texts = project_text(
        train_projects["title"],
        train_projects["description"],
        stopwords(params["remove_stopwords"]),
    )
    return make_baseline(params).fit(texts, train_projects["tag"])


def predict_baseline(
    baseline: Pipeline, holdout_projects: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """The baseline's prediction for every holdout row."""
    texts = project_text(
        holdout_projects["title"],
        holdout_projects["description"],
        stopwords(params["remove_stopwords"]),
    )
    return holdout_projects[["id", "tag"]].assign(prediction=baseline.predict(texts))


def score_predictions(predictions: pd.DataFrame, class_to_index: dict[str, int]) -> dict:
    """Overall weighted scores, per-class scores and the confusion matrix."""
    return scoring.score_predictions(predictions, sorted(class_to_index, key=class_to_index.get))


def score_slices(holdout_projects: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """Weighted scores on every registered slice of the holdout (see madewithml.slices)."""
    return scoring.score_slices(holdout_projects, predictions)


def decide(model_scores: dict, baseline_scores: dict, champion: dict) -> dict:
    """Whether the evaluated model should become the champion, and why."""
    decision = decide_promotion(
        model_scores["overall"]["f1"],
        baseline_scores["overall"]["f1"],
        champion.get("holdout_f1") if champion else None,
    )
    return {**decision, "current_champion": champion or None}


def describe_evaluated_model(evaluated_model: Any) -> dict:
    """Which logged model was evaluated: its URI (a registered version after training) and the
    MLflow run that logged it."""
    metadata = evaluated_model.metadata
    return {
        "model_uri": getattr(metadata, "model_uri", None),
        "run_id": metadata.run_id,
        "model_id": getattr(metadata, "model_id", None),
    }


def build_report(
    model: dict,
    model_scores: dict,
    slice_scores: dict,
    baseline_scores: dict,
    promotion: dict,
    leakage: dict,
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
        "holdout_in_training_data": leakage,
    }


def promote(evaluation_report: dict) -> dict:
    """What the registry's champion alias becomes: the evaluated model (its URI, and its exact
    holdout F1, which the next evaluation must beat) when the decision is to promote; with
    ``promote`` false the champion stays."""
    return {
        "promote": evaluation_report["promotion"]["promote"],
        "model_uri": evaluation_report["model"]["model_uri"],
        "run_id": evaluation_report["model"]["run_id"],
        "holdout_f1": evaluation_report["overall"]["f1"],
        "reason": evaluation_report["promotion"]["reason"],
    }


def report_metrics(report: dict) -> dict[str, dict[str, float]]:
    """The report's numbers as MLflow metrics (kedro-mlflow's metrics-history format)."""
    metrics = {f"holdout_{k}": report["overall"][k] for k in ["precision", "recall", "f1"]}
    metrics["baseline_holdout_f1"] = report["baseline"]["overall"]["f1"]
    leaked = {i for kind in report["holdout_in_training_data"].values() for i in kind["ids"]}
    metrics["holdout_in_training_data"] = len(leaked)
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
