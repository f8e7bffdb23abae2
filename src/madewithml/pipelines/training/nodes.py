"""Nodes of the training pipeline: a Ray Train fine-tune, and the model that ships."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pandas as pd
from matplotlib.figure import Figure  # plots are files: no pyplot, no backend
from transformers import PreTrainedTokenizerBase

from madewithml.core.classifier import TagClassifier
from madewithml.core.tagger import Tagger, TaggerSettings
from madewithml.core.tfidf import TfidfModel
from madewithml.core.tokenization import pad_id
from madewithml.data.encoder import resolve_encoder
from madewithml.data.stopwords import stopwords
from madewithml.datasets.tracking import metrics_history
from madewithml.evaluation import calibration
from madewithml.evaluation.metrics import weighted_scores
from madewithml.evaluation.plots import draw_threshold_curve
from madewithml.training import tfidf
from madewithml.training.tracking import MlflowMetricsCallback
from madewithml.training.trainer import (
    best_model,
    build_trainer,
    fit,
    metric_history,
    remove_run,
    run_name,
    train_loop_config,
)

logger = logging.getLogger(__name__)


def train_model(
    train_model_input: pd.DataFrame,
    val_model_input: pd.DataFrame,
    class_to_index: dict[str, int],
    tokenizer: PreTrainedTokenizerBase,
    encoder: str,
    training: dict[str, Any],
    mlflow_run: dict[str, str],
) -> tuple[TagClassifier, pd.DataFrame]:
    """Fine-tune the encoder + head as a Ray Train `TorchTrainer` job.

    Returns the checkpoint with the lowest validation loss and the per-epoch metric history.
    When `mlflow_run` names a run, every epoch's metrics are logged to it as they are reported.
    """
    loop_config = train_loop_config(
        training, resolve_encoder(encoder), len(class_to_index), pad_id(tokenizer)
    )
    callbacks = []
    if mlflow_run:
        callbacks.append(MlflowMetricsCallback(mlflow_run["tracking_uri"], mlflow_run["run_id"]))
    trainer = build_trainer(
        train_model_input,
        val_model_input,
        loop_config=loop_config,
        ray_train=training["ray_train"],
        name=run_name("train"),
        callbacks=callbacks,
    )
    result = fit(trainer)
    model, history = best_model(result), metric_history(result)
    best = history.loc[history["val_loss"].idxmin()]
    logger.info(
        "best epoch %d of %d: val_loss %.4f, val_f1 %.4f",
        best["epoch"] + 1,
        len(history),
        best["val_loss"],
        best["val_f1"],
    )
    if not training["ray_train"]["keep_run_folder"]:
        remove_run(result)
    return model, history


def fit_tfidf_model(
    train_projects: pd.DataFrame, class_to_index: dict[str, int], params: dict[str, Any]
) -> TfidfModel:
    """TF-IDF + logistic regression on the training split's cleaned text (`params`:
    `tfidf_model` of the parameters)."""
    classes = sorted(class_to_index, key=class_to_index.get)
    return tfidf.fit(train_projects["text"], train_projects["tag"], classes, params)


def package_model(
    classifier: TagClassifier,
    tokenizer: PreTrainedTokenizerBase,
    class_to_index: dict[str, int],
    tfidf_model: TfidfModel,
    max_length: int,
    data_processing: dict[str, Any],
    tfidf_params: dict[str, Any],
    batch_size: int,
    precision: str,
) -> Tagger:
    """The model that ships, before calibration: the classifier with its tokenizer, tags, the
    TF-IDF model it blends (left out at `tfidf_model.blend_weight` 0) and this run's settings
    (cleaning, `max_length`, rows per forward pass, the precision it answers in). Its
    threshold (0: always the most likely tag) and temperature (1) are `calibrate_model`'s to
    set, on its answers at that precision."""
    weight = float(tfidf_params["blend_weight"])
    return Tagger(
        classifier,
        tokenizer,
        sorted(class_to_index, key=class_to_index.get),
        TaggerSettings(
            max_length=max_length,
            threshold=0.0,
            other_tag=data_processing["other_tag"],
            batch_size=batch_size,
            stopwords=stopwords(data_processing["remove_stopwords"]),
            blend_weight=weight,
            precision=precision,
        ),
        tfidf_model if weight > 0 else None,
    )


def calibrate_model(
    uncalibrated_tagger: Tagger, val_projects: pd.DataFrame, params: dict[str, Any]
) -> tuple[Tagger, dict[str, Any], dict[str, list[dict[str, float]]]]:
    """The shipped model's temperature and default threshold, chosen on the validation split
    (`madewithml.evaluation.calibration`): the tagger with both baked in, a report (before and
    after, the served F1 at every threshold, reliability bins) and its numbers as MLflow metrics.

    `params` is `calibration`: ``temperature_scaling`` (fit a temperature, or keep 1),
    ``threshold`` (``auto``: the one that maximises served weighted F1 on validation, up to
    ``f1_tolerance``; or a number to ship as it is) and ``reliability_bins``.
    """
    tagger, classes = uncalibrated_tagger, uncalibrated_tagger.classes
    other_tag, bins = tagger.settings.other_tag, params["reliability_bins"]
    y_true = val_projects["tag"].tolist()
    raw = tagger.predict_proba(val_projects[["title", "description"]])
    temperature = (
        calibration.fit_temperature(raw, y_true, classes) if params["temperature_scaling"] else 1.0
    )
    calibrated = calibration.temper(raw, temperature)
    curve = calibration.threshold_curve(calibrated, y_true, classes, other_tag)
    chosen = params["threshold"]
    threshold = (
        calibration.choose_threshold(curve, params["f1_tolerance"])
        if chosen == "auto"
        else float(chosen)
    )
    served = calibration.served_answers(calibrated, classes, threshold, other_tag)
    most_likely = calibration.served_answers(calibrated, classes, 0.0, other_tag)

    def scores(probabilities) -> dict[str, float]:
        return {
            "nll": calibration.negative_log_likelihood(probabilities, y_true, classes),
            "ece": calibration.expected_calibration_error(probabilities, y_true, classes, bins),
        }

    report = {
        "split": "validation",
        "rows": len(y_true),
        "temperature": temperature,
        "threshold": threshold,
        "threshold_rule": (
            f"auto: the lowest interval within {params['f1_tolerance']} of the best served "
            "weighted F1 on validation, its midpoint"
            if chosen == "auto"
            else "fixed by calibration.threshold"
        ),
        "before": scores(raw),
        "after": scores(calibrated),
        "served_weighted_f1": _weighted_f1(y_true, served),
        "most_likely_weighted_f1": _weighted_f1(y_true, most_likely),
        "answered_other": float((served == other_tag).mean()),
        "true_other": float(pd.Series(y_true).eq(other_tag).mean()),
        "threshold_curve": curve.to_dict(orient="records"),
        "reliability": {
            "before": calibration.reliability(raw, y_true, classes, bins).to_dict("records"),
            "after": calibration.reliability(calibrated, y_true, classes, bins).to_dict("records"),
        },
    }
    logger.info(
        "calibrated on %d validation projects: temperature %.3f, threshold %.3f (served F1 %.3f,"
        " %.0f %% answered %s; expected calibration error %.3f -> %.3f)",
        len(y_true),
        temperature,
        threshold,
        report["served_weighted_f1"],
        100 * report["answered_other"],
        other_tag,
        report["before"]["ece"],
        report["after"]["ece"],
    )
    settings = replace(tagger.settings, temperature=temperature, threshold=threshold)
    shipped = Tagger(tagger.classifier, tagger.tokenizer, classes, settings, tagger.tfidf_model)
    metrics = {
        "temperature": temperature,
        "threshold": threshold,
        "val_served_f1": report["served_weighted_f1"],
        "val_most_likely_f1": report["most_likely_weighted_f1"],
        "val_answered_other": report["answered_other"],
        "val_ece_before": report["before"]["ece"],
        "val_ece_after": report["after"]["ece"],
        "val_nll_before": report["before"]["nll"],
        "val_nll_after": report["after"]["nll"],
    }
    return shipped, report, metrics_history(metrics)


def _weighted_f1(y_true: list[str], y_pred: Any) -> float:
    """Support-weighted F1 of the answers."""
    return weighted_scores(list(y_true), list(y_pred))["f1"]


def plot_calibration(calibration_report: dict[str, Any]) -> Figure:
    """Validation: reliability before and after temperature scaling, and served weighted F1 and
    the share answered `other` against the threshold, with the chosen one marked."""
    figure = Figure(figsize=(10, 4))
    reliability_axes, threshold_axes = figure.subplots(1, 2)
    reliability_axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for stage, style in (("before", "o--"), ("after", "o-")):
        bins = pd.DataFrame(calibration_report["reliability"][stage]).dropna()
        label = f"{stage} (ECE {calibration_report[stage]['ece']:.3f})"
        reliability_axes.plot(bins["confidence"], bins["accuracy"], style, label=label)
    reliability_axes.set_xlabel("top probability")
    reliability_axes.set_ylabel("accuracy")
    reliability_axes.set_title(f"Reliability (temperature {calibration_report['temperature']:.2f})")
    reliability_axes.legend(loc="upper left")
    draw_threshold_curve(
        threshold_axes,
        pd.DataFrame(calibration_report["threshold_curve"]),
        calibration_report["threshold"],
    )
    threshold_axes.set_title("Validation: served answers by threshold")
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
