"""When a newly evaluated model becomes the registry's champion: scores compared only on the same
evaluation set, never on a holdout too small to mean anything."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

# What identifies a holdout: the rows a score was measured on, as the raw file gives them.
HOLDOUT_COLUMNS = ["id", "title", "description", "tag"]


def holdout_identity(holdout_projects: pd.DataFrame) -> dict[str, object]:
    """The evaluation set a score is measured on: its number of rows and a SHA-256 digest of its
    ids, titles, descriptions and tags (in the order of the ids, so the file's row order does
    not count).
    Two scores are comparable only when their digests are equal."""
    rows = holdout_projects[HOLDOUT_COLUMNS]
    rows = rows.iloc[rows["id"].astype(str).argsort(kind="stable")]  # ids as text: any kind
    digest = hashlib.sha256()
    for record in rows.itertuples(index=False):
        digest.update(json.dumps([str(value) for value in record]).encode() + b"\n")
    return {"rows": len(rows), "digest": digest.hexdigest()}


def decide_promotion(
    candidate_f1: float,
    baseline_f1: float,
    champion_f1: float | None,
    holdout_rows: int,
    min_holdout_rows: int,
    margin: float = 0.0,
    failed_cases: list[str] | tuple[str, ...] = (),
) -> dict[str, object]:
    """Promote only a model that passes every behavioural case (`failed_cases` names those it
    failed) and whose served holdout F1 (at its own threshold) beats the baseline's and the
    current champion's by more than `margin`, measured on the same holdout (`champion_f1` must
    be the champion's score on it) of at least `min_holdout_rows` rows.

    Returns ``{"promote": bool, "reason": str}``; a gain of `margin` or less does not promote
    (the champion stays).
    """
    if holdout_rows < min_holdout_rows:
        return {
            "promote": False,
            "reason": f"the holdout has {holdout_rows} rows, fewer than "
            f"evaluation.min_holdout_rows {min_holdout_rows}: its scores decide nothing",
        }
    if failed_cases:
        shown = "; ".join(failed_cases[:3]) + ("; ..." if len(failed_cases) > 3 else "")
        return {
            "promote": False,
            "reason": f"it fails {len(failed_cases)} behavioural "
            f"case{'s' if len(failed_cases) > 1 else ''} ({shown})",
        }
    if candidate_f1 <= baseline_f1:
        return {
            "promote": False,
            "reason": f"served holdout F1 {candidate_f1:.4f} does not beat the baseline's "
            f"{baseline_f1:.4f}",
        }
    if champion_f1 is not None and candidate_f1 - champion_f1 <= margin:
        return {
            "promote": False,
            "reason": f"served holdout F1 {candidate_f1:.4f} does not beat the champion's "
            f"{champion_f1:.4f} on the same holdout by more than evaluation.promotion_margin "
            f"{margin:g}",
        }
    against = (
        "no champion yet"
        if champion_f1 is None
        else f"the champion's {champion_f1:.4f} by {candidate_f1 - champion_f1:.4f} "
        f"(margin {margin:g})"
    )
    return {
        "promote": True,
        "reason": f"served holdout F1 {candidate_f1:.4f} beats the baseline's "
        f"{baseline_f1:.4f} and {against}, and it passes every behavioural case",
    }
