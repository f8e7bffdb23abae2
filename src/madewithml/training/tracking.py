"""MLflow tracking from inside Ray: metrics streamed into the `kedro run`'s MLflow run."""

from __future__ import annotations

import logging
import numbers
import time
from typing import Any

from ray.train import Checkpoint, UserCallback

from madewithml.training.epochs import NOT_LOGGED

logger = logging.getLogger(__name__)


class MlflowMetricsCallback(UserCallback):
    """A Ray Train callback that logs every report of rank 0 to an MLflow run as it arrives.

    It runs in Ray Train's controller, a separate process with no active MLflow run, so it is
    given the tracking URI and the run id (see `madewithml.datasets.MlflowRunDataset`). The step
    is the reported `epoch`.
    """

    def __init__(self, tracking_uri: str, run_id: str, prefix: str = "") -> None:
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.prefix = prefix
        self._client = None

    def after_report(
        self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Checkpoint | None
    ) -> None:
        from mlflow.entities import Metric  # noqa: PLC0415 - imported in Ray's process
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        reported = metrics[0]
        step = int(reported.get("epoch", 0))
        values = {
            f"{self.prefix}{name}": float(value)
            for name, value in reported.items()
            if isinstance(value, numbers.Number) and name not in NOT_LOGGED
        }
        timestamp = int(time.time() * 1000)
        try:  # one request per report (a tracking server is a network hop away)
            self._client.log_batch(
                self.run_id,
                metrics=[Metric(name, value, timestamp, step) for name, value in values.items()],
            )
        except Exception:  # tracking must never stop training
            logger.exception("could not log metrics to MLflow run %s", self.run_id)


def best_run_id(experiment_name: str, metric: str, mode: str = "max") -> str:
    """The id of the finished run of `experiment_name` with the best `metric` (the seed's
    `get_best_run_id`), e.g. ``best_run_id("madewithml", "evaluation.holdout_f1", "max")``.

    Raises:
        ValueError: for an unknown experiment, a `mode` other than max/min, or no run with
            the metric.
    """
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    if mode not in {"max", "min"}:
        raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise ValueError(f"no MLflow experiment named {experiment_name!r}")
    order = "DESC" if mode == "max" else "ASC"
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.status = 'FINISHED' and metrics.`{metric}` > -1e308",
        order_by=[f"metrics.`{metric}` {order}"],
        max_results=1,
    )
    if not runs:
        raise ValueError(f"no finished run of {experiment_name!r} has the metric {metric!r}")
    return runs[0].info.run_id
