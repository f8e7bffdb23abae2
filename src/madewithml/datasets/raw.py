"""The raw sources: CSV tables whose errors say where the data came from."""

from __future__ import annotations

import csv
import io
import re
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

    def __init__(
        self,
        *,
        filepath: str,
        setting: str | None = None,
        record_start: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(filepath=filepath, **kwargs)
        self._setting = setting
        # How a record's first line begins (a regex), e.g. `\d+,\d{4}-\d{2}-\d{2}` (an id and
        # a date): a line like that inside a quoted field is a record the field swallowed.
        self._record_start = re.compile(record_start) if record_start else None

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
        self._check_header(table)
        self._check_records(table)
        return table

    def _check_header(self, table: pd.DataFrame) -> None:
        """Columns named twice, and rows with one field more than the header (pandas then
        takes the first field of every row as the index, and each column the next one's
        values: a trailing comma on every row)."""
        if not table.index.equals(pd.RangeIndex(len(table))):
            raise DatasetError(
                f"'{self._location()}': every row has more fields than the header "
                f"{list(table.columns)} (a comma at the end of each line?)"
            )
        columns = [str(column) for column in table.columns]
        twice = sorted(
            {
                base
                for column in columns
                if (base := re.sub(r"\.\d+$", "", column)) != column and base in columns
            }
        )
        if twice:
            raise DatasetError(f"'{self._location()}': the header names column(s) {twice} twice")

    def _check_records(self, table: pd.DataFrame) -> None:
        """A quote opened and never closed makes one field of the records after it: find a
        field holding a line that begins as a record does, and fail naming the file's line."""
        if self._record_start is None:
            return
        text = [c for c in table.columns if table[c].dtype == object or table[c].dtype == "str"]
        if not any(table[c].str.contains("\n", regex=False, na=False).any() for c in text):
            return  # no field spans lines: nothing can have been swallowed
        with self._fs.open(self._get_load_path(), mode="r", encoding="utf-8", newline="") as f:
            reader = csv.reader(io.StringIO(f.read()))
        header, first_line = next(reader, []), 2
        for record in reader:
            for column, field in zip(header, record, strict=False):
                swallowed = [
                    line for line in field.splitlines()[1:] if self._record_start.match(line)
                ]
                if swallowed:
                    raise DatasetError(
                        f"'{self._location()}' line {first_line}: the quoted {column!r} field "
                        f"that starts there runs to line {reader.line_num} and holds "
                        f"{len(swallowed)} line(s) that begin as records do (the first: "
                        f"{swallowed[0][:60]!r}): a quote opened and never closed? Nothing "
                        "was read; fix the quoting in the file"
                    )
            first_line = reader.line_num + 1

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
