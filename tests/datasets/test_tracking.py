"""Where the active MLflow run is, for code outside this process."""

import pytest
from kedro.io.core import DatasetError


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
