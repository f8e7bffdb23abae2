"""The epoch report: its F1 is scikit-learn's, and its names are the only ones anything reads."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from madewithml.training.epochs import weighted_f1


@settings(max_examples=200, deadline=None)
@given(
    num_classes=st.integers(1, 5),
    data=st.data(),
)
def test_weighted_f1_is_scikit_learns(num_classes, data):
    labels = st.integers(0, num_classes - 1)
    y_true = np.array(data.draw(st.lists(labels, min_size=1, max_size=60)))
    y_pred = np.array(data.draw(st.lists(labels, min_size=len(y_true), max_size=len(y_true))))
    expected = f1_score(y_true, y_pred, average="weighted", zero_division=0)
    assert weighted_f1(y_true, y_pred, num_classes) == pytest.approx(expected, abs=1e-12)


def test_weighted_f1_of_nothing_is_nan():
    assert np.isnan(weighted_f1(np.array([], dtype=int), np.array([], dtype=int), 3))
