"""Drawing shared by several pipelines' figures (matplotlib `Axes`, no pyplot)."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes


def draw_threshold_curve(axes: Axes, curve: pd.DataFrame, threshold: float) -> None:
    """Served weighted F1 and the share answered `other` against the threshold (a
    `madewithml.evaluation.calibration.threshold_curve`, drawn as steps), with `threshold`
    marked."""
    steps = pd.concat([curve["low"], curve["high"].iloc[-1:]], ignore_index=True)
    for column, label in (
        ("weighted_f1", "served weighted F1"),
        ("answered_other", "answered other"),
    ):
        values = pd.concat([curve[column], curve[column].iloc[-1:]], ignore_index=True)
        axes.step(steps, values, where="post", label=label)
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    axes.set_xlim(float(curve["low"].iloc[0]), 1.0)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("threshold (top probability)")
    axes.legend(loc="center left")
