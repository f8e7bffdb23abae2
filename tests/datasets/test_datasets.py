import json

import pytest
from kedro.io.core import DatasetError

from madewithml.datasets import RawCSVDataset


def test_reads_a_local_csv(tmp_path, raw_projects):
    path = tmp_path / "dataset.csv"
    raw_projects.to_csv(path, index=False)
    loaded = RawCSVDataset(filepath=str(path), setting="MADEWITHML_DATA_DIR").load()
    assert loaded["id"].tolist() == raw_projects["id"].tolist()


@pytest.mark.parametrize(
    "location",
    [
        "{tmp}/missing/dataset.csv",  # a local folder without the file
        "http://127.0.0.1:9/dataset.csv",  # a URL that cannot be reached (nothing listens)
    ],
)
def test_unreadable_source_names_the_location_and_the_setting(tmp_path, location):
    location = location.format(tmp=tmp_path)
    dataset = RawCSVDataset(filepath=location, setting="MADEWITHML_DATA_DIR")
    with pytest.raises(DatasetError) as error:
        dataset.load()
    message = str(error.value)
    assert location.removeprefix("http://") in message
    assert "MADEWITHML_DATA_DIR" in message


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "dataset.csv"
    path.write_text("")
    with pytest.raises(DatasetError, match=r"dataset\.csv.*EmptyDataError"):
        RawCSVDataset(filepath=str(path)).load()


def _projects():
    import pandas as pd  # noqa: PLC0415

    return pd.DataFrame({"title": ["BERT for search", "YOLO"], "description": ["text", "images"]})


def test_the_tagger_dataset_saves_a_model_folder_and_loads_it_as_the_pyfunc_model(
    tmp_path, tiny_tagger
):
    from dataclasses import replace  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    from madewithml.core.tagger import Tagger  # noqa: PLC0415
    from madewithml.datasets import MlflowTaggerDataset  # noqa: PLC0415

    dataset = MlflowTaggerDataset(filepath=str(tmp_path / "models" / "tagger"))
    assert not dataset.exists()
    dataset.save(tiny_tagger)  # no MLflow run is active: saved locally only
    stricter = Tagger(
        tiny_tagger.classifier,
        tiny_tagger.tokenizer,
        tiny_tagger.classes,
        replace(tiny_tagger.settings, threshold=0.99),
    )
    dataset.save(stricter)  # replaces the first
    loaded = dataset.load()
    assert loaded.metadata.get_params_schema().params[0].default == 0.99
    pd.testing.assert_frame_equal(loaded.predict(_projects()), stricter.predict(_projects()))
    assert (tmp_path / "models" / "tagger" / "MLmodel").is_file()
    # no staging or retired folders are left beside it
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["tagger"]


def test_the_tagger_dataset_logs_and_registers_in_the_active_run(tmp_path, tiny_tagger):
    import mlflow  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from madewithml.datasets import MlflowTaggerDataset  # noqa: PLC0415

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        dataset = MlflowTaggerDataset(
            filepath=str(tmp_path / "tagger"), registered_model_name="tiny-tagger"
        )
        with mlflow.start_run() as run:
            dataset.save(tiny_tagger)
            dataset.save(tiny_tagger)  # a second version, from the same run
        loaded = dataset.load()
        assert loaded.metadata.model_uri == "models:/tiny-tagger/2"
        assert loaded.metadata.run_id == run.info.run_id
        pd.testing.assert_frame_equal(loaded.predict(_projects()), tiny_tagger.predict(_projects()))
        versions = mlflow.tracking.MlflowClient().search_model_versions("name='tiny-tagger'")
        assert sorted(int(v.version) for v in versions) == [1, 2]
    finally:
        mlflow.set_tracking_uri(None)


