"""The train loop's pieces, without Ray: batching by length, the optimizer's two learning
rates, the schedule, class weights, the F1, train_step, eval_step and resuming."""

import numpy as np
import pytest
import ray.train
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score
from sklearn.utils.class_weight import compute_class_weight
from torch import nn

from madewithml.core.classifier import TagClassifier
from madewithml.training.loop import (
    _restore,
    _save_checkpoint,
    batches_of,
    class_weights,
    collate,
    epoch_batches,
    eval_batches,
    eval_step,
    length_bucketed_batches,
    make_loss,
    make_optimizer,
    make_scheduler,
    set_seed,
    shard_rows,
    train_step,
    weighted_f1,
)


def _rows(n: int, length: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Unpadded token ids of different lengths, as Ray Data hands them over (an object array
    of arrays), and targets."""
    rng = np.random.default_rng(seed)
    ids = np.empty(n, dtype=object)
    for i, used in enumerate(rng.integers(3, length - 2, size=n)):
        ids[i] = np.concatenate([[101], rng.integers(1000, 1100, size=used - 1)])
    return {"input_ids": ids, "target": rng.integers(0, 4, size=n)}


def _batches(rows: dict[str, np.ndarray], batch_size: int) -> list[dict[str, torch.Tensor]]:
    n = len(rows["target"])
    return [
        collate({key: value[start : start + batch_size] for key, value in rows.items()})
        for start in range(0, n, batch_size)
    ]


def test_collate_pads_each_batch_to_its_longest_row():
    rows = _rows(5, length=12)
    batch = collate(rows)
    longest = max(len(ids) for ids in rows["input_ids"])
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (5, longest)
    assert batch["input_ids"].dtype == torch.long
    assert batch["target"].tolist() == rows["target"].tolist()
    for ids, padded, mask in zip(
        rows["input_ids"], batch["input_ids"], batch["attention_mask"], strict=True
    ):
        assert padded[: len(ids)].tolist() == ids.tolist()
        assert mask.tolist() == [1] * len(ids) + [0] * (longest - len(ids))


@pytest.fixture
def tiny_model(tiny_encoder) -> TagClassifier:
    set_seed(0)
    return TagClassifier.from_encoder(str(tiny_encoder), 4, 0.0, "mean")


def test_train_step_lowers_the_loss_on_repeated_data(tiny_model):
    batches = _batches(_rows(32), batch_size=8)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(tiny_model.parameters(), lr=1e-2)
    losses = [train_step(batches, tiny_model, loss_fn, optimizer) for _ in range(10)]
    assert losses[-1] < losses[0] * 0.7
    assert tiny_model.training


def test_eval_step_returns_loss_targets_predictions_and_changes_nothing(tiny_model):
    rows = _rows(20)
    batches = _batches(rows, batch_size=6)
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    loss, y_true, y_pred = eval_step(batches, tiny_model, nn.CrossEntropyLoss())
    assert loss > 0
    assert y_true.tolist() == rows["target"].tolist()
    assert y_pred.shape == (20,) and set(y_pred) <= {0, 1, 2, 3}
    assert not tiny_model.training
    after = tiny_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_eval_step_on_no_batches():
    loss, y_true, y_pred = eval_step([], nn.Linear(2, 2), nn.CrossEntropyLoss())
    assert np.isnan(loss) and y_true.size == 0 and y_pred.size == 0


def test_same_seed_same_training(tiny_encoder):
    def run() -> float:
        set_seed(7)
        model = TagClassifier.from_encoder(str(tiny_encoder), 4, 0.3, "mean")
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        return train_step(_batches(_rows(16), 4), model, nn.CrossEntropyLoss(), optimizer)

    assert run() == run()


def test_optimizer_and_loss_come_from_the_parameters(tiny_model):
    # Their names are checked by the parameter contract (tests/test_parameters.py).
    for name, kind in [
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("sgd", torch.optim.SGD),
    ]:
        optimizer = make_optimizer(name, tiny_model, 1e-3, 5e-3, 0.01)
        assert type(optimizer) is kind
        assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 5e-3]
        assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.01]
    assert make_loss("cross_entropy", 0.1).label_smoothing == 0.1
    assert make_loss("cross_entropy", 0.0).weight is None
    weights = torch.tensor([0.5, 2.0])
    assert torch.equal(make_loss("cross_entropy", 0.0, weights).weight, weights)


class _Wrapped(nn.Module):
    """What `ray.train.torch.prepare_model` hands back with several workers: the model as the
    `module` of a wrapper (DistributedDataParallel), its parameter names prefixed."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.module = model


@pytest.mark.parametrize("wrap", [False, True], ids=["model", "ddp-like wrapper"])
def test_the_head_gets_head_lr_and_the_encoder_lr(tiny_model, wrap):
    model = _Wrapped(tiny_model) if wrap else tiny_model
    optimizer = make_optimizer("adamw", model, 1e-4, 1e-3, 0.0)

    encoder_group, head_group = optimizer.param_groups
    assert (encoder_group["lr"], head_group["lr"]) == (1e-4, 1e-3)
    head = {id(tiny_model.head.weight), id(tiny_model.head.bias)}
    assert {id(p) for p in head_group["params"]} == head
    encoder = [id(p) for p in encoder_group["params"]]
    assert len(encoder) == len(set(encoder))  # each parameter once
    assert set(encoder) == {id(p) for p in tiny_model.parameters()} - head
    assert set(encoder) == {id(p) for p in tiny_model.encoder.parameters()}


def test_an_encoder_lr_of_zero_trains_the_head_only(tiny_model):
    optimizer = make_optimizer("sgd", tiny_model, 0.0, 0.5, 0.0)
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    train_step(_batches(_rows(16), 8), tiny_model, nn.CrossEntropyLoss(), optimizer)
    after = tiny_model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"head.weight", "head.bias"}


