"""MLflow tracking as datasets: metrics logged to the run (with a local copy), and where the
active run is for code outside this process."""

from __future__ import annotations

from typing import Any

from kedro.io.core import AbstractDataset, DatasetError
from kedro_datasets._typing import JSONPreview
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset

from madewithml.datasets.atomic import AtomicJSONDataset


def metrics_history(values: dict[str, float]) -> dict[str, list[dict[str, float]]]:
    """Final values as what `MlflowMetricsDataset` saves (kedro-mlflow's metrics-history
    format): one step, 0, per metric."""
    return {name: [{"value": float(value), "step": 0}] for name, value in values.items()}


class MlflowMetricsDataset(MlflowMetricsHistoryDataset):
    """kedro-mlflow's metrics dataset that also keeps the last values in a local JSON file.

    Saving logs the metrics to the active MLflow run (as the parent class does) and writes
    ``{name: value}`` to `filepath` (atomically), which Kedro-Viz previews and notebooks read
    without an MLflow query.
    """

    def __init__(
        self,
        *,
        filepath: str,
        prefix: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(run_id=run_id, prefix=prefix, metadata=metadata)
        self._copy = AtomicJSONDataset(filepath=filepath, save_args={"indent": 2})

    def _save(self, data: dict[str, Any]) -> None:  # the parent defines _save, Kedro wraps it
        super()._save(data)
        latest = {}
        for name, value in data.items():
            last = value[-1] if isinstance(value, list) else value
            key = f"{self._prefix}.{name}" if self._prefix else name
            latest[key] = float(last["value"])
        self._copy.save(latest)

    def preview(self) -> JSONPreview:
        """Kedro-Viz's preview: the metrics the last run saved."""
        if not self._copy.exists():
            raise DatasetError(
                f"no metrics at '{self._copy._filepath}': run the pipeline that logs them"
            )
        return self._copy.preview()

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "filepath": str(self._copy._filepath)}


class MlflowRunDataset(AbstractDataset):
    """Read-only: where the active MLflow run is, for code that runs outside this process.

    Loads ``{"tracking_uri": ..., "run_id": ..., "experiment_id": ...}`` for the run
    kedro-mlflow opened for this `kedro run`, or ``{}`` when no run is active (tracking
    disabled, or a plain runner in tests).
    Ray's processes use it to log into that run.
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> dict[str, str]:
        import mlflow  # noqa: PLC0415 - mlflow only when used

        run = mlflow.active_run()
        if run is None:
            return {}
        return {
            "tracking_uri": mlflow.get_tracking_uri(),
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
        }

    def save(self, data: dict[str, str]) -> None:
        raise DatasetError("MlflowRunDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {}
