"""The batch inference pipeline (`kedro run --pipeline=inference`): a logged model (the
registry's champion by default) over a CSV of projects. The model is the logged MLflow model
(`madewithml.core`): what it answers here is what `kedro predict`, the HTTP service and
`mlflow models serve` answer."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import predict_projects


def create_pipeline(**kwargs) -> Pipeline:
    """Batch inference: `projects_to_predict` (a CSV) through `inference_model` (an MLflow
    model) → `batch_predictions`."""
    return pipeline(
        [
            node(
                predict_projects,
                ["inference_model", "projects_to_predict", "params:inference.threshold"],
                "batch_predictions",
                name="predict_projects",
            )
        ],
        tags=["inference", "batch_inference"],
    )
