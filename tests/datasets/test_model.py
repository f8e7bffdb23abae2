"""The model that ships as a dataset: saved as an MLflow model folder, logged and registered in
a run, the previous version kept when a save fails."""

import pytest
from kedro.io.core import DatasetError


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
