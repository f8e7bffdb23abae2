"""When a newly evaluated model becomes the registry's champion."""

from __future__ import annotations


def decide_promotion(
    candidate_f1: float, baseline_f1: float, champion_f1: float | None
) -> dict[str, object]:
    """Promote only a model whose served holdout F1 (at its own threshold) beats both the
    baseline and the current champion.

    Returns ``{"promote": bool, "reason": str}``; ties do not promote (the champion stays).
    """
    if candidate_f1 <= baseline_f1:
        return {
            "promote": False,
            "reason": f"served holdout F1 {candidate_f1:.4f} does not beat the baseline's "
            f"{baseline_f1:.4f}",
        }
    if champion_f1 is not None and candidate_f1 <= champion_f1:
        return {
            "promote": False,
            "reason": f"served holdout F1 {candidate_f1:.4f} does not beat the champion's "
            f"{champion_f1:.4f}",
        }
    against = "no champion yet" if champion_f1 is None else f"champion {champion_f1:.4f}"
    return {
        "promote": True,
        "reason": f"served holdout F1 {candidate_f1:.4f} beats the baseline {baseline_f1:.4f} and "
        f"{against}",
    }
