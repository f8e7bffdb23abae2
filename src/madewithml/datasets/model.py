"""The model that ships as a dataset: saved, logged to the run's MLflow run and registered
(`tagger`); any logged model read by URI (`evaluated_model`, `inference_model`); the registry's
champion alias (`champion`, `new_champion`)."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from madewithml.console.timeline import mark
from madewithml.datasets.folder import FolderDataset
from madewithml.datasets.transaction import RunTransaction
from madewithml.shipping.loading import ModelNotLoadedError, load_model
from madewithml.shipping.registry import registered_version

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def registry_lock(tracking_uri: str, name: str) -> Iterator[None]:
    """An exclusive lock, between the processes of this machine, on the registered model `name`
    of the tracking store at `tracking_uri` (a file lock in the temporary folder). MLflow's
    registry has no compare-and-set: promotions hold this while they read and move the alias."""
    key = hashlib.sha256(f"{tracking_uri}\n{name}".encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"madewithml-registry-{key}.lock"
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(model_uri: str) -> Any:
    """`load_model`, its error as Kedro's."""
    try:
        return load_model(model_uri)
    except ModelNotLoadedError as error:
        raise DatasetError(str(error)) from error


class MlflowTaggerDataset(FolderDataset):
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
        return _load(self._logged_uri or str(folder))

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "registered_model_name": self._registered_model_name}


class MlflowPyfuncDataset(AbstractDataset):
    """Read-only: the MLflow pyfunc model at `model_uri`, or None when no URI is given; with
    `lazy`, a function that loads it (as Kedro's partitioned datasets give loaders), for a node
    that needs the model only sometimes.

    Any URI MLflow resolves: ``runs:/<id>/model``, ``models:/<name>/<version>``,
    ``models:/<name>@<alias>``, ``models:/<name>/latest``, a local model folder. The tracking
    store is the one kedro-mlflow configured.
    """

    def __init__(
        self,
        model_uri: str | None = None,
        lazy: bool = False,
        metadata: dict[str, Any] | None = None,
    ):
        self._model_uri = model_uri
        self._lazy = lazy
        self.metadata = metadata

    @property
    def model_uri(self) -> str | None:
        """The URI this dataset loads (as configured: an alias is not pinned yet)."""
        return self._model_uri

    def load(self) -> Any:
        if not self._model_uri:
            return None
        if self._lazy:  # a node that may not need the model calls this only when it does
            return functools.partial(_load, self._model_uri)
        return _load(self._model_uri)

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
        f1, rows = version.tags.get("holdout_f1"), version.tags.get("holdout_rows")
        return {
            "version": str(version.version),
            "run_id": version.run_id,
            "holdout_f1": float(f1) if f1 is not None else None,
            # The holdout that F1 was measured on (absent for a champion promoted before the
            # digest was recorded: it is then scored again, as on any other holdout).
            "holdout_digest": version.tags.get("holdout_digest") or None,
            "holdout_rows": int(rows) if rows else None,
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
        """Move the alias as compare-and-set: under a lock on this registry, and only if the
        champion is still the one the decision beat, or the new one is beaten on the same
        holdout too."""
        import mlflow  # noqa: PLC0415
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
        holdout = data.get("holdout") or {}
        with registry_lock(mlflow.get_tracking_uri(), self._name):
            now = self.load()
            if now.get("version") != data.get("expected_champion"):
                beaten = (
                    now.get("holdout_digest") == holdout.get("digest")
                    and now.get("holdout_f1") is not None
                    and data["holdout_f1"] > now["holdout_f1"]
                )
                if not beaten:
                    logger.warning(
                        "%s version %s not promoted: the champion became version %s while this "
                        "run evaluated, and it is not beaten on the same holdout (run the "
                        "evaluation again to compare with it)",
                        self._name,
                        version,
                        now.get("version"),
                    )
                    return
            client.set_registered_model_alias(self._name, self._alias, version)
            # repr keeps every digit: re-evaluating the champion is then a tie, not a promotion.
            tags = {
                "holdout_f1": repr(data["holdout_f1"]),
                "holdout_digest": holdout.get("digest", ""),
                "holdout_rows": str(holdout.get("rows", "")),
            }
            for key, value in tags.items():
                client.set_model_version_tag(self._name, version, key, value)
        logger.info(
            "%s version %s is now @%s: %s", self._name, version, self._alias, data["reason"]
        )

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name, "alias": self._alias}
