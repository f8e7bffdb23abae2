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
from torch import nn

from madewithml.console.timeline import mark
from madewithml.core.classifier import TagClassifier
from madewithml.core.tokenization import pad_batch
from madewithml.training.progress import BatchProgress

logger = logging.getLogger(__name__)
TRAINING_STATE_FILE = "training_state.pt"
HISTORY_FILE = "history.json"


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch so a run on the CPU repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# The names are checked by the parameter contract (madewithml.parameters.Training).
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
LOSSES = {"cross_entropy": nn.CrossEntropyLoss}


def make_optimizer(
    name: str, model: nn.Module, lr: float, head_lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """The optimizer named in the parameters (`adam`, `adamw` or `sgd`), with two learning
    rates: `lr` for the pretrained encoder, `head_lr` for the new classification head."""
    head = [p for n, p in model.named_parameters() if n.split(".")[-2] == "head"]
    head_ids = {id(p) for p in head}
    encoder = [p for p in model.parameters() if id(p) not in head_ids]
    groups = [{"params": encoder, "lr": lr}, {"params": head, "lr": head_lr}]
    return OPTIMIZERS[name](groups, lr=lr, weight_decay=weight_decay)


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, total_steps: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate per step: ``linear`` (a linear warm-up over `warmup_ratio` of the
    steps, then a linear decay to 0) or ``constant``."""
    warmup = max(int(round(warmup_ratio * total_steps)), 0)

    def factor(step: int) -> float:
        if schedule == "constant":
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(total_steps - warmup, 1))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_loss(
    name: str, label_smoothing: float, class_weights: torch.Tensor | None = None
) -> nn.Module:
    """The loss named in the parameters (`cross_entropy`, with optional label smoothing and
    class weights)."""
    return LOSSES[name](label_smoothing=label_smoothing, weight=class_weights)


def class_weights(targets: np.ndarray, num_classes: int, weighting: str) -> torch.Tensor | None:
    """``balanced``: each class weighted by the inverse of its share (as scikit-learn's
    ``class_weight="balanced"``); ``none``: no weights."""
    if weighting == "none":
        return None
    counts = np.bincount(targets, minlength=num_classes).astype(np.float64)
    weights = len(targets) / (num_classes * np.maximum(counts, 1))
    return torch.tensor(weights, dtype=torch.float32)


def length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, seed: int, window: int
) -> list[np.ndarray]:
    """Row positions in training batches of similar length, reproducible by `seed`: shuffle,
    cut into windows of `window` batches, sort each window by length, cut it into batches, and
    shuffle the batches. `window` 1 is plain shuffled batches. Each batch is padded to its
    longest row, so similar lengths mean little padding."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    batches = []
    span = batch_size * max(window, 1)
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        if window > 1:
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


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
    progress = logging.getLogger("madewithml.console.progress")
    if not progress.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        progress.addHandler(handler)
        progress.setLevel(logging.INFO)
        progress.propagate = False
    return progress


def frame_rows(frame: Any) -> dict[str, np.ndarray]:
    """The rows of a model-input table (`id`, `input_ids`, `target`) in the form the loop
    batches: `input_ids` an object array of unpadded int64 arrays."""
    ids = np.empty(len(frame), dtype=object)
    ids[:] = [np.asarray(row, dtype=np.int64) for row in frame["input_ids"]]
    return {
        "id": np.asarray(frame["id"]),
        "input_ids": ids,
        "target": np.asarray(frame["target"]),
    }


def worker_rows(config: dict[str, Any], name: str) -> dict[str, np.ndarray]:
    """This worker's rows of dataset `name`: handed over in the loop config when there is one
    worker (`rows`), else its shard of the Ray Dataset."""
    if "rows" in config:
        return frame_rows(config["rows"][name])
    return shard_rows(ray.train.get_dataset_shard(name))


def shard_rows(shard: Any) -> dict[str, np.ndarray]:
    """This worker's rows of a Ray Dataset shard, read once into memory (`id`, `input_ids` as
    an object array of unpadded arrays, `target`): epochs then batch them here, by length."""
    parts: dict[str, list] = {"id": [], "input_ids": [], "target": []}
    for batch in shard.iter_batches(batch_size=4096, batch_format="numpy"):
        for name, values in parts.items():
            values.extend(batch[name])
    rows = {name: np.asarray(values) for name, values in parts.items() if name != "input_ids"}
    ids = np.empty(len(parts["input_ids"]), dtype=object)
    ids[:] = [np.asarray(row, dtype=np.int64) for row in parts["input_ids"]]
    return {**rows, "input_ids": ids}


def batches_of(rows: dict[str, np.ndarray], positions: list[np.ndarray]) -> Iterable[dict]:
    """The collated batches of `rows` at `positions` (one array of row positions per batch)."""
    for batch in positions:
        yield collate({name: values[batch] for name, values in rows.items()})


def epoch_batches(
    rows: dict[str, np.ndarray], config: dict[str, Any], epoch: int
) -> list[np.ndarray]:
    """The training batches of an epoch: by length within windows, shuffled by seed + epoch."""
    lengths = np.fromiter((len(ids) for ids in rows["input_ids"]), dtype=np.int64)
    return length_bucketed_batches(
        lengths, config["batch_size"], config["seed"] + epoch, config["bucket_window"]
    )


def eval_batches(rows: dict[str, np.ndarray], batch_size: int) -> list[np.ndarray]:
    """Validation batches, sorted by length (the order does not change the metrics)."""
    lengths = np.fromiter((len(ids) for ids in rows["input_ids"]), dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def count_worker_nodes(world_size: int) -> int:
    """On how many Ray nodes the workers of this run are (every worker calls this)."""
    node_id = ray.get_runtime_context().get_node_id()
    if world_size == 1 or not torch.distributed.is_initialized():
        return 1
    node_ids: list[str | None] = [None] * world_size
    torch.distributed.all_gather_object(node_ids, node_id)
    return len(set(node_ids))


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
    progress = _progress_logger()
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
    batch_size, num_epochs = config["batch_size"], config["num_epochs"]
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
        history = _restore(checkpoint, model, optimizer, scheduler)
        progress.info("resumed from the checkpoint of epoch %d", len(history))

    started, first = time.perf_counter(), len(history)
    show_bar = config.get("progress_bar", False) and rank == 0
    with BatchProgress(show_bar, steps_per_epoch * num_epochs, steps_per_epoch * first) as bar:
        for epoch in range(first, num_epochs):
            epoch_started = time.perf_counter()
            set_seed(config["seed"] + epoch)  # an epoch repeats exactly, also after a resume
            tally = ShardTally()
            batches = batches_of(train_rows, epoch_batches(train_rows, config, epoch))
            bar.describe(f"epoch {epoch + 1}/{num_epochs}")
            batches = bar.count(batches)
            train_loss = train_step(tally.track(batches), model, loss_fn, optimizer, scheduler)
            val_loss, y_true, y_pred = eval_step(
                batches_of(val_rows, eval_batches(val_rows, batch_size)), model, loss_fn
            )
            metrics = {
                "epoch": epoch,
                "lr": optimizer.param_groups[0]["lr"],
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_f1": weighted_f1(y_true, y_pred, config["num_classes"]),
                "epoch_s": time.perf_counter() - epoch_started,
                "world_size": world_size,
                "worker_nodes": worker_nodes,
                "train_rows": tally.rows,
                "train_digest": tally.digest,
            }
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
                    _save_checkpoint(Path(folder), model, optimizer, scheduler, history)
                    checkpoint = ray.train.Checkpoint.from_directory(folder)
                    ray.train.report(metrics, checkpoint=checkpoint)
                else:
                    ray.train.report(metrics)
            mark(f"worker: epoch {epoch + 1} reported")
    return history
