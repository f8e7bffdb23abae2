"""A tiny classifier for the train loop's pieces."""

import pytest

from madewithml.core.classifier import TagClassifier
from madewithml.training.loop import set_seed


@pytest.fixture
def tiny_classifier(tiny_encoder) -> TagClassifier:
    """A 2-layer random BERT (hidden 32) with a 4-class head, seeded."""
    set_seed(0)
    return TagClassifier.from_encoder(str(tiny_encoder), 4, 0.0, "mean")
