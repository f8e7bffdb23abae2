"""The shipped text model computes what scikit-learn's fitted TF-IDF + logistic regression
computes, for any text, without scikit-learn."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from madewithml.core.tfidf import TfidfModel
from madewithml.training import tfidf

CLASSES = ["computer-vision", "mlops", "natural-language-processing", "other"]
PARAMS = {"C": 10.0, "ngram_range": [1, 2], "min_df": 1}
WORDS = [
    "image",
    "pixels",
    "segmentation",
    "deploy",
    "pipeline",
    "monitoring",
    "text",
    "language",
    "tokens",
    "graph",
    "reward",
    "agent",
    "the",
    "of",
    "model",
    "data",
]
CORPUS = pd.DataFrame(
    {
        "text": [
            "image segmentation pixels model",
            "pixels of the image",
            "deploy the pipeline",
            "monitoring deploy data",
            "text language tokens",
            "language model of text",
            "graph agent reward",
            "reward of the agent graph",
            "image model data",
            "pipeline monitoring model",
            "tokens text data",
            "agent graph data",
        ],
        "tag": [CLASSES[i // 2 % 4] for i in range(8)] + CLASSES,
    }
)


@pytest.fixture(scope="module")
def fitted():
    ours = tfidf.fit(CORPUS["text"], CORPUS["tag"], CLASSES, PARAMS)
    reference = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10.0, max_iter=5000),
    ).fit(CORPUS["text"], CORPUS["tag"])
    return ours, reference


texts = st.lists(st.sampled_from([*WORDS, "unseen", "ÜBER", "x"]), max_size=12).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=5))
def test_the_same_probabilities_as_scikit_learn_for_any_text(fitted, batch):
    ours, reference = fitted
    expected = reference.predict_proba(batch)[
        :, [list(reference.classes_).index(c) for c in CLASSES]
    ]
    np.testing.assert_allclose(ours.predict_proba(batch), expected, atol=1e-10)


def test_save_and_load_give_the_same_answers_without_pickle(fitted, tmp_path):
    ours, _ = fitted
    ours.save(tmp_path)
    loaded = TfidfModel.load(tmp_path)  # np.load(allow_pickle=False) and JSON
    batch = list(CORPUS["text"]) + ["unseen words only", ""]
    np.testing.assert_array_equal(loaded.predict_proba(batch), ours.predict_proba(batch))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "tfidf_model.npz",
        "tfidf_vocabulary.json",
    ]


def test_a_text_with_no_known_word_gets_the_intercepts_probabilities(fitted):
    ours, _ = fitted
    logits = ours.intercept - ours.intercept.max()
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(ours.predict_proba(["zzz qqq"])[0], expected)
