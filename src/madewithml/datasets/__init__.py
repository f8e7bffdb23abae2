"""Project-specific Kedro datasets."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import numpy as np
import pandas as pd
from kedro.io.core import PROTOCOL_DELIMITER, AbstractDataset, DatasetError, get_filepath_str
from kedro_datasets._typing import JSONPreview, TablePreview
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from kedro_datasets.yaml import YAMLDataset
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset

from madewithml.console.timeline import mark
from madewithml.shipping.registry import pinned_model_uri, registered_version

logger = logging.getLogger(__name__)


class RunTransaction:
    """The files one `kedro run` writes, committed together when it succeeds.

    While a run is open (`madewithml.framework.hooks.TransactionHook`), every dataset of this
    package saves
    into a hidden ``.staging-<id>/`` folder beside its target, and later nodes of the run read
    it from there. When the run succeeds, `commit` moves every staged file and folder over its
    target; when it fails, `rollback` deletes them. A failed (or killed) run therefore leaves
    each layer's files all from the previous successful run, never a mix. One run at a time
    per project; `catalog.save` outside a run writes at once (atomically).
    """

    active: RunTransaction | None = None

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex[:8]
        self._staged: list[tuple[Any, Any, str, str]] = []  # (dataset, fs, staged, final)
        self._on_commit: list[Callable[[], None]] = []

    def on_commit(self, action: Callable[[], None]) -> None:
        """Do `action` (a change outside the files, e.g. a registry alias) once the run's
        files are committed; never if the run fails."""
        self._on_commit.append(action)

    @classmethod
    def begin(cls) -> RunTransaction:
        cls.active = cls()
        return cls.active

    def staging_path(self, final: PurePosixPath) -> PurePosixPath:
        """Where `final` is written during the run: same name, in the run's staging folder."""
        return final.parent / f".staging-{self.id}" / final.name

    def add(self, dataset: Any, fs: Any, staged: str, final: str) -> None:
        self._staged.append((dataset, fs, staged, final))

    def commit(self) -> None:
        """Move every staged file and folder over its target (each move a rename)."""
        for dataset, fs, staged, final in self._staged:
            if not fs.exists(staged):  # saved twice in the run: the last save is staged
                continue
            if fs.isdir(staged) and fs.exists(final):
                retired = f"{final}.old-{self.id}"
                fs.mv(final, retired, recursive=True)
                fs.mv(staged, final, recursive=True)
                fs.rm(retired, recursive=True)
            else:
                fs.mv(staged, final, recursive=fs.isdir(staged))
            dataset._staged = None
        self._clean()
        for action in self._on_commit:
            action()

    def rollback(self) -> None:
        """Delete what the run staged: the targets keep the previous run's files."""
        for dataset, *_ in self._staged:
            dataset._staged = None
        self._clean()

    def _clean(self) -> None:
        for _, fs, staged, _ in self._staged:
            folder = staged.rsplit("/", 1)[0]
            if fs.exists(folder):
                fs.rm(folder, recursive=True)
        self._staged = []
        RunTransaction.active = None


def _clear_leftovers(fs: Any, final: str) -> None:
    """What a killed earlier run left beside `final` (hidden, never read): delete it."""
    parent, name = final.rsplit("/", 1) if "/" in final else (".", final)
    current = RunTransaction.active.id if RunTransaction.active else None
    for leftover in fs.glob(f"{parent}/.staging-*"):
        if not current or not leftover.endswith(f".staging-{current}"):
            fs.rm(leftover, recursive=True)
    for leftover in fs.glob(f"{parent}/.{name}.*.writing"):
        fs.rm(leftover, recursive=True)


class _AtomicSave:
    """For kedro-datasets file datasets: a save writes a hidden ``.<name>.<random>.writing``
    file and renames it once complete, so no reader ever sees a truncated file; in a `kedro run`
    the rename is into the run's staging folder (see `RunTransaction`), and the target is
    replaced when the run succeeds."""

    _staged: PurePosixPath | None = None
    _writing: PurePosixPath | None = None

    def _get_load_path(self) -> PurePosixPath:
        return self._staged or super()._get_load_path()

    def _get_save_path(self) -> PurePosixPath:  # also what kedro-mlflow logs as the artifact
        if self._writing is not None:
            return self._writing
        final = super()._get_save_path()
        transaction = RunTransaction.active
        return transaction.staging_path(final) if transaction else final

    def save(self, data: Any) -> None:
        final = super()._get_save_path()
        target = self._get_save_path()  # final, or staged in a run
        _clear_leftovers(self._fs, get_filepath_str(final, self._protocol))
        writing = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.writing")
        self._fs.makedirs(get_filepath_str(writing.parent, self._protocol), exist_ok=True)
        self._writing = writing  # the parent's save writes where _get_save_path says
        try:
            super().save(data)
            self._fs.mv(
                get_filepath_str(writing, self._protocol), get_filepath_str(target, self._protocol)
            )
        finally:
            self._writing = None
            if self._fs.exists(get_filepath_str(writing, self._protocol)):
                self._fs.rm(get_filepath_str(writing, self._protocol))
            self._invalidate_cache()
        if target != final:
            self._staged = target
            RunTransaction.active.add(
                self,
                self._fs,
                get_filepath_str(target, self._protocol),
                get_filepath_str(final, self._protocol),
            )


