"""The classic baseline the transformer must beat: TF-IDF features and a linear classifier."""

from __future__ import annotations

from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

CLASSIFIERS = {"linear_svc": LinearSVC, "logistic_regression": LogisticRegression}


def make_baseline(params: dict[str, Any]) -> Pipeline:
    """An unfitted TF-IDF + linear classifier, from `evaluation.baseline` parameters."""
    classifier = params["classifier"]  # a name the parameter contract accepts
    ngram_range = tuple(params["ngram_range"])
    return Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    ngram_range=ngram_range,
                    analyzer=params["analyzer"],
                    sublinear_tf=True,
                    min_df=params["min_df"],
                ),
            ),
            ("classifier", CLASSIFIERS[classifier](C=params["C"], random_state=params["seed"])),
        ]
    )