def _lrs_per_step(schedule: str, total_steps: int, warmup_ratio: float, lrs=(1e-4, 1e-3)):
    """The learning rates of both groups at every training step (before each optimizer step),
    and after the last."""
    groups = [{"params": [nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    optimizer = torch.optim.SGD(groups)
    scheduler = make_scheduler(optimizer, schedule, total_steps, warmup_ratio)
    used = []
    for _ in range(total_steps):
        used.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return np.array(used), [group["lr"] for group in optimizer.param_groups]


@settings(max_examples=200, deadline=None)
@given(total_steps=st.integers(1, 300), warmup_ratio=st.floats(0.0, 0.99))
def test_the_linear_schedule_warms_up_then_decays_to_zero(total_steps, warmup_ratio):
    used, after = _lrs_per_step("linear", total_steps, warmup_ratio)
    warmup = round(warmup_ratio * total_steps)
    encoder = used[:, 0]

    # Both groups follow the same factor: the head keeps its 10x.
    np.testing.assert_allclose(used[:, 1], 10 * encoder, rtol=1e-12)
    # Every step learns; the peak is the configured rate, reached once warm-up is over.
    assert (encoder > 0).all()
    assert encoder.max() == pytest.approx(1e-4)
    # Warm-up: equal increments from lr / warmup up to lr.
    if warmup:
        np.testing.assert_allclose(encoder[:warmup], 1e-4 * np.arange(1, warmup + 1) / warmup)
    # Then equal decrements, down to 0 after the last step.
    decay = encoder[warmup:]
    if len(decay):
        assert decay[0] == pytest.approx(1e-4)
        np.testing.assert_allclose(np.diff(decay), -1e-4 / len(decay), atol=1e-15)
    assert after == pytest.approx([0.0, 0.0], abs=1e-15)


def test_the_linear_schedule_on_an_example():
    used, after = _lrs_per_step("linear", 10, 0.2, lrs=(1.0,))
    expected = [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]
    assert used[:, 0].tolist() == pytest.approx(expected)
    assert after == pytest.approx([0.0])


def test_the_constant_schedule_keeps_the_rates():
    used, after = _lrs_per_step("constant", 12, 0.5)
    assert (used == [1e-4, 1e-3]).all() and after == [1e-4, 1e-3]


@settings(max_examples=200, deadline=None)
@given(
    num_classes=st.integers(1, 6),
    data=st.data(),
)
def test_balanced_class_weights_are_the_inverse_of_each_classs_share(num_classes, data):
    targets = np.array(
        data.draw(st.lists(st.integers(0, num_classes - 1), min_size=1, max_size=200))
    )
    weights = class_weights(targets, num_classes, "balanced").numpy()
    counts = np.bincount(targets, minlength=num_classes)
    present = counts > 0

    # Every present class weighs as much in the loss as any other: count * weight = n / k.
    np.testing.assert_allclose(
        counts[present] * weights[present], len(targets) / num_classes, rtol=1e-6
    )
    if present.all():  # scikit-learn's class_weight="balanced" (which needs every class)
        expected = compute_class_weight("balanced", classes=np.arange(num_classes), y=targets)
        np.testing.assert_allclose(weights, expected, rtol=1e-6)
    assert class_weights(targets, num_classes, "none") is None


def test_balanced_class_weights_on_an_example():
    weights = class_weights(np.array([0, 0, 0, 1, 2, 2]), 4, "balanced")
    assert weights.dtype == torch.float32
    # 6 rows, 4 classes: 6 / (4 * count); a class with no row is weighted as if it had one
    assert weights.tolist() == pytest.approx([0.5, 1.5, 0.75, 1.5])


@settings(max_examples=200, deadline=None)
@given(
    num_classes=st.integers(1, 5),
    data=st.data(),
)
def test_weighted_f1_is_scikit_learns(num_classes, data):
    labels = st.integers(0, num_classes - 1)
    y_true = np.array(data.draw(st.lists(labels, min_size=1, max_size=60)))
    y_pred = np.array(data.draw(st.lists(labels, min_size=len(y_true), max_size=len(y_true))))
    expected = f1_score(y_true, y_pred, average="weighted", zero_division=0)
    assert weighted_f1(y_true, y_pred, num_classes) == pytest.approx(expected, abs=1e-12)


def test_weighted_f1_of_nothing_is_nan():
    assert np.isnan(weighted_f1(np.array([], dtype=int), np.array([], dtype=int), 3))


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
    rows = _rows(64, length=40)
    config = {"batch_size": 8, "seed": 3, "bucket_window": 4}
    first, second = (epoch_batches(rows, config, epoch) for epoch in (0, 1))
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert all(
        np.array_equal(a, b) for a, b in zip(first, epoch_batches(rows, config, 0), strict=True)
    )


def test_validation_batches_cover_every_row_once_by_length():
    rows = _rows(23, length=30)
    batches = eval_batches(rows, 5)
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    order = np.concatenate(batches)
    assert np.array_equal(np.sort(order), np.arange(23))
    lengths = [len(rows["input_ids"][i]) for i in order]
    assert lengths == sorted(lengths)
    collated = list(batches_of(rows, batches))
    assert [b["target"].tolist() for b in collated] == [rows["target"][b].tolist() for b in batches]


class _Shard:
    """What `ray.train.get_dataset_shard` gives the loop, reduced to `iter_batches`."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self.batches = batches

    def iter_batches(self, batch_size: int, batch_format: str):
        assert batch_format == "numpy"
        yield from self.batches


def test_shard_rows_reads_a_shard_into_unpadded_rows():
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.array([101, 7, 8]), np.array([101])]
    shard = _Shard(
        [
            # rows of one length arrive as a 2-D array, others as an object array
            {"id": np.array([1, 2]), "input_ids": np.array([[101, 5], [101, 6]]), "target": [0, 1]},
            {"id": np.array([3, 4]), "input_ids": ragged, "target": np.array([2, 0])},
        ]
    )
    rows = shard_rows(shard)

    assert rows["id"].tolist() == [1, 2, 3, 4]
    assert rows["target"].tolist() == [0, 1, 2, 0]
    assert rows["input_ids"].dtype == object and rows["input_ids"].shape == (4,)
    assert [ids.tolist() for ids in rows["input_ids"]] == [[101, 5], [101, 6], [101, 7, 8], [101]]
    assert all(ids.dtype == np.int64 for ids in rows["input_ids"])
    (batch,) = batches_of(rows, [np.array([3, 2])])
    assert batch["input_ids"].tolist() == [[101, 0, 0], [101, 7, 8]]
    assert batch["id"].tolist() == [4, 3]


def test_a_resumed_run_continues_the_schedule_where_the_checkpoint_left_it(tiny_model, tmp_path):
    def fresh():
        optimizer = make_optimizer("adamw", tiny_model, 1e-3, 1e-2, 0.0)
        return optimizer, make_scheduler(optimizer, "linear", 12, 0.25)

    optimizer, scheduler = fresh()
    batches = _batches(_rows(32), batch_size=8)  # 4 steps: past the 3 of warm-up
    train_step(batches, tiny_model, nn.CrossEntropyLoss(), optimizer, scheduler)
    history = [{"epoch": 0, "val_loss": 1.0}]
    _save_checkpoint(tmp_path, tiny_model, optimizer, scheduler, history)

    resumed_optimizer, resumed_scheduler = fresh()
    restored = _restore(
        ray.train.Checkpoint.from_directory(tmp_path),
        tiny_model,
        resumed_optimizer,
        resumed_scheduler,
    )
    assert restored == history
    assert resumed_scheduler.last_epoch == scheduler.last_epoch == 4
    lrs = [g["lr"] for g in resumed_optimizer.param_groups]
    assert lrs == [g["lr"] for g in optimizer.param_groups]
    assert lrs == pytest.approx([1e-3 * 8 / 9, 1e-2 * 8 / 9])  # step 4 of a 9-step decay
    scheduler.step()
    resumed_scheduler.step()
    assert resumed_scheduler.get_last_lr() == scheduler.get_last_lr()


class _FixedLogits(nn.Module):
    """A "model" whose logits for row i are logits[i] (the row's only token is i)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, input_ids, attention_mask):
        return self.logits[input_ids[:, 0]]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40),
    batch_size=st.integers(1, 40),
    weighted=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_the_validation_loss_is_the_mean_over_all_rows_whatever_the_batches(
    rows, batch_size, weighted, seed
):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, 4, generator=generator)
    targets = torch.randint(0, 4, (rows,), generator=generator)
    weights = torch.tensor([0.5, 1.0, 2.0, 4.0]) if weighted else None
    loss_fn = make_loss("cross_entropy", 0.1, weights)
    whole = loss_fn(logits, targets).item()  # one batch of every row
    batches = [
        {
            "input_ids": torch.arange(start, min(start + batch_size, rows))[:, None],
            "attention_mask": torch.ones(min(batch_size, rows - start), 1, dtype=torch.long),
            "target": targets[start : start + batch_size],
        }
        for start in range(0, rows, batch_size)
    ]
    loss, y_true, _ = eval_step(batches, _FixedLogits(logits), loss_fn)
    assert loss == pytest.approx(whole, rel=1e-5)
    assert y_true.tolist() == targets.tolist()
