"""The training loop that runs inside each Ray Train worker (also in every Tune trial): one
pass over the training batches and one over validation per epoch, a report and a checkpoint
after each. What it uses lives beside it: `batching` (rows and batches), `optim` (optimizer,
schedule, loss), `checkpoints`, `shards` (what each worker saw) and `epochs` (the report)."""

from __future__ import annotations

import random
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
from torch import nn

from madewithml.console.progress import console_logger
from madewithml.console.timeline import mark
from madewithml.core.classifier import TagClassifier
from madewithml.training.batching import batches_of, epoch_batches, eval_batches, worker_rows
from madewithml.training.checkpoints import restore_checkpoint, save_checkpoint
from madewithml.training.epochs import EpochReport, weighted_f1
from madewithml.training.optim import class_weights, make_loss, make_optimizer, make_scheduler
from madewithml.training.progress import BatchProgress
from madewithml.training.shards import ShardTally, count_worker_nodes


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch so a run on the CPU repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_step(
    batches: Iterable[dict[str, torch.Tensor]],
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> float:
    """One pass over the training batches (the scheduler steps per batch); the mean loss per
    sample."""
    model.train()
    total, count = 0.0, 0
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        logits = model(batch["input_ids"], batch["attention_mask"])
        loss = loss_fn(logits, batch["target"])
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(batch["target"])
        count += len(batch["target"])
    return total / max(count, 1)


@torch.inference_mode()
def eval_step(
    batches: Iterable[dict[str, torch.Tensor]], model: nn.Module, loss_fn: nn.Module
) -> tuple[float, np.ndarray, np.ndarray]:
    """One pass over the validation batches: the loss's mean over every sample (weighted by class
    as the loss is, whatever the batches), targets and predictions."""
    model.eval()
    total, count, targets, predictions = 0.0, 0.0, [], []
    class_weight = getattr(loss_fn, "weight", None)
    for batch in batches:
        logits = model(batch["input_ids"], batch["attention_mask"])
        # A class-weighted loss is a batch's sum over the sum of its rows' weights.
        weight = (
            float(class_weight[batch["target"]].sum())
            if class_weight is not None
            else len(batch["target"])
        )
        total += loss_fn(logits, batch["target"]).item() * weight
        count += weight
        targets.append(batch["target"].numpy())
        predictions.append(logits.argmax(dim=-1).cpu().numpy())
    if not count:
        return float("nan"), np.array([], dtype=int), np.array([], dtype=int)
    return total / count, np.concatenate(targets), np.concatenate(predictions)


def train_loop_per_worker(config: dict[str, Any]) -> list[dict[str, float]]:
    """Fine-tune the classifier; report metrics and a checkpoint after every epoch.

    `config` holds the training hyperparameters (conf/base/parameters_training.yml) plus
    `encoder_path` and `num_classes`. Each worker reads its training rows once (one worker: the
    tables in `config["rows"]`; several: disjoint shards of Ray Data's split) and batches them
    by length every epoch. After a worker failure Ray Train restarts the loop, which resumes
    from the latest checkpoint. Returns the per-epoch metric history (rank 0's becomes
    `Result.return_value`).
    """
    mark("worker: loop started")
    set_seed(config["seed"])
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    progress = console_logger()
    transformers.logging.set_verbosity_error()  # no weight-loading report per worker
    transformers.logging.disable_progress_bar()
    model = TagClassifier.from_encoder(
        config["encoder_path"], config["num_classes"], config["dropout_p"], config["pooling"]
    )
    model = ray.train.torch.prepare_model(model)
    worker_nodes = count_worker_nodes(world_size)
    mark("worker: model ready")
    train_rows = worker_rows(config, "train")
    val_rows = worker_rows(config, "val")
    mark("worker: data ready")
    batch_size, num_epochs, pad_id = config["batch_size"], config["num_epochs"], config["pad_id"]
    steps_per_epoch = -(-len(train_rows["target"]) // batch_size)
    loss_fn = make_loss(
        config["loss"],
        config["label_smoothing"],
        class_weights(train_rows["target"], config["num_classes"], config["class_weighting"]),
    )
    optimizer = make_optimizer(
        config["optimizer"], model, config["lr"], config["head_lr"], config["weight_decay"]
    )
    scheduler = make_scheduler(
        optimizer, config["lr_schedule"], steps_per_epoch * num_epochs, config["warmup_ratio"]
    )
    history: list[dict[str, float]] = []
    if (checkpoint := ray.train.get_checkpoint()) is not None:
        history = restore_checkpoint(checkpoint, model, optimizer, scheduler)
        progress.info("resumed from the checkpoint of epoch %d", len(history))

    started, first = time.perf_counter(), len(history)
    show_bar = config.get("progress_bar", False) and rank == 0
    with BatchProgress(show_bar, steps_per_epoch * num_epochs, steps_per_epoch * first) as bar:
        for epoch in range(first, num_epochs):
            epoch_started = time.perf_counter()
            set_seed(config["seed"] + epoch)  # an epoch repeats exactly, also after a resume
            tally = ShardTally()
            batches = batches_of(train_rows, epoch_batches(train_rows, config, epoch), pad_id)
            bar.describe(f"epoch {epoch + 1}/{num_epochs}")
            batches = bar.count(batches)
            train_loss = train_step(tally.track(batches), model, loss_fn, optimizer, scheduler)
            val_loss, y_true, y_pred = eval_step(
                batches_of(val_rows, eval_batches(val_rows, batch_size), pad_id), model, loss_fn
            )
            metrics = EpochReport(
                epoch=epoch,
                lr=optimizer.param_groups[0]["lr"],
                train_loss=train_loss,
                val_loss=val_loss,
                val_f1=weighted_f1(y_true, y_pred, config["num_classes"]),
                epoch_s=time.perf_counter() - epoch_started,
                world_size=world_size,
                worker_nodes=worker_nodes,
                train_rows=tally.rows,
                train_digest=tally.digest,
            ).as_metrics()
            history.append(metrics)
            mark(f"worker: epoch {epoch + 1} trained")
            with tempfile.TemporaryDirectory() as folder:
                if rank == 0:
                    elapsed = time.perf_counter() - started
                    left = elapsed / (epoch + 1 - first) * (num_epochs - epoch - 1)
                    progress.info(
                        "epoch %d/%d  train_loss %.4f  val_loss %.4f  val_f1 %.4f  "
                        "%.0f s, %.0f s left",
                        epoch + 1,
                        num_epochs,
                        train_loss,
                        val_loss,
                        metrics["val_f1"],
                        elapsed,
                        left,
                    )
                    save_checkpoint(Path(folder), model, optimizer, scheduler, history)
                    checkpoint = ray.train.Checkpoint.from_directory(folder)
                    ray.train.report(metrics, checkpoint=checkpoint)
                else:
                    ray.train.report(metrics)
            mark(f"worker: epoch {epoch + 1} reported")
    return history
