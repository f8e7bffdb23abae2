"""Drift monitoring on the real data (issue 27, item 3): replaying the holdout as traffic raises
false alarms at most as often as the configured significance, and realistic shifts are seen.

The reference is what `kedro run --pipelines=monitoring` compares with in the project where
`kedro run` trained the champion on the real data; the scenarios and the windows are those of
benchmarks/drift_detection.py (which measures them with more windows, into
benchmarks/results/drift_detection.md).
"""

from __future__ import annotations

import math

import mlflow
import pytest
from drift_detection import alarm_rate, load_reference, pool_profile, scenarios

pytestmark = pytest.mark.real_data

NULL_WINDOWS = 500
SHIFT_WINDOWS = 50


@pytest.fixture(scope="module")
def pools(real_default_run):
    try:
        reference, holdout = load_reference(real_default_run)
        return reference, {
            name: pool_profile(reference, projects) for name, projects in scenarios(holdout).items()
        }
    finally:
        mlflow.set_tracking_uri(None)


def test_replayed_holdout_traffic_raises_false_alarms_no_more_often_than_the_significance(
    pools,
):
    reference, profiles = pools
    significance = reference.settings["significance"]
    result = alarm_rate(reference, profiles["holdout"], NULL_WINDOWS, seed=0)
    bound = significance + 3 * math.sqrt(significance * (1 - significance) / NULL_WINDOWS)
    assert result["alarm_rate"] <= bound, result


@pytest.mark.parametrize(
    ("scenario", "tests"),
    [
        ("one_class", {"predicted_tags", "text_embedding"}),
        ("other_domain", {"words", "unknown_words", "text_embedding", "top_probability"}),
        ("short_descriptions", {"words", "tokens"}),
    ],
)
def test_a_realistic_shift_is_detected_by_the_tests_that_should_see_it(pools, scenario, tests):
    reference, profiles = pools
    result = alarm_rate(reference, profiles[scenario], SHIFT_WINDOWS, seed=1)
    assert result["alarm_rate"] >= 0.9, result
    for name in tests:
        assert result["fired"][name] >= 0.5, (name, result)
