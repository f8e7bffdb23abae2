"""The training pipeline: model inputs → a fine-tuned classifier (Ray Train) → the packaged
model, calibrated on the validation split → the model that ships (`tagger`: saved under
data/06_models, logged to MLflow and registered)."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    calibrate_model,
    fit_tfidf_model,
    package_model,
    plot_calibration,
    plot_training_curves,
    train_model,
)


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
                    "tokenizer",
                    "params:encoder.name",
                    "params:training",
                    "mlflow_run",
                ],
                ["classifier", "training_history"],
                name="train_model",
                tags=["ray"],
            ),
            node(
                fit_tfidf_model,
                ["train_projects", "class_to_index", "params:tfidf_model"],
                "tfidf_model",
                name="fit_tfidf_model",
            ),
            node(
                package_model,
                [
                    "classifier",
                    "tokenizer",
                    "class_to_index",
                    "tfidf_model",
                    "params:encoder.max_length",
                    "params:data_processing",
                    "params:tfidf_model",
                    "params:inference.batch_size",
                    "params:inference.precision",
                ],
                "uncalibrated_tagger",
                name="package_model",
            ),
            node(
                calibrate_model,
                ["uncalibrated_tagger", "val_projects", "params:calibration"],
                ["tagger", "calibration_report", "calibration_metrics"],
                name="calibrate_model",
            ),
            node(
                plot_calibration,
                "calibration_report",
                "calibration_plot",
                name="plot_calibration",
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
