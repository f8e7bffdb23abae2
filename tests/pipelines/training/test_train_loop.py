"""The train loop's pieces, without Ray: batching, train_step, eval_step."""

import numpy as np
import pytest
import torch
from torch import nn

from madewithml.core.model import TagClassifier
from madewithml.train_loop import collate, eval_step, set_seed, train_step


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


def test_optimizer_and_loss_come_from_the_parameters():
    # Their names are checked by the parameter contract (tests/test_parameters.py).
    from madewithml.train_loop import make_loss, make_optimizer  # noqa: PLC0415

    params = list(nn.Linear(2, 2).parameters())
    for name, kind in [
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("sgd", torch.optim.SGD),
    ]:
        optimizer = make_optimizer(name, params, 1e-3, 0.01)
        assert type(optimizer) is kind
        assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["weight_decay"] == 0.01
    assert make_loss("cross_entropy", 0.1).label_smoothing == 0.1
