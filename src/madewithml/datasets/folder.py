"""Datasets stored as a local folder, replaced atomically on save; the tokenizer is one."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, DatasetError
from kedro_datasets._typing import JSONPreview

from madewithml.datasets.transaction import RunTransaction, clear_leftovers


class FolderDataset(AbstractDataset):
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
        clear_leftovers(fs, str(final))
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


class TokenizerDataset(FolderDataset):
    """A Hugging Face tokenizer, saved with `save_pretrained` and read with `AutoTokenizer`."""

    _config_file = "tokenizer_config.json"

    def _write(self, data: Any, folder: Path) -> None:
        data.save_pretrained(folder)

    def _read(self, folder: Path) -> Any:
        from transformers import AutoTokenizer  # noqa: PLC0415 - transformers only when used

        return AutoTokenizer.from_pretrained(folder)
