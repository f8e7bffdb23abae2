"""The classic half of the shipped model: TF-IDF + logistic regression on the cleaned text,
fitted with scikit-learn and exported as numbers (`madewithml.core.tfidf.TfidfModel`)
that the logged model computes in NumPy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from madewithml.core.tfidf import TfidfModel


def fit(
    texts: Sequence[str], tags: Sequence[str], classes: list[str], params: dict[str, Any]
) -> TfidfModel:
    """Fit TF-IDF (`ngram_range`, `min_df`, sublinear tf) and a multinomial logistic
    regression (`C`) on `texts`; the classes in `classes` order (the transformer's)."""
    vectorizer = TfidfVectorizer(
        ngram_range=tuple(params["ngram_range"]), min_df=params["min_df"], sublinear_tf=True
    )
    features = vectorizer.fit_transform(texts)
    classifier = LogisticRegression(C=params["C"], max_iter=5000).fit(features, list(tags))
    order = [list(classifier.classes_).index(tag) for tag in classes]  # every class trains
    return TfidfModel(
        vocabulary={term: int(i) for term, i in vectorizer.vocabulary_.items()},
        idf=vectorizer.idf_.astype(np.float64),
        coef=classifier.coef_[order].astype(np.float64),
        intercept=classifier.intercept_[order].astype(np.float64),
        ngram_range=tuple(params["ngram_range"]),
    )
