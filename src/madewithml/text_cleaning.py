"""Text preparation shared by training and inference: one definition of "clean text"."""

from __future__ import annotations

import re

import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

STOPWORDS = frozenset(ENGLISH_STOP_WORDS)
_URL = re.compile(r"(?:https?://|www\.)\S+")
_STOPWORD = re.compile(r"\b(?:" + "|".join(sorted(STOPWORDS, key=len, reverse=True)) + r")\b")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def clean_text(text: str, remove_stopwords: bool = True) -> str:
    """Lowercase, drop URLs, optionally drop stopwords, turn non-alphanumerics into spaces.

    URLs go before punctuation is stripped: the seed removed them last, when "https://x.io"
    had already become "https x io", and a bare "http" was left behind.
    """
    text = _URL.sub(" ", text.lower())
    if remove_stopwords:
        text = _STOPWORD.sub(" ", text)
    return _NON_ALNUM.sub(" ", text).strip()


def project_text(title: pd.Series, description: pd.Series, remove_stopwords: bool) -> pd.Series:
    """The model's input text for each project: cleaned `title + " " + description`."""
    joined = title.fillna("").astype(str) + " " + description.fillna("").astype(str)
    return joined.map(lambda text: clean_text(text, remove_stopwords))
