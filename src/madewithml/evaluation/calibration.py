"""Calibration of the shipped model on the validation split: the temperature that makes its
probabilities mean what they say, and the threshold it answers with by default.

Training calls these on the packaged `Tagger`'s validation probabilities (the transformer blended
with the TF-IDF model, as served), then bakes both into the model (`TaggerSettings.temperature`,
`TaggerSettings.threshold`): every server of the logged model answers with them unless a caller
passes another threshold.

- **Temperature**: one scalar T fitted by minimising the validation negative log-likelihood of
  ``softmax(log p / T)`` (temperature scaling, Guo et al. 2017). It changes no most likely tag.
- **Threshold**: the served rule answers `other` when the top probability is below it. The
  threshold chosen maximises the *served* weighted F1 on validation (the metric evaluation
  scores and promotion compares), up to a tolerance. Served answers change only where the
  threshold crosses a validation row's top probability, so F1 is a step function of it, one
  value per interval. The chosen interval is the lowest one whose F1 is within `f1_tolerance`
  of the best (a smaller gain is one validation row's luck), and the threshold its midpoint
  (the value farthest from the rows on either side, as a margin is). A top probability is
  never below 1 / (number of tags), so the first interval starts there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from madewithml.core.tagger import temper
from madewithml.evaluation.metrics import weighted_scores

# The temperatures searched (log-uniform bounds): far beyond what any real model needs.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0


def _indices(y_true: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    index = {tag: i for i, tag in enumerate(classes)}
    unknown = sorted(set(y_true) - set(index))
    if unknown:
        raise ValueError(f"tags {unknown} are not among the model's classes {list(classes)}")
    return np.fromiter((index[tag] for tag in y_true), dtype=np.int64, count=len(y_true))


def negative_log_likelihood(
    probabilities: np.ndarray, y_true: Sequence[str], classes: Sequence[str]
) -> float:
    """The mean negative log-likelihood of the true tags."""
    targets = _indices(y_true, classes)
    picked = probabilities[np.arange(len(targets)), targets]
    return float(-np.mean(np.log(np.clip(picked, np.finfo(np.float64).tiny, None))))


def fit_temperature(
    probabilities: np.ndarray, y_true: Sequence[str], classes: Sequence[str]
) -> float:
    """The temperature T that minimises the negative log-likelihood of ``temper(p, T)`` on
    these rows (the NLL is convex in 1/T: a bounded scalar search finds its minimum).

    Raises:
        ValueError: with no rows, or a tag outside `classes`.
    """
    if len(y_true) == 0:
        raise ValueError("no rows to fit a temperature on")
    _indices(y_true, classes)  # names unknown tags before the search

    def loss(log_temperature: float) -> float:
        tempered = temper(probabilities, math.exp(log_temperature))
        return negative_log_likelihood(tempered, y_true, classes)

    result = minimize_scalar(
        loss,
        bounds=(math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    temperature = math.exp(result.x)
    # No worse than leaving the probabilities as they are.
    return temperature if result.fun <= loss(0.0) else 1.0


def served_answers(
    probabilities: np.ndarray, classes: Sequence[str], threshold: float, other_tag: str
) -> np.ndarray:
    """The served rule on a probability matrix: the most likely tag, or `other_tag` where its
    probability is below `threshold` (as `madewithml.core.tagger.apply_threshold`)."""
    most_likely = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    return np.where(probabilities.max(axis=1) >= threshold, most_likely, other_tag)


def threshold_curve(
    probabilities: np.ndarray, y_true: Sequence[str], classes: Sequence[str], other_tag: str
) -> pd.DataFrame:
    """Served scores at every threshold from 1 / len(classes) to 1: one row per interval of
    thresholds that give the same answers (answers change only where the threshold crosses a
    row's top probability whose most likely tag is not `other_tag`).

    Columns: ``low`` and ``high`` (a threshold t with low < t <= high answers alike; the first
    interval includes `low`; tops a float apart count as one), each scored at its midpoint (the
    threshold `choose_threshold` answers with), ``weighted_f1``, ``answered_other`` (share of
    rows answered `other_tag`) and ``precision_of_tags`` (the share of the answers other than
    `other_tag` that are right; NaN when there are none).
    """
    y_true = np.asarray(list(y_true), dtype=object)
    tops = np.unique(probabilities.max(axis=1))
    # A top probability is at least 1 / len(classes) (up to rounding): from there on, every
    # threshold answers alike between two consecutive tops.
    start = min(1.0 / len(classes), float(tops[0]))
    edges = [start]
    for edge in np.unique(np.concatenate([[1.0 / len(classes), 1.0], tops[tops <= 1.0]])):
        # Two tops a float apart (the same probability summed in another order) leave no
        # threshold strictly between them: they are one edge.
        if edge > edges[-1] and edges[-1] < (edges[-1] + edge) / 2 < edge:
            edges.append(float(edge))
    edges[-1] = max(edges[-1], 1.0)
    intervals = list(zip(edges[:-1], edges[1:], strict=True))
    if tops[0] == start:  # a row whose top is the floor is answered only at the floor itself
        intervals.insert(0, (start, start))
    rows, previous = [], None
    for low, high in intervals:
        # Scored at the threshold `choose_threshold` would answer with: the interval's midpoint.
        answers = served_answers(probabilities, classes, (low + high) / 2, other_tag)
        if previous is not None and np.array_equal(answers, previous):
            rows[-1]["high"] = float(high)  # the same answers: one interval
            continue
        previous = answers
        tagged = answers != other_tag
        rows.append(
            {
                "low": float(low),
                "high": float(high),
                "weighted_f1": weighted_scores(list(y_true), list(answers))["f1"],
                "answered_other": float(np.mean(~tagged)),
                "precision_of_tags": (
                    float(np.mean(answers[tagged] == y_true[tagged])) if tagged.any() else math.nan
                ),
            }
        )
    return pd.DataFrame(rows)


def choose_threshold(curve: pd.DataFrame, f1_tolerance: float) -> float:
    """The midpoint of the lowest interval of `threshold_curve` whose served weighted F1 is
    within `f1_tolerance` of the best one's.

    A higher threshold only turns answers into `other`; on a validation split of a few hundred
    rows one such answer moves F1 by about 1 / rows, so a gain smaller than the tolerance is
    one row's luck, not a better rule, and the threshold that answers more is kept.
    """
    good = curve[curve["weighted_f1"] >= curve["weighted_f1"].max() - f1_tolerance]
    chosen = good.iloc[0]
    return float((chosen["low"] + chosen["high"]) / 2)


def expected_calibration_error(
    probabilities: np.ndarray, y_true: Sequence[str], classes: Sequence[str], bins: int = 10
) -> float:
    """The expected calibration error of the top probability: in `bins` equal-width bins of
    confidence, the gap between mean confidence and accuracy, weighted by the bin's rows."""
    targets = _indices(y_true, classes)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == targets
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        rows = which == b
        if rows.any():
            error += rows.mean() * abs(confidence[rows].mean() - correct[rows].mean())
    return float(error)


def reliability(
    probabilities: np.ndarray, y_true: Sequence[str], classes: Sequence[str], bins: int = 10
) -> pd.DataFrame:
    """Per confidence bin (of the top probability): its rows, mean confidence and accuracy."""
    targets = _indices(y_true, classes)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == targets
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = [
        {
            "low": b / bins,
            "high": (b + 1) / bins,
            "rows": int((which == b).sum()),
            "confidence": float(confidence[which == b].mean()) if (which == b).any() else math.nan,
            "accuracy": float(correct[which == b].mean()) if (which == b).any() else math.nan,
        }
        for b in range(bins)
    ]
    return pd.DataFrame(rows)
