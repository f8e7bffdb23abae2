"""Faults injected for real into training: a Ray Train worker process killed mid-training."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from madewithml.core.classifier import TagClassifier
from madewithml.pipelines.training.nodes import train_model

NUM_EPOCHS = 40  # the tiny model's epochs take well under a second: room to strike mid-way


def _registered_checkpoint_history(storage: Path) -> list[dict] | None:
    """The history saved with the latest checkpoint Ray Train's controller has registered (the
    one a restarted worker gets from `ray.train.get_checkpoint()`), or None yet.

    A reported checkpoint is registered asynchronously: one still in a worker's queue when the
    worker dies is lost, so the fault is injected only after registration.
    """
    for snapshot in storage.glob("*/checkpoint_manager_snapshot.json"):
        try:
            latest = json.loads(snapshot.read_text()).get("latest_checkpoint_result")
            if latest:
                folder = snapshot.parent / latest["checkpoint_dir_name"]
                return json.loads((folder / "history.json").read_text())
        except (OSError, ValueError):  # being written, or removed by retention meanwhile
            continue
    return None


def _alive_train_workers() -> list[dict]:
    from ray.util.state import list_actors  # noqa: PLC0415

    return list_actors(
        filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")], detail=True
    )


def test_a_killed_worker_resumes_from_its_last_checkpoint(
    ray_session, tiny_encoder, tiny_tokenizer, model_inputs, training_params
):
    train, val, class_to_index = model_inputs
    training_params["num_epochs"] = NUM_EPOCHS
    training_params["ray_train"]["max_failures"] = 1  # the default conf survives one failure
    storage = Path(training_params["ray_train"]["storage_path"])
    outcome: dict = {}

    def fit() -> None:
        try:
            outcome["result"] = train_model(
                train, val, class_to_index, tiny_tokenizer, str(tiny_encoder), training_params, {}
            )
        except BaseException as error:  # reported by the assertion below
            outcome["error"] = error

    trainer = threading.Thread(target=fit)
    trainer.start()
    deadline = time.monotonic() + 300
    before_kill = None
    while time.monotonic() < deadline and trainer.is_alive():
        before_kill = _registered_checkpoint_history(storage)
        workers = _alive_train_workers()
        if before_kill and len(before_kill) >= 2 and workers:
            victim = workers[0]["pid"]
            os.kill(victim, signal.SIGKILL)  # the fault: the worker process dies at once
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no checkpoint to strike after: {outcome.get('error')!r}")
    trainer.join(timeout=600)

    assert "error" not in outcome, outcome.get("error")
    model, history = outcome["result"]
    assert len(before_kill) < NUM_EPOCHS, "training ended before the kill: no fault injected"
    # It finished every epoch once, with a valid model.
    assert history["epoch"].tolist() == list(range(NUM_EPOCHS))
    assert isinstance(model, TagClassifier)
    assert history[["train_loss", "val_loss"]].notna().all().all()
    # Epochs up to the registered checkpoint are the very records saved before the kill (their
    # measured durations included): the new worker resumed from it instead of starting over.
    assert history.head(len(before_kill)).to_dict("records") == before_kill
    # The killed process is recorded as a dead worker; another one finished the job.
    from ray.util.state import list_actors  # noqa: PLC0415

    dead = list_actors(
        filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "DEAD")], detail=True
    )
    assert victim in {actor.get("pid") for actor in dead}
