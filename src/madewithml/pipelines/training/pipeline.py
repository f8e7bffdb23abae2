"""The training pipeline: model inputs → a fine-tuned classifier (Ray Train)."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import record_model_lineage, train_model


def create_pipeline(**kwargs) -> Pipeline:
    """Build the training pipeline; its node is tagged `ray` so the Ray hook starts Ray."""
    return pipeline(
        [
            node(
                train_model,
                [
                    "train_model_input",
                    "val_model_input",
                    "class_to_index",
                    "params:encoder.name",
                    "params:training",
                    "mlflow_run",
                ],
                ["model", "training_history"],
                name="train_model",
                tags=["ray"],
            ),
            node(
                record_model_lineage,
                ["training_history", "mlflow_run", "params:model_registry"],
                "model_lineage",
                name="record_model_lineage",
            ),
        ],
        tags=["training"],
    )
