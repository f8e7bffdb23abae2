"""Nodes of the batch inference pipeline: a logged model over a table of projects.

Two engines, one prediction path: the table is a pandas DataFrame (predicted in this process)
or, with ``inference.engine: ray_data``, a lazy `ray.data.Dataset` (predicted batch by batch
in a pool of Ray actors). Each batch goes through `predict_table`, the logged model's own
`predict` with the threshold, exactly as the whole table does in process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from madewithml.console.progress import in_chunks
from madewithml.core.inputs import check_projects
from madewithml.core.pyfunc import THRESHOLD_PARAM
from madewithml.core.tagger import PREDICTION

if TYPE_CHECKING:
    from ray.data import Dataset as RayDataset
else:  # Ray only for the Ray Data engine; Kedro resolves the hints of a node's function
    RayDataset = Any

INPUT_NAME = "projects_to_predict"  # how input errors name the table


def predict_table(model: Any, projects: pd.DataFrame, threshold: float | None) -> pd.DataFrame:
    """Run a logged pyfunc model over a table of projects at its own threshold (`threshold`
    None) or at the one given.

    Returns the input's columns followed by the prediction and the probability of every tag.
    """
    inputs = check_projects(projects, name=INPUT_NAME, reserved=[PREDICTION])
    if "id" in projects.columns:  # so that the model names a row it refuses by its id
        inputs = inputs.set_axis(pd.Index(projects["id"], name="id"))
    params = None if threshold is None else {THRESHOLD_PARAM: threshold}
    predictions = model.predict(inputs, params=params)
    # A column named as a tag would appear twice, and readers take the first (the input's).
    check_projects(projects, name=INPUT_NAME, reserved=list(predictions.columns))
    predictions.index = projects.index
    return pd.concat([projects, predictions], axis=1)


class BatchPredictor:
    """The callable class of `map_batches`: each actor of the pool holds one copy of the
    logged model and answers its batches with `predict_table`."""

    def __init__(self, model: Any, threshold: float | None) -> None:
        import ray  # noqa: PLC0415 - runs in a Ray actor

        self.model = ray.get(model) if isinstance(model, ray.ObjectRef) else model
        self.threshold = threshold

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return predict_table(self.model, batch, self.threshold)


def check_actor_pool(concurrency: int, num_cpus_per_actor: float, cluster_cpus: float) -> None:
    """Refuse an actor pool that would leave Ray no CPU for the tasks reading the file: the
    actors would wait for batches that are never read.

    Raises:
        ValueError: naming the parameters and what Ray has.
    """
    wanted = concurrency * num_cpus_per_actor
    if wanted > cluster_cpus - 1:
        raise ValueError(
            f"inference.ray_data asks for {concurrency} actors × {num_cpus_per_actor:g} CPU = "
            f"{wanted:g} CPUs, and Ray has {cluster_cpus:g}: at least one must stay free for "
            "reading the file. Lower inference.ray_data.concurrency or num_cpus_per_actor "
            "(e.g. --params=inference.ray_data.num_cpus_per_actor=0.5)."
        )


def predict_on_ray_data(
    model: Any,
    projects: RayDataset,
    threshold: float | None,
    batch_size: int,
    concurrency: int,
    num_cpus_per_actor: float,
) -> RayDataset:
    """The predictions of `predict_table` as a lazy `ray.data.Dataset`: the projects cut into
    blocks of `batch_size` rows, each predicted by one of `concurrency` actors. Nothing runs
    until the dataset is consumed (the catalog's save streams it to a file)."""
    import ray.data  # noqa: PLC0415 - only on this engine

    check_actor_pool(concurrency, num_cpus_per_actor, ray.cluster_resources().get("CPU", 0))
    return projects.repartition(target_num_rows_per_block=batch_size).map_batches(
        BatchPredictor,
        fn_constructor_kwargs={"model": ray.put(model), "threshold": threshold},
        batch_size=batch_size,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus_per_actor,
    )


def predict_projects(
    model: Any,
    projects: pd.DataFrame | RayDataset,
    threshold: float | None,
    ray_data: dict[str, Any] | None = None,
    progress_rows: int = 0,
) -> pd.DataFrame | RayDataset:
    """Predict every project with a logged pyfunc model, at its own threshold unless
    `threshold` (``inference.threshold``, given per run) overrides it.

    A DataFrame is predicted here (`predict_table`); a `ray.data.Dataset` (the
    catalog's ``inference.engine: ray_data``) lazily, on Ray Data, with `ray_data`'s
    ``batch_size``, ``concurrency`` and ``num_cpus_per_actor`` (`predict_on_ray_data`). Either
    way the output has the input's columns, then the prediction and every tag's probability.
    In process, a table longer than `progress_rows` is predicted in chunks of that many rows,
    each logged with the time left.
    """
    if isinstance(projects, pd.DataFrame):
        return in_chunks(
            projects,
            progress_rows,
            lambda chunk: predict_table(model, chunk, threshold),
            "batch inference",
        )
    return predict_on_ray_data(model, projects, threshold, **(ray_data or {}))
