"""Monitoring nodes: a window of the request log; its drift against the reference; the feedback
queue drawn from it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.pyfunc import PyFuncModel
from transformers import PreTrainedTokenizerBase

from madewithml.core.tagger import tag_columns
from madewithml.datasets.tracking import metrics_history
from madewithml.monitoring.drift import DriftSettings, drift_verdict
from madewithml.monitoring.feedback import feedback_queue, requests_in_window
from madewithml.monitoring.profile import (
    PREDICTION,
    TEXT_FEATURES,
    TOP_PROBABILITY,
    TextSpace,
    answer_profile,
    cleaned_texts,
    fit_text_space,
    text_profile,
)

_REQUEST_COLUMNS = ["title", "description", PREDICTION, TOP_PROBABILITY]


def select_window(request_log: pd.DataFrame, days: float) -> pd.DataFrame:
    """The request log's last `days` days, counted back from its latest answer."""
    return requests_in_window(request_log, days)


def fit_reference_space(train_projects: pd.DataFrame, drift: dict[str, Any]) -> TextSpace:
    """The training texts' words and reduced TF-IDF space, that both profiles are made in."""
    settings = DriftSettings(**drift)
    return fit_text_space(
        cleaned_texts(train_projects), settings.embedding_dimensions, settings.seed
    )


def profile_reference(
    val_projects: pd.DataFrame,
    monitored_model: PyFuncModel,
    tokenizer: PreTrainedTokenizerBase,
    space: TextSpace,
    max_length: int,
) -> pd.DataFrame:
    """The reference's profile: the validation split's texts, as the monitored model (the
    champion) answers them."""
    projects = val_projects[["title", "description"]].reset_index(drop=True)
    answers = monitored_model.predict(projects)
    return pd.concat(
        [
            text_profile(cleaned_texts(projects), tokenizer, max_length, space),
            answer_profile(answers[PREDICTION], answers[tag_columns(answers)]),
        ],
        axis=1,
    )


def profile_window(
    requests: pd.DataFrame,
    tokenizer: PreTrainedTokenizerBase,
    space: TextSpace,
    max_length: int,
) -> pd.DataFrame:
    """The window's profile: each answer the request log recorded (the text columns empty where
    it kept no text)."""
    rows = requests.reindex(columns=_REQUEST_COLUMNS).reset_index(drop=True)
    texts = text_profile(cleaned_texts(rows), tokenizer, max_length, space)
    answers = rows[[PREDICTION, TOP_PROBABILITY]].astype({TOP_PROBABILITY: "float64"})
    return pd.concat([texts, answers], axis=1)


def detect_drift(
    reference_profile: pd.DataFrame,
    window_profile: pd.DataFrame,
    requests: pd.DataFrame,
    other_tag: str,
    drift: dict[str, Any],
    window_days: float,
) -> dict[str, Any]:
    """The drift verdict (`madewithml.monitoring.drift.drift_verdict`) with what was compared:
    the window's time span and the model versions that answered in it, and the reference."""
    verdict = drift_verdict(reference_profile, window_profile, other_tag, DriftSettings(**drift))
    times = pd.to_datetime(requests["time"], utc=True) if len(requests) else pd.Series([])
    versions = requests.get("model_version", pd.Series([], dtype=object)).dropna().unique()
    return {
        **verdict,
        "window": {
            "days": window_days,
            "start": times.min().isoformat() if len(times) else None,
            "end": times.max().isoformat() if len(times) else None,
            "model_versions": sorted(str(version) for version in versions),
        },
        "reference": "val_projects, as the monitored model (monitored_model) answers it",
    }


def report_drift_metrics(drift_report: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    """The verdict's numbers as MLflow metrics: drift_detected (0 or 1), each test's p-value,
    the window's size (nothing but the size when there was no verdict)."""
    metrics: dict[str, float] = {"window_answers": drift_report["window_answers"]}
    if drift_report["drift_detected"] is not None:
        metrics["drift_detected"] = float(drift_report["drift_detected"])
    for name, result in drift_report["tests"].items():
        metrics[f"p_value_{name}"] = result["p_value"]
    return metrics_history(metrics)


def plot_drift(
    reference_profile: pd.DataFrame, window_profile: pd.DataFrame, drift_report: dict[str, Any]
) -> Figure:
    """The window beside the reference: the distribution of each text feature and of the top
    probability, and the share of each answered tag, each titled with its test's p-value."""
    figure = Figure(figsize=(13, 7), layout="constrained")
    axes = figure.subplots(2, 3).ravel()
    tests = drift_report["tests"]
    for ax, feature in zip(axes, [*TEXT_FEATURES, TOP_PROBABILITY], strict=False):
        both = pd.concat([reference_profile[feature], window_profile[feature]]).dropna()
        for name, profile in (("reference", reference_profile), ("window", window_profile)):
            values = profile[feature].dropna()
            if len(values):
                ax.hist(
                    values,
                    bins=_bins(both),
                    density=True,
                    histtype="step",
                    linewidth=2,
                    label=name,
                )
        ax.set_title(_title(feature, tests.get(feature)))
        ax.legend()
    tags = pd.DataFrame(
        {
            name: profile[PREDICTION].value_counts(normalize=True)
            for name, profile in (("reference", reference_profile), ("window", window_profile))
        }
    ).fillna(0)
    tags.plot.bar(ax=axes[4], rot=15)
    axes[4].set_title(_title("answered tags", tests.get("predicted_tags")))
    axes[5].axis("off")
    lines = [
        f"drift detected: {drift_report['drift_detected']}",
        f"window: {drift_report['window_answers']} answers",
        f"reference: {drift_report['reference_answers']} answers",
        f"significance {drift_report['significance']} ({drift_report['correction']})",
        *(f"{name}: p = {result['p_value']:.3g}" for name, result in tests.items()),
    ]
    axes[5].text(0, 1, "\n".join(lines), va="top", family="monospace")
    figure.suptitle("Drift: the request log's window against the reference")
    return figure


def _bins(values: pd.Series, count: int = 20) -> np.ndarray:
    """`count` bins over the range of `values`, widened when they (nearly) all are equal."""
    low, high = float(values.min()), float(values.max())
    spread = max(abs(low), abs(high), 1.0) * 1e-3
    if high - low < spread:
        low, high = low - spread, high + spread
    return np.linspace(low, high, count + 1)


def _title(name: str, result: dict[str, Any] | None) -> str:
    if result is None:
        return f"{name} (not tested)"
    flag = " DRIFT" if result.get("drift") else ""
    return f"{name}: p = {result['p_value']:.3g}{flag}"


def queue_for_labelling(
    requests: pd.DataFrame, other_tag: str, uncertain_below: float, max_rows: int
) -> pd.DataFrame:
    """The answers the model was least sure of, as a raw table with the tag left empty."""
    return feedback_queue(requests, other_tag, uncertain_below, max_rows)
