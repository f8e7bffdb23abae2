"""The one way a model URI becomes a model: pinned to its version, named in every error."""

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from madewithml.shipping.loading import ModelNotLoadedError, load_model


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
