"""Small, real model inputs for the training tests: the synthetic projects, tokenized."""

import pytest
from factories import make_raw_projects

from madewithml.pipelines.data_processing.nodes import (
    add_clean_text,
    encode_labels,
    map_tags,
    split_train_val,
    tokenize_projects,
)
from madewithml.tokenization import load_tokenizer

ACCEPTED = ["computer-vision", "mlops", "natural-language-processing"]


@pytest.fixture(scope="session")
def model_inputs(tiny_encoder):
    """(train, val, class_to_index) for 60 synthetic projects, tokenized by the tiny encoder."""
    projects = add_clean_text(map_tags(make_raw_projects(12), ACCEPTED, "other"), False)
    train, val = split_train_val(projects, test_size=0.25, seed=0)
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
    return {
        "seed": 1234,
        "num_epochs": 3,
        "batch_size": 8,
        "loss": "cross_entropy",
        "label_smoothing": 0.0,
        "optimizer": "adamw",
        "lr": 3e-3,
        "weight_decay": 0.0,
        "lr_factor": 0.5,
        "lr_patience": 1,
        "dropout_p": 0.1,
        "pooling": "mean",
        "shuffle_buffer_size": 64,
        "ray_train": {
            "scaling": {"num_workers": 1, "use_gpu": False, "resources_per_worker": {"CPU": 1}},
            "storage_path": str(tmp_path / "ray_results"),
            "checkpoints_to_keep": 1,
            "max_failures": 0,
        },
    }
