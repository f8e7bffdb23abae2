"""Project pipelines.

Every folder of `pipelines/` is registered by `find_pipelines`; the composed ones are:

- `training`: data_processing, then training. Its last node's output, `tagger`, is the model
  that ships: the dataset saves it as an MLflow model folder, logs it to the run and registers it.
- `tuning`: data_processing, then the Ray Tune search (so it works from a fresh clone).
- `__default__` (`kedro run`): data_processing, training, then the evaluation of the version
  training just registered (evaluation's `evaluated_model` is `tagger` here) and its promotion.
- `continuous_training` (`make retrain`): the intake (new labelled rows merged into the
  training data, `training_dataset`), then `__default__`'s steps on the merged data: the
  challenger is promoted only if it beats the champion (evaluation's promotion rule).

Nothing here reads configuration: parameters, the registered name and the threshold reach the
model through the catalog and the nodes, so `--params`, `-e` and `--conf-source` apply.
"""

from __future__ import annotations

import importlib
import pkgutil

import click
from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline, pipeline

from madewithml import pipelines as pipelines_package


class UnknownPipelineError(click.ClickException):
    """A pipeline name nobody registered. A `ClickException`, so that `kedro run` says it in
    one line (`Error: no pipeline named ...`); Kedro turns a `KeyError` into a `ValueError`
    whose traceback buried the list of names."""


class Pipelines(dict):
    """The registered pipelines. One that was not loaded (the registry of a run that named
    others: Kedro keeps that selection for the session, e.g. in a notebook after
    `session.run(pipeline_names=[...])`) is built when first asked for; an unknown name is an
    error that lists every registered one."""

    def __missing__(self, name: str) -> Pipeline:
        folders = {module.name for module in pkgutil.iter_modules(pipelines_package.__path__)}
        if name in COMPOSITIONS or name in folders:
            self[name] = COMPOSITIONS[name]() if name in COMPOSITIONS else _folder(name)
            return self[name]
        known = ", ".join(sorted({*self, *folders, *COMPOSITIONS}))
        raise UnknownPipelineError(
            f"no pipeline named {name!r}: the registered pipelines are {known}"
        )


def _found() -> dict[str, Pipeline]:
    """`find_pipelines`, which (from Kedro 1.7) imports only the pipelines a run asks for. A
    name asked for with no folder under `pipelines/` makes it raise an `ImportError` with no
    cause (a folder that fails to import chains its own error, which is raised): then nothing
    is loaded, and the unknown name gets `Pipelines`' error, which names them all."""
    try:
        return find_pipelines(raise_errors=True)
    except ImportError as error:
        if error.__cause__ is not None:
            raise
        return {}


def _folder(name: str) -> Pipeline:
    """The pipeline of the folder `pipelines/<name>/` (imported only when a run needs it)."""
    return importlib.import_module(f"{pipelines_package.__name__}.{name}").create_pipeline()


def _trains() -> Pipeline:
    return _folder("data_processing") + _folder("training")


def _evaluates_what_was_trained() -> Pipeline:
    return pipeline(_folder("evaluation"), inputs={"evaluated_model": "tagger"})


def _continuous_training() -> Pipeline:
    processes_merged_data = pipeline(
        _folder("data_processing"), inputs={"dataset": "training_dataset"}
    )
    return (
        _folder("continuous_training")
        + processes_merged_data
        + _folder("training")
        + _evaluates_what_was_trained()
    )


# The composed pipelines, each built from the folders' pipelines when a run asks for it.
COMPOSITIONS = {
    "__default__": lambda: _trains() + _evaluates_what_was_trained(),
    "training": _trains,
    "tuning": lambda: _folder("data_processing") + _folder("tuning"),
    "continuous_training": _continuous_training,
}


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    A run that names its pipelines (`kedro run --pipelines=data_processing`) gets only those
    (`find_pipelines` imports only their folders), so it does not import what the others need
    (torch and Ray Train for training); without names, or with `__default__`, every one.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = Pipelines(_found())
    everything = "__default__" in pipelines
    for name, compose in COMPOSITIONS.items():
        if everything or name in pipelines:
            pipelines[name] = compose()
    return pipelines
