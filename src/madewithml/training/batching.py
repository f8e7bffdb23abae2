"""How the train loop gets its rows and batches them: rows read once per worker, batches of
similar length (each padded to its longest row with the tokenizer's pad id), reproducible by
seed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import ray.train
import torch

from madewithml.core.tokenization import pad_batch


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


def collate(batch: dict[str, np.ndarray], pad_id: int) -> dict[str, torch.Tensor]:
    """A training batch: the unpadded ids padded with `pad_id` to the batch's longest row, the
    targets, and the projects' `id` where the rows carry one."""
    input_ids, attention_mask = pad_batch(list(batch["input_ids"]), pad_id)
    target = torch.tensor(batch["target"], dtype=torch.long)  # a copy: Ray's arrays are read-only
    collated = {"input_ids": input_ids, "attention_mask": attention_mask, "target": target}
    if "id" in batch:
        collated["id"] = torch.tensor(np.asarray(batch["id"], dtype=np.int64))
    return collated


def as_rows(columns: dict[str, Any]) -> dict[str, np.ndarray]:
    """Model-input rows (`id`, `input_ids`, `target`) in the form the loop batches: `id` and
    `target` arrays, `input_ids` an object array of unpadded int64 arrays. `columns` is a
    model-input table or its columns as lists."""
    token_ids = np.empty(len(columns["input_ids"]), dtype=object)
    token_ids[:] = [np.asarray(row, dtype=np.int64) for row in columns["input_ids"]]
    return {
        "id": np.asarray(columns["id"]),
        "input_ids": token_ids,
        "target": np.asarray(columns["target"]),
    }


def worker_rows(config: dict[str, Any], name: str) -> dict[str, np.ndarray]:
    """This worker's rows of dataset `name`, read once into memory: handed over in the loop
    config when there is one worker (`rows`), else its shard of the Ray Dataset."""
    if "rows" in config:
        return as_rows(config["rows"][name])
    columns: dict[str, list] = {"id": [], "input_ids": [], "target": []}
    for batch in ray.train.get_dataset_shard(name).iter_batches(
        batch_size=4096, batch_format="numpy"
    ):
        for column, values in columns.items():
            values.extend(batch[column])
    return as_rows(columns)


def batches_of(
    rows: dict[str, np.ndarray], positions: list[np.ndarray], pad_id: int
) -> Iterable[dict]:
    """The collated batches of `rows` at `positions` (one array of row positions per batch)."""
    for batch in positions:
        yield collate({name: values[batch] for name, values in rows.items()}, pad_id)


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
