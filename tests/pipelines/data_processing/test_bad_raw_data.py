"""Bad raw data through the real `kedro run --pipelines=data_processing`, one project copy per case:
each is refused with an error naming the dataset, column and rows (and nothing is written under
data/), or handled as documented and logged."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import make_raw_projects
from kedro_project import copy_project, kedro, squashed, written_files


def _write(frame: pd.DataFrame):
    return lambda path: frame.to_csv(path, index=False)


def _raw() -> pd.DataFrame:
    return make_raw_projects(6)


def _with(column: str, rows: list[int], value) -> pd.DataFrame:
    frame = _raw().astype({column: object})
    frame.loc[rows, column] = value
    return frame


def _non_utf8(path: Path) -> None:
    text = _raw().to_csv(index=False).encode()
    path.write_bytes(text.replace(b"Graph", b"Gr\xe4ph\xff", 1))


def _nan_everywhere(path: Path) -> None:
    frame = _raw()
    pd.DataFrame(np.nan, index=frame.index, columns=frame.columns).to_csv(path, index=False)


TAGS = {"computer-vision", "mlops", "natural-language-processing", "other"}
REFUSED = {
    # case: (writer of dataset.csv, words the error must hold)
    "missing column": (_write(_raw().drop(columns="tag")), ["missing column 'tag'"]),
    "wrong type": (_write(_with("id", [0], "abc")), ["column 'id'", "wrong type"]),
    "empty file": (lambda path: path.write_text(""), ["dataset.csv", "EmptyDataError"]),
    "header only": (_write(_raw().head(0)), ["has no rows"]),
    "duplicated ids": (
        _write(_with("id", [1], 1)),  # rows 0 and 1 both have id 1
        ["column 'id' has duplicated values (rows with id 1)"],
    ),
    "empty title": (
        _write(_with("title", [2], "   ")),  # row 2 has id 3
        ["column 'title' has empty strings (rows with id 3)"],
    ),
    "non-UTF-8 bytes": (_non_utf8, ["dataset.csv", "UnicodeDecodeError"]),
    "NaN everywhere": (_nan_everywhere, ["column 'title' has missing values"]),
}

HANDLED = {
    # case: (writer, a line the log must hold)
    "extra column": (
        _write(_raw().assign(stars=1)),
        "extra columns ['stars'] are kept but not used",
    ),
    "unknown tags": (
        _write(_with("tag", [24, 25], "reinforcement-learning")),
        "tag 'reinforcement-learning' (8 projects) is not an accepted tag: mapped to 'other'",
    ),
    "1 MB description": (_write(_with("description", [3], "graph " * 180_000)), None),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """`kedro run --pipelines=data_processing` for every case (two at a time)."""

    def run(case: str, writer) -> tuple[Path, object]:
        root = tmp_path_factory.mktemp(case.replace(" ", "_"))
        data_dir = root / "raw"
        data_dir.mkdir()
        writer(data_dir / "dataset.csv")
        _raw().to_csv(data_dir / "holdout.csv", index=False)
        project = copy_project(root / "project")
        return project, kedro(project, "run", "--pipelines=data_processing", data_dir=data_dir)

    cases = {name: writer for name, (writer, _) in {**REFUSED, **HANDLED}.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run, name, writer) for name, writer in cases.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_raw_data_is_refused_by_name_and_nothing_is_written(runs, case):
    project, result = runs[case]
    output = squashed(result.stdout + result.stderr)
    assert result.returncode != 0, result.stderr[-3000:]
    for words in REFUSED[case][1]:
        assert squashed(words) in output, result.stderr[-3000:]
    # Kedro names the node and the catalog dataset (`dataset`: conf/base/catalog.yml).
    assert squashed("validate_projects([dataset])") in output or "dataset.csv" in output
    assert written_files(project) == []


@pytest.mark.parametrize("case", list(HANDLED))
def test_tolerated_raw_data_is_handled_and_logged(runs, case):
    project, result = runs[case]
    assert result.returncode == 0, result.stderr[-3000:]
    if line := HANDLED[case][1]:
        assert squashed(line) in squashed(result.stderr)
    projects = pd.read_parquet(project / "data/03_primary/projects.parquet")
    assert set(projects["tag"]) <= {
        "computer-vision",
        "mlops",
        "natural-language-processing",
        "other",
    }
    model_input = pd.read_parquet(project / "data/05_model_input/train_model_input.parquet")
    assert model_input["input_ids"].map(len).max() <= 128  # a huge text is cut at max_length
    if case == "extra column":  # kept in the processed table, never in the model's inputs
        assert (projects["stars"] == 1).all()
        assert "stars" not in model_input.columns
    if case == "1 MB description":
        longest = model_input.loc[model_input["id"] == 4, "input_ids"]
        assert longest.map(len).tolist() in ([], [128])  # row id 4 (position 3), if in train