class AtomicCSVDataset(_AtomicSave, CSVDataset):
    """`pandas.CSVDataset` whose saves are atomic (see `_AtomicSave`)."""


class AtomicParquetDataset(_AtomicSave, ParquetDataset):
    """`pandas.ParquetDataset` whose saves are atomic (see `_AtomicSave`)."""


class AtomicJSONDataset(_AtomicSave, JSONDataset):
    """`json.JSONDataset` whose saves are atomic (see `_AtomicSave`)."""


class AtomicYAMLDataset(_AtomicSave, YAMLDataset):
    """`yaml.YAMLDataset` whose saves are atomic (see `_AtomicSave`)."""


class AtomicMatplotlibDataset(_AtomicSave, MatplotlibDataset):
    """`matplotlib.MatplotlibDataset` whose saves are atomic (see `_AtomicSave`)."""


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
            table = super().load()
        except Exception as exc:
            cause = exc.__cause__ or exc  # the parent's wrapper adds its own DatasetError
            reason = f"{type(cause).__name__}: {cause}".strip()
            if isinstance(cause, pd.errors.ParserError | UnicodeDecodeError):
                # read, but not as a UTF-8, comma-separated table: the file is at fault
                raise DatasetError(
                    f"'{self._location()}' is not a comma-separated UTF-8 table ({reason}): "
                    "check its delimiter, quoting and encoding"
                ) from exc
            hint = (
                f" The location comes from the setting {self._setting}: set it to a folder (or "
                "base URL) holding this file."
                if self._setting
                else ""
            )
            raise DatasetError(
                f"Could not read raw data from '{self._location()}' ({reason}).{hint}"
            ) from exc
        self._check_delimiter(table)
        return table

    def _check_delimiter(self, table: pd.DataFrame) -> None:
        """A file separated by something else than commas reads as one column: say so."""
        if len(table.columns) != 1:
            return
        header = str(table.columns[0])
        for delimiter, name in [(";", "semicolons"), ("\t", "tabs"), ("|", "pipes")]:
            if delimiter in header:
                raise DatasetError(
                    f"'{self._location()}' reads as one column {header[:80]!r}: it looks "
                    f"separated by {name}, not commas. Save it as comma-separated (CSV)."
                )

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

    _staged: Path | None = None

    def _folder(self) -> Path:
        """Where the folder is now: staged in a running `kedro run`, else at `filepath`."""
        return self._staged or Path(self._filepath)

    def load(self) -> Any:
        folder = self._folder()
        if not folder.is_dir():
            raise DatasetError(f"no saved folder at '{folder}': run the pipeline that writes it")
        return self._read(folder)

    def save(self, data: Any) -> None:
        final = Path(self._filepath)
        final.parent.mkdir(parents=True, exist_ok=True)
        transaction = RunTransaction.active
        target = Path(transaction.staging_path(PurePosixPath(final))) if transaction else final
        fs = fsspec.filesystem("file")
        _clear_leftovers(fs, str(final))
        target.parent.mkdir(parents=True, exist_ok=True)
        writing = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.writing")
        writing.mkdir()
        try:
            self._write(data, writing)
            if target.exists():  # outside a run: swap the old folder out
                retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
                target.rename(retired)
                writing.rename(target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                writing.rename(target)
        finally:
            shutil.rmtree(writing, ignore_errors=True)
        if transaction:
            self._staged = target
            transaction.add(self, fs, str(target), str(final))
        self._after_save(data, target)

    def _after_save(self, data: Any, folder: Path) -> None:
        """What a subclass does once the folder is in place (nothing by default)."""

    def _exists(self) -> bool:
        return self._folder().is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    _config_file: str = ""

    def preview(self) -> JSONPreview:
        """Kedro-Viz's preview: the folder's files with their sizes, and the scalar settings of
        its JSON config, read without loading the (large) content."""
        folder = Path(self._filepath)
        if not folder.is_dir():
            raise DatasetError(f"no saved folder at '{folder}': run the pipeline that writes it")
        files = {
            str(f.relative_to(folder)): f"{f.stat().st_size / 1e6:.2f} MB"
            for f in sorted(folder.rglob("*"))
            if f.is_file()
        }
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


class MlflowTaggerDataset(_FolderDataset):
    """The model that ships (a `madewithml.core.tagger.Tagger`), saved as a complete MLflow
    model folder at `filepath` and, when an MLflow run is active (`kedro run`), logged to it
    and registered as `registered_model_name`.

    Loading gives the MLflow pyfunc model: the registered version this dataset logged in this
    run, else the local folder. Either way predictions go through the logged model's own
    `predict`, as everywhere else.
    """

    _config_file = "artifacts/tagger/tagger.json"

    def __init__(
        self,
        *,
        filepath: str,
        registered_model_name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath=filepath, metadata=metadata)
        self._registered_model_name = registered_model_name
        self._logged_uri: str | None = None

    def _write(self, data: Any, folder: Path) -> None:
        from madewithml.shipping import packaging as model_logging  # noqa: PLC0415 - MLflow and torch only when used

        model_logging.save_model(data, folder)

    def _after_save(self, data: Any, folder: Path) -> None:
        import mlflow  # noqa: PLC0415

        from madewithml.shipping import packaging as model_logging  # noqa: PLC0415

        self._logged_uri = None
        if mlflow.active_run() is None:
            logger.info("no active MLflow run: the model is saved at %s only", folder)
            return
        tagger_files = folder / "artifacts" / model_logging.TAGGER_ARTIFACT
        mark("model saved locally")
        info = model_logging.log_model(data, tagger_files, self._registered_model_name)
        mark("model logged and registered")
        if self._registered_model_name and info.registered_model_version is not None:
            self._logged_uri = (
                f"models:/{self._registered_model_name}/{info.registered_model_version}"
            )
        else:
            self._logged_uri = info.model_uri
        logger.info("model logged to MLflow as %s", self._logged_uri)

    @property
    def logged_uri(self) -> str | None:
        """The URI this run logged (and registered) the model under, if it did."""
        return self._logged_uri

    def _read(self, folder: Path) -> Any:
        return load_pyfunc_model(self._logged_uri or str(folder))

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "registered_model_name": self._registered_model_name}


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


