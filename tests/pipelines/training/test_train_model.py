"""The training node as Kedro runs it: a real Ray Train job on a tiny model."""

import pandas as pd
import pytest
from factories import PAD_ID

from madewithml.core.classifier import TagClassifier
from madewithml.pipelines.training.nodes import train_model


def test_train_model_learns_and_streams_metrics_to_mlflow(
    ray_session, tiny_encoder, tiny_tokenizer, model_inputs, training_params, tracking
):
    train, val, class_to_index = model_inputs
    mlflow_run, client = tracking
    model, history = train_model(
        train, val, class_to_index, tiny_tokenizer, str(tiny_encoder), training_params, mlflow_run
    )

    assert isinstance(model, TagClassifier)
    assert model.config.num_classes == len(class_to_index)
    assert list(history.columns) == [
        "epoch",
        "lr",
        "train_loss",
        "val_loss",
        "val_f1",
        "epoch_s",
        "world_size",
        "worker_nodes",
        "train_rows",
        "train_digest",
    ]
    assert history["epoch"].tolist() == [0, 1, 2]
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    # The linear schedule spans the whole run, stepped per batch: after epoch e's steps the
    # encoder's rate has decayed from lr (at the end of warm-up) towards 0 (after the last).
    steps = -(-len(train) // training_params["batch_size"])
    total = 3 * steps
    warmup = round(training_params["warmup_ratio"] * total)
    expected = [training_params["lr"] * (total - steps * e) / (total - warmup) for e in (1, 2, 3)]
    assert history["lr"].tolist() == pytest.approx(expected, abs=1e-12)

    for name in ["train_loss", "val_loss", "val_f1", "lr", "epoch_s", "train_rows"]:
        logged = client.get_metric_history(mlflow_run["run_id"], name)
        assert [m.step for m in logged] == [0, 1, 2], name
        assert [m.value for m in logged] == pytest.approx(history[name].tolist())
    # streamed as each epoch was reported, not at the end: epoch 1's metrics were in MLflow
    # at least one epoch's duration before the last epoch's
    first = client.get_metric_history(mlflow_run["run_id"], "val_loss")[0].timestamp
    last = client.get_metric_history(mlflow_run["run_id"], "val_loss")[-1].timestamp
    assert (last - first) / 1000 >= 0.9 * history["epoch_s"].iloc[1:].sum()
    assert client.get_metric_history(mlflow_run["run_id"], "train_digest") == []


def test_the_returned_model_is_the_best_checkpoint_not_the_last(
    ray_session, tiny_encoder, tiny_tokenizer, model_inputs, training_params
):
    """Validation labels that contradict the training labels: the better the model learns the
    training data, the worse its validation loss, so the best epoch is provably not the last.
    The node must return the best epoch's weights; Ray keeps the best and the latest
    checkpoints. With balanced class weights, the loss is weighted by the training split's
    classes (validation too)."""
    train, val, class_to_index = model_inputs
    contradicting = val.assign(target=(val["target"] + 1) % len(class_to_index))
    training_params["num_epochs"] = 4
    training_params["class_weighting"] = "balanced"
    model, history = train_model(
        train, contradicting, class_to_index, tiny_tokenizer, str(tiny_encoder), training_params, {}
    )
    best_epoch = int(history["val_loss"].idxmin())
    assert best_epoch < len(history) - 1, history  # the precondition of this test
    assert history["val_loss"].iloc[-1] > history["val_loss"].iloc[best_epoch]

    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from madewithml.training.batching import batches_of, eval_batches  # noqa: PLC0415
    from madewithml.training.loop import eval_step  # noqa: PLC0415
    from madewithml.training.optim import class_weights, make_loss  # noqa: PLC0415

    # the validation loss as the loop computes it: weighted, over its length-sorted batches
    weights = class_weights(train["target"].to_numpy(), len(class_to_index), "balanced")
    input_ids = np.empty(len(contradicting), dtype=object)
    input_ids[:] = [np.asarray(ids, dtype=np.int64) for ids in contradicting["input_ids"]]
    rows = {"input_ids": input_ids, "target": contradicting["target"].to_numpy()}

    def val_loss(loss_fn) -> float:
        batches = batches_of(rows, eval_batches(rows, training_params["batch_size"]), PAD_ID)
        return eval_step(batches, model, loss_fn)[0]

    loss = val_loss(make_loss("cross_entropy", 0.0, weights))
    assert loss == pytest.approx(history["val_loss"].iloc[best_epoch], rel=1e-4)
    assert loss != pytest.approx(history["val_loss"].iloc[-1], rel=1e-3)
    assert val_loss(torch.nn.CrossEntropyLoss()) != pytest.approx(loss, rel=1e-3)  # weighted
    # checkpoints_to_keep 1 (the best) + the latest, which Ray keeps for resuming
    (run,) = [p for p in (tmp_storage(training_params)).iterdir() if p.is_dir()]
    assert len([p for p in run.glob("checkpoint_*") if p.is_dir()]) == 2


def tmp_storage(training_params):
    from pathlib import Path  # noqa: PLC0415

    return Path(training_params["ray_train"]["storage_path"])


def test_same_seed_reproduces_the_metrics_and_the_predictions(
    ray_session, tiny_encoder, tiny_tokenizer, model_inputs, training_params
):
    import torch  # noqa: PLC0415

    from madewithml.training.batching import collate  # noqa: PLC0415

    train, val, class_to_index = model_inputs
    training_params["num_epochs"] = 2
    (first, first_history), (second, second_history) = (
        train_model(
            train, val, class_to_index, tiny_tokenizer, str(tiny_encoder), training_params, {}
        )
        for _ in range(2)
    )
    pd.testing.assert_frame_equal(
        first_history.drop(columns="epoch_s"), second_history.drop(columns="epoch_s")
    )
    batch = collate({c: val[c].to_numpy() for c in ["input_ids", "target"]}, PAD_ID)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        first_probabilities = first.predict_proba(ids, mask)
        second_probabilities = second.predict_proba(ids, mask)
    assert (first_probabilities == second_probabilities).all()  # bit for bit, on every row


def test_two_data_parallel_workers_train_on_disjoint_halves(
    ray_session, tiny_encoder, model_inputs, training_params
):
    """The scale-out path, by configuration only: DDP over 2 workers, each on its own half of the
    training rows (Ray Data's split), every row trained on once per epoch."""
    import ray  # noqa: PLC0415
    from ray import cloudpickle  # noqa: PLC0415
    from ray.train import UserCallback  # noqa: PLC0415

    from madewithml.training.shards import shard_digest  # noqa: PLC0415
    from madewithml.training.trainer import build_trainer, train_loop_config  # noqa: PLC0415

    @ray.remote(num_cpus=0)
    class Store:
        def __init__(self):
            self.reports = []

        def add(self, reports):
            self.reports.append(reports)

        def all(self):
            return self.reports

    class Recorder(UserCallback):
        def __init__(self, store):
            self.store = store

        def after_report(self, run_context, metrics, checkpoint):
            ray.get(self.store.add.remote(metrics))

    import sys  # noqa: PLC0415

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    train, val, class_to_index = model_inputs
    train = train.iloc[: len(train) // 2 * 2]  # an even number of rows: nothing to drop
    training_params["num_epochs"] = 2
    training_params["ray_train"]["scaling"]["num_workers"] = 2
    store = Store.remote()
    trainer = build_trainer(
        train,
        val,
        loop_config=train_loop_config(
            training_params, str(tiny_encoder), len(class_to_index), PAD_ID
        ),
        ray_train=training_params["ray_train"],
        name="two_workers",
        callbacks=[Recorder(store)],
    )
    trainer.fit()
    reports = ray.get(store.all.remote())
    assert len(reports) == 2  # one per epoch
    everything = shard_digest(train["id"].to_numpy())
    for per_worker in reports:
        assert [r["world_size"] for r in per_worker] == [2, 2]
        assert [r["worker_nodes"] for r in per_worker] == [1, 1]  # one machine, one node
        assert [r["train_rows"] for r in per_worker] == [len(train) // 2] * 2
        assert per_worker[0]["train_digest"] != per_worker[1]["train_digest"]
        assert per_worker[0]["train_digest"] ^ per_worker[1]["train_digest"] == everything
