"""Shared fixtures: the project root, the real data, small hand-made raw tables."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.startup import bootstrap_project

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Where CI and the tests look for the real CSVs; MADEWITHML_DATA_DIR wins when it is a folder.
DEFAULT_REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "madewithml"

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def real_data_dir() -> Path | None:
    """The folder with the real dataset.csv and holdout.csv, or None where there is none."""
    configured = os.environ.get("MADEWITHML_DATA_DIR")
    for candidate in filter(None, [configured, str(DEFAULT_REAL_DATA)]):
        folder = Path(candidate)
        if (folder / "dataset.csv").is_file() and (folder / "holdout.csv").is_file():
            return folder.resolve()
    return None


@pytest.fixture(scope="session")
def project_root() -> Path:
    bootstrap_project(PROJECT_ROOT)
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def real_data() -> Path:
    folder = real_data_dir()
    if folder is None:
        pytest.skip(
            "the real data is absent: put dataset.csv and holdout.csv in "
            f"{DEFAULT_REAL_DATA} or set MADEWITHML_DATA_DIR to their folder"
        )
    return folder


def make_raw_projects(rows_per_tag: int = 6) -> pd.DataFrame:
    """A small raw table in the upstream format, with a tag outside the accepted set."""
    topics = {
        "computer-vision": "image segmentation with convolutional networks",
        "natural-language-processing": "transformer language model for text",
        "mlops": "model monitoring and deployment pipeline",
        "reinforcement-learning": "agent learns policy from rewards",
        "graph-learning": "graph neural network for node classification",
    }
    rows = []
    for tag, topic in topics.items():
        for i in range(rows_per_tag):
            rows.append(
                {
                    "id": len(rows) + 1,
                    "created_on": f"2020-03-{i + 1:02d} 10:00:00",
                    "title": f"Project {len(rows)}: {topic.split()[0].title()}",
                    "description": f"A {topic} example number {i}, see https://example.com/{i}.",
                    "tag": tag,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def raw_projects() -> pd.DataFrame:
    return make_raw_projects()
