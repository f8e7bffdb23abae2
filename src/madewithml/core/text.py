"""Text preparation shared by training and inference: one definition of "clean text"."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

import pandas as pd

_URL = re.compile(r"(?:https?://|www\.)\S+")
# Anything that is not a letter or a digit, of any script (`\w` is Unicode-aware; `_` is not a
# letter).
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


# Unicode categories with nothing to see: separators (spaces of every width) and "other"
# (controls, format characters such as the zero-width space U+200B and the BOM, unassigned).
_INVISIBLE = ("Z", "C")


def is_blank(text: str) -> bool:
    """Whether `text` has no visible character: only spaces of any width, line breaks,
    control and format characters (a title of zero-width spaces is as blank as one of
    spaces)."""
    return all(unicodedata.category(char)[0] in _INVISIBLE for char in text)


def clean_text(text: str, stopwords: Collection[str] = ()) -> str:
    """Normalise (NFKC), lowercase, drop URLs, turn everything but letters and digits of any
    script into single spaces, and drop `stopwords` (whole words).

    URLs go before punctuation is stripped: the seed removed them last, when "https://x.io"
    had already become "https x io". NFKC first, so that "De\u0301tection" (a decomposed accent)
    and "Détection" clean alike and neither is cut in two.
    """
    text = _URL.sub(" ", unicodedata.normalize("NFKC", text).lower())
    words = _NOT_ALPHANUMERIC.sub(" ", text).split()
    if stopwords:
        words = [word for word in words if word not in stopwords]
    return " ".join(words)


def project_text(
    title: pd.Series, description: pd.Series, stopwords: Collection[str] = ()
) -> pd.Series:
    """The model's input text for each project: `one_project_text` of each row."""
    stopwords = frozenset(stopwords)
    joined = zip(title.fillna("").astype(str), description.fillna("").astype(str), strict=True)
    texts = [one_project_text(t, d, stopwords) for t, d in joined]
    return pd.Series(texts, index=title.index, dtype=object)


def one_project_text(title: str, description: str, stopwords: Collection[str] = ()) -> str:
    """The model's input text for one project: cleaned `title + " " + description`."""
    return clean_text(f"{title} {description}", stopwords)
