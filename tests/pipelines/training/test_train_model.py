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


def test_same_seed_reproduces_the_metrics_and_the_predictions(
    ray_session, tiny_encoder, model_inputs, training_params
):
    import torch  # noqa: PLC0415

    from madewithml.train_loop import collate  # noqa: PLC0415

    train, val, class_to_index = model_inputs
    training_params["num_epochs"] = 2
    (first, first_history), (second, second_history) = (
        train_model(train, val, class_to_index, str(tiny_encoder), training_params, {})
        for _ in range(2)
    )
    pd.testing.assert_frame_equal(
        first_history.drop(columns="epoch_s"), second_history.drop(columns="epoch_s")
    )
    batch = collate({c: val[c].to_numpy() for c in ["input_ids", "attention_mask", "target"]})
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        first_probabilities = first.predict_proba(ids, mask)
        second_probabilities = second.predict_proba(ids, mask)
    assert (first_probabilities == second_probabilities).all()  # bit for bit, on every row


def test_two_data_parallel_workers(ray_session, tiny_encoder, model_inputs, training_params):
    # The scale-out path, by configuration only: DDP over 2 workers, training data sharded.
    train, val, class_to_index = model_inputs
    training_params["num_epochs"] = 2
    training_params["ray_train"]["scaling"]["num_workers"] = 2
    model, history = train_model(train, val, class_to_index, str(tiny_encoder), training_params, {})
    assert isinstance(model, TagClassifier)
    assert history["epoch"].tolist() == [0, 1]
    assert history["val_f1"].between(0, 1).all()
