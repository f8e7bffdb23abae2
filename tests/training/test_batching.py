"""How the train loop gets its rows and batches them: padding per batch with the pad id,
batches of similar length, reproducible by seed, every row once."""

import numpy as np
import pandas as pd
import ray.train
import torch
from factories import PAD_ID, token_rows
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.training.batching import (
    as_rows,
    batches_of,
    collate,
    epoch_batches,
    eval_batches,
    length_bucketed_batches,
    worker_rows,
)


def test_collate_pads_each_batch_to_its_longest_row():
    rows = token_rows(5, length=12)
    batch = collate(rows, PAD_ID)
    longest = max(len(ids) for ids in rows["input_ids"])
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (5, longest)
    assert batch["input_ids"].dtype == torch.long
    assert batch["target"].tolist() == rows["target"].tolist()
    for ids, padded, mask in zip(
        rows["input_ids"], batch["input_ids"], batch["attention_mask"], strict=True
    ):
        assert padded[: len(ids)].tolist() == ids.tolist()
        assert mask.tolist() == [1] * len(ids) + [0] * (longest - len(ids))


def _padding(lengths: np.ndarray, batches: list[np.ndarray]) -> int:
    """Pad tokens: each batch is padded to its longest row."""
    return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in batches)


bucketing = {
    "lengths": st.lists(st.integers(1, 128), min_size=1, max_size=300).map(np.array),
    "batch_size": st.integers(1, 40),
    "seed": st.integers(0, 2**32 - 1),
    "window": st.integers(1, 10),
}


@settings(max_examples=300, deadline=None)
@given(**bucketing)
def test_bucketed_batches_cover_every_row_once_reproducibly(lengths, batch_size, seed, window):
    batches = length_bucketed_batches(lengths, batch_size, seed, window)

    rows = np.concatenate(batches)
    assert np.array_equal(np.sort(rows), np.arange(len(lengths)))  # every row exactly once
    # as many batches as the schedule counts steps (ceil(rows / batch_size)), at most one short
    assert len(batches) == -(-len(lengths) // batch_size)
    assert sum(len(b) < batch_size for b in batches) <= 1
    assert all(0 < len(b) <= batch_size for b in batches)
    again = length_bucketed_batches(lengths, batch_size, seed, window)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


@settings(max_examples=300, deadline=None)
@given(**bucketing)
def test_bucketing_never_pads_more_than_plain_shuffled_batches(lengths, batch_size, seed, window):
    # With whole batches only: sorting a window by length is then the least padding any split of
    # those rows into batches can have. (A window that ends in a short batch puts its longest rows
    # there, which can cost more than the plain batches of that one window.)
    lengths = lengths[: len(lengths) // batch_size * batch_size]
    if not len(lengths):
        return
    plain = length_bucketed_batches(lengths, batch_size, seed, 1)
    bucketed = length_bucketed_batches(lengths, batch_size, seed, window)
    assert _padding(lengths, bucketed) <= _padding(lengths, plain)


def test_bucketing_cuts_the_padding_of_realistic_lengths():
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(3.5, 0.5, size=610).astype(int), 5, 128)  # ~ the real data

    def padding(window: int) -> float:
        batches = (length_bucketed_batches(lengths, 32, seed, window) for seed in range(5))
        return np.mean([_padding(lengths, b) for b in batches])

    assert padding(8) < 0.3 * padding(1)


def test_each_epoch_is_batched_differently_and_repeats_by_seed():
    rows = token_rows(64, length=40)
    config = {"batch_size": 8, "seed": 3, "bucket_window": 4}
    first, second = (epoch_batches(rows, config, epoch) for epoch in (0, 1))
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert all(
        np.array_equal(a, b) for a, b in zip(first, epoch_batches(rows, config, 0), strict=True)
    )


def test_validation_batches_cover_every_row_once_by_length():
    rows = token_rows(23, length=30)
    batches = eval_batches(rows, 5)
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    order = np.concatenate(batches)
    assert np.array_equal(np.sort(order), np.arange(23))
    lengths = [len(rows["input_ids"][i]) for i in order]
    assert lengths == sorted(lengths)
    collated = list(batches_of(rows, batches, PAD_ID))
    assert [b["target"].tolist() for b in collated] == [rows["target"][b].tolist() for b in batches]


class _Shard:
    """What `ray.train.get_dataset_shard` gives the loop, reduced to `iter_batches`."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self.batches = batches

    def iter_batches(self, batch_size: int, batch_format: str):
        assert batch_format == "numpy"
        yield from self.batches


def test_a_workers_rows_from_its_shard_are_unpadded_arrays(monkeypatch):
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.array([101, 7, 8]), np.array([101])]
    shard = _Shard(
        [
            # rows of one length arrive as a 2-D array, others as an object array
            {"id": np.array([1, 2]), "input_ids": np.array([[101, 5], [101, 6]]), "target": [0, 1]},
            {"id": np.array([3, 4]), "input_ids": ragged, "target": np.array([2, 0])},
        ]
    )
    monkeypatch.setattr(ray.train, "get_dataset_shard", {"train": shard}.get)
    rows = worker_rows({}, "train")

    assert rows["id"].tolist() == [1, 2, 3, 4]
    assert rows["target"].tolist() == [0, 1, 2, 0]
    assert rows["input_ids"].dtype == object and rows["input_ids"].shape == (4,)
    assert [ids.tolist() for ids in rows["input_ids"]] == [[101, 5], [101, 6], [101, 7, 8], [101]]
    assert all(ids.dtype == np.int64 for ids in rows["input_ids"])
    (batch,) = batches_of(rows, [np.array([3, 2])], PAD_ID)
    assert batch["input_ids"].tolist() == [[101, 0, 0], [101, 7, 8]]
    assert batch["id"].tolist() == [4, 3]


def test_one_workers_rows_from_the_loop_config_are_the_same_as_from_a_shard(monkeypatch):
    table = pd.DataFrame(
        {"id": [1, 2], "input_ids": [np.array([101, 5]), np.array([101, 7, 8])], "target": [0, 2]}
    )
    from_config = worker_rows({"rows": {"val": table}}, "val")
    monkeypatch.setattr(
        ray.train,
        "get_dataset_shard",
        {"val": _Shard([{name: table[name].to_numpy() for name in table}])}.get,
    )
    from_shard = worker_rows({}, "val")
    for rows in (from_config, from_shard, as_rows(table)):
        assert rows["id"].tolist() == [1, 2] and rows["target"].tolist() == [0, 2]
        assert [ids.tolist() for ids in rows["input_ids"]] == [[101, 5], [101, 7, 8]]


def test_a_batch_is_padded_with_the_tokenizers_pad_id():
    rows = token_rows(6, length=12)
    batch = collate(rows, pad_id=99)
    mask = batch["attention_mask"].bool()
    assert (batch["input_ids"][~mask] == 99).all() and (~mask).any()
    assert not (batch["input_ids"][mask] == 99).any()
