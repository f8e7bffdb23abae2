"""Nodes of the tuning pipeline."""

from __future__ import annotations

import logging
import numbers
from typing import Any

import pandas as pd
from matplotlib.figure import Figure  # plots are files: no pyplot, no backend
from transformers import PreTrainedTokenizerBase

from madewithml.core.tokenization import pad_id
from madewithml.data.encoder import resolve_encoder
from madewithml.datasets.tracking import metrics_history
from madewithml.training.trainer import run_name, train_loop_config
from madewithml.training.tuner import (
    COMPLETED,
    STOPPED_EARLY,
    TrialMlflowCallback,
    best_trial,
    build_tuner,
    trial_tables,
)

logger = logging.getLogger(__name__)


def tune_hyperparameters(
    train_model_input: pd.DataFrame,
    val_model_input: pd.DataFrame,
    class_to_index: dict[str, int],
    tokenizer: PreTrainedTokenizerBase,
    encoder: str,
    training: dict[str, Any],
    tuning: dict[str, Any],
    mlflow_run: dict[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Search the training hyperparameters with Ray Tune; each trial is a Ray Train run.

    Returns the trials table (one row per trial) and the per-epoch history of every trial. When
    `mlflow_run` names a run, every trial is logged as its child run.
    """
    loop_config = train_loop_config(
        training, resolve_encoder(encoder), len(class_to_index), pad_id(tokenizer)
    )
    callbacks = []
    if mlflow_run:
        callbacks.append(
            TrialMlflowCallback(
                mlflow_run["tracking_uri"],
                mlflow_run["run_id"],
                mlflow_run["experiment_id"],
                num_epochs=training["num_epochs"],
            )
        )
    grid = build_tuner(
        train_model_input,
        val_model_input,
        loop_config=loop_config,
        ray_train=training["ray_train"],
        tuning=tuning,
        experiment=run_name("tune"),
        callbacks=callbacks,
    ).fit()
    trials, history = trial_tables(
        grid, list(tuning["search_space"]), training["num_epochs"], tuning["metric"], tuning["mode"]
    )
    best_trial(trials, tuning["metric"], tuning["mode"])  # fails when no trial reported
    failed = trials[trials["outcome"] == "failed"]
    if not failed.empty:
        errors = list(failed["error"])
        logger.warning("%d of %d trials failed: %s", len(failed), len(trials), errors)
    logger.info("tuning done, at %s: %d trials", grid.experiment_path, len(trials))
    return trials, history


def _plain(value: Any) -> Any:
    """A YAML-friendly Python number (numpy scalars are not)."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def select_best_hyperparameters(
    tuning_trials: pd.DataFrame, tuning: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, float]]]]:
    """The best trial's hyperparameters as a `training` parameters block, and summary metrics.

    The block is what `conf/<env>/parameters_*.yml` or `kedro run --params` take; the command
    that trains with it is logged.
    """
    metric, mode = tuning["metric"], tuning["mode"]
    best = best_trial(tuning_trials, metric, mode)
    searched = list(tuning["search_space"])
    values = {name: _plain(best[name]) for name in searched}
    hyperparameters = {"training": values}
    params = ",".join(f"training.{name}={value}" for name, value in values.items())
    logger.info(
        "best trial %s: %s %.4f at epoch %d. Train with it:\n"
        "  kedro run --pipelines=training --params=%s",
        best["trial"],
        metric,
        best[f"best_{metric}"],
        best["best_epoch"],
        params,
    )
    outcomes = tuning_trials["outcome"]
    summary = {
        f"best_{metric}": best[f"best_{metric}"],
        "best_val_f1": best["best_val_f1"],
        "trials": len(tuning_trials),
        "trials_completed": int((outcomes == COMPLETED).sum()),
        "trials_stopped_early": int((outcomes == STOPPED_EARLY).sum()),
    }
    metrics = metrics_history(summary)
    return hyperparameters, metrics


def plot_trials(
    tuning_trials: pd.DataFrame, tuning_history: pd.DataFrame, tuning: dict[str, Any]
) -> Figure:
    """Every trial's validation metric per epoch, and the best value against each hyperparameter."""
    metric = tuning["metric"]
    searched = [name for name in tuning["search_space"] if name in tuning_trials]
    figure = Figure(figsize=(4 * (1 + len(searched)), 3.5))
    axes = figure.subplots(1, 1 + len(searched))
    curves, *scatters = axes
    for trial, epochs in tuning_history.groupby("trial", sort=False):
        curves.plot(epochs["epoch"] + 1, epochs[metric], marker="o", label=str(trial)[:8])
    curves.set_xlabel("epoch")
    curves.set_ylabel(metric)
    curves.set_title("trials")
    colours = (
        tuning_trials["outcome"]
        .map({COMPLETED: "tab:blue", STOPPED_EARLY: "tab:orange"})
        .fillna("tab:red")
    )
    for axis, name in zip(scatters, searched, strict=True):
        axis.scatter(tuning_trials[name], tuning_trials[f"best_{metric}"], c=colours)
        if tuning["search_space"][name].get("distribution") == "loguniform":
            axis.set_xscale("log")
        axis.set_xlabel(name)
        axis.set_ylabel(f"best {metric}")
    figure.suptitle("Tuning: blue completed, orange stopped early by the scheduler, red failed")
    figure.tight_layout()
    return figure
