"""Project-specific Kedro datasets."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from kedro.io.core import PROTOCOL_DELIMITER, AbstractDataset, DatasetError, get_filepath_str
from kedro_datasets._typing import JSONPreview, TablePreview
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset


class _AtomicSave:
    """For kedro-datasets file datasets: `save` writes a hidden ``.<name>.<random>.partial`` file
    beside the target and renames it over the target once complete, so a run killed mid-save
    leaves the previous file (or none), never a truncated one that loads as if it were whole."""

    def save(self, data: Any) -> None:
        final = self._get_save_path()
        # What a killed earlier save left behind is never read; clear it now.
        leftovers = get_filepath_str(final.with_name(f".{final.name}.*.partial"), self._protocol)
        for leftover in self._fs.glob(leftovers):
            self._fs.rm(leftover)
        staging = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.partial")
        self._get_save_path = lambda: staging  # the parent's save writes where this says
        try:
            super().save(data)
            self._fs.mv(
                get_filepath_str(staging, self._protocol), get_filepath_str(final, self._protocol)
            )
        finally:
            del self._get_save_path
            if self._fs.exists(get_filepath_str(staging, self._protocol)):
                self._fs.rm(get_filepath_str(staging, self._protocol))
            self._invalidate_cache()


class AtomicCSVDataset(_AtomicSave, CSVDataset):
    """`pandas.CSVDataset` whose saves are atomic (see `_AtomicSave`)."""


class AtomicParquetDataset(_AtomicSave, ParquetDataset):
    """`pandas.ParquetDataset` whose saves are atomic (see `_AtomicSave`)."""


class AtomicJSONDataset(_AtomicSave, JSONDataset):
    """`json.JSONDataset` whose saves are atomic (see `_AtomicSave`)."""


class RawCSVDataset(CSVDataset):
    """A `pandas.CSVDataset` for raw sources whose errors say where the data came from.

    When the file or URL cannot be read, the error names the location and the setting that
    chose it (`setting`, e.g. the environment variable ``MADEWITHML_DATA_DIR``), so that a user
    offline knows at once how to point the project at a local copy.
    """

    def __init__(self, *, filepath: str, setting: str | None = None, **kwargs: Any) -> None:
        super().__init__(filepath=filepath, **kwargs)
        self._setting = setting

    def _location(self) -> str:
        path = str(self._get_load_path())
        return path if self._protocol == "file" else f"{self._protocol}{PROTOCOL_DELIMITER}{path}"

    def load(self) -> pd.DataFrame:
        try:
            return super().load()
        except Exception as exc:
            hint = (
                f" The location comes from the setting {self._setting}: set it to a folder (or "
                "base URL) holding this file."
                if self._setting
                else ""
            )
            cause = exc.__cause__ or exc  # the parent's wrapper adds its own DatasetError
            reason = f"{type(cause).__name__}: {cause}".strip()
            raise DatasetError(
                f"Could not read raw data from '{self._location()}' ({reason}).{hint}"
            ) from exc

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "setting": self._setting}


class _FolderDataset(AbstractDataset):
    """A dataset stored as a local folder, replaced atomically on save.

    The new content is written next to the old one and swapped in by renames, so a crash mid-save
    leaves the previous version intact and never a half-written folder. `_filepath` is what
    kedro-mlflow reads to log the folder as an artifact.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def _write(self, data: Any, folder: Path) -> None:
        raise NotImplementedError

    def _read(self, folder: Path) -> Any:
        raise NotImplementedError

    def load(self) -> Any:
        folder = Path(self._filepath)
        if not folder.is_dir():
            raise DatasetError(f"no saved folder at '{folder}': run the pipeline that writes it")
        return self._read(folder)

    def save(self, data: Any) -> None:
        target = Path(self._filepath)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            self._write(data, staging)
            if target.exists():
                retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
                target.rename(retired)
                staging.rename(target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _exists(self) -> bool:
        return Path(self._filepath).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    _config_file: str = ""

    def preview(self) -> JSONPreview:
        """Kedro-Viz's preview: the folder's files with their sizes, and the scalar settings of
        its JSON config, read without loading the (large) content."""
        folder = Path(self._filepath)
        if not folder.is_dir():
            raise DatasetError(f"no saved folder at '{folder}': run the pipeline that writes it")
        files = {f.name: f"{f.stat().st_size / 1e6:.2f} MB" for f in sorted(folder.iterdir())}
        summary: dict[str, Any] = {"files": files}
        config = folder / self._config_file
        if self._config_file and config.is_file():
            settings = json.loads(config.read_text())
            summary["config"] = {
                key: value
                for key, value in settings.items()
                if isinstance(value, str | int | float | bool) or value is None
            }
        return JSONPreview(json.dumps(summary))


class TagClassifierDataset(_FolderDataset):
    """A `madewithml.model.TagClassifier` as safetensors weights plus a JSON config."""

    _config_file = "model_config.json"

    def _write(self, data: Any, folder: Path) -> None:
        data.save(folder)

    def _read(self, folder: Path) -> Any:
        from madewithml.model import TagClassifier  # noqa: PLC0415 - torch only when used

        return TagClassifier.load(folder)


class TokenizerDataset(_FolderDataset):
    """A Hugging Face tokenizer, saved with `save_pretrained` and read with `AutoTokenizer`."""

    _config_file = "tokenizer_config.json"

    def _write(self, data: Any, folder: Path) -> None:
        data.save_pretrained(folder)

    def _read(self, folder: Path) -> Any:
        from transformers import AutoTokenizer  # noqa: PLC0415 - transformers only when used

        return AutoTokenizer.from_pretrained(folder)


class TokenizedProjectsDataset(AtomicParquetDataset):
    """A parquet table of model inputs whose token-id columns hold arrays.

    Kedro-Viz cannot show array cells, so the preview shows each one as its length and first ids.
    """

    def preview(self, nrows: int = 5) -> TablePreview:
        table = pd.read_parquet(str(self._get_load_path())).head(nrows)
        for column in table.columns:
            if table[column].map(lambda cell: isinstance(cell, np.ndarray | list)).any():
                table[column] = table[column].map(_describe_array)
        return TablePreview(table.to_dict(orient="split"))


def _describe_array(cell: Any) -> str:
    values = [int(value) for value in cell]
    head = ", ".join(str(value) for value in values[:6])
    return f"{len(values)} × [{head}, …]"


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


class MlflowPyfuncDataset(AbstractDataset):
    """Read-only: the MLflow pyfunc model at `model_uri`, or None when no URI is given.

    Any URI MLflow resolves: ``runs:/<id>/model``, ``models:/<name>/<version>``,
    ``models:/<name>@<alias>``. The tracking store is the one kedro-mlflow configured.
    """

    def __init__(self, model_uri: str | None = None, metadata: dict[str, Any] | None = None):
        self._model_uri = model_uri
        self.metadata = metadata

    def load(self) -> Any:
        if not self._model_uri:
            return None
        import mlflow  # noqa: PLC0415
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        try:
            model = mlflow.pyfunc.load_model(self._model_uri)
        except (MlflowException, OSError) as error:
            hint = ""
            if "@" in self._model_uri:
                hint = (
                    " The alias is set when `kedro run` (training, evaluation, promotion) "
                    "promotes a model; or give another URI with "
                    "--params=inference.model_uri=runs:/<run id>/model."
                )
            raise DatasetError(
                f"Could not load the MLflow model {self._model_uri!r} from the tracking store "
                f"{mlflow.get_tracking_uri()!r}: {str(error).splitlines()[0]}.{hint}"
            ) from error
        model.metadata.model_uri = self._model_uri  # which model this is, for the report
        return model

    def save(self, data: Any) -> None:
        raise DatasetError("MlflowPyfuncDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"model_uri": self._model_uri}


class RegisteredModelAliasDataset(AbstractDataset):
    """Read-only: the version behind a registered model's alias and its recorded holdout F1.

    Loads ``{"version": "3", "run_id": ..., "holdout_f1": 0.95}``, or ``{}`` when the model or
    the alias does not exist yet. The F1 is the ``holdout_f1`` tag that promotion sets.
    """

    def __init__(self, name: str, alias: str, metadata: dict[str, Any] | None = None) -> None:
        self._name = name
        self._alias = alias
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        from mlflow.exceptions import MlflowException  # noqa: PLC0415
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        try:
            version = MlflowClient().get_model_version_by_alias(self._name, self._alias)
        except MlflowException:
            return {}
        f1 = version.tags.get("holdout_f1")
        return {
            "version": str(version.version),
            "run_id": version.run_id,
            "holdout_f1": float(f1) if f1 is not None else None,
        }

    def save(self, data: Any) -> None:
        raise DatasetError("RegisteredModelAliasDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name, "alias": self._alias}
