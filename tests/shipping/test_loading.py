"""The one way a model URI becomes a model: pinned to its version, named in every error."""

from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from madewithml.core.tagger import ModelFilesError
from madewithml.shipping.loading import ModelNotLoadedError, check_model_files, load_model


def test_a_model_folder_loads_and_says_which_model_it_is(tiny_logged_model, tiny_tagger):
    folder, _ = tiny_logged_model
    model = load_model(str(folder))
    assert model.metadata.model_uri == str(folder)
    assert model.unwrap_python_model().tagger.classes == tiny_tagger.classes


def test_an_alias_is_pinned_to_the_version_it_means_now(tiny_logged_model, tmp_path):
    folder, _ = tiny_logged_model
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        client = MlflowClient()
        client.create_registered_model("m")
        for _ in range(2):
            client.create_model_version("m", str(folder))
        client.set_registered_model_alias("m", "champion", "1")
        assert load_model("models:/m@champion").metadata.model_uri == "models:/m/1"
        assert load_model("models:/m/latest").metadata.model_uri == "models:/m/2"
        with pytest.raises(ModelNotLoadedError) as error:
            load_model("models:/m@gone")
        message = str(error.value)
        assert "'models:/m@gone'" in message and str(tmp_path / "mlflow.db") in message
        assert "The alias is set when `kedro run`" in message
        with pytest.raises(ModelNotLoadedError, match="'models:/other/1'"):
            load_model("models:/other/1")
    finally:
        mlflow.set_tracking_uri(None)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(ModelNotLoadedError, match=str(tmp_path / "nowhere")):
        load_model(str(tmp_path / "nowhere"))


def _copy(tiny_logged_model, tmp_path):
    import shutil  # noqa: PLC0415

    folder, _ = tiny_logged_model
    return Path(shutil.copytree(folder, tmp_path / "model"))


def test_a_model_s_files_are_checked_without_loading_it(tiny_logged_model, tmp_path):
    """What `kedro serve` checks before it starts Ray: every file as it was saved."""
    model = _copy(tiny_logged_model, tmp_path)
    check_model_files(str(model))  # as saved: nothing to say
    weights = next(model.rglob("model.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated
    with pytest.raises(ModelFilesError, match=r"model file classifier/model\.safetensors differs"):
        check_model_files(str(model))
    with pytest.raises(ModelNotLoadedError, match="Could not find the MLflow model"):
        check_model_files(str(tmp_path / "nowhere"))


def test_kedro_serve_names_a_damaged_model_in_one_line_before_starting_ray(
    tiny_logged_model, tmp_path, monkeypatch
):
    from click.testing import CliRunner  # noqa: PLC0415

    from madewithml import cli  # noqa: PLC0415
    from madewithml.framework import ray_runtime  # noqa: PLC0415

    model = _copy(tiny_logged_model, tmp_path)
    (next(model.rglob("tokenizer.json"))).write_text("{}")  # overwritten
    dataset = type("Dataset", (), {"model_uri": str(model)})()
    config = {"serving": {"serving": {"host": "127.0.0.1", "port": 1, "http": {}}}}
    project = cli._Project(config, dataset, "file:///x", str(tmp_path / "requests"))
    monkeypatch.setattr(cli, "_project", lambda env, uri: project)
    monkeypatch.setattr(ray_runtime, "start_ray", lambda *a: pytest.fail("Ray was started"))
    result = CliRunner().invoke(cli.cli, ["serve"])
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot serve the model {model}: model file "
        f"tokenizer/tokenizer.json differs from when the model was saved (truncated, "
        f"overwritten or corrupted): {next(model.rglob('tokenizer.json'))}"
    ]
