"""The training loop that runs inside each Ray Train worker (also the Tune trainable's)."""

from __future__ import annotations

import json
import logging
import random
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import ray.train
import ray.train.torch
import torch
import transformers
from ray.data.collate_fn import NumpyBatchCollateFn
from torch import nn

from madewithml.core.model import TagClassifier
from madewithml.core.tokenization import pad_batch
from madewithml.metrics import weighted_scores

logger = logging.getLogger(__name__)
TRAINING_STATE_FILE = "training_state.pt"
HISTORY_FILE = "history.json"


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch so a run on the CPU repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class DynamicPaddingCollate(NumpyBatchCollateFn):
    """Ray Data collate function: each batch padded to its own longest row."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return collate(batch)


# The names are checked by the parameter contract (madewithml.parameters.Training).
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
LOSSES = {"cross_entropy": nn.CrossEntropyLoss}


def make_optimizer(name: str, parameters, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer named in the parameters (`adam`, `adamw` or `sgd`)."""
    return OPTIMIZERS[name](parameters, lr=lr, weight_decay=weight_decay)


def make_loss(name: str, label_smoothing: float) -> nn.Module:
    """The loss named in the parameters (`cross_entropy`, with optional label smoothing)."""
    return LOSSES[name](label_smoothing=label_smoothing)


def collate(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A training batch: the unpadded ids padded to the batch's longest row, the targets, and
    the projects' `id` where the rows carry one."""
    input_ids, attention_mask = pad_batch(list(batch["input_ids"]))
    target = torch.tensor(batch["target"], dtype=torch.long)  # a copy: Ray's arrays are read-only
    collated = {"input_ids": input_ids, "attention_mask": attention_mask, "target": target}
    if "id" in batch:
        collated["id"] = torch.tensor(np.asarray(batch["id"], dtype=np.int64))
    return collated


_DIGEST_BITS = np.uint64(2**52 - 1)  # a float64 holds it exactly: a metric like any other


def shard_digest(ids: np.ndarray) -> int:
    """An order-independent digest of a set of project ids (XOR of their 64-bit mixes, cut to
    52 bits): the digests of disjoint parts XOR to the digest of the whole."""
    z = np.asarray(ids, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)  # splitmix64
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed = (z ^ (z >> np.uint64(31))) & _DIGEST_BITS
    return int(np.bitwise_xor.reduce(mixed)) if len(mixed) else 0


class ShardTally:
    """What one worker trained on in an epoch: how many rows, and the digest of their ids
    (reported as `train_rows` and `train_digest`, so data-parallel shards can be checked)."""

    def __init__(self) -> None:
        self.rows, self.digest = 0, 0

    def track(
        self, batches: Iterable[dict[str, torch.Tensor]]
    ) -> Iterable[dict[str, torch.Tensor]]:
        for batch in batches:
            self.rows += len(batch["target"])
            if "id" in batch:
                self.digest ^= shard_digest(batch["id"].numpy())
            yield batch


def train_step(
    batches: Iterable[dict[str, torch.Tensor]],
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
) -> float:
    """One pass over the training batches; the mean loss per sample."""
    model.train()
    total, count = 0.0, 0
    for batch in batches:
        optimizer.zero_grad()
        logits = model(batch["input_ids"], batch["attention_mask"])
        loss = loss_fn(logits, batch["target"])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch["target"])
        count += len(batch["target"])
    return total / max(count, 1)


@torch.inference_mode()
def eval_step(
    batches: Iterable[dict[str, torch.Tensor]], model: nn.Module, loss_fn: nn.Module
) -> tuple[float, np.ndarray, np.ndarray]:
    """One pass over the validation batches: mean loss per sample, targets and predictions."""
    model.eval()
    total, count, targets, predictions = 0.0, 0, [], []
    for batch in batches:
        logits = model(batch["input_ids"], batch["attention_mask"])
        total += loss_fn(logits, batch["target"]).item() * len(batch["target"])
        count += len(batch["target"])
        targets.append(batch["target"].numpy())
        predictions.append(logits.argmax(dim=-1).cpu().numpy())
    if not count:
        return float("nan"), np.array([], dtype=int), np.array([], dtype=int)
    return total / count, np.concatenate(targets), np.concatenate(predictions)


def _unwrap(model: nn.Module) -> TagClassifier:
    return model.module if hasattr(model, "module") else model


