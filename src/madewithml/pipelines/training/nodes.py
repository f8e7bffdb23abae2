"""Nodes of the training pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from madewithml.encoder import resolve_encoder
from madewithml.model import TagClassifier
from madewithml.ray_training import (
    best_model,
    build_trainer,
    metric_history,
    run_name,
    train_loop_config,
)
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
    result = trainer.fit()
    model, history = best_model(result), metric_history(result)
    best = history.loc[history["val_loss"].idxmin()]
    logger.info(
        "best epoch %d of %d: val_loss %.4f, val_f1 %.4f (Ray Train run at %s)",
        best["epoch"] + 1,
        len(history),
        best["val_loss"],
        best["val_f1"],
        result.path,
    )
    return model, history


def record_model_lineage(
    training_history: pd.DataFrame, mlflow_run: dict[str, str], model_registry: dict[str, str]
) -> dict[str, str | None]:
    """Which MLflow run trained the saved model, and under which registered name it is logged.

    Written after training succeeded (hence `training_history`); evaluation reads it to know
    which registered version its promotion decision is about.
    """
    return {
        "run_id": mlflow_run.get("run_id"),
        "registered_model_name": model_registry["name"],
        "epochs": len(training_history),
    }