def load_pyfunc_model(model_uri: str) -> Any:
    """`mlflow.pyfunc.load_model(model_uri)`, with `metadata.model_uri` set to `model_uri` (which
    model this is, for reports and the service) and an error that names the URI, the tracking
    store and, for an alias, how aliases are set."""
    import mlflow  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        model_uri = pinned_model_uri(model_uri)
        model = mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError, ValueError) as error:
        hint = ""
        if "@" in model_uri:
            hint = (
                " The alias is set when `kedro run` (training, evaluation, promotion) "
                "promotes a model; or give another URI with "
                "--params=inference.model_uri=runs:/<run id>/model."
            )
        raise DatasetError(
            f"Could not load the MLflow model {model_uri!r} from the tracking store "
            f"{mlflow.get_tracking_uri()!r}: {str(error).splitlines()[0]}.{hint}"
        ) from error
    model.metadata.model_uri = model_uri
    return model


class MlflowPyfuncDataset(AbstractDataset):
    """Read-only: the MLflow pyfunc model at `model_uri`, or None when no URI is given.

    Any URI MLflow resolves: ``runs:/<id>/model``, ``models:/<name>/<version>``,
    ``models:/<name>@<alias>``, ``models:/<name>/latest``, a local model folder. The tracking
    store is the one kedro-mlflow configured.
    """

    def __init__(self, model_uri: str | None = None, metadata: dict[str, Any] | None = None):
        self._model_uri = model_uri
        self.metadata = metadata

    def load(self) -> Any:
        if not self._model_uri:
            return None
        return load_pyfunc_model(self._model_uri)

    def save(self, data: Any) -> None:
        raise DatasetError("MlflowPyfuncDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"model_uri": self._model_uri}


class RegisteredModelAliasDataset(AbstractDataset):
    """A registered model's alias (the champion).

    Loading gives ``{"version": "3", "run_id": ..., "holdout_f1": 0.95}``, or ``{}`` when the
    model or the alias does not exist yet; the F1 is the ``holdout_f1`` tag a promotion sets.
    Saving ``{"promote": true, "model_uri": ..., "holdout_f1": ..., "reason": ...}`` moves the
    alias to the version behind `model_uri` and tags it with the F1; with ``promote`` false it
    changes nothing.
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

    def save(self, data: dict[str, Any]) -> None:
        if not data.get("promote"):
            logger.info("model not promoted: %s", data.get("reason"))
            return
        if RunTransaction.active is not None:  # only once the whole run has succeeded
            RunTransaction.active.on_commit(lambda: self._promote(data))
        else:
            self._promote(data)

    def _promote(self, data: dict[str, Any]) -> None:
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        client = MlflowClient()
        version = registered_version(
            client, self._name, data.get("model_uri") or "", data.get("run_id")
        )
        if version is None:
            raise DatasetError(
                f"cannot promote {data.get('model_uri')!r}: it is not a registered version of "
                f"{self._name!r}"
            )
        client.set_registered_model_alias(self._name, self._alias, version)
        # repr keeps every digit: re-evaluating the champion is then a tie, not a promotion.
        client.set_model_version_tag(self._name, version, "holdout_f1", repr(data["holdout_f1"]))
        logger.info(
            "%s version %s is now @%s: %s", self._name, version, self._alias, data["reason"]
        )

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name, "alias": self._alias}
