"""The optimizer's two learning rates, the schedule, the loss and the class weights, by the
names in the parameters."""

import numpy as np
import pytest
import torch
from factories import collated_batches, token_rows
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight
from torch import nn

from madewithml.training.loop import train_step
from madewithml.training.optim import class_weights, make_loss, make_optimizer, make_scheduler


def test_optimizer_and_loss_come_from_the_parameters(tiny_classifier):
    # Their names are checked by the parameter contract (tests/test_parameters.py).
    for name, kind in [
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("sgd", torch.optim.SGD),
    ]:
        optimizer = make_optimizer(name, tiny_classifier, 1e-3, 5e-3, 0.01)
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
def test_the_head_gets_head_lr_and_the_encoder_lr(tiny_classifier, wrap):
    model = _Wrapped(tiny_classifier) if wrap else tiny_classifier
    optimizer = make_optimizer("adamw", model, 1e-4, 1e-3, 0.0)

    encoder_group, head_group = optimizer.param_groups
    assert (encoder_group["lr"], head_group["lr"]) == (1e-4, 1e-3)
    head = {id(tiny_classifier.head.weight), id(tiny_classifier.head.bias)}
    assert {id(p) for p in head_group["params"]} == head
    encoder = [id(p) for p in encoder_group["params"]]
    assert len(encoder) == len(set(encoder))  # each parameter once
    assert set(encoder) == {id(p) for p in tiny_classifier.parameters()} - head
    assert set(encoder) == {id(p) for p in tiny_classifier.encoder.parameters()}


def test_an_encoder_lr_of_zero_trains_the_head_only(tiny_classifier):
    optimizer = make_optimizer("sgd", tiny_classifier, 0.0, 0.5, 0.0)
    before = {k: v.clone() for k, v in tiny_classifier.state_dict().items()}
    train_step(
        collated_batches(token_rows(16), 8), tiny_classifier, nn.CrossEntropyLoss(), optimizer
    )
    after = tiny_classifier.state_dict()
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
