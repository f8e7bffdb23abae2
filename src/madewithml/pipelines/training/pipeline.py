"""The training pipeline: model inputs → a fine-tuned classifier (Ray Train) → the model that
ships (`tagger`: saved under data/06_models, logged to MLflow and registered)."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import package_model, plot_training_curves, train_model


def create_pipeline(**kwargs) -> Pipeline:
    """Build the training pipeline; its Ray node is tagged `ray` so the Ray hook starts Ray."""
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
                ["classifier", "training_history"],
                name="train_model",
                tags=["ray"],
            ),
            node(
                package_model,
                [
                    "classifier",
                    "tokenizer",
                    "class_to_index",
                    "params:encoder.max_length",
                    "params:data_processing",
                    "params:inference",
                ],
                "tagger",
                name="package_model",
            ),
            node(
                plot_training_curves,
                "training_history",
                "training_curves_plot",
                name="plot_training_curves",
            ),
        ],
        tags=["training"],
    )
