"""Ray Tune over the Ray Train loop: search space, trials, scheduler and their results.

Each Tune trial is a function trainable that builds and fits the same `TorchTrainer` as the
training pipeline (`madewithml.training.trainer.build_trainer`) with a `TuneReportCallback`, which
forwards every epoch's report to Tune (the Ray Train V2 + Tune pattern: Tune does not take a
trainer itself).
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient
from ray import tune
from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.tune.integration.ray_train import CHECKPOINT_PATH_KEY, TuneReportCallback
from ray.tune.result import AUTO_RESULT_KEYS, TRAINING_ITERATION
from ray.tune.schedulers import AsyncHyperBandScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from madewithml.console.timeline import mark
from madewithml.training.epochs import CURVE, TUNING_METRICS
from madewithml.training.trainer import build_trainer, fit, storage_uri

logger = logging.getLogger(__name__)

COMPLETED, STOPPED_EARLY, FAILED = "completed", "stopped_early", "failed"


def _integer(low: int, high: int):
    return tune.randint(int(low), int(high) + 1)  # both bounds included, as the parameters read


DISTRIBUTIONS = {
    "uniform": lambda spec: tune.uniform(spec["low"], spec["high"]),
    "loguniform": lambda spec: tune.loguniform(spec["low"], spec["high"]),
    "integer": lambda spec: _integer(spec["low"], spec["high"]),
    "choice": lambda spec: tune.choice(spec["values"]),
}


def search_space(spec: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Tune's search space from `tuning.search_space`: ``{name: {distribution, low, high}}``
    (checked by the parameter contract, `madewithml.parameters.Tuning`)."""
    return {name: DISTRIBUTIONS[entry["distribution"]](entry) for name, entry in spec.items()}


def initial_point(space: dict[str, Any], training: dict[str, Any]) -> dict[str, Any]:
    """The training parameters' current values of the searched hyperparameters."""
    return {name: training[name] for name in space}


def trial_outcome(epochs: int, num_epochs: int, failed: bool) -> str:
    """``failed``, ``completed`` (every epoch ran) or ``stopped_early`` (by the scheduler)."""
    if failed:
        return FAILED
    return COMPLETED if epochs >= num_epochs else STOPPED_EARLY


def train_run_name(experiment: str, trial_id: str) -> str:
    """The name (and folder, under the storage path) of a trial's Ray Train run."""
    return f"{experiment}_trial_{trial_id}"


def run_trial(
    config: dict[str, Any],
    *,
    train: pd.DataFrame,
    val: pd.DataFrame,
    loop_config: dict[str, Any],
    ray_train: dict[str, Any],
    experiment: str,
    score: tuple[str, str],
) -> None:
    """One Tune trial: a Ray Train run of the train loop with the trial's hyperparameters."""
    trial_id = tune.get_context().get_trial_id()
    mark(f"trial {trial_id} started")
    trainer = build_trainer(
        train,
        val,
        loop_config={**loop_config, **config},
        ray_train=ray_train,
        name=train_run_name(experiment, trial_id),
        callbacks=[TuneReportCallback()],
        score=score,
    )
    fit(trainer)


class TrialMlflowCallback(MLflowLoggerCallback):
    """Each trial as a child MLflow run of the `kedro run`'s run: its hyperparameters, every
    epoch's metrics, and a ``trial_status`` tag (completed, stopped_early or failed)."""

    def __init__(self, tracking_uri: str, run_id: str, experiment_id: str, num_epochs: int):
        super().__init__(tracking_uri, tags={"mlflow.parentRunId": run_id})
        self._experiment_id = experiment_id
        self._num_epochs = num_epochs

    def setup(self, *args, **kwargs) -> None:
        # The parent's experiment, by id (the base class would look one up by name).
        self.mlflow_util.setup_mlflow(
            tracking_uri=self.tracking_uri, experiment_id=self._experiment_id
        )
        self._trial_runs = {}

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        # What the train loop reported (Tune's bookkeeping, pid, timestamp, ..., left out),
        # at step = the epoch's number from 1, as Tune counts iterations.
        metrics = {
            name: value
            for name, value in result.items()
            if name not in AUTO_RESULT_KEYS and name != "epoch"
            if isinstance(value, numbers.Number) and not isinstance(value, bool)
        }
        metrics[TRAINING_ITERATION] = result[TRAINING_ITERATION]
        super().log_trial_result(iteration, trial, metrics)

    def log_trial_end(self, trial, failed: bool = False) -> None:
        epochs = int((trial.last_result or {}).get("training_iteration", 0))
        outcome = trial_outcome(epochs, self._num_epochs, failed)
        try:
            client = MlflowClient(tracking_uri=self.tracking_uri)
            client.set_tag(self._trial_runs[trial], "trial_status", outcome)
        except Exception:  # tracking must never stop tuning
            logger.exception("could not tag the MLflow run of trial %s", trial)
        super().log_trial_end(trial, failed)


