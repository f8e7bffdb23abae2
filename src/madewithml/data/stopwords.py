"""The stopword list of the seed: scikit-learn's English stop words.

Training passes it to the cleaning (`data_processing.remove_stopwords`) and stores it in the
model's settings, so the shipped model never imports scikit-learn.
"""

from __future__ import annotations

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

ENGLISH_STOPWORDS: tuple[str, ...] = tuple(sorted(ENGLISH_STOP_WORDS))


def stopwords(remove: bool) -> tuple[str, ...]:
    """The words cleaning drops: the English stop words when `remove`, else none."""
    return ENGLISH_STOPWORDS if remove else ()
