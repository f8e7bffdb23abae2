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

from madewithml.metrics import weighted_scores
from madewithml.model import TagClassifier

logger = logging.getLogger(__name__)
TRAINING_STATE_FILE = "training_state.pt"
HISTORY_FILE = "history.json"


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch so a run on the CPU repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class DynamicPaddingCollate(NumpyBatchCollateFn):
    """Ray Data collate function: tensors cut to the longest row of the batch."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return collate(batch)


OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
LOSSES = {"cross_entropy": nn.CrossEntropyLoss}


def make_optimizer(name: str, parameters, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer named in the parameters (`adam`, `adamw` or `sgd`)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"training.optimizer must be one of {sorted(OPTIMIZERS)}, not {name!r}")
    return OPTIMIZERS[name](parameters, lr=lr, weight_decay=weight_decay)


def make_loss(name: str, label_smoothing: float) -> nn.Module:
    """The loss named in the parameters (`cross_entropy`, with optional label smoothing)."""
    if name not in LOSSES:
        raise ValueError(f"training.loss must be one of {sorted(LOSSES)}, not {name!r}")
    return LOSSES[name](label_smoothing=label_smoothing)


def to_tensors(input_ids: np.ndarray, attention_mask: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Stack rows of ids and masks and cut the padding they all share (dynamic padding)."""
    ids = torch.tensor(np.stack(input_ids), dtype=torch.long)
    mask = torch.tensor(np.stack(attention_mask), dtype=torch.long)
    length = max(int(mask.sum(dim=1).max()), 1)
    return ids[:, :length], mask[:, :length]


def collate(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A training batch: ids and masks cut to the batch's longest row, and the targets."""
    input_ids, attention_mask = to_tensors(batch["input_ids"], batch["attention_mask"])
    target = torch.tensor(batch["target"], dtype=torch.long)  # a copy: Ray's arrays are read-only
    return {"input_ids": input_ids, "attention_mask": attention_mask, "target": target}


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
        train_loss = train_step(train_batches, model, loss_fn, optimizer)
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
