"""The drift verdict on synthetic profiles: calibrated under the null (independent features, so
Bonferroni's bound is tight), a shift of any one aspect detected, and a well-formed verdict for
any window (Hypothesis)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from madewithml.monitoring.drift import DriftSettings, drift_verdict
from madewithml.monitoring.profile import EMBEDDING_PREFIX, TEXT_FEATURES

TAGS = ("computer-vision", "mlops", "natural-language-processing", "other")
SHARES = (0.35, 0.1, 0.4, 0.15)
DIMENSIONS = 4
SETTINGS = DriftSettings(
    significance=0.05,
    min_rows=20,
    embedding_dimensions=DIMENSIONS,
    permutations=199,
    max_embedding_rows=100,
    seed=0,
)


def profile(rows: int, rng: np.random.Generator, **shift: float) -> pd.DataFrame:
    """A profile whose columns are independent: words and tokens continuous (no ties), the
    embedding a random unit vector, the tag drawn from `SHARES`, the top probability uniform.
    `shift` moves one aspect: a feature's mean, `embedding`, `tag` (share of the first tag)."""
    embedding = rng.normal(size=(rows, DIMENSIONS))
    embedding[:, 0] += shift.get("embedding", 0.0)
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    shares = np.array(SHARES)
    if "tag" in shift:
        shares = np.array([shift["tag"], *((1 - shift["tag"]) * shares[1:] / shares[1:].sum())])
    frame = pd.DataFrame(
        {
            "words": rng.gamma(4, 10, rows) + shift.get("words", 0.0),
            "tokens": rng.gamma(5, 12, rows),
            "unknown_words": rng.beta(2, 8, rows) + shift.get("unknown_words", 0.0),
            **{f"{EMBEDDING_PREFIX}{i}": embedding[:, i] for i in range(DIMENSIONS)},
            "prediction": rng.choice(TAGS, rows, p=shares),
            "top_probability": np.clip(
                rng.uniform(0.3, 1.0, rows) + shift.get("top_probability", 0.0), 0, 1
            ),
        }
    )
    return frame


def test_under_the_null_the_alarm_rate_is_the_significance():
    """Fresh reference and window from one distribution, every time: with independent tests
    the rate of alarms is the configured significance (Bonferroni: 1 - (1 - a/k)^k ≈ a)."""
    rng = np.random.default_rng(7)
    runs = 400
    verdicts = [
        drift_verdict(profile(120, rng), profile(60, rng), "other", SETTINGS) for _ in range(runs)
    ]
    alarms = sum(bool(verdict["drift_detected"]) for verdict in verdicts)
    rate = alarms / runs
    error = np.sqrt(0.05 * 0.95 / runs)
    # within three standard errors of the significance, on either side: an alarm rate far under
    # it would be a test that cannot see drift, far over it one that cries wolf
    assert abs(rate - 0.05) < 3 * error, rate


@pytest.mark.parametrize(
    ("shift", "test"),
    [
        ({"words": 15.0}, "words"),
        ({"unknown_words": 0.15}, "unknown_words"),
        ({"embedding": 1.5}, "text_embedding"),
        ({"tag": 0.8}, "predicted_tags"),
        ({"top_probability": -0.25}, "top_probability"),
    ],
)
def test_a_shift_of_one_aspect_is_detected_by_its_test(shift, test):
    rng = np.random.default_rng(3)
    verdict = drift_verdict(profile(150, rng), profile(80, rng, **shift), "other", SETTINGS)
    assert verdict["drift_detected"] is True
    assert verdict["tests"][test]["drift"] is True
    flagged = {name for name, result in verdict["tests"].items() if result["drift"]}
    assert flagged <= {test, "answered_other", "predicted_tags"}, flagged


def test_a_window_that_answers_only_other_more_often_is_detected():
    rng = np.random.default_rng(4)
    window = profile(80, rng)
    window.loc[: len(window) // 2, "prediction"] = "other"
    verdict = drift_verdict(profile(150, rng), window, "other", SETTINGS)
    assert verdict["tests"]["answered_other"]["drift"] is True
    assert verdict["tests"]["answered_other"]["window_share"] > 0.5


def test_a_window_too_small_gets_no_verdict():
    rng = np.random.default_rng(5)
    verdict = drift_verdict(profile(150, rng), profile(19, rng), "other", SETTINGS)
    assert verdict["drift_detected"] is None
    assert verdict["status"] == "too_few_answers"
    assert verdict["tests"] == {}


def test_without_stored_text_only_the_answers_are_tested():
    rng = np.random.default_rng(6)
    window = profile(80, rng, words=30.0)
    window[[*TEXT_FEATURES, *(f"{EMBEDDING_PREFIX}{i}" for i in range(DIMENSIONS))]] = np.nan
    verdict = drift_verdict(profile(150, rng), window, "other", SETTINGS)
    assert set(verdict["tests"]) == {"predicted_tags", "top_probability", "answered_other"}
    assert verdict["window_answers_with_text"] == 0
    assert verdict["per_test_significance"] == pytest.approx(0.05 / 3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(0, 70),
    with_text=st.floats(0, 1),
    tags=st.lists(st.sampled_from(TAGS), min_size=1, max_size=4, unique=True),
    constant_text=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_window_gets_a_well_formed_verdict(rows, with_text, tags, constant_text, seed):
    """Empty windows, windows of one tag, without text, of identical texts: the verdict is JSON,
    every p-value is a probability, and there is a verdict exactly when there are enough rows."""
    rng = np.random.default_rng(seed)
    window = profile(rows, rng)
    window["prediction"] = rng.choice(tags, rows)
    if constant_text and rows:
        window.loc[:, [*TEXT_FEATURES, *window.columns[3 : 3 + DIMENSIONS]]] = window.iloc[0, :7]
    window.loc[rng.uniform(size=rows) > with_text, list(TEXT_FEATURES)] = np.nan
    window.loc[window["words"].isna(), window.columns[3 : 3 + DIMENSIONS]] = np.nan
    verdict = drift_verdict(profile(60, np.random.default_rng(1)), window, "other", SETTINGS)
    json.dumps(verdict, allow_nan=False)
    assert (verdict["drift_detected"] is None) == (rows < SETTINGS.min_rows)
    for result in verdict["tests"].values():
        assert 0 <= result["p_value"] <= 1
    text_tested = "words" in verdict["tests"]
    assert text_tested == (rows >= SETTINGS.min_rows and verdict["window_answers_with_text"] >= 20)


def test_the_embedding_statistic_is_the_squared_mmd():
    """Two groups of one point each, a and b: MMD² = k(a,a) + k(b,b) - 2 k(a,b) = 2 - 2/e with
    the median bandwidth (|a - b|²); a window of the reference's own rows gives 0."""
    rng = np.random.default_rng(8)
    reference, window = profile(30, rng), profile(30, rng)
    columns = [f"{EMBEDDING_PREFIX}{i}" for i in range(DIMENSIONS)]
    reference[columns], window[columns] = [1.0, 0, 0, 0], [0, 1.0, 0, 0]
    result = drift_verdict(reference, window, "other", SETTINGS)["tests"]["text_embedding"]
    assert result["statistic"] == pytest.approx(2 - 2 / np.e)
    assert result["p_value"] < 0.01
    same = drift_verdict(reference, reference.copy(), "other", SETTINGS)["tests"]
    assert same["text_embedding"]["statistic"] == pytest.approx(0, abs=1e-12)
    assert same["text_embedding"]["p_value"] == 1.0
