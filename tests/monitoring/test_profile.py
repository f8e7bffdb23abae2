"""Profiles of answers: the text's size, its unknown words and its place in the reference's
TF-IDF space, empty where the log kept no text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from madewithml.core.tokenization import tokenize
from madewithml.monitoring.profile import (
    answer_profile,
    cleaned_texts,
    embedding,
    fit_text_space,
    text_profile,
)

TRAINING = pd.Series(
    [
        "image segmentation with convolutional networks",
        "object detection networks for images",
        "transformer language models for text classification",
        "text generation with language models",
        "deploying models with docker and kubernetes",
        "monitoring models in production with docker",
    ]
)


@pytest.fixture(scope="module")
def space():
    return fit_text_space(TRAINING, dimensions=3, seed=0)


def test_text_features_count_words_tokens_and_unknown_words(space, tiny_tokenizer):
    projects = pd.DataFrame(
        {
            "title": ["Image segmentation", "Quantum chromodynamics", None],
            "description": ["with networks!", "lattice text", None],
        }
    )
    texts = cleaned_texts(projects)
    assert texts.iloc[0] == "image segmentation with networks"
    assert pd.isna(texts.iloc[2])  # the log kept no text (store_text: false)
    profile = text_profile(texts, tiny_tokenizer, 8, space)
    assert profile["words"].tolist()[:2] == [4, 4]
    assert profile["unknown_words"].tolist()[:2] == [0.0, 0.75]  # "text" is a training word
    expected = [len(ids) for ids in tokenize(texts.iloc[:2].tolist(), tiny_tokenizer, 8)]
    assert profile["tokens"].tolist()[:2] == expected
    assert profile.iloc[2].isna().all()
    vectors = embedding(profile)
    assert vectors.shape == (2, 3)
    assert np.allclose(np.linalg.norm(vectors[:1], axis=1), 1.0)


def test_texts_alike_lie_close_in_the_space(space):
    near, far = (
        space.embed(["language models for text", "kubernetes docker deploying"])
        @ space.embed(["text classification with language models"]).T
    )
    assert near[0] > far[0]


def test_the_answer_columns_are_the_prediction_and_the_top_probability():
    probabilities = pd.DataFrame({"a": [0.7, 0.2], "b": [0.3, 0.8]})
    profile = answer_profile(pd.Series(["a", "other"]), probabilities)
    assert profile.to_dict("list") == {
        "prediction": ["a", "other"],
        "top_probability": [0.7, 0.8],
    }


def test_a_space_needs_texts_that_share_words():
    with pytest.raises(ValueError, match="no TF-IDF space"):
        fit_text_space(pd.Series(["alpha", "beta"]), dimensions=3, seed=0)
    with pytest.raises(ValueError, match="no TF-IDF space"):
        fit_text_space(pd.Series(["alpha beta", "alpha gamma"]), dimensions=3, seed=0)
