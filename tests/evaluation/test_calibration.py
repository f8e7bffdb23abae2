"""Calibration of the shipped model: temperature scaling and the default threshold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from madewithml.core.tagger import temper
from madewithml.evaluation.calibration import (
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    served_answers,
    threshold_curve,
)
from madewithml.evaluation.metrics import weighted_scores

CLASSES = ["computer-vision", "mlops", "natural-language-processing", "other"]


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def _sampled(rows: int, scale: float, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Tags drawn from softmax(z) (the true probabilities), and what a model mis-scaled by
    `scale` says: softmax(scale * z). Its best temperature is `scale`."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.5, size=(rows, len(CLASSES)))
    truth = _softmax(logits)
    tags = [CLASSES[rng.choice(len(CLASSES), p=row)] for row in truth]
    return _softmax(scale * logits), tags


probability_rows = (
    st.integers(1, 40)
    .flatmap(lambda n: arrays(np.float64, (n, len(CLASSES)), elements=st.floats(0.01, 1.0)))
    .map(lambda raw: raw / raw.sum(axis=1, keepdims=True))
)


@given(probability_rows, st.floats(0.05, 20))
def test_temperature_keeps_every_most_likely_tag_and_rows_that_sum_to_one(probabilities, t):
    tempered = temper(probabilities, t)
    np.testing.assert_allclose(tempered.sum(axis=1), 1.0)
    # the most likely tag's probability stays the largest of its row
    rows = np.arange(len(probabilities))
    top = tempered[rows, probabilities.argmax(axis=1)]
    assert (top >= tempered.max(axis=1) - 1e-12).all()
    assert temper(probabilities, 1.0) is probabilities


@pytest.mark.parametrize("scale", [0.4, 1.0, 2.5])
def test_the_fitted_temperature_undoes_a_mis_scaled_model(scale):
    probabilities, tags = _sampled(4000, scale)
    temperature = fit_temperature(probabilities, tags, CLASSES)
    assert temperature == pytest.approx(scale, rel=0.12)
    calibrated = temper(probabilities, temperature)
    assert negative_log_likelihood(calibrated, tags, CLASSES) <= negative_log_likelihood(
        probabilities, tags, CLASSES
    )
    before = expected_calibration_error(probabilities, tags, CLASSES)
    after = expected_calibration_error(calibrated, tags, CLASSES)
    assert after < 0.03
    if scale != 1.0:
        assert after < before


def test_fit_temperature_names_an_unknown_tag():
    with pytest.raises(ValueError, match="'robotics'"):
        fit_temperature(np.full((1, 4), 0.25), ["robotics"], CLASSES)


def _validation(sharp: float, unsure: float) -> tuple[np.ndarray, list[str]]:
    """12 projects: 9 answered right with top probability `sharp`, 3 truly `other` that the
    model guesses as a tag with top probability `unsure` (the threshold should catch them)."""
    rows, tags = [], []
    for i in range(9):
        row = np.full(4, (1 - sharp) / 3)
        row[i % 3] = sharp
        rows.append(row)
        tags.append(CLASSES[i % 3])
    for i in range(3):
        row = np.full(4, (1 - unsure) / 3)
        row[i] = unsure
        rows.append(row)
        tags.append("other")
    return np.array(rows), tags


def _flattened(probabilities: np.ndarray, by: float) -> np.ndarray:
    return temper(probabilities, by)  # by > 1 flattens, as label smoothing and a blend do


def test_a_flattened_model_gets_a_lower_threshold_with_the_same_answers():
    probabilities, tags = _validation(sharp=0.9, unsure=0.5)
    flat = _flattened(probabilities, 3.0)
    chosen = {}
    for name, p in {"sharp": probabilities, "flat": flat}.items():
        curve = threshold_curve(p, tags, CLASSES, "other")
        chosen[name] = choose_threshold(curve, f1_tolerance=0.0)
        answers = served_answers(p, CLASSES, chosen[name], "other")
        assert list(answers) == tags, name  # the unsure guesses become `other`: all right
    assert chosen["flat"] < chosen["sharp"]
    assert flat.max(axis=1).max() < 0.9  # the old fixed 0.9 would answer `other` everywhere
    assert chosen["flat"] < flat.max(axis=1).max()


def test_a_gain_within_the_tolerance_keeps_the_lower_threshold():
    # 100 right answers, and one `other` guessed at 0.55: catching it gains ~0.01 of F1
    probabilities, tags = _validation(sharp=0.95, unsure=0.55)
    probabilities, tags = (
        np.vstack([np.repeat(probabilities[:9], 11, axis=0), probabilities[9:10]]),
        [
            *np.repeat(tags[:9], 11),
            "other",
        ],
    )
    curve = threshold_curve(probabilities, tags, CLASSES, "other")
    gain = curve["weighted_f1"].max() - curve["weighted_f1"].iloc[0]
    assert 0 < gain < 0.05
    assert choose_threshold(curve, f1_tolerance=gain + 1e-9) < 0.55  # the unsure one answered
    assert choose_threshold(curve, f1_tolerance=gain / 2) > 0.55  # worth the threshold


labelled = st.integers(2, 30).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, (n, len(CLASSES)), elements=st.floats(0.01, 1.0)).map(
            lambda raw: raw / raw.sum(axis=1, keepdims=True)
        ),
        st.lists(st.sampled_from(CLASSES), min_size=n, max_size=n),
    )
)


# Found by Hypothesis: 0.3184 summed in two orders is two floats one apart (no threshold lies
# between them), and a row of 0.25 is answered only at the floor.
_TIED = np.array([[0.0449, 0.3184, 0.3184, 0.3184], [0.25] * 4, [0.3184, 0.3184, 0.0449, 0.3184]])


@settings(max_examples=60, deadline=None)
@given(labelled)
@example((_TIED / _TIED.sum(axis=1, keepdims=True), ["computer-vision"] * 3))
def test_the_curve_is_the_served_f1_at_every_threshold_and_the_choice_its_best(example):
    probabilities, tags = example

    def f1(threshold: float) -> float:
        answers = served_answers(probabilities, CLASSES, threshold, "other")
        return weighted_scores(tags, list(answers))["f1"]

    curve = threshold_curve(probabilities, tags, CLASSES, "other")
    assert curve["low"].iloc[0] == pytest.approx(0.25) and curve["high"].iloc[-1] == 1.0
    assert (curve["low"].iloc[1:].to_numpy() == curve["high"].iloc[:-1].to_numpy()).all()
    for row in curve.itertuples():
        assert f1((row.low + row.high) / 2) == pytest.approx(row.weighted_f1)
    best = curve["weighted_f1"].max()
    grid = np.concatenate([[0.25], np.linspace(0.25, 1.0, 101), curve["high"]])
    assert max(f1(t) for t in grid) <= best + 1e-12  # no threshold does better than the curve
    chosen = choose_threshold(curve, f1_tolerance=0.0)
    assert f1(chosen) == pytest.approx(best)
    assert f1(choose_threshold(curve, f1_tolerance=0.1)) >= best - 0.1


def test_a_row_with_no_preference_is_answered_only_at_the_lowest_threshold():
    # 0.25 everywhere: threshold 0.25 answers its (first) tag; anything above answers `other`
    probabilities = np.array([[0.25] * 4, [0.7, 0.1, 0.1, 0.1]])
    curve = threshold_curve(probabilities, ["computer-vision"] * 2, CLASSES, "other")
    assert curve["weighted_f1"].iloc[0] == pytest.approx(1.0)
    assert choose_threshold(curve, f1_tolerance=0.0) == pytest.approx(0.25)


def test_expected_calibration_error_of_a_known_case():
    # 10 answers at 0.9 confidence, 6 right: |0.9 - 0.6| = 0.3
    probabilities = np.tile([0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3], (10, 1))
    tags = ["computer-vision"] * 6 + ["mlops"] * 4
    assert expected_calibration_error(probabilities, tags, CLASSES) == pytest.approx(0.3)
