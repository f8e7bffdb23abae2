"""What a schema cannot see: the same text more than once (with the same or contradictory tags),
the same project in the training data and the holdout, and tags too small to split.

Each check names what it found (texts, ids and tags); what happens then is a parameter
(`data_processing.contradictory_labels`, `evaluation.leakage`).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from madewithml.data.schemas import DataValidationError

logger = logging.getLogger(__name__)
MAX_SHOWN = 10


def shown(values: list) -> str:
    """The first `MAX_SHOWN` of `values`, comma-separated, and how many more there are."""
    more = f" and {len(values) - MAX_SHOWN} more" if len(values) > MAX_SHOWN else ""
    return ", ".join(map(str, values[:MAX_SHOWN])) + more


def resolve_duplicate_texts(projects: pd.DataFrame, policy: str) -> pd.DataFrame:
    """One row per cleaned `text`.

    Copies with the same tag keep their first row (logged). Copies whose tags differ are
    contradictory labels; `policy` decides: ``error`` (stop, naming each group's ids and tags),
    ``majority`` (keep the first row of the most frequent tag; a tie is an error) or ``drop``
    (drop every row of the group). Either way no text is left twice, so a split cannot put the
    same text on both sides.
    """
    groups = projects.groupby("text", sort=False)
    size, tags = groups["tag"].transform("size"), groups["tag"].transform("nunique")
    contradictory = projects[(size > 1) & (tags > 1)]
    described = [
        f"ids {group['id'].tolist()} tagged {group['tag'].tolist()}"
        for _, group in contradictory.groupby("text", sort=False)
    ]
    keep = pd.Series(True, index=projects.index)
    if described:
        message = (
            f"{len(described)} texts are the same after cleaning but tagged differently: "
            f"{'; '.join(described[:MAX_SHOWN])}"
            + (f"; and {len(described) - MAX_SHOWN} more" if len(described) > MAX_SHOWN else "")
        )
        if policy == "error":
            raise DataValidationError(
                message + " (data_processing.contradictory_labels: error; or majority, drop)"
            )
        for _, group in contradictory.groupby("text", sort=False):
            counts = group["tag"].value_counts()
            tie = len(counts) > 1 and counts.iloc[0] == counts.iloc[1]
            if policy == "majority" and tie:
                raise DataValidationError(
                    f"no majority tag for ids {group['id'].tolist()} tagged "
                    f"{group['tag'].tolist()} (data_processing.contradictory_labels: majority)"
                )
            if policy == "drop":
                keep[group.index] = False
            else:  # majority: its first row stays, as its copies below do
                keep[group.index[group["tag"] != counts.index[0]]] = False
        logger.warning("%s: %s", message, "dropped" if policy == "drop" else "majority tag kept")
    resolved = projects[keep]
    copies = resolved["text"].duplicated(keep="first")
    if copies.any():
        logger.warning(
            "%d projects repeat an earlier text after cleaning: dropped (ids %s)",
            copies.sum(),
            shown(resolved.loc[copies, "id"].tolist()),
        )
    return resolved[~copies]


def check_split_preconditions(projects: pd.DataFrame, min_rows_per_class: int) -> None:
    """Every tag has at least `min_rows_per_class` rows (and so at least one on each side of a
    split); the error names each tag that has fewer and its count."""
    counts = projects["tag"].value_counts()
    small = counts[counts < min_rows_per_class]
    if not small.empty:
        listed = ", ".join(f"{tag!r} has {count}" for tag, count in small.items())
        raise DataValidationError(
            f"too few projects to split: {listed} "
            f"(data_processing.min_rows_per_class is {min_rows_per_class})"
        )


def overlap(first: pd.DataFrame, second: pd.DataFrame) -> dict[str, Any]:
    """Projects of `second` that are also in `first`: by the same title and description, and by
    the same text after cleaning. ``{"same_title_and_description": {"count", "ids"},
    "same_text": {...}}`` (ids of `second`)."""

    def common(columns: list[str]) -> list:
        keys = set(first[columns].itertuples(index=False, name=None))
        hits = [key in keys for key in second[columns].itertuples(index=False, name=None)]
        return sorted(second.loc[hits, "id"].tolist())

    found = {
        "same_title_and_description": common(["title", "description"]),
        "same_text": common(["text"]),
    }
    return {name: {"count": len(ids), "ids": ids} for name, ids in found.items()}


def check_leakage(
    holdout_projects: pd.DataFrame, training_projects: pd.DataFrame, policy: str
) -> dict[str, Any]:
    """The holdout's projects that are also in the data the model learnt from (`overlap`).

    `policy` ``error`` stops with the counts and ids; ``warning`` logs them and goes on. The
    result goes into the evaluation report either way.
    """
    found = overlap(training_projects, holdout_projects)
    leaked = sorted({i for kind in found.values() for i in kind["ids"]})
    if leaked:
        message = (
            f"{len(leaked)} holdout projects are also in the training data "
            f"({found['same_title_and_description']['count']} with the same title and "
            f"description, {found['same_text']['count']} with the same text after cleaning): "
            f"holdout ids {shown(leaked)}"
        )
        if policy == "error":
            raise DataValidationError(
                message + " (evaluation.leakage: error; warning to evaluate anyway)"
            )
        logger.warning("%s; the holdout scores are optimistic", message)
    return found
