"""The train loop's passes, without Ray: train_step learns, eval_step measures and changes
nothing, the same seed trains the same, the validation loss does not depend on the batches."""

import numpy as np
import pytest
import torch
from factories import collated_batches, token_rows
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from madewithml.core.classifier import TagClassifier
from madewithml.training.loop import eval_step, set_seed, train_step
from madewithml.training.optim import make_loss


def test_train_step_lowers_the_loss_on_repeated_data(tiny_classifier):
    batches = collated_batches(token_rows(32), batch_size=8)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(tiny_classifier.parameters(), lr=1e-2)
    losses = [train_step(batches, tiny_classifier, loss_fn, optimizer) for _ in range(10)]
    assert losses[-1] < losses[0] * 0.7
    assert tiny_classifier.training


def test_eval_step_returns_loss_targets_predictions_and_changes_nothing(tiny_classifier):
    rows = token_rows(20)
    batches = collated_batches(rows, batch_size=6)
    before = {k: v.clone() for k, v in tiny_classifier.state_dict().items()}
    loss, y_true, y_pred = eval_step(batches, tiny_classifier, nn.CrossEntropyLoss())
    assert loss > 0
    assert y_true.tolist() == rows["target"].tolist()
    assert y_pred.shape == (20,) and set(y_pred) <= {0, 1, 2, 3}
    assert not tiny_classifier.training
    after = tiny_classifier.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_eval_step_on_no_batches():
    loss, y_true, y_pred = eval_step([], nn.Linear(2, 2), nn.CrossEntropyLoss())
    assert np.isnan(loss) and y_true.size == 0 and y_pred.size == 0


def test_same_seed_same_training(tiny_encoder):
    def run() -> float:
        set_seed(7)
        model = TagClassifier.from_encoder(str(tiny_encoder), 4, 0.3, "mean")
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        return train_step(
            collated_batches(token_rows(16), 4), model, nn.CrossEntropyLoss(), optimizer
        )

    assert run() == run()


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
