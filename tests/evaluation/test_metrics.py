"""Metrics on hand-made predictions with answers worked out by hand."""

import pytest

from madewithml.evaluation.metrics import confusion, per_class_scores, weighted_scores

CLASSES = ["cv", "mlops", "nlp"]
Y_TRUE = ["cv", "cv", "cv", "nlp", "nlp", "mlops"]
Y_PRED = ["cv", "cv", "nlp", "nlp", "nlp", "cv"]


def test_per_class_scores():
    scores = per_class_scores(Y_TRUE, Y_PRED, CLASSES)
    # cv: 2 of 3 predicted cv are right, 2 of 3 true cv found
    assert scores["cv"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    # nlp: 2 of 3 predicted nlp are right, both true nlp found
    assert scores["nlp"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    # mlops: never predicted, its one row missed
    assert scores["mlops"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_weighted_scores_weight_by_support():
    scores = weighted_scores(Y_TRUE, Y_PRED)
    assert scores["f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8 + 1 * 0.0) / 6)
    assert scores["num_samples"] == 6


def test_perfect_predictions():
    assert weighted_scores(Y_TRUE, Y_TRUE)["f1"] == 1.0


def test_confusion_rows_are_true_columns_predicted():
    assert confusion(Y_TRUE, Y_PRED, CLASSES) == [
        [2, 0, 1],  # true cv
        [1, 0, 0],  # true mlops
        [0, 0, 2],  # true nlp
    ]
