"""Kedro hooks that own the engines: Ray is started before a pipeline that needs it and shut down
after it, configured by conf/<env>/ray.yml (as Kedro's databricks starter does for Spark)."""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)
RAY_TAG = "ray"


class RayHook:
    """Starts Ray for pipelines with nodes tagged ``ray`` and shuts it down afterwards.

    - ``init``: keyword arguments of ``ray.init``. ``address: null`` starts a local Ray on this
      machine; ``auto``, ``ray://host:10001`` or the ``RAY_ADDRESS`` variable join a cluster
      (``num_cpus`` / ``num_gpus`` are then the cluster's own and are not passed).
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
        import ray  # noqa: PLC0415 - only pipelines that need Ray pay for importing it

        if ray.is_initialized():
            logger.info("Ray is already running: using it as it is")
            return
        init = dict(self._config.get("init") or {})
        address = init.get("address") or os.environ.get("RAY_ADDRESS")
        if address:
            init["address"] = address
            init.pop("num_cpus", None)
            init.pop("num_gpus", None)
        logging_config = self._config.get("logging")
        if logging_config:
            init["logging_config"] = ray.LoggingConfig(**logging_config)
        context = ray.init(**init)
        self._started = True
        logger.info("Ray started (%s), dashboard: %s", address or "local", context.dashboard_url)
        data_context = ray.data.DataContext.get_current()
        for name, value in (self._config.get("data_context") or {}).items():
            setattr(data_context, name, value)

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
