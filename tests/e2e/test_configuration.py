"""Configuration reaches the logged model: `--params`, `-e` and `--conf-source` (of a packaged
project) all decide what is logged and registered; an unknown `-e` says so before any work."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from factories import PROJECT_ROOT, make_raw_projects, tiny_parameters
from kedro_project import copy_project, kedro, kedro_env, written_files

from madewithml.framework.config_loader import CONFIG_LOADER_ARGS, ProjectConfigLoader

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def raw_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("raw")
    make_raw_projects(8).to_csv(folder / "dataset.csv", index=False)
    make_raw_projects(2, title="Holdout").to_csv(folder / "holdout.csv", index=False)
    return folder


def _logged(tracking_uri: str, name: str) -> tuple[str, float]:
    """(version, signature default of inference.threshold: the threshold the model answers with)
    of the newest version of `name`."""
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    version = max(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    mlflow.set_tracking_uri(tracking_uri)
    try:
        info = mlflow.models.get_model_info(f"models:/{name}/{version.version}")
    finally:
        mlflow.set_tracking_uri(None)
    (threshold,) = info.signature.params.params
    return str(version.version), threshold.default


def test_an_environment_and_params_reach_the_logged_model(
    tmp_path, raw_data, tiny_encoder, ray_session
):
    project = copy_project(tmp_path / "project")
    (project / "conf/local/parameters_test.yml").write_text(tiny_parameters(tiny_encoder))
    ci = project / "conf/ci"
    ci.mkdir()
    (ci / "globals.yml").write_text("model_registry:\n  name: ci-tagger\n  champion_alias: best\n")
    (ci / "parameters_training.yml").write_text("calibration:\n  threshold: 0.55\n")
    env = {"RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    result = kedro(
        project,
        "run",
        "-e",
        "ci",
        "--pipelines=training",
        "--params=calibration.threshold=0.37",
        data_dir=raw_data,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    tracking = f"sqlite:///{project / 'mlflow.db'}"
    # -e ci named the model (its globals.yml); --params set the threshold over ci's 0.55
    assert _logged(tracking, "ci-tagger") == ("1", 0.37)
    local = mlflow.models.Model.load(str(project / "data/06_models/tagger"))
    assert local.signature.params.params[0].default == 0.37  # the local copy says the same

    # Without --params, the environment's own value. The run above showed that the model is
    # logged with what the project's configuration loader gives; a second training run would
    # only repeat that (it cost ~60 s of the suite).
    loader = ProjectConfigLoader(str(project / "conf"), env="ci", **CONFIG_LOADER_ARGS)
    assert loader["parameters"]["calibration"]["threshold"] == 0.55
    assert loader["globals"]["model_registry"]["name"] == "ci-tagger"


def test_an_unknown_environment_is_named_before_any_work(tmp_path, raw_data):
    project = copy_project(tmp_path / "project")
    result = kedro(project, "run", "-e", "nonexistent", data_dir=raw_data)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "configuration environment 'nonexistent' does not exist" in output
    assert "(environments: base, cluster, local)" in output
    assert written_files(project) == []
    assert not (project / "mlflow.db").exists()


def test_the_packaged_project_runs_training_with_its_conf_source(
    tmp_path, raw_data, tiny_encoder, ray_session
):
    # A copy of the project's sources: `kedro package` builds the wheel and the conf archive.
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "local")
    shutil.copytree(PROJECT_ROOT / "src", source / "src", ignore=ignore)
    shutil.copytree(PROJECT_ROOT / "conf", source / "conf", ignore=ignore)
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(PROJECT_ROOT / name, source / name)
    (source / "conf/local").mkdir()
    # conf/local is left out of the archive: the packaged run's settings are an environment
    environment = source / "conf/packaged"
    environment.mkdir()
    (environment / "parameters.yml").write_text(tiny_parameters(tiny_encoder))
    (environment / "parameters_training.yml").write_text("calibration:\n  threshold: 0.61\n")
    env = kedro_env(source, raw_data)
    packaged = subprocess.run(
        [str(Path(sys.executable).with_name("kedro")), "package"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert packaged.returncode == 0, packaged.stderr[-4000:]
    (wheel,) = (source / "dist").glob("madewithml-*.whl")
    conf = source / "dist/conf-madewithml.tar.gz"
    assert conf.is_file()

    # Installed on its own (no dependencies: those are this environment's), outside any project.
    target = tmp_path / "installed"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    run_env = {
        **env,
        "PYTHONPATH": str(target),
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address,
    }
    where = subprocess.run(
        [sys.executable, "-c", "import madewithml; print(madewithml.__file__)"],
        cwd=workdir,
        env=run_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().startswith(str(target))  # the wheel, not the editable project
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "madewithml",
            f"--conf-source={conf}",
            "--env=packaged",
            "--pipelines=training",
        ],
        cwd=workdir,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-4000:]
    assert _logged(f"sqlite:///{workdir / 'mlflow.db'}", "madewithml-tagger") == ("1", 0.61)
    assert (workdir / "data/06_models/tagger/MLmodel").is_file()