def build_tuner(
    train: pd.DataFrame,
    val: pd.DataFrame,
    *,
    loop_config: dict[str, Any],
    ray_train: dict[str, Any],
    tuning: dict[str, Any],
    experiment: str,
    callbacks: list | None = None,
) -> tune.Tuner:
    """A `Tuner` over `run_trial`: Optuna's TPE (starting at the training parameters) behind a
    concurrency limit, and asynchronous HyperBand over epochs."""
    metric, mode = tuning["metric"], tuning["mode"]
    space = search_space(tuning["search_space"])
    import optuna  # noqa: PLC0415 - only for building the sampler

    searcher = OptunaSearch(
        points_to_evaluate=[initial_point(space, loop_config)],
        sampler=optuna.samplers.TPESampler(
            n_startup_trials=tuning["n_initial_points"], seed=loop_config["seed"]
        ),
    )
    scheduler = AsyncHyperBandScheduler(
        time_attr="training_iteration",
        max_t=loop_config["num_epochs"],
        grace_period=tuning["scheduler"]["grace_period"],
        reduction_factor=tuning["scheduler"]["reduction_factor"],
    )
    # Resolved here: a trial runs in its own working directory, where a relative path would
    # point somewhere else.
    storage = storage_uri(ray_train["storage_path"])
    trainable = tune.with_parameters(
        run_trial,
        train=train,
        val=val,
        loop_config=loop_config,
        ray_train={**ray_train, "storage_path": storage},
        experiment=experiment,
        score=(metric, mode),
    )
    return tune.Tuner(
        tune.with_resources(trainable, tuning["trial_resources"]),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            search_alg=ConcurrencyLimiter(searcher, tuning["max_concurrent_trials"]),
            scheduler=scheduler,
            num_samples=tuning["num_runs"],
        ),
        run_config=tune.RunConfig(
            name=experiment,
            storage_path=storage,
            callbacks=callbacks or [],
            verbose=tuning.get("verbose", 1),
        ),
    )


def trial_tables(
    grid: tune.ResultGrid,
    searched: list[str],
    num_epochs: int,
    metric: str,
    mode: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials, history): one row per trial, and one row per trial and epoch.

    A trial's row has its hyperparameters, outcome, number of epochs, and its best epoch by
    `metric` with that epoch's metrics and checkpoint path (empty when no epoch was reported).
    The best epoch is the best of those whose checkpoints the trial's Ray Train run kept (beside
    the experiment's folder, `train_run_name`): when the scheduler stops a trial, its Train run
    may finish one more epoch before it ends, unseen by Tune, and when that epoch scores better
    Ray Train deletes the checkpoint of the best epoch Tune saw.
    """
    storage, experiment = grid.experiment_path.rstrip("/").rsplit("/", 1)
    trials, history = [], []
    for result in grid:
        frame = result.metrics_dataframe
        rows = [] if frame is None else frame.to_dict("records")
        trial_id = (result.metrics or {}).get("trial_id") or result.path.rstrip("/").split("/")[-1]
        config = {name: result.config.get(name) for name in searched}
        history += [{"trial": trial_id, **{name: row.get(name) for name in CURVE}} for row in rows]
        kept = kept_checkpoints(f"{storage}/{train_run_name(experiment, trial_id)}")
        scored = [row for row in (kept or rows) if _finite(row.get(metric))]
        best = best_epoch(scored, metric, mode)
        trials.append(
            {
                "trial": trial_id,
                **config,
                "outcome": trial_outcome(len(rows), num_epochs, result.error is not None),
                # what ran: an epoch after the scheduler's stop counts once its checkpoint is kept
                "epochs": max(len(rows), int(best["epoch"]) + 1 if best else 0),
                "best_epoch": int(best["epoch"]) + 1 if best else None,
                **{f"best_{name}": best.get(name) for name in sorted(TUNING_METRICS)},
                "checkpoint_path": best.get(CHECKPOINT_PATH_KEY),
                "error": None if result.error is None else _last_line(result.error),
            }
        )
    return pd.DataFrame(trials), pd.DataFrame(history, columns=["trial", *CURVE])


def best_epoch(rows: list[dict], metric: str, mode: str) -> dict:
    """The best of the epochs' metrics by `metric` ({} when none): of equal scores, the later
    epoch, as Ray Train keeps the later of two equal checkpoints."""
    if mode == "min":
        return min(rows, key=lambda row: (row[metric], -row["epoch"]), default={})
    return max(rows, key=lambda row: (row[metric], row["epoch"]), default={})


def kept_checkpoints(train_run: str) -> list[dict]:
    """The metrics of each checkpoint a Ray Train run kept, with its path under
    `CHECKPOINT_PATH_KEY` ([] when the run kept none or left no record: it failed first)."""
    import ray.train  # noqa: PLC0415

    try:
        result = ray.train.Result.from_path(train_run)
    except RuntimeError:  # no such folder, or no checkpoint was ever reported there
        return []
    return [
        {**metrics, CHECKPOINT_PATH_KEY: checkpoint.path}
        for checkpoint, metrics in result.best_checkpoints or []
    ]


def best_trial(trials: pd.DataFrame, metric: str, mode: str) -> pd.Series:
    """The trial with the best epoch by `metric` among those that reported one."""
    scored = trials[trials[f"best_{metric}"].notna()]
    if scored.empty:
        errors = "; ".join(str(error) for error in trials["error"].dropna().unique())
        raise RuntimeError(f"no Tune trial reported {metric!r}: {errors or 'no trial ran'}")
    best = scored[f"best_{metric}"].idxmin() if mode == "min" else scored[f"best_{metric}"].idxmax()
    return trials.loc[best]


def _last_line(error: BaseException) -> str:
    """What went wrong, in one line: the last line of Ray's report (the exception itself),
    without its terminal colours."""
    lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line]
    return lines[-1].strip() if lines else type(error).__name__


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Number) and math.isfinite(value)
