"""Drift tests: does a window of the request log look like the reference it is compared with?

Each test compares one aspect of the window's profile (`madewithml.monitoring.profile`) with the
reference's and gives a p-value (scipy.stats; docs/monitoring.md says why not a drift library):

| test | what | how |
|---|---|---|
| `words`, `tokens` | the texts' length | two-sample Kolmogorov-Smirnov |
| `unknown_words` | the share of words no training text has | two-sample Kolmogorov-Smirnov |
| `text_embedding` | the texts as a whole (reduced TF-IDF) | MMD, RBF kernel, permutation test |
| `predicted_tags` | how often each tag is answered | chi-square test of homogeneity |
| `top_probability` | how sure the model is | two-sample Kolmogorov-Smirnov |
| `answered_other` | the share answered `other` | Fisher's exact test |

`drift_detected` when any p-value is under `significance / tests` (Bonferroni): the chance that a
window of traffic like the reference raises an alarm is at most `significance`, however the tests
depend on each other. Text tests look only at rows that kept their text, and are left out (not
run) when the window has too few of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .profile import PREDICTION, TEXT_FEATURES, TOP_PROBABILITY, embedding

KS = "two-sample Kolmogorov-Smirnov"
MMD = "maximum mean discrepancy (RBF kernel, median bandwidth), permutation test"
CHI_SQUARE = "chi-square test of homogeneity"
FISHER = "Fisher's exact test"


@dataclass(frozen=True)
class DriftSettings:
    """`monitoring.drift` in parameters_monitoring.yml."""

    significance: float
    min_rows: int
    embedding_dimensions: int
    permutations: int
    max_embedding_rows: int
    seed: int


def _ks(reference: pd.Series, window: pd.Series) -> dict[str, Any]:
    result = stats.ks_2samp(reference.to_numpy(), window.to_numpy())
    return {
        "test": KS,
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "reference_mean": float(reference.mean()),
        "window_mean": float(window.mean()),
    }


def _mmd(reference: np.ndarray, window: np.ndarray, permutations: int, seed: int) -> dict:
    pooled = np.vstack([reference, window])
    norms = np.sum(pooled**2, axis=1)
    squared = np.clip(norms[:, None] + norms[None, :] - 2 * pooled @ pooled.T, 0, None)
    positive = squared[np.triu_indices(len(pooled), k=1)]
    positive = positive[positive > 0]
    bandwidth = float(np.median(positive)) if positive.size else 1.0
    kernel = np.exp(-squared / bandwidth)
    sizes = (len(reference), len(window))

    def statistic(first: np.ndarray, second: np.ndarray, axis: int = -1) -> np.ndarray:
        # Squared MMD (biased) of each resample: w' K w, w = 1/n on the first group, -1/m on
        # the second.
        one = first.ndim == 1
        first, second = np.atleast_2d(first), np.atleast_2d(second)
        weights = np.zeros((first.shape[0], len(pooled)))
        rows = np.arange(first.shape[0])[:, None]
        weights[rows, first] = 1 / sizes[0]
        weights[rows, second] = -1 / sizes[1]
        # rounded so that equal statistics tie exactly (float sums in another order differ)
        values = np.round(np.sum((weights @ kernel) * weights, axis=1), 12)
        return values[0] if one else values

    result = stats.permutation_test(
        (np.arange(sizes[0]), np.arange(sizes[0], len(pooled))),
        statistic,
        permutation_type="independent",
        vectorized=True,
        n_resamples=permutations,
        alternative="greater",
        rng=np.random.default_rng(seed),
    )
    return {
        "test": MMD,
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "reference_rows": sizes[0],
        "window_rows": sizes[1],
    }


def _tags(reference: pd.Series, window: pd.Series) -> dict[str, Any]:
    counts = pd.DataFrame(
        {"reference": reference.value_counts(), "window": window.value_counts()}
    ).fillna(0)
    counts = counts[counts.sum(axis=1) > 0].sort_index()
    shares = {
        name: {tag: float(share) for tag, share in (column / column.sum()).items()}
        for name, column in counts.items()
    }
    if len(counts) < 2:  # one tag answered throughout: nothing to compare
        statistic, p_value = 0.0, 1.0
    else:
        result = stats.chi2_contingency(counts.T.to_numpy())
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return {
        "test": CHI_SQUARE,
        "statistic": statistic,
        "p_value": p_value,
        "reference_shares": shares["reference"],
        "window_shares": shares["window"],
    }


def _other(reference: pd.Series, window: pd.Series, other_tag: str) -> dict[str, Any]:
    table = [
        [int((reference == other_tag).sum()), int((reference != other_tag).sum())],
        [int((window == other_tag).sum()), int((window != other_tag).sum())],
    ]
    result = stats.fisher_exact(table)
    odds_ratio = float(result.statistic)  # infinite or undefined when a cell is empty
    return {
        "test": FISHER,
        "statistic": odds_ratio if np.isfinite(odds_ratio) else None,
        "p_value": float(result.pvalue),
        "reference_share": table[0][0] / max(len(reference), 1),
        "window_share": table[1][0] / max(len(window), 1),
    }


def drift_tests(
    reference: pd.DataFrame, window: pd.DataFrame, other_tag: str, settings: DriftSettings
) -> dict[str, dict[str, Any]]:
    """Every test that the window allows (module docstring), by name: the test, its statistic
    and p-value, and what it compared."""
    tests: dict[str, dict[str, Any]] = {}
    with_text = window.dropna(subset=list(TEXT_FEATURES))
    reference_text = reference.dropna(subset=list(TEXT_FEATURES))
    if len(with_text) >= settings.min_rows:
        for feature in TEXT_FEATURES:
            tests[feature] = _ks(reference_text[feature], with_text[feature])
        window_embedding = embedding(with_text)
        if len(window_embedding) > settings.max_embedding_rows:
            rng = np.random.default_rng(settings.seed)
            keep = rng.choice(len(window_embedding), settings.max_embedding_rows, replace=False)
            window_embedding = window_embedding[np.sort(keep)]
        tests["text_embedding"] = _mmd(
            embedding(reference_text), window_embedding, settings.permutations, settings.seed
        )
    tests["predicted_tags"] = _tags(reference[PREDICTION], window[PREDICTION])
    tests[TOP_PROBABILITY] = _ks(reference[TOP_PROBABILITY], window[TOP_PROBABILITY])
    tests["answered_other"] = _other(reference[PREDICTION], window[PREDICTION], other_tag)
    return tests


def drift_verdict(
    reference: pd.DataFrame, window: pd.DataFrame, other_tag: str, settings: DriftSettings
) -> dict[str, Any]:
    """The machine-readable verdict: `drift_detected` (None when the window has fewer than
    `min_rows` answers), the significance of the whole run and of each test, and each test's
    result with `drift` (its p-value under the per-test significance)."""
    verdict: dict[str, Any] = {
        "drift_detected": None,
        "status": "too_few_answers",
        "significance": settings.significance,
        "correction": "Bonferroni",
        "window_answers": len(window),
        "window_answers_with_text": int(window[list(TEXT_FEATURES)].notna().all(axis=1).sum()),
        "reference_answers": len(reference),
        "min_rows": settings.min_rows,
        "tests": {},
    }
    if len(window) < settings.min_rows:
        return verdict
    tests = drift_tests(reference, window, other_tag, settings)
    per_test = settings.significance / len(tests)
    for result in tests.values():
        result["drift"] = result["p_value"] < per_test
    verdict.update(
        drift_detected=any(result["drift"] for result in tests.values()),
        status="tested",
        per_test_significance=per_test,
        tests=tests,
    )
    return verdict
