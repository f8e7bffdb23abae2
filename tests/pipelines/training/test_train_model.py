"""The training node as Kedro runs it: a real Ray Train job on a tiny model."""

import pandas as pd
import pytest

from madewithml.model import TagClassifier
from madewithml.pipelines.training.nodes import train_model


def test_train_model_learns_and_streams_metrics_to_mlflow(
    ray_session, tiny_encoder, model_inputs, training_params, tracking
):
    train, val, class_to_index = model_inputs
    mlflow_run, client = tracking
    model, history = train_model(
        train, val, class_to_index, str(tiny_encoder), training_params, mlflow_run
    )

    assert isinstance(model, TagClassifier)
    assert model.config.num_classes == len(class_to_index)
    assert list(history.columns) == ["epoch", "lr", "train_loss", "val_loss", "val_f1", "epoch_s"]
    assert history["epoch"].tolist() == [0, 1, 2]
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]

    for name in ["train_loss", "val_loss", "val_f1", "lr"]:
        logged = client.get_metric_history(mlflow_run["run_id"], name)
        assert [m.step for m in logged] == [0, 1, 2], name
        assert [m.value for m in logged] == pytest.approx(history[name].tolist())


def test_the_returned_model_is_the_best_checkpoint(
    ray_session, tiny_encoder, model_inputs, training_params
):
    train, val, class_to_index = model_inputs
    training_params["lr"] = 3e-2  # large enough for the validation loss to move around
    model, history = train_model(train, val, class_to_index, str(tiny_encoder), training_params, {})
    best_epoch = int(history["val_loss"].idxmin())

    # Recompute the validation loss of the returned weights: it is the best epoch's.
    import torch  # noqa: PLC0415

    from madewithml.train_loop import collate, eval_step  # noqa: PLC0415

    batch = collate({c: val[c].to_numpy() for c in ["input_ids", "attention_mask", "target"]})
    loss, _, _ = eval_step([batch], model, torch.nn.CrossEntropyLoss())
    assert loss == pytest.approx(history["val_loss"].iloc[best_epoch], rel=1e-4)


def test_same_seed_reproduces_the_metrics(ray_session, tiny_encoder, model_inputs, training_params):
    train, val, class_to_index = model_inputs
    training_params["num_epochs"] = 2
    runs = [
        train_model(train, val, class_to_index, str(tiny_encoder), training_params, {})[1]
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(runs[0].drop(columns="epoch_s"), runs[1].drop(columns="epoch_s"))


def test_two_data_parallel_workers(ray_session, tiny_encoder, model_inputs, training_params):
    # The scale-out path, by configuration only: DDP over 2 workers, training data sharded.
    train, val, class_to_index = model_inputs
    training_params["num_epochs"] = 2
    training_params["ray_train"]["scaling"]["num_workers"] = 2
    model, history = train_model(train, val, class_to_index, str(tiny_encoder), training_params, {})
    assert isinstance(model, TagClassifier)
    assert history["epoch"].tolist() == [0, 1]
    assert history["val_f1"].between(0, 1).all()
