"""The data_processing pipeline: raw projects → validated → cleaned → split → model inputs."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    add_clean_text,
    encode_labels,
    map_tags,
    plot_class_balance,
    prepare_tokenizer,
    resolve_duplicate_texts,
    split_train_val,
    tokenize_projects,
    validate_projects,
)

PARAMS = "params:data_processing"


def preparation() -> Pipeline:
    """validate → map tags → clean text → one row per text, from the raw table `raw` to
    `prepared`: the same nodes prepare the training data and the holdout (`prepared_projects`
    reuses them under a namespace)."""
    return Pipeline(
        [
            node(validate_projects, "raw", "validated", name="validate_projects"),
            node(
                map_tags,
                ["validated", f"{PARAMS}.accepted_tags", f"{PARAMS}.other_tag"],
                "tagged",
                name="map_tags",
            ),
            node(
                add_clean_text,
                ["tagged", f"{PARAMS}.remove_stopwords"],
                "cleaned",
                name="clean_text",
            ),
            node(
                resolve_duplicate_texts,
                ["cleaned", f"{PARAMS}.contradictory_labels"],
                "prepared",
                name="resolve_duplicate_texts",
            ),
        ]
    )


def prepared_projects(raw: str, output: str) -> Pipeline:
    """`preparation` of the raw table `raw` into `output`, its nodes and intermediate datasets
    in the namespace ``<raw>_preparation`` (e.g. ``holdout_preparation.validate_projects``; a
    group in Kedro-Viz)."""
    steps = preparation()
    return Pipeline(
        steps,
        inputs={"raw": raw},
        outputs={"prepared": output},
        parameters={name for name in steps.inputs() if name.startswith("params:")},
        namespace=f"{raw}_preparation",
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Build the data_processing pipeline."""
    params = PARAMS
    tokenizer = ["tokenizer", "params:encoder.max_length"]
    return pipeline(
        [
            prepared_projects("dataset", "projects"),
            node(
                split_train_val,
                [
                    "projects",
                    f"{params}.test_size",
                    f"{params}.seed",
                    f"{params}.min_rows_per_class",
                ],
                ["train_projects", "val_projects"],
                name="split_train_val",
            ),
            node(
                plot_class_balance,
                ["train_projects", "val_projects"],
                "class_balance_plot",
                name="plot_class_balance",
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
