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
            if isinstance(cause, pd.errors.ParserError) and (quoting := self._quoting_error()):
                raise DatasetError(quoting) from exc  # a quote is why the fields are off
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
        self._check_records(table)  # first: a misplaced quote also shifts the fields
        self._check_header(table)
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
        """A quote in the wrong place: fail naming the file's line (pandas reads on, shifting
        or merging fields without a word)."""
        if quoting := self._quoting_error():
            raise DatasetError(quoting)

    def _quoting_error(self) -> str | None:
        """The error naming the line where a misplaced quote starts, or None.

        - A quote that closes inside a field (`"Title,"Description...`): read strictly (as the
          csv module can), a quoted field must end at a comma or the end of its line. The
          record being read when that fails starts where the quote went wrong.
        - A quote opened and never closed (with `record_start`): a field holding a line that
          begins as a record does swallowed the records after it.
        """
        with self._fs.open(self._get_load_path(), mode="r", encoding="utf-8", newline="") as f:
            text = f.read()
        where = f"'{self._location()}' line"
        # The csv module refuses fields over 128 KiB (a process-wide limit): any field that
        # pandas read is read here too, for this scan only.
        limit = csv.field_size_limit()
        csv.field_size_limit(max(limit, len(text) + 1))
        try:
            misplaced = self._misplaced_quote(text)
            swallowed = self._swallowed_records(text)
        finally:
            csv.field_size_limit(limit)
        if swallowed and (misplaced is None or misplaced[0] == swallowed[0]):
            line, column, last, lines = swallowed
            return (
                f"{where} {line}: the quoted {column!r} field that starts there runs to line "
                f"{last} and holds {len(lines)} line(s) that begin as records do (the first: "
                f"{lines[0][:60]!r}): a quote opened and never closed? Nothing was read; fix "
                "the quoting in the file"
            )
        if misplaced:
            line, error, at = misplaced
            return (
                f"{where} {line}: a quote in the record that starts there does not close where "
                f"its field ends ({error}, line {at}): a quote opened or closed in the wrong "
                "place? Nothing was read; fix the quoting in the file"
            )
        return None

    @staticmethod
    def _misplaced_quote(text: str) -> tuple[int, str, int] | None:
        """(the line where the record starts, the csv module's error, the line it is on) for
        the first record that does not read strictly, or None."""
        reader, first_line = csv.reader(io.StringIO(text), strict=True), 1
        try:
            for _ in reader:
                first_line = reader.line_num + 1
        except csv.Error as error:
            return first_line, str(error), reader.line_num
        return None

    def _swallowed_records(self, text: str) -> tuple[int, str, int, list[str]] | None:
        """(the line where the field starts, its column, its last line, the lines in it that
        begin as records do) for the first field that swallowed records, or None."""
        if self._record_start is None:
            return None
        reader = csv.reader(io.StringIO(text))
        header, first_line = next(reader, []), 2
        for record in reader:
            for column, field in zip(header, record, strict=False):
                lines = [line for line in field.splitlines()[1:] if self._record_start.match(line)]
                if lines:
                    return first_line, column, reader.line_num, lines
            first_line = reader.line_num + 1
        return None

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
