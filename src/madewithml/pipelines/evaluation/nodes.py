"""Nodes of the evaluation pipeline: holdout predictions, metrics, slices, baseline, promotion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from matplotlib.figure import Figure  # plots are files: no pyplot, no backend
from sklearn.pipeline import Pipeline

from madewithml.core.pyfunc import THRESHOLD_PARAM
from madewithml.core.text import project_text
from madewithml.data.stopwords import stopwords
from madewithml.datasets.tracking import metrics_history
from madewithml.evaluation import behaviour, calibration, comparison, scoring
from madewithml.evaluation.baseline import make_baseline
from madewithml.evaluation.plots import draw_threshold_curve
from madewithml.evaluation.promotion import decide_promotion, holdout_identity


def predict_holdout(holdout_projects: pd.DataFrame, evaluated_model: Any) -> pd.DataFrame:
    """The evaluated model's answers for every holdout row, through the logged model's own
    `predict` with its defaults: `prediction` as served (at the model's own threshold),
    `most_likely` (the threshold undone) and every tag's probability."""
    predictions = scoring.predict_labelled(evaluated_model, holdout_projects)
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


def score_model(
    holdout_projects: pd.DataFrame,
    holdout_predictions: pd.DataFrame,
    class_to_index: dict[str, int],
    other_tag: str,
) -> dict:
    """The model's holdout scores as served and by the most likely tag (overall, per class,
    confusion matrix, slices), and the share answered `other_tag` by each and truly."""
    classes = sorted(class_to_index, key=class_to_index.get)
    return scoring.score_model(holdout_projects, holdout_predictions, classes, other_tag)


def score_baseline(
    holdout_projects: pd.DataFrame,
    baseline_predictions: pd.DataFrame,
    class_to_index: dict[str, int],
) -> dict:
    """The baseline's holdout scores (overall, per class, confusion matrix, slices)."""
    classes = sorted(class_to_index, key=class_to_index.get)
    return scoring.score_answers(
        holdout_projects.reset_index(drop=True), baseline_predictions["prediction"], classes
    )


def identify_holdout(holdout_projects: pd.DataFrame) -> dict:
    """The evaluation set of this run: its rows and digest (`holdout_identity`)."""
    return holdout_identity(holdout_projects)


def check_behaviour(evaluated_model: Any, cases: dict[str, list[dict]]) -> dict:
    """The evaluated model's answers to every behavioural case (`evaluation.behaviour`), as
    served, and which it fails."""
    return behaviour.check_behaviour(evaluated_model, cases)


def score_champion(
    champion: dict,
    champion_model: Callable[[], Any] | None,
    holdout_projects: pd.DataFrame,
    class_to_index: dict[str, int],
    other_tag: str,
    cases: dict[str, list[dict]],
) -> tuple[dict, dict]:
    """The current champion, scored now as the candidate is: on this run's holdout (as served
    and by the most likely tag) and on the behavioural cases. A score recorded at its
    promotion counts for nothing here (it may come from another holdout).

    Returns the champion with its served F1 on this holdout (what the decision compares; its
    recorded F1 beside it) and its full scores and behaviour (what the comparison report
    shows); both ``{}`` when there is no champion.
    """
    if not champion:
        return {}, {}
    if champion_model is None:
        raise ValueError("there is a champion to score, but no model was given")
    model = champion_model()
    predictions = predict_holdout(holdout_projects, model)
    scores = score_model(holdout_projects, predictions, class_to_index, other_tag)
    answers = behaviour.check_behaviour(model, cases)
    summary = {
        **champion,
        "recorded_holdout_f1": champion.get("holdout_f1"),
        "holdout_f1": scores[scoring.SERVED]["overall"]["f1"],
        "scored_on": "this holdout, now",
        "behaviour_passed": f"{answers['passed']}/{answers['total']}",
    }
    return summary, {**scores, "behaviour": answers}


def decide(
    model_scores: dict,
    baseline_scores: dict,
    model_behaviour: dict,
    champion: dict,
    holdout: dict,
    min_holdout_rows: int,
    margin: float,
) -> dict:
    """Whether the evaluated model should become the champion, and why: it passes every
    behavioural case, and its served F1 (as it answers with its own threshold) beats the
    baseline's and, by more than `margin`, the champion's, all on this holdout, which must
    have at least `min_holdout_rows` rows."""
    decision = decide_promotion(
        model_scores[scoring.SERVED]["overall"]["f1"],
        baseline_scores["overall"]["f1"],
        champion.get("holdout_f1") if champion else None,
        holdout["rows"],
        min_holdout_rows,
        margin,
        model_behaviour["failed"],
    )
    return {**decision, "holdout": holdout, "current_champion": champion or None}


def describe_evaluated_model(evaluated_model: Any) -> dict:
    """Which logged model was evaluated: its URI (a registered version after training), the
    MLflow run that logged it, and its own default threshold (what it answers with)."""
    metadata = evaluated_model.metadata
    params = metadata.get_params_schema()
    defaults = {spec.name: spec.default for spec in params.params} if params else {}
    return {
        "model_uri": getattr(metadata, "model_uri", None),
        "run_id": metadata.run_id,
        "model_id": getattr(metadata, "model_id", None),
        "threshold": defaults.get(THRESHOLD_PARAM),
    }


def build_report(
    model: dict,
    model_scores: dict,
    baseline_scores: dict,
    model_behaviour: dict,
    promotion: dict,
    leakage: dict,
) -> dict:
    """The evaluation report: data/08_reporting/evaluation.json. Its `overall`, `per_class`,
    `confusion_matrix` and `slices` are the model as served (its own threshold); `most_likely`
    holds the same with the threshold undone."""
    served = model_scores[scoring.SERVED]
    lift = {
        name: served["overall"][name] - baseline_scores["overall"][name]
        for name in ["precision", "recall", "f1"]
    }
    return {
        "model": model,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "scored_as": f"served: the model's own threshold {model.get('threshold')}",
        **served,
        "answered_other": model_scores["answered_other"],
        scoring.MOST_LIKELY: model_scores[scoring.MOST_LIKELY],
        "baseline": baseline_scores,
        "lift_over_baseline": lift,
        "behaviour": model_behaviour,
        "promotion": promotion,
        "holdout_in_training_data": leakage,
    }


def compare_with_champion(evaluation_report: dict, champion_scores: dict) -> str:
    """The comparison report (data/08_reporting/comparison.md): champion against candidate on
    the same holdout, overall, per class and per slice (as served), on the behavioural
    cases, and the decision with its reason."""
    return comparison.comparison_markdown(evaluation_report, champion_scores)


def promote(evaluation_report: dict) -> dict:
    """What the registry's champion alias becomes: the evaluated model (its URI, its exact
    served holdout F1 and the holdout it was measured on, recorded as the version's tags and
    compared when another promotion overlaps this one) when the decision is to promote; with
    ``promote`` false the champion stays."""
    promotion = evaluation_report["promotion"]
    champion = promotion.get("current_champion") or {}
    return {
        "promote": promotion["promote"],
        "model_uri": evaluation_report["model"]["model_uri"],
        "run_id": evaluation_report["model"]["run_id"],
        "holdout_f1": evaluation_report["overall"]["f1"],
        "holdout": promotion["holdout"],
        # The champion this decision beat: the alias moves only if it is still the champion
        # when the run commits (or the new one is beaten on the same holdout too).
        "expected_champion": champion.get("version"),
        "reason": promotion["reason"],
    }


def report_metrics(report: dict) -> dict[str, dict[str, float]]:
    """The report's numbers as MLflow metrics (kedro-mlflow's metrics-history format): the
    model as served, and `holdout_most_likely_f1` beside it."""
    metrics = {f"holdout_{k}": report["overall"][k] for k in ["precision", "recall", "f1"]}
    metrics["holdout_most_likely_f1"] = report[scoring.MOST_LIKELY]["overall"]["f1"]
    metrics["holdout_answered_other"] = report["answered_other"][scoring.SERVED]
    metrics["baseline_holdout_f1"] = report["baseline"]["overall"]["f1"]
    leaked = {i for kind in report["holdout_in_training_data"].values() for i in kind["ids"]}
    metrics["holdout_in_training_data"] = len(leaked)
    metrics["lift_f1"] = report["lift_over_baseline"]["f1"]
    metrics["behaviour_failed"] = len(report["behaviour"]["failed"])
    if report["model"].get("threshold") is not None:
        metrics["threshold"] = report["model"]["threshold"]
    for tag, scores in report["per_class"].items():
        metrics[f"holdout_f1_{tag}"] = scores["f1"]
    for name, scores in report["slices"].items():
        if scores["f1"] is not None:
            metrics[f"slice_f1_{name}"] = scores["f1"]
    return metrics_history(metrics)


def plot_confusion_matrix(model_scores: dict) -> Figure:
    """Holdout confusion matrix of the served answers (rows: true tag, columns: answer)."""
    served = model_scores[scoring.SERVED]
    classes = served["confusion_matrix"]["classes"]
    matrix = served["confusion_matrix"]["matrix"]
    figure = Figure(figsize=(6, 5))
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("answered (as served)")
    axes.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, count, ha="center", va="center")
    figure.colorbar(image)
    axes.set_title("Holdout confusion matrix")
    figure.tight_layout()
    return figure