def test_a_failed_save_keeps_the_previous_version(tmp_path, tiny_tagger):
    from madewithml.datasets import MlflowTaggerDataset  # noqa: PLC0415

    dataset = MlflowTaggerDataset(filepath=str(tmp_path / "tagger"))
    dataset.save(tiny_tagger)

    class Broken:
        classes = tiny_tagger.classes
        settings = tiny_tagger.settings

        def save(self, folder):
            folder.mkdir(parents=True)
            (folder / "tagger.json").write_text("partial")
            raise OSError("disk full")

    with pytest.raises(DatasetError, match="disk full"):
        dataset.save(Broken())
    assert dataset.load().predict(_projects()).shape == (2, 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tagger"]


def test_folder_dataset_names_a_missing_folder(tmp_path):
    from madewithml.datasets import MlflowTaggerDataset  # noqa: PLC0415

    with pytest.raises(DatasetError, match=r"no saved folder at '.*nothing'"):
        MlflowTaggerDataset(filepath=str(tmp_path / "nothing")).load()


def test_tokenizer_dataset_round_trip(tmp_path, tiny_encoder):
    from transformers import AutoTokenizer  # noqa: PLC0415

    from madewithml.datasets import TokenizerDataset  # noqa: PLC0415

    dataset = TokenizerDataset(filepath=str(tmp_path / "tokenizer"))
    dataset.save(AutoTokenizer.from_pretrained(tiny_encoder))
    assert dataset.load()("graph neural network")["input_ids"][0] == 101


def test_mlflow_run_dataset(tmp_path):
    import mlflow  # noqa: PLC0415

    from madewithml.datasets import MlflowRunDataset  # noqa: PLC0415

    dataset = MlflowRunDataset()
    assert dataset.load() == {}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run() as run:
            assert dataset.load() == {
                "tracking_uri": uri,
                "run_id": run.info.run_id,
                "experiment_id": run.info.experiment_id,
            }
    finally:
        mlflow.set_tracking_uri(None)
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save({})


def test_folder_previews_list_files_and_scalar_settings(tmp_path, tiny_encoder, tiny_tagger):
    from transformers import AutoTokenizer  # noqa: PLC0415

    from madewithml.datasets import MlflowTaggerDataset, TokenizerDataset  # noqa: PLC0415

    model = MlflowTaggerDataset(filepath=str(tmp_path / "tagger"))
    model.save(tiny_tagger)
    preview = json.loads(model.preview())
    assert {"MLmodel", "requirements.txt", "artifacts/tagger/classifier/model.safetensors"} <= set(
        preview["files"]
    )
    assert preview["config"] == {}  # tagger.json holds only lists and a settings block
    tokenizer = TokenizerDataset(filepath=str(tmp_path / "tokenizer"))
    tokenizer.save(AutoTokenizer.from_pretrained(tiny_encoder))
    preview = json.loads(tokenizer.preview())
    assert "tokenizer_config.json" in preview["files"]
    assert all(not isinstance(value, dict | list) for value in preview["config"].values())
    with pytest.raises(DatasetError, match="no saved folder"):
        TokenizerDataset(filepath=str(tmp_path / "missing")).preview()


def test_in_a_run_saves_are_staged_read_back_and_committed_together(tmp_path):
    import pandas as pd  # noqa: PLC0415

    from madewithml.datasets import AtomicCSVDataset, RunTransaction  # noqa: PLC0415

    table = AtomicCSVDataset(filepath=str(tmp_path / "t" / "table.csv"), save_args={"index": False})
    table.save(pd.DataFrame({"a": [1]}))  # outside a run: written at once
    transaction = RunTransaction.begin()
    try:
        table.save(pd.DataFrame({"a": [2]}))
        assert pd.read_csv(tmp_path / "t" / "table.csv")["a"].tolist() == [1]  # not yet
        assert table.load()["a"].tolist() == [2]  # later nodes of the run read the new one
        names = {p.name for p in (tmp_path / "t").iterdir()}
        assert names == {"table.csv", f".staging-{transaction.id}"}
        transaction.commit()
    finally:
        RunTransaction.active = None
    assert pd.read_csv(tmp_path / "t" / "table.csv")["a"].tolist() == [2]
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["table.csv"]
    assert table.load()["a"].tolist() == [2]


def test_a_rolled_back_run_leaves_files_and_folders_as_they_were(tmp_path, tiny_encoder):
    import pandas as pd  # noqa: PLC0415
    from transformers import AutoTokenizer  # noqa: PLC0415

    from madewithml.datasets import AtomicCSVDataset, RunTransaction, TokenizerDataset  # noqa: PLC0415

    table = AtomicCSVDataset(filepath=str(tmp_path / "table.csv"), save_args={"index": False})
    folder = TokenizerDataset(filepath=str(tmp_path / "tokenizer"))
    table.save(pd.DataFrame({"a": [1]}))
    folder.save(AutoTokenizer.from_pretrained(tiny_encoder))
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "tokenizer").iterdir()}
    transaction = RunTransaction.begin()
    table.save(pd.DataFrame({"a": [2]}))
    folder.save(AutoTokenizer.from_pretrained(tiny_encoder))
    promoted = []
    transaction.on_commit(lambda: promoted.append(True))
    transaction.rollback()
    assert RunTransaction.active is None and promoted == []
    assert table.load()["a"].tolist() == [1]
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "tokenizer").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv", "tokenizer"]


def test_an_mlflow_artifact_of_a_run_is_logged_under_its_own_name(tmp_path):
    import mlflow  # noqa: PLC0415
    from kedro_mlflow.io.artifacts import MlflowArtifactDataset  # noqa: PLC0415

    from madewithml.datasets import RunTransaction  # noqa: PLC0415

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    dataset = MlflowArtifactDataset(
        dataset={
            "type": "madewithml.datasets.AtomicJSONDataset",
            "filepath": str(tmp_path / "r.json"),
        },
        artifact_path="reports",
    )
    try:
        with mlflow.start_run() as run:
            transaction = RunTransaction.begin()
            dataset.save({"f1": 0.9})  # staged locally, logged from there
            transaction.commit()
        client = mlflow.MlflowClient()
        logged = [a.path for a in client.list_artifacts(run.info.run_id, "reports")]
        assert logged == ["reports/r.json"]
        assert json.loads((tmp_path / "r.json").read_text()) == {"f1": 0.9}
    finally:
        RunTransaction.active = None
        mlflow.set_tracking_uri(None)
