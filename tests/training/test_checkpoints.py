"""Checkpoints of the train loop: resuming continues where the checkpoint left off."""

import pytest
import ray.train
import torch
from factories import collated_batches, token_rows
from torch import nn

from madewithml.training.checkpoints import restore_checkpoint, save_checkpoint
from madewithml.training.loop import train_step
from madewithml.training.optim import make_optimizer, make_scheduler


def test_a_resumed_run_continues_the_schedule_where_the_checkpoint_left_it(
    tiny_classifier, tmp_path
):
    def fresh():
        optimizer = make_optimizer("adamw", tiny_classifier, 1e-3, 1e-2, 0.0)
        return optimizer, make_scheduler(optimizer, "linear", 12, 0.25)

    optimizer, scheduler = fresh()
    batches = collated_batches(token_rows(32), batch_size=8)  # 4 steps: past the 3 of warm-up
    train_step(batches, tiny_classifier, nn.CrossEntropyLoss(), optimizer, scheduler)
    history = [{"epoch": 0, "val_loss": 1.0}]
    save_checkpoint(tmp_path, tiny_classifier, optimizer, scheduler, history)

    resumed_optimizer, resumed_scheduler = fresh()
    restored = restore_checkpoint(
        ray.train.Checkpoint.from_directory(tmp_path),
        tiny_classifier,
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


class _Payload:
    """A pickle that runs code when loaded (what a tampered checkpoint would carry)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_with_pickled_code_is_refused_and_the_code_never_runs(tmp_path, tiny_encoder):
    import ray.train  # noqa: PLC0415

    from madewithml.core.classifier import TagClassifier  # noqa: PLC0415
    from madewithml.training.checkpoints import TRAINING_STATE_FILE  # noqa: PLC0415

    model = TagClassifier.from_encoder(str(tiny_encoder), 4, 0.1, "mean")
    folder = tmp_path / "checkpoint"
    model.save(folder)
    marker = tmp_path / "pwned"
    torch.save({"optimizer": _Payload(str(marker)), "scheduler": {}}, folder / TRAINING_STATE_FILE)
    optimizer = make_optimizer("adamw", model, 1e-4, 1e-3, 0.0)
    scheduler = make_scheduler(optimizer, "linear", 10, 0.1)
    with pytest.raises(Exception, match="Weights only load failed"):
        restore_checkpoint(ray.train.Checkpoint.from_directory(folder), model, optimizer, scheduler)
    assert not marker.exists()
    # The weights themselves are safetensors: no pickle at all.
    assert {p.name for p in folder.iterdir()} >= {"model.safetensors", "model_config.json"}
    assert TagClassifier.load(folder).config == model.config
