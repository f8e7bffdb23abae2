"""The raw sources: CSV tables whose errors say where the data came from."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io.core import PROTOCOL_DELIMITER, DatasetError
from kedro_datasets.pandas import CSVDataset


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
