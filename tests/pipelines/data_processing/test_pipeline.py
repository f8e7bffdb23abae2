"""The data_processing pipeline run on an in-memory catalog."""

import pandas as pd
import pytest
from factories import project_parameters
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from madewithml.data.schemas import DataValidationError
from madewithml.pipelines.data_processing import create_pipeline

PARAMS = {
    **project_parameters("data_processing"),
    "params:data_processing.remove_stopwords": True,
    "params:encoder.name": "packaged:all-MiniLM-L6-v2",
    "params:encoder.max_length": 128,
}
OUTPUTS = ["projects", "train_projects", "val_projects", "class_to_index", "tokenizer"]
MODEL_INPUTS = ["train_model_input", "val_model_input"]


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so a test can read intermediate outputs."""

    def _release(self) -> None:
        pass


def _catalog(raw: pd.DataFrame) -> DataCatalog:
    datasets = {name: MemoryDataset(value) for name, value in PARAMS.items()}
    datasets["dataset"] = MemoryDataset(raw)
    for name in OUTPUTS + MODEL_INPUTS:
        datasets[name] = KeptDataset()
    return DataCatalog(datasets=datasets)


def test_pipeline_turns_raw_projects_into_model_inputs(raw_projects):
    catalog = _catalog(raw_projects)
    SequentialRunner().run(create_pipeline(), catalog)
    train, val = catalog.load("train_model_input"), catalog.load("val_model_input")
    assert len(train) + len(val) == len(raw_projects)
    assert set(train["target"]) == set(val["target"]) == {0, 1, 2, 3}
    assert catalog.load("class_to_index")["other"] == 3
    assert (catalog.load("projects")["text"].str.len() > 0).all()


def test_pipeline_stops_at_validation_and_writes_nothing(raw_projects):
    catalog = _catalog(raw_projects.drop(columns="title"))
    with pytest.raises(DataValidationError, match="missing column 'title'"):
        SequentialRunner().run(create_pipeline(), catalog)
    for name in OUTPUTS + MODEL_INPUTS:
        assert not catalog[name].exists(), f"{name} was written although validation failed"
