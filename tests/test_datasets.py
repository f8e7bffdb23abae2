import json

import pytest
from factories import mlflow_tracking
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


def test_folder_previews_list_files_and_scalar_settings(tmp_path, tiny_encoder):
    from transformers import AutoTokenizer  # noqa: PLC0415

    from madewithml.datasets import TagClassifierDataset, TokenizerDataset  # noqa: PLC0415
    from madewithml.model import TagClassifier  # noqa: PLC0415

    model = TagClassifierDataset(filepath=str(tmp_path / "model"))
    model.save(TagClassifier.from_encoder(str(tiny_encoder), 4, 0.1, "mean"))
    preview = json.loads(model.preview())
    assert set(preview["files"]) == {"model.safetensors", "model_config.json"}
    assert preview["config"]["num_classes"] == 4
    tokenizer = TokenizerDataset(filepath=str(tmp_path / "tokenizer"))
    tokenizer.save(AutoTokenizer.from_pretrained(tiny_encoder))
    preview = json.loads(tokenizer.preview())
    assert "tokenizer_config.json" in preview["files"]
    assert all(not isinstance(value, dict | list) for value in preview["config"].values())
    with pytest.raises(DatasetError, match="no saved folder"):
        TokenizerDataset(filepath=str(tmp_path / "missing")).preview()


def test_tokenized_projects_preview_shows_arrays_as_lengths(tmp_path):
    import pandas as pd  # noqa: PLC0415

    from madewithml.datasets import TokenizedProjectsDataset  # noqa: PLC0415

    dataset = TokenizedProjectsDataset(filepath=str(tmp_path / "inputs.parquet"))
    ids = [[101, 7, 8, 9, 10, 11, 12, 102], [101, 102]]
    dataset.save(pd.DataFrame({"id": [1, 2], "input_ids": ids, "target": [0, 3]}))
    preview = dataset.preview(nrows=1)
    assert preview["columns"] == ["id", "input_ids", "target"]
    assert preview["data"] == [[1, "8 × [101, 7, 8, 9, 10, 11, …]", 0]]
    json.dumps(preview)  # what Kedro-Viz serves must be JSON


def test_metrics_dataset_logs_to_mlflow_and_keeps_a_json_copy(tmp_path):
    import mlflow  # noqa: PLC0415

    from madewithml.datasets import MlflowMetricsDataset  # noqa: PLC0415

    run, client = mlflow_tracking(tmp_path)
    path = tmp_path / "reporting" / "metrics.json"
    dataset = MlflowMetricsDataset(filepath=str(path), prefix="evaluation", run_id=run["run_id"])
    with pytest.raises(DatasetError, match="no metrics"):
        dataset.preview()
    mlflow.set_tracking_uri(run["tracking_uri"])
    try:
        dataset.save({"f1": [{"value": 0.5, "step": 0}, {"value": 0.75, "step": 1}]})
    finally:
        mlflow.set_tracking_uri(None)
    assert client.get_run(run["run_id"]).data.metrics == {"evaluation.f1": 0.75}
    assert json.loads(dataset.preview()) == {"evaluation.f1": 0.75}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no staging file left


class _Unprintable:
    """A cell whose text fails: a save that dies half-way through writing the table."""

    def __str__(self) -> str:
        raise RuntimeError("disk full")

    __repr__ = __str__


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_save_that_dies_midway_keeps_the_previous_file_whole(tmp_path, kind):
    import pandas as pd  # noqa: PLC0415

    from madewithml.datasets import AtomicCSVDataset, AtomicParquetDataset  # noqa: PLC0415

    cls = {"csv": AtomicCSVDataset, "parquet": AtomicParquetDataset}[kind]
    path = tmp_path / f"table.{kind}"
    dataset = cls(filepath=str(path), save_args={"index": False} if kind == "csv" else None)
    first = pd.DataFrame({"id": range(1000), "text": ["x" * 20] * 1000})
    dataset.save(first)
    broken = first.astype({"text": object})
    broken.loc[999, "text"] = _Unprintable()  # the last row fails, after the others are written
    with pytest.raises(DatasetError):
        dataset.save(broken)
    pd.testing.assert_frame_equal(dataset.load(), first)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left behind
    dataset.save(first.head(3))  # and the next save replaces it
    assert len(dataset.load()) == 3
