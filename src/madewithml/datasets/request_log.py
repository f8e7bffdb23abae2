"""The request log as a catalog dataset (read-only: `kedro serve` writes it,
madewithml.monitoring.request_log)."""

from __future__ import annotations

from typing import Any

import fsspec
import pandas as pd
import pyarrow.dataset as pads
from kedro.io.core import AbstractDataset, DatasetError

from madewithml.monitoring.request_log import COLUMNS, SCHEMA


class RequestLogDataset(AbstractDataset):
    """Every row of the request log under `path` (any fsspec URL), oldest first, as a pandas
    table with the log's columns (`probabilities` a dict per row); empty (with the columns)
    when nothing was logged yet. Files being written (hidden names) are not read.

    `path` is the one place the log's location is set: `kedro serve` writes where the catalog's
    `request_log` points.
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        self.path = path
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        fs, root = fsspec.core.url_to_fs(self.path)
        if not fs.exists(root):
            return SCHEMA.empty_table().to_pandas(maps_as_pydicts="strict")
        try:
            table = pads.dataset(
                root,
                filesystem=fs,
                format="parquet",
                partitioning="hive",
                ignore_prefixes=[".", "_"],
                schema=SCHEMA,
            ).to_table(columns=list(COLUMNS))
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
            raise DatasetError(f"cannot read the request log at '{self.path}': {error}") from error
        frame = table.to_pandas(maps_as_pydicts="strict")
        return frame.sort_values(["time", "request_id", "item"], kind="stable").reset_index(
            drop=True
        )

    def save(self, data: Any) -> None:
        raise DatasetError(
            "the request log is written by `kedro serve` (serving.request_log), not by a pipeline"
        )

    def _exists(self) -> bool:
        fs, root = fsspec.core.url_to_fs(self.path)
        return fs.exists(root)

    def _describe(self) -> dict[str, Any]:
        return {"path": self.path}
