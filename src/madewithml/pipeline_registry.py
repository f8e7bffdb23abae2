"""Project pipelines.

`tuning` runs the data_processing nodes before the search, so it works from a fresh clone.
`training` and `__default__` (training, then evaluation) are kedro-mlflow `PipelineML` objects:
when they run, kedro-mlflow logs the inference pipeline, with the model, tokenizer and
class_to_index it needs, as one MLflow pyfunc model and registers it. The data_processing (and
evaluation) nodes are part of their training side because kedro-mlflow only logs the model for a
`PipelineML` run on its own: one combined with another pipeline (`a + b`, `--pipelines=a,b`)
becomes a plain `Pipeline` (kedro-mlflow #690).
"""

from __future__ import annotations

import os
from importlib.metadata import requires
from pathlib import Path

from kedro.framework.project import find_pipelines, settings
from kedro.pipeline import Pipeline
from kedro.utils import find_kedro_project
from kedro_mlflow.pipeline import pipeline_ml_factory
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

import madewithml
from madewithml.pipelines import data_processing, evaluation, inference, tuning
from madewithml.pipelines import training as training_pipeline

# The packages the pyfunc model needs at serving time, with this project's pins.
_SERVING_PACKAGES = {
    "kedro",
    "kedro-datasets",
    "kedro-mlflow",
    "mlflow",
    "pandas",
    "pandera",
    "scikit-learn",
    "torch",
    "transformers",
}


def _parameters() -> dict:
    """The project's parameters, read as `kedro run` reads them."""
    project = find_kedro_project(Path.cwd())
    if project is None:
        raise RuntimeError(f"no Kedro project at or above {Path.cwd()}")
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(Path(project) / settings.CONF_SOURCE),
        env=os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    return loader["parameters"]


def _pip_requirements() -> list[str]:
    pins = [req.split(";")[0].strip() for req in requires("madewithml") or []]
    return sorted(pin for pin in pins if pin.split("[")[0].split("=")[0] in _SERVING_PACKAGES)


def _with_model_logging(
    training: Pipeline, inference: Pipeline, registered_model_name: str, threshold: float
) -> Pipeline:
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", "title"), ColSpec("string", "description")]),
        # Overridable per prediction: model.predict(frame, params={"inference.threshold": 0.5})
        params=ParamSchema([ParamSpec("inference.threshold", "double", threshold)]),
    )
    return pipeline_ml_factory(
        training=training,
        inference=inference,
        input_name="projects_to_predict",
        log_model_kwargs={
            "name": "model",
            "registered_model_name": registered_model_name,
            "signature": signature,
            "code_paths": [str(Path(madewithml.__file__).parent)],
            "pip_requirements": _pip_requirements(),
        },
    )


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    # find_pipelines registers every folder of pipelines/ (kedro 1.7 imports only the ones a
    # `kedro run --pipelines` asks for); the composed pipelines below are built from them directly.
    pipelines = find_pipelines(raise_errors=True)
    trains = data_processing.create_pipeline() + training_pipeline.create_pipeline()
    parameters = _parameters()
    name, threshold = parameters["model_registry"]["name"], parameters["inference"]["threshold"]
    model = inference.create_model_pipeline()
    pipelines["training"] = _with_model_logging(trains, model, name, threshold)
    pipelines["tuning"] = data_processing.create_pipeline() + tuning.create_pipeline()
    pipelines["__default__"] = _with_model_logging(
        trains + evaluation.create_pipeline(), model, name, threshold
    )
    return pipelines
