"""Test data and paths shared by the test modules (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]


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
