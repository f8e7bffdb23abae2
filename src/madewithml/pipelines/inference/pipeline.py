"""The batch inference pipeline (`kedro run --pipelines=inference`): a logged model (the
registry's champion by default) over a CSV of projects. The model is the logged MLflow model
(`madewithml.core`): what it answers here is what `kedro predict`, the HTTP service and
`mlflow models serve` answer."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import predict_projects


def create_pipeline(**kwargs) -> Pipeline:
    """Batch inference: `projects_to_predict` (a CSV) through `inference_model` (an MLflow
    model) → `batch_predictions`.

    In this process, or on Ray Data with ``--params=inference.engine=ray_data``: the catalog
    then loads the projects as a lazy Ray Dataset, the node predicts them in a pool of actors
    (`params:inference.ray_data`), and the catalog streams the predictions to the file. The
    node has no ``ray`` tag: Ray is started only for that engine, because the catalog's
    datasets then require it (`madewithml.framework.hooks.RayHook`)."""
    return pipeline(
        [
            node(
                predict_projects,
                [
                    "inference_model",
                    "projects_to_predict",
                    "params:inference.threshold",
                    "params:inference.ray_data",
                    "params:inference.progress_rows",
                ],
                "batch_predictions",
                name="predict_projects",
            )
        ],
        tags=["inference", "batch_inference"],
    )
