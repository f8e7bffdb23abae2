"""Small, real model inputs for the training and tuning tests, and a throw-away MLflow run."""

import mlflow
import pytest
from factories import fast_training_params, make_raw_projects, mlflow_tracking

from madewithml.data.encoder import load_tokenizer
from madewithml.pipelines.data_processing.nodes import (
    add_clean_text,
    encode_labels,
    map_tags,
    split_train_val,
    tokenize_projects,
)

ACCEPTED = ["computer-vision", "mlops", "natural-language-processing"]


@pytest.fixture(scope="session")
def model_inputs(tiny_encoder):
    """(train, val, class_to_index) for 60 synthetic projects, tokenized by the tiny encoder."""
    projects = add_clean_text(map_tags(make_raw_projects(12), ACCEPTED, "other"), False)
    train, val = split_train_val(projects, test_size=0.25, seed=0, min_rows_per_class=5)
    class_to_index = encode_labels(train, ACCEPTED, "other")
    tokenizer = load_tokenizer(str(tiny_encoder))
    return (
        tokenize_projects(train, tokenizer, 32, class_to_index),
        tokenize_projects(val, tokenizer, 32, class_to_index),
        class_to_index,
    )


@pytest.fixture
def training_params(tmp_path) -> dict:
    """Fast training parameters: 3 epochs of a tiny model, 1 worker with 1 CPU."""
    return fast_training_params(tmp_path / "ray_results")


@pytest.fixture
def tracking(tmp_path):
    """An MLflow run in a throw-away sqlite store, as kedro-mlflow opens for `kedro run`."""
    run, client = mlflow_tracking(tmp_path)
    yield run, client
    mlflow.set_tracking_uri(None)
