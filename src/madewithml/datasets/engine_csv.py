"""A CSV dataset that is a pandas DataFrame or a lazy, streaming Ray Dataset, by `engine`.

Batch inference reads and writes its CSVs through it (conf/base/catalog.yml,
`--params=inference.engine=ray_data`): with ``engine: pandas`` it is `AtomicCSVDataset`
exactly; with ``engine: ray_data`` loading gives a lazy `ray.data.Dataset` that streams the
file (`ray.data.read_csv`, nothing read yet), and saving a `ray.data.Dataset` runs it and
writes its rows, in order, into one CSV file batch by batch, so that the driver never holds
more than the batches in flight. Either way the file is written atomically and, in a
`kedro run`, committed with the run's other files (`madewithml.datasets.transaction`).

Text that a spreadsheet would run as a formula (a cell beginning with `=`, `+`, `-`, `@`, a tab
or a carriage return: CSV injection) is written with a `'` before it, as OWASP advises, unless
``formulas: keep``: a title such as `=HYPERLINK(...)` in the projects to tag must not become a
live formula in the predictions a person opens. Lines end in CRLF (RFC 4180), so that a value
holding a lone carriage return is quoted and read back whole.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from kedro.io.core import PROTOCOL_DELIMITER, DatasetError
from kedro_datasets._typing import TablePreview

from madewithml.datasets.atomic import AtomicCSVDataset

if TYPE_CHECKING:
    import ray.data

logger = logging.getLogger(__name__)

ENGINES = ("pandas", "ray_data")
FORMULAS = ("escape", "keep")
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a `'` before every text cell that begins as a formula does (a copy, when
    there is one); numbers and other cells as they are."""
    escaped = frame
    for position, dtype in enumerate(frame.dtypes):
        if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
            continue
        cells = frame.iloc[:, position]
        starts = cells.map(_begins_as_a_formula).astype(bool)
        if starts.any():
            escaped = escaped.copy() if escaped is frame else escaped
            escaped.iloc[:, position] = cells.where(~starts, "'" + cells[starts])
    return escaped


def _begins_as_a_formula(cell: Any) -> bool:
    return isinstance(cell, str) and cell.startswith(FORMULA_STARTS)


# pandas' default markers of a missing value (`pd.read_csv`), so that both engines read the
# same cells as missing: Arrow's defaults differ slightly, and it reads empty strings as ""
# unless told that strings can be null.
PANDAS_NA_VALUES = [
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
]


class EngineCSVDataset(AtomicCSVDataset):
    """`AtomicCSVDataset` (pandas) or, with ``engine: ray_data``, a lazy `ray.data.Dataset`.

    Args:
        engine: ``pandas`` (load a DataFrame, save a DataFrame) or ``ray_data`` (load a lazy
            `ray.data.Dataset`; save a `ray.data.Dataset` or a DataFrame). Ray must be running
            for ``ray_data``: `requires_ray` tells `madewithml.framework.hooks.RayHook` to start it.
        ray_load_args: keyword arguments of `ray.data.read_csv`; ``parse_options`` and
            ``convert_options`` may be dicts of `pyarrow.csv.ParseOptions` /
            `ConvertOptions` fields. By default values may hold newlines and the cells pandas
            reads as missing are missing, as with pandas.
        formulas: ``escape`` (a `'` before text that begins as a formula, on save) or
            ``keep``.
        **kwargs: those of `kedro_datasets.pandas.CSVDataset` (``save_args`` apply to both
            engines: each batch is written with `DataFrame.to_csv`).
    """

    def __init__(
        self,
        *,
        engine: Literal["pandas", "ray_data"] = "pandas",
        ray_load_args: dict[str, Any] | None = None,
        formulas: Literal["escape", "keep"] = "escape",
        **kwargs: Any,
    ) -> None:
        if engine not in ENGINES:
            raise DatasetError(f"engine must be one of {ENGINES}, not {engine!r}")
        if formulas not in FORMULAS:
            raise DatasetError(f"formulas must be one of {FORMULAS}, not {formulas!r}")
        # RFC 4180's line end: with it, Python's CSV writer also quotes a value holding a lone
        # "\r", which it otherwise writes bare, to be read back as a line break (rows shifted).
        kwargs["save_args"] = {"lineterminator": "\r\n", **(kwargs.get("save_args") or {})}
        super().__init__(**kwargs)
        self._engine = engine
        self._ray_load_args = dict(ray_load_args or {})
        self._escape = formulas == "escape"

    @property
    def requires_ray(self) -> bool:
        """Whether loading and saving need a running Ray (``engine: ray_data``)."""
        return self._engine == "ray_data"

    def _location(self) -> str:
        path = str(self._get_load_path())
        return path if self._protocol == "file" else f"{self._protocol}{PROTOCOL_DELIMITER}{path}"

    def load(self) -> pd.DataFrame | ray.data.Dataset:
        if self._engine == "pandas":
            return super().load()
        import pyarrow.csv  # noqa: PLC0415
        import ray.data  # noqa: PLC0415 - Ray only when this engine is chosen

        args = dict(self._ray_load_args)
        parse = {"newlines_in_values": True, **args.pop("parse_options", {})}
        convert = {
            "strings_can_be_null": True,
            "null_values": PANDAS_NA_VALUES,
            **args.pop("convert_options", {}),
        }
        return ray.data.read_csv(
            self._location(),
            parse_options=pyarrow.csv.ParseOptions(**parse),
            convert_options=pyarrow.csv.ConvertOptions(**convert),
            **args,
        )

    def save(self, data: pd.DataFrame | ray.data.Dataset) -> None:
        if isinstance(data, pd.DataFrame):
            super().save(escape_formulas(data) if self._escape else data)
            return
        super().save(_StreamedCSV(data, self._escape))  # the atomic save calls its `to_csv`

    def preview(self, nrows: int = 5) -> TablePreview:
        """Kedro-Viz's preview: the first rows, read with pandas whatever the engine."""
        return pd.read_csv(self._location(), nrows=nrows).to_dict(orient="split")

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "engine": self._engine}


class _StreamedCSV:
    """A `ray.data.Dataset` seen by the atomic CSV save as a DataFrame: `to_csv` runs the
    dataset and appends its batches, in the dataset's order, to one open file."""

    def __init__(self, dataset: ray.data.Dataset, escape: bool) -> None:
        self._dataset = dataset
        self._escape = escape  # `escape_formulas` on each batch

    def to_csv(self, path_or_buf: Any, **save_args: Any) -> None:
        context = self._dataset.context  # this dataset's own, not the process's
        context.execution_options.preserve_order = True  # the rows in the input's order
        context.raise_original_map_exception = True  # e.g. an input error naming its rows
        save_args.pop("header", None)
        written = 0
        for batch in self._dataset.iter_batches(batch_size=None, batch_format="pandas"):
            rows = escape_formulas(batch) if self._escape else batch
            rows.to_csv(path_or_buf, header=written == 0, **save_args)
            written += len(rows)
        if written == 0:
            raise DatasetError("nothing to write: the Ray dataset has no rows")
        logger.info("%d rows written", written)
