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


def test_tag_classifier_dataset_round_trip_and_atomic_replace(tmp_path, tiny_encoder):
    import torch  # noqa: PLC0415

    from madewithml.datasets import TagClassifierDataset  # noqa: PLC0415
    from madewithml.model import TagClassifier  # noqa: PLC0415

    dataset = TagClassifierDataset(filepath=str(tmp_path / "models" / "model"))
    assert not dataset.exists()
    first = TagClassifier.from_encoder(str(tiny_encoder), 4, 0.1, "mean")
    dataset.save(first)
    second = TagClassifier.from_encoder(str(tiny_encoder), 3, 0.1, "cls")
    dataset.save(second)  # replaces the first
    loaded = dataset.load()
    assert loaded.config == second.config
    ids = torch.tensor([[101, 2000, 102]])
    assert (
        loaded.predict_proba(ids, torch.ones_like(ids))
        == second.predict_proba(ids, torch.ones_like(ids))
    ).all()
    # no staging or retired folders are left beside it
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["model"]


def test_a_failed_save_keeps_the_previous_version(tmp_path, tiny_encoder):
    from madewithml.datasets import TagClassifierDataset  # noqa: PLC0415
    from madewithml.model import TagClassifier  # noqa: PLC0415

    dataset = TagClassifierDataset(filepath=str(tmp_path / "model"))
    good = TagClassifier.from_encoder(str(tiny_encoder), 4, 0.1, "mean")
    dataset.save(good)

    class Broken:
        def save(self, folder):
            (folder / "model.safetensors").write_bytes(b"partial")
            raise OSError("disk full")

    with pytest.raises(DatasetError, match="disk full"):
        dataset.save(Broken())
    assert dataset.load().config == good.config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_folder_dataset_names_a_missing_folder(tmp_path):
    from madewithml.datasets import TagClassifierDataset  # noqa: PLC0415

    with pytest.raises(DatasetError, match=r"no saved folder at '.*nothing'"):
        TagClassifierDataset(filepath=str(tmp_path / "nothing")).load()


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
