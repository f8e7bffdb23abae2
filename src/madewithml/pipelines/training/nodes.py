"""Nodes of the training pipeline: a Ray Train fine-tune, and the model that ships."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure  # plots are files: no pyplot, no backend
from transformers import PreTrainedTokenizerBase

from madewithml.core.linear import LinearTextModel
from madewithml.core.model import TagClassifier
from madewithml.core.tagger import Tagger, TaggerSettings
from madewithml.encoder import resolve_encoder
from madewithml.ray_training import (
    best_model,
    build_trainer,
    fit,
    metric_history,
    remove_run,
    run_name,
    train_loop_config,
)
from madewithml.stopwords import stopwords
from madewithml.text_model import fit_text_model as fit_linear
from madewithml.tracking import MlflowMetricsCallback

logger = logging.getLogger(__name__)


def train_model(
    train_model_input: pd.DataFrame,
    val_model_input: pd.DataFrame,
    class_to_index: dict[str, int],
    encoder: str,
    training: dict[str, Any],
    mlflow_run: dict[str, str],
) -> tuple[TagClassifier, pd.DataFrame]:
    """Fine-tune the encoder + head as a Ray Train `TorchTrainer` job.

    Returns the checkpoint with the lowest validation loss and the per-epoch metric history.
    When `mlflow_run` names a run, every epoch's metrics are logged to it as they are reported.
    """
    loop_config = train_loop_config(training, resolve_encoder(encoder), len(class_to_index))
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


def fit_text_model(
    train_projects: pd.DataFrame, class_to_index: dict[str, int], text_model: dict[str, Any]
) -> LinearTextModel:
    """TF-IDF + logistic regression on the training split's cleaned text."""
    classes = sorted(class_to_index, key=class_to_index.get)
    return fit_linear(train_projects["text"], train_projects["tag"], classes, text_model)


def package_model(
    classifier: TagClassifier,
    tokenizer: PreTrainedTokenizerBase,
    class_to_index: dict[str, int],
    linear: LinearTextModel,
    max_length: int,
    data_processing: dict[str, Any],
    text_model: dict[str, Any],
    inference: dict[str, Any],
) -> Tagger:
    """The model that ships: the classifier with its tokenizer, tags, the text model it blends
    (left out at `text_model.blend_weight` 0) and this run's settings (cleaning, `max_length`,
    the threshold rule), which the `tagger` dataset logs to MLflow and registers."""
    weight = float(text_model["blend_weight"])
    return Tagger(
        classifier,
        tokenizer,
        sorted(class_to_index, key=class_to_index.get),
        TaggerSettings(
            max_length=max_length,
            threshold=float(inference["threshold"]),
            other_tag=data_processing["other_tag"],
            batch_size=inference["batch_size"],
            stopwords=stopwords(data_processing["remove_stopwords"]),
            blend_weight=weight,
        ),
        linear if weight > 0 else None,
    )


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
