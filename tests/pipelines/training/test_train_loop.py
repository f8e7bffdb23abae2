"""The train loop's pieces, without Ray: batching, train_step, eval_step."""

import numpy as np
import pytest
import torch
from torch import nn

from madewithml.model import TagClassifier
from madewithml.train_loop import collate, eval_step, set_seed, to_tensors, train_step


def _rows(n: int, length: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, length - 2, size=n)
    ids = np.zeros((n, length), dtype=np.int64)
    for i, used in enumerate(lengths):
        ids[i, :used] = rng.integers(1000, 1100, size=used)
        ids[i, 0] = 101
    return {
        "input_ids": ids,
        "attention_mask": (ids != 0).astype(np.int64),
        "target": rng.integers(0, 4, size=n),
    }


def _batches(rows: dict[str, np.ndarray], batch_size: int) -> list[dict[str, torch.Tensor]]:
    n = len(rows["target"])
    return [
        collate({key: value[start : start + batch_size] for key, value in rows.items()})
        for start in range(0, n, batch_size)
    ]


def test_collate_cuts_shared_padding_and_keeps_rows():
    rows = _rows(5, length=12)
    batch = collate(rows)
    longest = int(rows["attention_mask"].sum(axis=1).max())
    assert batch["input_ids"].shape == (5, longest)
    assert batch["attention_mask"].shape == (5, longest)
    assert batch["input_ids"].dtype == torch.long
    assert batch["target"].tolist() == rows["target"].tolist()
    # nothing but padding was cut
    assert int(batch["attention_mask"].sum()) == int(rows["attention_mask"].sum())


def test_to_tensors_accepts_ray_style_object_arrays():
    ids = np.empty(2, dtype=object)
    ids[0], ids[1] = np.array([101, 5, 102, 0]), np.array([101, 102, 0, 0])
    masks = np.empty(2, dtype=object)
    masks[0], masks[1] = np.array([1, 1, 1, 0]), np.array([1, 1, 0, 0])
    input_ids, attention_mask = to_tensors(ids, masks)
    assert input_ids.tolist() == [[101, 5, 102], [101, 102, 0]]
    assert attention_mask.tolist() == [[1, 1, 1], [1, 1, 0]]


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


def test_optimizer_and_loss_come_from_the_parameters():
    from madewithml.train_loop import make_loss, make_optimizer  # noqa: PLC0415

    params = nn.Linear(2, 2).parameters()
    assert isinstance(make_optimizer("adam", params, 1e-3, 0.0), torch.optim.Adam)
    assert make_loss("cross_entropy", 0.1).label_smoothing == 0.1
    with pytest.raises(ValueError, match="training.optimizer must be one of"):
        make_optimizer("lion", nn.Linear(2, 2).parameters(), 1e-3, 0.0)
    with pytest.raises(ValueError, match="training.loss must be one of"):
        make_loss("hinge", 0.0)


def test_bad_training_parameters_fail_before_ray_starts_a_job(training_params):
    from madewithml.ray_training import train_loop_config  # noqa: PLC0415

    with pytest.raises(ValueError, match="training.optimizer"):
        train_loop_config({**training_params, "optimizer": "lion"}, "enc", 4)
    missing = {k: v for k, v in training_params.items() if k != "lr"}
    with pytest.raises(ValueError, match=r"missing \['lr'\]"):
        train_loop_config(missing, "enc", 4)
