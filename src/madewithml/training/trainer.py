"""Ray Train jobs: a `TorchTrainer` over the train loop, built from the training parameters.

Shared by the training pipeline and by every Tune trial, so both run the same loop the same way.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import ray.data
import ray.train
from ray.train.torch import TorchTrainer

from madewithml.console.progress import show_progress_bar
from madewithml.console.timeline import mark
from madewithml.core.classifier import TagClassifier
from madewithml.training.checkpoints import HISTORY_FILE, load_checkpoint
from madewithml.training.epochs import BEST, CURVE
from madewithml.training.loop import train_loop_per_worker

MODEL_INPUT_COLUMNS = ["id", "input_ids", "target"]


def storage_uri(path: str) -> str:
    """Ray needs an absolute path or a URI: a relative path is taken from the project root."""
    if "://" in path:
        return path
    return str(Path(path).expanduser().resolve())


def train_loop_config(
    training: dict[str, Any], encoder_path: str, num_classes: int, pad_id: int
) -> dict:
    """What every worker's `train_loop_per_worker` receives: the training hyperparameters (every
    key of `training` but `ray_train`, as checked by the parameter contract before the run), the
    encoder, the number of classes and the tokenizer's pad id."""
    config = {name: value for name, value in training.items() if name != "ray_train"}
    return {**config, "encoder_path": encoder_path, "num_classes": num_classes, "pad_id": pad_id}


def build_trainer(
    train: pd.DataFrame,
    val: pd.DataFrame,
    *,
    loop_config: dict[str, Any],
    ray_train: dict[str, Any],
    name: str,
    callbacks: list | None = None,
    score: tuple[str, str] = BEST,
) -> TorchTrainer:
    """A `TorchTrainer` whose scaling, checkpoints and failure handling come from `ray_train`.

    `ray_train` is `training.ray_train` of the parameters: `scaling` (num_workers, use_gpu,
    resources_per_worker), `storage_path`, `checkpoints_to_keep`, `max_failures`, `log_level`
    and `progress_bar` (decided here, where the bar is drawn). `score` (metric, mode) decides
    which checkpoints are kept.
    """
    scaling = ray_train["scaling"]
    loop_config = {
        **loop_config,
        "progress_bar": show_progress_bar(ray_train.get("progress_bar", "auto")),
    }
    if scaling["num_workers"] > 1:
        # Several workers get disjoint shards of the training data through Ray Data's
        # streaming split (a coordinator actor per dataset); each reads all of `val`.
        datasets = {
            "train": ray.data.from_pandas(train[MODEL_INPUT_COLUMNS]),
            "val": ray.data.from_pandas(val[MODEL_INPUT_COLUMNS]),
        }
        dataset_config = ray.train.DataConfig(datasets_to_split=["train"])
    else:
        # One worker reads everything: the tables travel with the loop config (a few hundred
        # KB), without starting Ray Data's executor in the worker.
        datasets, dataset_config = None, None
        loop_config = {
            **loop_config,
            "rows": {"train": train[MODEL_INPUT_COLUMNS], "val": val[MODEL_INPUT_COLUMNS]},
        }
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        datasets=datasets,
        dataset_config=dataset_config,
        scaling_config=ray.train.ScalingConfig(
            num_workers=scaling["num_workers"],
            use_gpu=scaling["use_gpu"],
            resources_per_worker=scaling.get("resources_per_worker"),
            placement_strategy=scaling.get("placement_strategy", "PACK"),
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=storage_uri(ray_train["storage_path"]),
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=ray_train["checkpoints_to_keep"],
                checkpoint_score_attribute=score[0],
                checkpoint_score_order=score[1],
            ),
            failure_config=ray.train.FailureConfig(max_failures=ray_train["max_failures"]),
            callbacks=callbacks or [],
            # Ray Train's own console lines (worker group start, each checkpoint and report);
            # the loop prints one line per epoch itself.
            logging_config=ray.train.LoggingConfig(log_level=ray_train.get("log_level", "INFO")),
        ),
    )


def run_name(prefix: str = "train") -> str:
    """A fresh Ray Train run name: Ray Train V2 resumes a run whose name exists in storage."""
    return f"{prefix}_{time.strftime('%Y%m%d-%H%M%S')}_{time.time_ns() % 1_000_000:06d}"


def fit(trainer: TorchTrainer) -> ray.train.Result:
    """Run the Ray Train job (marked on the run's timeline)."""
    mark("ray train fit started")
    result = trainer.fit()
    mark("ray train fit returned")
    return result


def best_model(result: ray.train.Result) -> TagClassifier:
    """The model of the best checkpoint (`madewithml.training.epochs.BEST`: the lowest
    validation loss)."""
    if result.error is not None:
        raise result.error
    metric, mode = BEST
    best = result.get_best_checkpoint(metric=metric, mode=mode)
    if best is None:
        raise RuntimeError(f"Ray Train run {result.path} reported no checkpoint")
    model = load_checkpoint(best)
    mark("best checkpoint loaded")
    return model


def remove_run(result: ray.train.Result) -> None:
    """Delete a finished run's folder (its checkpoints) from Ray's storage: once the best model
    is in memory, MLflow and data/06_models hold the copies that matter."""
    result.filesystem.delete_dir(result.path)


def metric_history(result: ray.train.Result) -> pd.DataFrame:
    """One row per epoch: every `EpochReport` of rank 0 (`CURVE` columns first)."""
    history = result.return_value
    if history is None and result.checkpoint is not None:
        with result.checkpoint.as_directory() as folder:
            history = json.loads((Path(folder) / HISTORY_FILE).read_text())
    frame = pd.DataFrame(history or [])
    return frame[[*CURVE, *(c for c in frame.columns if c not in CURVE)]] if len(frame) else frame
