"""What drift monitoring compares: a profile of each answer, the same for the reference and for
the request log's window.

A profile has one row per answered project:
- its text's size: `words` (of the cleaned text) and `tokens` (what the model reads, up to its
  `max_length`);
- `unknown_words`: the share of its words that no training text has;
- `embedding_0`...: its text in a reduced TF-IDF space fitted on the training texts (unit
  vectors), for the multivariate test;
- `prediction` and `top_probability`: the model's answer.

Text columns are empty (NaN) for answers whose text the log did not keep
(`serving.request_log.store_text: false`); the answer columns are always there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from transformers import PreTrainedTokenizerBase

from madewithml.core.text import project_text
from madewithml.core.tokenization import tokenize

TEXT_FEATURES = ("words", "tokens", "unknown_words")
EMBEDDING_PREFIX = "embedding_"
PREDICTION = "prediction"
TOP_PROBABILITY = "top_probability"


@dataclass(frozen=True)
class TextSpace:
    """The training texts' vocabulary and a reduced TF-IDF space fitted on them."""

    vocabulary: frozenset[str]
    vectorizer: TfidfVectorizer
    svd: TruncatedSVD

    @property
    def dimensions(self) -> int:
        return int(self.svd.n_components)

    def embed(self, texts: Iterable[str]) -> np.ndarray:
        """Each cleaned text as a unit vector of the reduced space, shape (texts, dimensions)."""
        reduced = self.svd.transform(self.vectorizer.transform(list(texts)))
        return normalize(reduced)


def fit_text_space(texts: pd.Series, dimensions: int, seed: int) -> TextSpace:
    """The space of the cleaned training `texts`: their words, and TF-IDF (words seen in two
    texts or more, sublinear counts) reduced to `dimensions` by a truncated SVD."""
    vectorizer = TfidfVectorizer(min_df=2, sublinear_tf=True, token_pattern=r"\S+")
    problem = (
        f"drift monitoring: {len(texts)} training texts give no TF-IDF space; it needs texts "
        "that share at least two words"
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError as error:  # no word in two texts
        raise ValueError(problem) from error
    components = min(dimensions, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if components < 1:
        raise ValueError(problem)
    svd = TruncatedSVD(n_components=components, random_state=seed).fit(matrix)
    vocabulary = frozenset(word for text in texts for word in text.split())
    return TextSpace(vocabulary=vocabulary, vectorizer=vectorizer, svd=svd)


def cleaned_texts(projects: pd.DataFrame) -> pd.Series:
    """The cleaned text of each row with a title and a description, as the model reads it
    (without the model's stopwords); NaN where the log kept no text."""
    kept = projects["title"].notna() & projects["description"].notna()
    texts = pd.Series(np.nan, index=projects.index, dtype=object)
    if kept.any():
        texts[kept] = project_text(projects.loc[kept, "title"], projects.loc[kept, "description"])
    return texts


def text_profile(
    texts: pd.Series, tokenizer: PreTrainedTokenizerBase, max_length: int, space: TextSpace
) -> pd.DataFrame:
    """The text columns of a profile (module docstring) for cleaned `texts` (NaN: no text)."""
    kept = texts.notna()
    columns = [*TEXT_FEATURES, *(f"{EMBEDDING_PREFIX}{i}" for i in range(space.dimensions))]
    profile = pd.DataFrame(np.nan, index=texts.index, columns=columns, dtype=np.float64)
    if not kept.any():
        return profile
    present = texts[kept].tolist()
    words = [text.split() for text in present]
    profile.loc[kept, "words"] = [len(w) for w in words]
    profile.loc[kept, "tokens"] = [len(ids) for ids in tokenize(present, tokenizer, max_length)]
    profile.loc[kept, "unknown_words"] = [
        sum(word not in space.vocabulary for word in w) / len(w) if w else 0.0 for w in words
    ]
    profile.loc[kept, columns[len(TEXT_FEATURES) :]] = space.embed(present)
    return profile


def answer_profile(predictions: pd.Series, probabilities: pd.DataFrame) -> pd.DataFrame:
    """The answer columns of a profile: the served `predictions` and the top of each row of
    `probabilities` (one column per tag)."""
    return pd.DataFrame(
        {
            PREDICTION: predictions.astype(object).to_numpy(),
            TOP_PROBABILITY: probabilities.max(axis=1).to_numpy(dtype=np.float64),
        },
        index=predictions.index,
    )


def embedding(profile: pd.DataFrame) -> np.ndarray:
    """The embedding columns of a profile's rows that have text."""
    columns = [c for c in profile.columns if c.startswith(EMBEDDING_PREFIX)]
    return profile.loc[profile[columns[0]].notna(), columns].to_numpy(dtype=np.float64)