def plot_per_class_f1(model_scores: dict, baseline_scores: dict) -> Figure:
    """Holdout F1 per tag: the model as served, by its most likely tag, and the baseline."""
    served, most_likely = model_scores[scoring.SERVED], model_scores[scoring.MOST_LIKELY]
    classes = list(served["per_class"])
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    positions = range(len(classes))
    bars = [
        (served, "model as served"),
        (most_likely, "model, most likely tag"),
        (baseline_scores, "TF-IDF baseline"),
    ]
    for offset, (scores, label) in zip((-0.27, 0.0, 0.27), bars, strict=True):
        heights = [scores["per_class"][c]["f1"] for c in classes]
        axes.bar([p + offset for p in positions], heights, width=0.27, label=label)
    axes.set_xticks(list(positions), classes, rotation=20, ha="right")
    axes.set_ylim(0, 1)
    axes.set_ylabel("F1")
    axes.legend(loc="lower right")
    axes.set_title("Holdout F1 per tag")
    figure.tight_layout()
    return figure


def plot_threshold_curve(
    holdout_predictions: pd.DataFrame,
    evaluated_model_info: dict,
    class_to_index: dict[str, int],
    other_tag: str,
) -> Figure:
    """Holdout: the served weighted F1 and the share answered `other_tag` at every threshold
    (`calibration.threshold_curve` of the model's probabilities), its own threshold marked."""
    classes = sorted(class_to_index, key=class_to_index.get)
    curve = calibration.threshold_curve(
        holdout_predictions[classes].to_numpy(), holdout_predictions["tag"], classes, other_tag
    )
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    draw_threshold_curve(axes, curve, evaluated_model_info.get("threshold") or 0.0)
    axes.set_title("Holdout: served answers by threshold")
    figure.tight_layout()
    return figure
