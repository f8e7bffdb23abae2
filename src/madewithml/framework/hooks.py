"""The project's Kedro hooks (registered in settings.py): parameters checked before any work; Ray
started before a pipeline that needs it and shut down after it, configured by conf/<env>/ray.yml
(as Kedro's databricks starter does for Spark); a run's files committed together or not at all;
the run's timeline; the summary that ends it; and a tracking store that cannot be used, named
in one line."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from madewithml.console.summary import run_summary
from madewithml.console.timeline import mark
from madewithml.datasets.transaction import RunLock, RunTransaction
from madewithml.framework.ray_runtime import start_ray
from madewithml.parameters import validate_parameters

logger = logging.getLogger(__name__)
RAY_TAG = "ray"


def _datasets_need_ray(pipeline: Pipeline, catalog: Any) -> bool:
    """Whether a dataset the pipeline reads or writes says it `requires_ray` (batch inference's
    CSVs with ``inference.engine: ray_data``, `madewithml.datasets.engine_csv.EngineCSVDataset`)."""
    for name in pipeline.datasets():
        if name.startswith("params:") or name == "parameters":
            continue
        try:
            dataset = catalog.get(name)
        except Exception:  # noqa: BLE001 - not declared (a free in-memory dataset)
            continue
        if getattr(dataset, "requires_ray", False):
            return True
    return False


class TrackingStoreError(click.ClickException):
    """The MLflow tracking store cannot be used: `kedro` says it in one line, naming the store
    and MLflow's reason (it printed 122 lines of traceback for a locked SQLite file)."""


class TrackingStoreHook:
    """Turns an error that MLflow raises while kedro-mlflow sets up tracking (the experiment
    when the context is created, the run before the pipeline) into a `TrackingStoreError`.
    Errors that do not come from MLflow's code pass as they are."""

    @hook_impl(wrapper=True)
    def after_context_created(self, context):
        try:
            return (yield)
        except Exception as error:
            raise _store_error(error) from error

    @hook_impl(wrapper=True)
    def before_pipeline_run(self, run_params, pipeline, catalog):
        try:
            return (yield)
        except Exception as error:
            raise _store_error(error) from error


def _store_error(error: Exception) -> Exception:
    """`error` as a `TrackingStoreError` when it was raised inside MLflow (kedro-mlflow's
    calls), else `error` itself."""
    import traceback  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    frames = traceback.extract_tb(error.__traceback__)
    if not any("/mlflow/" in frame.filename for frame in frames):
        return error
    cause, link = error, error
    while link is not None:  # SQLAlchemy's error, under MLflow's: the database's own reason
        if getattr(link, "orig", None) is not None:
            cause = link.orig
            break
        link = link.__cause__ or link.__context__
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    hint = ""
    if "database is locked" in reason:
        hint = " (another process is writing to it, e.g. a run or `mlflow ui`: retry when done)"
    return TrackingStoreError(
        f"the MLflow tracking store {mlflow.get_tracking_uri()} cannot be used: {reason}{hint}"
    )


class ParameterValidationHook:
    """Checks every parameter (conf and `--params`) against `madewithml.parameters` as soon as
    the context exists: a bad value stops the command before Ray, MLflow or any node starts."""

    @hook_impl
    def after_context_created(self, context) -> None:
        # The configuration's parameters, `--params` merged in: what the nodes get (none takes a
        # typed parameter for Kedro to convert). Not `context.params`: in a session that has not
        # said which pipelines it runs (a script, a notebook, `kedro predict`, `kedro serve`),
        # Kedro imports every registered pipeline to look for such types.
        validate_parameters(context.config_loader["parameters"])