def _save_checkpoint(folder: Path, model: nn.Module, optimizer, scheduler, history: list) -> None:
    """The model (safetensors + JSON) and what resuming needs: optimizer, scheduler, history."""
    _unwrap(model).save(folder)
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
    torch.save(state, folder / TRAINING_STATE_FILE)
    (folder / HISTORY_FILE).write_text(json.dumps(history))


def _restore(checkpoint: ray.train.Checkpoint, model: nn.Module, optimizer, scheduler) -> list:
    """Load a checkpoint's weights, optimizer and scheduler state; the history so far."""
    with checkpoint.as_directory() as folder:
        _unwrap(model).load_state_dict(TagClassifier.load(folder).state_dict())
        state = torch.load(Path(folder) / TRAINING_STATE_FILE, weights_only=True)
        history = json.loads((Path(folder) / HISTORY_FILE).read_text())
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return history


def _progress_logger() -> logging.Logger:
    """A logger whose lines reach the `kedro run` console from inside a Ray worker."""
    progress = logging.getLogger("madewithml.progress")
    if not progress.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        progress.addHandler(handler)
        progress.setLevel(logging.INFO)
        progress.propagate = False
    return progress


def train_loop_per_worker(config: dict[str, Any]) -> list[dict[str, float]]:
    """Fine-tune the classifier; report metrics and a checkpoint after every epoch.

    `config` holds the training hyperparameters (conf/base/parameters_training.yml) plus
    `encoder_path` and `num_classes`. After a worker failure Ray Train restarts the loop, which
    resumes from the latest checkpoint. Returns the per-epoch metric history (rank 0's becomes
    `Result.return_value`).
    """
    set_seed(config["seed"])
    rank = ray.train.get_context().get_world_rank()
    progress = _progress_logger()
    transformers.logging.set_verbosity_error()  # no weight-loading report per worker
    transformers.logging.disable_progress_bar()
    model = TagClassifier.from_encoder(
        config["encoder_path"], config["num_classes"], config["dropout_p"], config["pooling"]
    )
    model = ray.train.torch.prepare_model(model)
    loss_fn = make_loss(config["loss"], config["label_smoothing"])
    optimizer = make_optimizer(
        config["optimizer"], model.parameters(), config["lr"], config["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config["lr_factor"], patience=config["lr_patience"]
    )
    history: list[dict[str, float]] = []
    if (checkpoint := ray.train.get_checkpoint()) is not None:
        history = _restore(checkpoint, model, optimizer, scheduler)
        progress.info("resumed from the checkpoint of epoch %d", len(history))

    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")
    batch_size, num_epochs = config["batch_size"], config["num_epochs"]
    collate_fn = DynamicPaddingCollate()
    started = time.perf_counter()
    for epoch in range(len(history), num_epochs):
        epoch_started = time.perf_counter()
        set_seed(config["seed"] + epoch)  # an epoch repeats exactly, also after a resume
        train_batches = train_shard.iter_torch_batches(
            batch_size=batch_size,
            collate_fn=collate_fn,
            local_shuffle_buffer_size=config["shuffle_buffer_size"],
            local_shuffle_seed=config["seed"] + epoch,
        )
        tally = ShardTally()
        train_loss = train_step(tally.track(train_batches), model, loss_fn, optimizer)
        val_batches = val_shard.iter_torch_batches(batch_size=batch_size, collate_fn=collate_fn)
        val_loss, y_true, y_pred = eval_step(val_batches, model, loss_fn)
        scheduler.step(val_loss)
        metrics = {
            "epoch": epoch,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_f1": weighted_scores(y_true, y_pred)["f1"],
            "epoch_s": time.perf_counter() - epoch_started,
            "world_size": ray.train.get_context().get_world_size(),
            "train_rows": tally.rows,
            "train_digest": tally.digest,
        }
        history.append(metrics)
        with tempfile.TemporaryDirectory() as folder:
            if rank == 0:
                progress.info(
                    "epoch %d/%d  train_loss %.4f  val_loss %.4f  val_f1 %.4f  lr %.2e  %.0f s",
                    epoch + 1,
                    num_epochs,
                    train_loss,
                    val_loss,
                    metrics["val_f1"],
                    metrics["lr"],
                    time.perf_counter() - started,
                )
                _save_checkpoint(Path(folder), model, optimizer, scheduler, history)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
            else:
                ray.train.report(metrics)
    return history
