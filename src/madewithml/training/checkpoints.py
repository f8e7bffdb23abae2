"""Ray Train checkpoints of the train loop: the model as safetensors + JSON, and what resuming
needs (optimizer, scheduler, history), loaded with `weights_only` (no pickle runs)."""

from __future__ import annotations

import json
from pathlib import Path

import ray.train
import torch
from torch import nn

from madewithml.core.classifier import TagClassifier

TRAINING_STATE_FILE = "training_state.pt"
HISTORY_FILE = "history.json"


def unwrap(model: nn.Module) -> TagClassifier:
    """The classifier inside a DDP wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def save_checkpoint(folder: Path, model: nn.Module, optimizer, scheduler, history: list) -> None:
    """The model (safetensors + JSON) and what resuming needs: optimizer, scheduler, history."""
    unwrap(model).save(folder)
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
    torch.save(state, folder / TRAINING_STATE_FILE)
    (folder / HISTORY_FILE).write_text(json.dumps(history))


def restore_checkpoint(
    checkpoint: ray.train.Checkpoint, model: nn.Module, optimizer, scheduler
) -> list:
    """Load a checkpoint's weights, optimizer and scheduler state; the history so far."""
    with checkpoint.as_directory() as folder:
        unwrap(model).load_state_dict(TagClassifier.load(folder).state_dict())
        state = torch.load(Path(folder) / TRAINING_STATE_FILE, weights_only=True)
        history = json.loads((Path(folder) / HISTORY_FILE).read_text())
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return history


def load_checkpoint(checkpoint: ray.train.Checkpoint | str) -> TagClassifier:
    """The model of a Ray Train checkpoint (or of its path: local, or a storage URI)."""
    if isinstance(checkpoint, str):
        checkpoint = ray.train.Checkpoint(checkpoint)
    with checkpoint.as_directory() as folder:
        return TagClassifier.load(folder)
