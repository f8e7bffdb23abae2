"""kedro-datasets file datasets whose saves are atomic and, in a `kedro run`, staged in the
run's transaction (`madewithml.datasets.transaction`).

The mixin relies on three members of kedro-datasets' file datasets (`kedro_datasets` 9.x):
`_get_load_path` / `_get_save_path` (where `load` and `save` read and write), `_fs` and
`_protocol` (the fsspec filesystem) and `_invalidate_cache`. kedro-mlflow's artifact wrapper logs
the path `_get_save_path` gives. tests/datasets/test_atomic.py pins that behaviour, so an upgrade
of kedro-datasets that changes it fails there first.
"""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from kedro_datasets.text import TextDataset
from kedro_datasets.yaml import YAMLDataset

from madewithml.datasets.transaction import RunTransaction, clear_leftovers


class AtomicSave:
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
        clear_leftovers(self._fs, get_filepath_str(final, self._protocol))
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


class AtomicCSVDataset(AtomicSave, CSVDataset):
    """`pandas.CSVDataset` whose saves are atomic (see `AtomicSave`)."""


class AtomicParquetDataset(AtomicSave, ParquetDataset):
    """`pandas.ParquetDataset` whose saves are atomic (see `AtomicSave`)."""


class AtomicJSONDataset(AtomicSave, JSONDataset):
    """`json.JSONDataset` whose saves are atomic (see `AtomicSave`)."""


class AtomicTextDataset(AtomicSave, TextDataset):
    """`text.TextDataset` whose saves are atomic (see `AtomicSave`)."""


class AtomicYAMLDataset(AtomicSave, YAMLDataset):
    """`yaml.YAMLDataset` whose saves are atomic (see `AtomicSave`)."""


class AtomicMatplotlibDataset(AtomicSave, MatplotlibDataset):
    """`matplotlib.MatplotlibDataset` whose saves are atomic (see `AtomicSave`)."""
