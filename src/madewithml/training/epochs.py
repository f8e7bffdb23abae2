"""What the train loop reports after every epoch: the one definition of the epoch metrics' names.

The train loop reports an `EpochReport`; Ray Train keeps checkpoints by `BEST`; the training
history, the tuning history and the training-curves plot are its `CURVE` columns; MLflow logs
every number but `NOT_LOGGED`; Tune may optimise any of `TUNING_METRICS` (the parameter contract
checks `tuning.metric` against them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np


@dataclass(frozen=True)
class EpochReport:
    """One epoch of one worker."""

    epoch: int  # from 0
    lr: float  # the encoder's learning rate at the epoch's end
    train_loss: float  # mean per training sample
    val_loss: float  # over every validation sample, class-weighted as the loss is
    val_f1: float  # support-weighted F1 of the most likely tag on validation
    epoch_s: float  # wall seconds of the epoch
    world_size: int  # data-parallel workers
    worker_nodes: int  # Ray nodes the workers are on
    train_rows: int  # training rows this worker saw (its shard)
    train_digest: int  # `madewithml.training.shards.shard_digest` of their ids

    def as_metrics(self) -> dict[str, float]:
        """The report as Ray Train metrics."""
        return asdict(self)


NAMES = tuple(field.name for field in fields(EpochReport))
CURVE = ("epoch", "lr", "train_loss", "val_loss", "val_f1")  # the learning curves
BEST = ("val_loss", "min")  # which checkpoint is the model: the lowest validation loss
NOT_LOGGED = frozenset({"epoch", "train_digest"})  # the step, and an identifier
TUNING_METRICS = ("val_loss", "val_f1", "train_loss")


def weighted_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Support-weighted F1 (as scikit-learn's ``average="weighted"``), in NumPy: the worker
    does not import scikit-learn for one number."""
    if not len(y_true):
        return float("nan")
    scores = []
    for c in range(num_classes):
        true_positive = np.sum((y_pred == c) & (y_true == c))
        predicted, actual = np.sum(y_pred == c), np.sum(y_true == c)
        denominator = predicted + actual
        scores.append(2 * true_positive / denominator if denominator else 0.0)
    support = np.bincount(y_true, minlength=num_classes)
    return float(np.dot(scores, support) / support.sum())
