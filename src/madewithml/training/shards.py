"""What each data-parallel worker trained on (rows and an order-independent digest of their ids)
and on how many nodes the workers are, so that a run can prove its shards were disjoint."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import ray
import torch

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


def count_worker_nodes(world_size: int) -> int:
    """On how many Ray nodes the workers of this run are (every worker calls this)."""
    node_id = ray.get_runtime_context().get_node_id()
    if world_size == 1 or not torch.distributed.is_initialized():
        return 1
    node_ids: list[str | None] = [None] * world_size
    torch.distributed.all_gather_object(node_ids, node_id)
    return len(set(node_ids))
