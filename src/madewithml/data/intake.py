"""New labelled projects merged into the training data (continuous training's intake).

Every CSV file of the incoming folder (e.g. a filled-in feedback queue) is a raw table: it must
pass the raw schema, and an error names the file. Its rows join the training data unless they
repeat what is there: a row is dropped when an earlier incoming row has its id or its text
(cleaned as the model sees it), or when the training data has its id or its text. Rows that are
holdout projects (same id, or same text) would make the holdout
scores optimistic: `policy` ``drop`` leaves them out (and reports them), ``error`` stops,
naming them. What was added and dropped, and why, is the intake report.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from madewithml.core.text import project_text
from madewithml.data.quality import shown
from madewithml.data.schemas import RAW_COLUMNS, DataValidationError, validate_raw_projects
from madewithml.data.stopwords import stopwords

logger = logging.getLogger(__name__)

# Why an incoming row is left out, in the order the checks run.
REASONS = {
    "repeated_in_incoming": "an earlier incoming row has its id or text",
    "in_training_data": "the training data has its id or text",
    "in_holdout": "a holdout project has its id or text",
}


def _texts(projects: pd.DataFrame, remove_stopwords: bool) -> pd.Series:
    return project_text(projects["title"], projects["description"], stopwords(remove_stopwords))


def _validated(incoming: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every incoming file validated as a raw table (the error names the file), in the order of
    the file names, with the file each row came from (`file`)."""
    if not incoming:
        raise DataValidationError("no incoming files: nothing to merge")
    tables = []
    for name in sorted(incoming):
        table = validate_raw_projects(incoming[name], name=f"incoming file {name!r}")
        tables.append(table[RAW_COLUMNS].assign(file=name))
    return pd.concat(tables, ignore_index=True)


def _in(
    rows: pd.DataFrame, texts: pd.Series, other: pd.DataFrame, other_texts: pd.Series
) -> pd.Series:
    """Which `rows` share an id or a cleaned text with `other` (the same title and
    description make the same text)."""
    return rows["id"].isin(set(other["id"])) | texts.isin(set(other_texts))


def merge_labelled(
    dataset: pd.DataFrame,
    incoming: dict[str, pd.DataFrame],
    holdout: pd.DataFrame,
    remove_stopwords: bool,
    policy: str,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training data with the new labelled rows of `incoming` (file name → raw table)
    appended, and the intake report (module docstring). `remove_stopwords` cleans texts as
    data_processing does; `policy` (``drop`` or ``error``) is for holdout projects.

    Returns ``(merged, report)``: `merged` has the raw columns, the training data's rows first;
    the report counts the rows per file, the rows added (ids, per tag) and the rows dropped
    per reason (ids).
    """
    rows = _validated(incoming)
    texts = _texts(rows, remove_stopwords)
    repeated = rows["id"].duplicated() | texts.duplicated()
    in_training = _in(rows, texts, dataset, _texts(dataset, remove_stopwords))
    in_holdout = _in(rows, texts, holdout, _texts(holdout, remove_stopwords))
    dropped = {
        "repeated_in_incoming": repeated,
        "in_training_data": ~repeated & in_training,
        "in_holdout": ~repeated & ~in_training & in_holdout,
    }
    leaked = rows.loc[dropped["in_holdout"], "id"].tolist()
    if leaked and policy == "error":
        files = sorted(set(rows.loc[dropped["in_holdout"], "file"]))
        raise DataValidationError(
            f"{len(leaked)} incoming projects are holdout projects (ids {shown(leaked)}, in "
            f"{', '.join(map(repr, files))}): the holdout would no longer measure unseen "
            "projects (continuous_training.holdout_overlap: error; drop to leave them out)"
        )
    kept = rows[~(dropped["repeated_in_incoming"] | in_training | in_holdout)]
    for reason, mask in dropped.items():
        if mask.any():
            count = int(mask.sum())
            logger.warning(
                "incoming: %d row%s left out, as %s (ids %s)",
                count,
                "" if count == 1 else "s",
                REASONS[reason],
                shown(rows.loc[mask, "id"].tolist()),
            )
    merged = pd.concat([dataset[RAW_COLUMNS], kept[RAW_COLUMNS]], ignore_index=True)
    report = {
        "files": {name: int(count) for name, count in rows["file"].value_counts().items()},
        "incoming_rows": len(rows),
        "added": {
            "count": len(kept),
            "ids": kept["id"].tolist(),
            "per_tag": {tag: int(n) for tag, n in kept["tag"].value_counts().items()},
        },
        "dropped": {
            reason: {
                "why": REASONS[reason],
                "count": int(mask.sum()),
                "ids": rows.loc[mask, "id"].tolist(),
            }
            for reason, mask in dropped.items()
        },
        "training_rows_before": len(dataset),
        "training_rows_after": len(merged),
    }
    return merged, report
