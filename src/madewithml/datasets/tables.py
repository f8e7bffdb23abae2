"""Tables of model inputs: parquet whose token-id cells are arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from kedro_datasets._typing import TablePreview

from madewithml.datasets.atomic import AtomicParquetDataset


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
