"""The tuning node as Kedro runs it: real Ray Tune trials over Ray Train, on a tiny model."""

import mlflow
import pytest
import torch
from factories import PAD_ID, fast_training_params, mlflow_tracking

from madewithml.pipelines.tuning.nodes import select_best_hyperparameters, tune_hyperparameters
from madewithml.training.batching import collate
from madewithml.training.checkpoints import load_checkpoint
from madewithml.training.loop import eval_step

TUNING = {
    "num_runs": 2,
    "max_concurrent_trials": 1,
    "metric": "val_loss",
    "mode": "min",
    "n_initial_points": 1,
    "scheduler": {"grace_period": 1, "reduction_factor": 2},
    "trial_resources": {"cpu": 0, "memory": 64 * 2**20},
    "verbose": 0,
    # The first trial is the training parameters (lr and head_lr 3e-3, which learn); the second
    # draws rates so small that its first epoch is clearly worse, so the scheduler stops it there.
    "search_space": {
        "lr": {"distribution": "loguniform", "low": 1e-7, "high": 2e-7},
        "head_lr": {"distribution": "loguniform", "low": 1e-7, "high": 2e-7},
        "dropout_p": {"distribution": "uniform", "low": 0.1, "high": 0.2},
    },
}
pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def tuned(ray_session, tiny_encoder, tiny_tokenizer, model_inputs, tmp_path_factory):
    """Two trials of up to two epochs each, tracked as children of a throw-away MLflow run."""
    folder = tmp_path_factory.mktemp("tuning")
    training = fast_training_params(folder / "ray_results", num_epochs=2)
    parent, client = mlflow_tracking(folder)
    train, val, class_to_index = model_inputs
    trials, history = tune_hyperparameters(
        train, val, class_to_index, tiny_tokenizer, str(tiny_encoder), training, TUNING, parent
    )
    yield trials, history, None, training, parent, client
    mlflow.set_tracking_uri(None)


def child_runs(parent, client) -> dict:
    """The MLflow runs whose parent is the tuning run, by Tune trial id."""
    runs = client.search_runs(
        [parent["experiment_id"]], f"tags.mlflow.parentRunId = '{parent['run_id']}'"
    )
    return {run.data.tags["trial_name"].rsplit("_", 1)[-1]: run for run in runs}


def test_the_first_trial_is_the_training_parameters_and_the_scheduler_stops_the_worse(tuned):
    trials, history, _, training, _, _ = tuned

    assert len(trials) == 2
    first, second = trials.iloc[0], trials.iloc[1]
    searched = ["lr", "head_lr", "dropout_p"]
    assert first[searched].tolist() == [training[name] for name in searched]
    assert 1e-7 <= second["lr"] <= 2e-7 and 1e-7 <= second["head_lr"] <= 2e-7
    assert first["outcome"] == "completed" and first["epochs"] == 2
    assert second["outcome"] == "stopped_early" and second["epochs"] == 1
    assert history.groupby("trial").size().to_dict() == {first["trial"]: 2, second["trial"]: 1}
    assert second["best_val_loss"] > first["best_val_loss"]


def test_every_trial_is_a_child_mlflow_run_with_params_metrics_and_outcome(tuned):
    trials, history, _, _, parent, client = tuned
    children = child_runs(parent, client)

    assert set(children) == set(trials["trial"])
    for trial in trials.itertuples():
        run = children[trial.trial]
        assert run.info.status == "FINISHED"
        assert run.data.tags["trial_status"] == trial.outcome
        assert float(run.data.params["lr"]) == pytest.approx(trial.lr)
        assert float(run.data.params["head_lr"]) == pytest.approx(trial.head_lr)
        assert float(run.data.params["dropout_p"]) == pytest.approx(trial.dropout_p)
        logged = client.get_metric_history(run.info.run_id, "val_loss")
        epochs = history[history["trial"] == trial.trial]
        assert [m.step for m in logged] == list(range(1, trial.epochs + 1))
        assert [m.value for m in logged] == pytest.approx(epochs["val_loss"].tolist())


def test_the_best_parameters_are_the_best_trials(tuned):
    trials, _, _, _, parent, client = tuned
    best, metrics = select_best_hyperparameters(trials, TUNING)

    winner = trials.loc[trials["best_val_loss"].idxmin()]
    assert best == {"training": {name: winner[name] for name in ["lr", "head_lr", "dropout_p"]}}
    assert metrics["best_val_loss"][0]["value"] == pytest.approx(winner["best_val_loss"])
    assert metrics["trials_stopped_early"][0]["value"] == 1
    logged = child_runs(parent, client)[winner["trial"]].data.params
    assert float(logged["lr"]) == pytest.approx(best["training"]["lr"])


def test_the_trials_table_points_at_each_trials_best_checkpoint(tuned, model_inputs):
    trials, _, _, _, _, _ = tuned
    _, val, _ = model_inputs
    batch = collate({c: val[c].to_numpy() for c in ["input_ids", "target"]}, PAD_ID)
    for _, trial in trials.iterrows():
        model = load_checkpoint(trial["checkpoint_path"])
        loss, _, _ = eval_step([batch], model, torch.nn.CrossEntropyLoss())
        assert loss == pytest.approx(trial["best_val_loss"], rel=1e-4)


def test_a_failed_trial_is_recorded_as_failed(
    ray_session, tiny_encoder, tiny_tokenizer, model_inputs, tmp_path
):
    """The first trial is the training parameters (dropout 0.1); the second draws a dropout
    above 1, which torch refuses: that trial fails, the search goes on and says so."""
    training = fast_training_params(tmp_path / "ray_results", num_epochs=1)
    parent, client = mlflow_tracking(tmp_path)
    tuning = {
        **TUNING,
        "search_space": {"dropout_p": {"distribution": "uniform", "low": 1.5, "high": 2.0}},
    }
    train, val, class_to_index = model_inputs
    try:
        trials, _ = tune_hyperparameters(
            train, val, class_to_index, tiny_tokenizer, str(tiny_encoder), training, tuning, parent
        )
        assert sorted(trials["outcome"]) == ["completed", "failed"]
        failed = trials[trials["outcome"] == "failed"].iloc[0]
        assert failed["dropout_p"] > 1
        assert failed["error"].startswith("ValueError: dropout probability has to be between 0")
        statuses = {
            trial: run.data.tags["trial_status"]
            for trial, run in child_runs(parent, client).items()
        }
        assert statuses == {
            failed["trial"]: "failed",
            **{t: "completed" for t in trials["trial"] if t != failed["trial"]},
        }
    finally:
        mlflow.set_tracking_uri(None)
