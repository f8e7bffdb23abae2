"""Raw sources: a readable CSV, and errors that name the location and the setting."""

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
