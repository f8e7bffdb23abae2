"""The data_processing pipeline: raw projects → validated → cleaned → split → model inputs."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    add_clean_text,
    encode_labels,
    map_tags,
    prepare_tokenizer,
    split_train_val,
    tokenize_projects,
    validate_projects,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Build the data_processing pipeline."""
    params = "params:data_processing"
    tokenizer = ["tokenizer", "params:encoder.max_length"]
    return pipeline(
        [
            node(validate_projects, "dataset", "validated_projects", name="validate_projects"),
            node(
                map_tags,
                ["validated_projects", f"{params}.accepted_tags", f"{params}.other_tag"],
                "tagged_projects",
                name="map_tags",
            ),
            node(
                add_clean_text,
                ["tagged_projects", f"{params}.remove_stopwords"],
                "projects",
                name="clean_text",
            ),
            node(
                split_train_val,
                ["projects", f"{params}.test_size", f"{params}.seed"],
                ["train_projects", "val_projects"],
                name="split_train_val",
            ),
            node(
                encode_labels,
                ["train_projects", f"{params}.accepted_tags", f"{params}.other_tag"],
                "class_to_index",
                name="encode_labels",
            ),
            node(
                prepare_tokenizer,
                ["params:encoder.name", "projects", "params:encoder.max_length"],
                "tokenizer",
                name="prepare_tokenizer",
            ),
            node(
                tokenize_projects,
                ["train_projects", *tokenizer, "class_to_index"],
                "train_model_input",
                name="tokenize_train",
            ),
            node(
                tokenize_projects,
                ["val_projects", *tokenizer, "class_to_index"],
                "val_model_input",
                name="tokenize_val",
            ),
        ],
        tags=["data_processing"],
    )
