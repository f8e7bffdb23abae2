"""`kedro run --pipelines=tuning` in a tiny project (the tiny encoder, 60 synthetic projects), and
training with what it found. Tuning on the real data is measured by `make benchmark-tuning`."""

import re

import pandas as pd
import pytest
import yaml
from factories import project_parameters, tiny_parameters, write_raw_data
from kedro_project import copy_project, kedro
from mlflow.tracking import MlflowClient

from madewithml.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

pytestmark = pytest.mark.timeout(900)
PARAMS_LINE = re.compile(r"kedro run --pipelines?=training --params=(\S+)")


@pytest.fixture(scope="module")
def tuning_run(tmp_path_factory, tiny_encoder, ray_session):
    """A tiny project copy in which a 2-trial, 1-epoch tuning run ran:
    (project, its output, its environment, its raw data)."""
    root = tmp_path_factory.mktemp("tuning_run")
    data_dir = write_raw_data(root / "raw")
    project = copy_project(root / "project")
    (project / "conf/local/parameters_test.yml").write_text(tiny_parameters(tiny_encoder))
    env = {"RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    result = kedro(
        project,
        "run",
        "--pipelines=tuning",
        "--params=tuning.num_runs=2,training.num_epochs=1",
        data_dir=data_dir,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return project, result.stdout + result.stderr, env, data_dir


def test_tuning_writes_its_datasets_and_one_parent_run_with_a_child_per_trial(tuning_run):
    project, *_ = tuning_run
    trials = pd.read_parquet(project / "data/08_reporting/tuning_trials.parquet")
    best = yaml.safe_load((project / "data/08_reporting/best_hyperparameters.yml").read_text())

    assert len(trials) == 2 and set(trials["outcome"]) == {"completed"}  # 1 epoch: none stopped
    winner = trials.loc[trials["best_val_loss"].idxmin()]
    assert best == {"training": {name: pytest.approx(winner[name]) for name in best["training"]}}
    searched = project_parameters("tuning")["params:tuning.search_space"]
    assert set(best["training"]) == set(searched)
    assert (project / "data/08_reporting/tuning.png").stat().st_size > 0

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("madewithml")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.mlflow.runName = 'tuning'")
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 2
    assert {run.data.tags["trial_status"] for run in children} == {"completed"}
    assert parent.data.metrics["tuning.best_val_loss"] == pytest.approx(winner["best_val_loss"])
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "tuning")}
    assert artifacts == {"tuning/best_hyperparameters.yml", "tuning/tuning_trials.parquet"}


def test_training_with_the_printed_params_line_uses_the_best_hyperparameters(tuning_run):
    project, output, env, data_dir = tuning_run
    best = yaml.safe_load((project / "data/08_reporting/best_hyperparameters.yml").read_text())
    line = PARAMS_LINE.search(" ".join(output.split())).group(1)

    result = kedro(
        project,
        "run",
        "--pipelines=training",
        f"--params={line},training.num_epochs=1",
        data_dir=data_dir,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("madewithml")
    (run,) = client.search_runs([experiment.experiment_id], "tags.mlflow.runName = 'training'")
    for name, value in best["training"].items():
        assert float(run.data.params[f"training.{name}"]) == pytest.approx(value), name


def test_the_best_hyperparameters_file_also_works_as_local_parameters(tuning_run):
    project, *_ = tuning_run
    best = yaml.safe_load((project / "data/08_reporting/best_hyperparameters.yml").read_text())

    def training_parameters() -> dict:
        loader = CONFIG_LOADER_CLASS(str(project / "conf"), **CONFIG_LOADER_ARGS)
        return loader["parameters"]["training"]

    own = training_parameters()
    tuned = project / "conf/local/parameters_tuned.yml"
    tuned.write_text((project / "data/08_reporting/best_hyperparameters.yml").read_text())
    try:
        training = training_parameters()
    finally:
        tuned.unlink()

    assert {name: training[name] for name in best["training"]} == best["training"]
    # the rest is the project's own
    assert training["num_epochs"] == own["num_epochs"]
    assert training["ray_train"] == own["ray_train"]
