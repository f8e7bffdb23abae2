"""Tags: which the model predicts, how raw tags map onto them, and their class indices."""

from __future__ import annotations

import logging

import pandas as pd

logger = logging.getLogger(__name__)


def normalise_tag(tag: str) -> str:
    """A tag as the accepted tags are written: stripped and lowercased (`" MLOps"` → `mlops`)."""
    return tag.strip().lower()


def map_tags(projects: pd.DataFrame, accepted_tags: list[str], other_tag: str) -> pd.DataFrame:
    """Normalise each tag's case and surrounding white space, then replace every tag outside
    `accepted_tags` with `other_tag`. Each distinct unknown tag (anything but an accepted tag
    or `other_tag` itself) is logged at WARNING with its count."""
    accepted = {normalise_tag(tag): tag for tag in accepted_tags}
    mapped = projects.copy()
    normalised = mapped["tag"].map(normalise_tag)
    known = normalised.isin(list(accepted))
    unknown = ~known & (normalised != normalise_tag(other_tag))
    for tag, count in mapped.loc[unknown, "tag"].value_counts().items():
        logger.warning(
            "tag %r (%d projects) is not an accepted tag: mapped to %r", tag, count, other_tag
        )
    mapped["tag"] = normalised.map(accepted).where(known, other_tag)
    return mapped


def classes(accepted_tags: list[str], other_tag: str) -> list[str]:
    """Every tag the model predicts, in the order of its outputs (sorted)."""
    return sorted({*accepted_tags, other_tag})


def encode_labels(
    projects: pd.DataFrame, accepted_tags: list[str], other_tag: str
) -> dict[str, int]:
    """`class_to_index`: every tag the model predicts, sorted, to its class index.

    The classes come from the parameters, not from whatever the data holds, so the model's head
    never changes size silently; a class with no training row is an error.
    """
    tags = classes(accepted_tags, other_tag)
    missing = [tag for tag in tags if not (projects["tag"] == tag).any()]
    if missing:
        raise ValueError(f"column 'tag' has no rows for the class(es) {missing}")
    return {tag: index for index, tag in enumerate(tags)}
