"""Data tests: the real dataset and holdout meet the contract the pipelines rely on."""

import pandas as pd
import pytest

from madewithml.data.schemas import RAW_COLUMNS, validate_raw_projects

pytestmark = pytest.mark.real_data
TAGS = {"computer-vision", "mlops", "natural-language-processing", "other"}


@pytest.fixture(scope="module", params=["dataset.csv", "holdout.csv"])
def raw(request, real_data) -> pd.DataFrame:
    return pd.read_csv(real_data / request.param)


def test_columns(raw):
    assert list(raw.columns) == RAW_COLUMNS


def test_schema_holds(raw):
    validate_raw_projects(raw)


def test_ids_are_unique(raw):
    assert raw["id"].is_unique


def test_no_missing_values(raw):
    assert not raw.isna().any().any()


def test_title_description_pairs_are_unique(raw):
    assert not raw.duplicated(subset=["title", "description"]).any()


def test_tags_are_the_four_classes(raw):
    assert set(raw["tag"]) == TAGS


def test_dataset_and_holdout_do_not_overlap(real_data):
    dataset = pd.read_csv(real_data / "dataset.csv")
    holdout = pd.read_csv(real_data / "holdout.csv")
    assert set(dataset["id"]).isdisjoint(holdout["id"])
    assert set(dataset["title"]).isdisjoint(holdout["title"])