class RayHook:
    """Starts Ray for pipelines with nodes tagged ``ray``, or with a dataset that requires Ray
    (`requires_ray`: batch inference on Ray Data), and shuts it down afterwards.

    - ``init``: keyword arguments of ``ray.init``. ``address: null`` starts a local Ray on this
      machine; ``auto``, ``ray://host:10001`` or the ``RAY_ADDRESS`` variable join a cluster
      (``num_cpus`` / ``num_gpus`` are then the cluster's own and are not passed).
    - ``init_by_tag``: ``{tag: {...}}``, ``ray.init`` arguments that replace those of ``init``
      when the pipeline has a node with that tag (Tune needs the dashboard's state API).
    - ``loopback_only``: a Ray started here listens on 127.0.0.1 only (true unless set false).
    - ``logging``: ``ray.LoggingConfig`` for every Ray process of the job.
    - ``data_context``: attributes of ``ray.data.DataContext`` (e.g. progress bars).

    A Ray that is already running (``ray.init`` called by a notebook, say) is used as it is and
    left running.
    """

    def __init__(self) -> None:
        self._config: dict[str, Any] = {}
        self._started: str | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._config = dict(context.config_loader.get("ray") or {})

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any = None
    ) -> None:
        tagged = any(RAY_TAG in node.tags for node in pipeline.nodes)
        if not tagged and not (catalog is not None and _datasets_need_ray(pipeline, catalog)):
            return
        self._started = start_ray(self._config, set().union(*(n.tags for n in pipeline.nodes)))

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._shutdown()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        if self._started:
            import ray  # noqa: PLC0415

            ray.shutdown()  # stops a local Ray; disconnects from a cluster
            self._started = None


class TransactionHook:
    """A `kedro run`'s files are committed together when it succeeds, and dropped when it fails
    (`madewithml.datasets.RunTransaction`): each layer then holds the files of one run. One run
    at a time per project (`madewithml.datasets.RunLock` on the project's `.run.lock`, beside
    `data/`, which a run leaves as it was when it fails): a second fails
    before any other hook starts anything (an MLflow run, Ray)."""

    LOCK_FILE = Path(".run.lock")

    def __init__(self) -> None:
        self._lock: RunLock | None = None

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._lock = RunLock(Path(run_params["project_path"]) / self.LOCK_FILE)
        pipelines = run_params.get("pipeline_names") or run_params.get("pipeline_name")
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        self._lock.acquire(f"started {started}, pipelines {pipelines or '__default__'}")
        RunTransaction.begin()

    @hook_impl
    def after_pipeline_run(self) -> None:
        try:
            if RunTransaction.active is not None:
                RunTransaction.active.commit()
        finally:
            self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        try:
            if RunTransaction.active is not None:
                RunTransaction.active.rollback()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


class TimelineHook:
    """Marks where a run spends its time (`madewithml.console.timeline`, on when MADEWITHML_TIMELINE
    names a file): the Kedro context, the pipeline, and every node's start and end."""

    @hook_impl
    def after_context_created(self) -> None:
        mark("kedro context created")

    @hook_impl
    def before_pipeline_run(self) -> None:
        mark("pipeline started (MLflow run open)")

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        mark(f"node {node.name} started")

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        mark(f"node {node.name} done")

    @hook_impl
    def after_pipeline_run(self) -> None:
        mark("pipeline done")


class RunSummaryHook:
    """Ends a `kedro run` with a short summary (`madewithml.console.summary`): holdout F1
    against the baseline, the promotion decision, the MLflow run and the model, and the
    commands that come next. `report` and `model` name the datasets it reads: the evaluation
    report a node outputs, and the model dataset whose `logged_uri` says what the run logged."""

    def __init__(self, report: str, model: str) -> None:
        self._report_name, self._model_name = report, model
        self._report: dict | None = None
        self._run_id: str | None = None
        self._model_saved = False

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._report, self._run_id, self._model_saved = None, None, False

    @hook_impl
    def after_node_run(self, node: Any, outputs: dict[str, Any]) -> None:
        import mlflow  # noqa: PLC0415 - loaded by kedro-mlflow already

        if (run := mlflow.active_run()) is not None:
            self._run_id = run.info.run_id
        if self._report_name in outputs:
            self._report = outputs[self._report_name]
        if self._model_name in outputs:
            self._model_saved = True  # its URI is read from the dataset once the run is done

    @hook_impl
    def after_pipeline_run(self, catalog: Any) -> None:
        model_uri = None
        if self._model_saved:
            model_uri = getattr(catalog.get(self._model_name), "logged_uri", None)
        lines = run_summary(self._report, self._run_id, model_uri)
        if lines:
            logger.info("\n".join(lines))
