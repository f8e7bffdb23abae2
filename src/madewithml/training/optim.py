"""The optimizer, learning-rate schedule, loss and class weights the train loop uses, by the
names in `training` of the parameters."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

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
