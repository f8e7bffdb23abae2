"""Answers of a logged model outside a `kedro run`: for the predict command and the HTTP service.

`PipelinePredictor` runs a kedro-mlflow pyfunc model's own inference pipeline (the same nodes
and the same logged artifacts) directly in this process. kedro-mlflow's `predict` deep-copies the
model's whole catalog, the 90 MB encoder included, and starts a Kedro runner on every call
(~170 ms for one row on 2 cores); a service that answers one project in a few milliseconds
cannot afford that. Its answers are the pyfunc model's, which the tests check.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from madewithml.pipelines.data_processing.nodes import map_tags
from madewithml.pipelines.evaluation.nodes import score_predictions, score_slices
from madewithml.pipelines.inference.nodes import tag_columns

THRESHOLD_PARAM = "inference.threshold"


def pinned_model_uri(model_uri: str) -> str:
    """``models:/<name>@<alias>`` as the version it points to now (``models:/<name>/<version>``),
    so that a service keeps serving one version; any other URI as it is."""
    if not model_uri.startswith("models:/") or "@" not in model_uri:
        return model_uri
    from mlflow.exceptions import MlflowException  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    name, alias = model_uri.removeprefix("models:/").split("@", 1)
    try:
        version = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException as error:
        raise ValueError(
            f"no model version behind {model_uri!r}: {str(error).splitlines()[0]}. `kedro run` "
            "sets the alias when evaluation promotes a model; or pass --model-uri."
        ) from error
    return f"models:/{name}/{version.version}"


class PipelinePredictor:
    """A loaded MLflow pyfunc model logged by this project (kedro-mlflow's `KedroPipelineModel`),
    run node by node without copying its catalog."""

    def __init__(self, pyfunc_model: Any, model_uri: str | None = None) -> None:
        kedro_model = pyfunc_model.unwrap_python_model()
        self.pipeline = kedro_model.pipeline
        self.input_name = kedro_model.input_name
        self.output_name = kedro_model.output_name
        catalog = kedro_model.loaded_catalog
        self._data = {
            name: catalog.load(name) for name in self.pipeline.inputs() if name != self.input_name
        }
        metadata = pyfunc_model.metadata
        self.run_id = metadata.run_id
        self.model_uri = model_uri
        params = metadata.get_params_schema()
        self.default_params = {p.name: p.default for p in params.params} if params else {}

    @property
    def classes(self) -> list[str]:
        """The tags, in the order of the model's outputs."""
        class_to_index = self._data["class_to_index"]
        return sorted(class_to_index, key=class_to_index.get)

    def predict(self, projects: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """What the pyfunc model's `predict(projects, params=params)` returns."""
        data = {**self._data, self.input_name: projects}
        for name, value in {**self.default_params, **(params or {})}.items():
            data[f"params:{name}"] = value
        for node in self.pipeline.nodes:  # in topological order
            data.update(node.run({name: data[name] for name in node.inputs}))
        return data[self.output_name]


def answers(predictions: pd.DataFrame) -> list[dict[str, Any]]:
    """``[{"prediction": tag, "probabilities": {tag: p, ...}}, ...]``, one per row."""
    classes = tag_columns(predictions)
    return [
        {
            "prediction": row["prediction"],
            "probabilities": {tag: float(row[tag]) for tag in classes},
        }
        for _, row in predictions.iterrows()
    ]


def evaluate(
    predictor: PipelinePredictor, projects: pd.DataFrame, other_tag: str
) -> dict[str, Any]:
    """The evaluation pipeline's metrics of the model on labelled `projects` (title, description,
    tag): overall and per-class scores, the confusion matrix and the slices. Predictions are the
    most likely tag, as in the evaluation pipeline; tags the model does not know are `other_tag`.
    """
    classes = predictor.classes
    labelled = map_tags(projects, [tag for tag in classes if tag != other_tag], other_tag)
    predictions = predictor.predict(labelled[["title", "description"]], {THRESHOLD_PARAM: 0.0})
    scored = pd.DataFrame(
        {"tag": labelled["tag"].to_numpy(), "prediction": predictions["prediction"].to_numpy()}
    )
    scores = score_predictions(scored, {tag: i for i, tag in enumerate(classes)})
    return {**scores, "slices": score_slices(labelled.reset_index(drop=True), scored)}
