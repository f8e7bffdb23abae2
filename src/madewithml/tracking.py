"""MLflow tracking from inside Ray: metrics streamed into the `kedro run`'s MLflow run."""

from __future__ import annotations

import logging
import numbers
from typing import Any

from ray.train import Checkpoint, UserCallback

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
        from mlflow.tracking import MlflowClient  # noqa: PLC0415 - imported in Ray's process

        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        reported = metrics[0]
        step = int(reported.get("epoch", 0))
        values = {
            f"{self.prefix}{name}": float(value)
            for name, value in reported.items()
            if isinstance(value, numbers.Number) and name != "epoch"
        }
        try:
            for name, value in values.items():
                self._client.log_metric(self.run_id, name, value, step=step)
        except Exception:  # tracking must never stop training
            logger.exception("could not log metrics to MLflow run %s", self.run_id)
