"""Kedro hooks that own the engines: Ray is started before a pipeline that needs it and shut down
after it, configured by conf/<env>/ray.yml (as Kedro's databricks starter does for Spark)."""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from madewithml.parameters import validate_parameters

logger = logging.getLogger(__name__)
RAY_TAG = "ray"


def start_ray(config: dict[str, Any], tags: set[str]) -> bool:
    """Start (or join) Ray as conf/<env>/ray.yml says, for work with these tags.

    Returns False, and changes nothing, when Ray is already running in this process.
    """
    import ray  # noqa: PLC0415 - only what needs Ray pays for importing it

    if ray.is_initialized():
        logger.info("Ray is already running: using it as it is")
        return False
    init = dict(config.get("init") or {})
    for tag, overrides in (config.get("init_by_tag") or {}).items():
        if tag in tags:
            init.update(overrides or {})
    address = init.get("address") or os.environ.get("RAY_ADDRESS")
    if address:
        init["address"] = address
        init.pop("num_cpus", None)
        init.pop("num_gpus", None)
    logging_config = config.get("logging")
    if logging_config:
        init["logging_config"] = ray.LoggingConfig(**logging_config)
    context = ray.init(**init)
    logger.info("Ray started (%s), dashboard: %s", address or "local", context.dashboard_url)
    data_context = ray.data.DataContext.get_current()
    for name, value in (config.get("data_context") or {}).items():
        setattr(data_context, name, value)
    return True


class ParameterValidationHook:
    """Checks every parameter (conf and `--params`) against `madewithml.parameters` as soon as
    the context exists: a bad value stops the command before Ray, MLflow or any node starts."""

    @hook_impl
    def after_context_created(self, context) -> None:
        validate_parameters(context.params)


class RayHook:
    """Starts Ray for pipelines with nodes tagged ``ray`` and shuts it down afterwards.

    - ``init``: keyword arguments of ``ray.init``. ``address: null`` starts a local Ray on this
      machine; ``auto``, ``ray://host:10001`` or the ``RAY_ADDRESS`` variable join a cluster
      (``num_cpus`` / ``num_gpus`` are then the cluster's own and are not passed).
    - ``init_by_tag``: ``{tag: {...}}``, ``ray.init`` arguments that replace those of ``init``
      when the pipeline has a node with that tag (Tune needs the dashboard's state API).
    - ``logging``: ``ray.LoggingConfig`` for every Ray process of the job.
    - ``data_context``: attributes of ``ray.data.DataContext`` (e.g. progress bars).

    A Ray that is already running (``ray.init`` called by a notebook, say) is used as it is and
    left running.
    """

    def __init__(self) -> None:
        self._config: dict[str, Any] = {}
        self._started = False

    @hook_impl
    def after_context_created(self, context) -> None:
        self._config = dict(context.config_loader.get("ray") or {})

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline) -> None:
        if not any(RAY_TAG in node.tags for node in pipeline.nodes):
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

            ray.shutdown()
            self._started = False


class PromotionHook:
    """Applies the evaluation's promotion decision to the MLflow model registry after the run.

    The decision is made by a pure node (`decide_promotion`, in `evaluation_report`); the alias
    can only be set once the evaluated model has a registered version, which kedro-mlflow creates
    at the end of a training run. Kedro calls plugin hooks (kedro-mlflow's) before project hooks
    at `after_pipeline_run`, so the version exists when this runs.
    """

    def __init__(self) -> None:
        self._registry: dict[str, str] = {}
        self._run_id: str | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._registry = dict(context.params.get("model_registry") or {})

    @hook_impl
    def before_pipeline_run(self) -> None:
        import mlflow  # noqa: PLC0415

        run = mlflow.active_run()
        self._run_id = run.info.run_id if run else None

    @hook_impl
    def after_pipeline_run(self, pipeline: Pipeline, catalog) -> None:
        if "evaluation_report" not in pipeline.all_outputs() or not self._registry:
            return
        report = catalog.load("evaluation_report")
        decision = report["promotion"]
        if not decision["promote"]:
            logger.info("model not promoted: %s", decision["reason"])
            return
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        client = MlflowClient()
        version = self._evaluated_version(client, report["model"])
        if version is None:
            logger.warning(
                "promotion decided (%s) but the evaluated model has no registered version of "
                "%r: nothing to promote",
                decision["reason"],
                self._registry["name"],
            )
            return
        name, alias = self._registry["name"], self._registry["champion_alias"]
        client.set_registered_model_alias(name, alias, version)
        f1 = report["overall"]["f1"]
        client.set_model_version_tag(name, version, "holdout_f1", repr(float(f1)))  # exact
        logger.info("%s version %s is now @%s: %s", name, version, alias, decision["reason"])

    def _evaluated_version(self, client, model: dict) -> str | None:
        """The registered version of the evaluated model (by URI or by the run that trained it)."""
        name = self._registry["name"]
        uri = model.get("model_uri") or ""
        prefix = f"models:/{name}"
        if uri.startswith(prefix + "/"):
            return uri.removeprefix(prefix + "/")
        if uri.startswith(prefix + "@"):
            return client.get_model_version_by_alias(name, uri.removeprefix(prefix + "@")).version
        run_id = model.get("run_id") or self._run_id
        versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
        return max((v.version for v in versions), key=int, default=None)
