"""A run that fails leaves every layer as the previous successful run left it, and its error
points at the cause: faults injected through the real `kedro run`."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from factories import make_raw_projects, tiny_parameters, write_raw_data
from kedro_project import copy_project, kedro, squashed, written_files

pytestmark = pytest.mark.timeout(900)


def _snapshot(project: Path) -> dict[str, str]:
    """Every file under data/ (hidden leftovers included) and its content's hash."""
    return {
        str(path.relative_to(project)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((project / "data").rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def tiny(tmp_path, tiny_encoder):
    """A project copy on the tiny encoder and 60 synthetic projects: (project, raw folder)."""
    raw = write_raw_data(tmp_path / "raw")
    project = copy_project(tmp_path / "project")
    (project / "conf/local/parameters_test.yml").write_text(
        tiny_parameters(tiny_encoder, more="data_processing: {min_rows_per_class: 4}\n")
    )
    return project, raw


def test_a_run_failing_at_the_split_leaves_the_previous_run_s_files(tiny):
    project, raw = tiny
    first = kedro(project, "run", "--pipelines=data_processing", data_dir=raw)
    assert first.returncode == 0, first.stderr[-3000:]
    before = _snapshot(project)
    assert "data/03_primary/projects.parquet" in before
    # mlops down to 1 project: the split's precondition fails after `projects` was made
    dataset = pd.read_csv(raw / "dataset.csv")
    mlops = dataset.index[dataset["tag"] == "mlops"]
    dataset.drop(index=mlops[1:]).to_csv(raw / "dataset.csv", index=False)
    failed = kedro(project, "run", "--pipelines=data_processing", data_dir=raw)
    assert failed.returncode != 0
    output = squashed(failed.stdout + failed.stderr)
    assert squashed("too few projects to split: 'mlops' has 1") in output, failed.stderr[-3000:]
    assert _snapshot(project) == before  # byte for byte, no leftovers


def test_a_default_run_failing_after_training_keeps_the_previous_model_and_tables(
    tiny, ray_session
):
    """A fault at one of the last saves of `kedro run` (the confusion matrix cannot be written):
    training had finished, the new model was saved and registered; every file under data/ is
    still the previous run's, and the champion did not move."""
    project, raw = tiny
    env = {"RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    first = kedro(project, "run", "--params=evaluation.baseline.C=1.0e-6", data_dir=raw, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    before = _snapshot(project)
    assert "data/06_models/tagger/MLmodel" in before
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    aliases = client.get_registered_model("madewithml-tagger").aliases
    (project / "conf/local/catalog.yml").write_text(
        textwrap.dedent(
            """\
            confusion_matrix_plot:
              type: madewithml.datasets.AtomicMatplotlibDataset
              filepath: data/08_reporting/blocked/confusion_matrix.png
            """
        )
    )
    (project / "data/08_reporting/blocked").write_text("a file where a folder should be")
    failed = kedro(
        project,
        "run",
        "--params=training.seed=7,evaluation.baseline.C=1.0e-6",
        data_dir=raw,
        env=env,
    )
    assert failed.returncode != 0
    assert "Completed node: train_model" in failed.stderr  # it failed after training
    assert "Completed node: predict_holdout" in failed.stderr  # and after evaluating
    (project / "data/08_reporting/blocked").unlink()
    assert _snapshot(project) == before
    # the failed run registered version 2 before it failed; the aliases did not move
    assert len(client.search_model_versions("name='madewithml-tagger'")) == 2
    assert client.get_registered_model("madewithml-tagger").aliases == aliases


def test_a_holdout_that_leaks_into_training_stops_the_evaluation_naming_the_ids(tiny):
    project, raw = tiny
    dataset = pd.read_csv(raw / "dataset.csv")
    leaked = dataset.iloc[[0, 5, 9]].assign(id=[901, 902, 903])
    pd.concat([pd.read_csv(raw / "holdout.csv"), leaked]).to_csv(raw / "holdout.csv", index=False)
    result = kedro(project, "run", data_dir=raw)
    assert result.returncode != 0
    output = squashed(result.stdout + result.stderr)
    assert squashed("3 holdout projects are also in the training data") in output
    assert squashed("holdout ids 901, 902, 903 (evaluation.leakage: error") in output
    assert "Running node: train_model" not in result.stderr  # found before any training
    assert written_files(project) == []


def test_a_file_not_separated_by_commas_says_so(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    make_raw_projects(6).to_csv(raw / "dataset.csv", index=False, sep=";")
    project = copy_project(tmp_path / "project")
    result = kedro(project, "run", "--pipelines=data_processing", data_dir=raw)
    output = squashed(result.stdout + result.stderr)
    assert result.returncode != 0
    assert squashed("it looks separated by semicolons, not commas") in output
    assert "MADEWITHML_DATA_DIR" not in output  # the location is right: do not send them there
    assert written_files(project) == []


def test_a_misspelt_pipeline_lists_the_registered_ones(tmp_path):
    project = copy_project(tmp_path / "project")
    result = kedro(project, "run", "--pipelines=trainig", data_dir=tmp_path)
    assert result.returncode != 0
    output = squashed(result.stdout + result.stderr)
    assert (
        squashed(
            "no pipeline named 'trainig': the registered pipelines are __default__, "
            "continuous_training, data_processing, evaluation, inference, monitoring, training, "
            "tuning"
        )
        in output
    )
    assert "Traceback" not in result.stderr + result.stdout  # one line, not two tracebacks


@pytest.mark.parametrize(
    ("rows", "message"),
    # (an empty table: tests/core/test_inputs.py, and tests/pipelines/inference/test_engines.py
    # on Ray Data)
    [
        (
            "id,title,description\n7,1984,fine\n8,42,a number\n",
            "projects_to_predict: column 'title' must be text, not int (rows with id 7, 8)",
        ),
        (
            "id,title,description\n7,ok,fine\n9,🚀🔥,!!!\n",
            "no letter or digit in title and description (rows with id 9)",
        ),
    ],
)
def test_bad_inference_input_is_named_in_one_line(tiny_champion_project, tmp_path, rows, message):
    source = tmp_path / "input.csv"
    source.write_text(rows)
    result = kedro(
        tiny_champion_project,
        "run",
        "--pipelines=inference",
        f"--params=inference.input={source},inference.output={tmp_path / 'out.csv'}",
        data_dir=tiny_champion_project,
    )
    assert result.returncode != 0
    assert squashed(message) in squashed(result.stdout + result.stderr), result.stderr[-3000:]
    assert "Schema" not in result.stderr  # no MLflow schema dump
    assert not (tmp_path / "out.csv").exists()
