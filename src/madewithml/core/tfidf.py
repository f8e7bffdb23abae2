"""The TF-IDF model: TF-IDF + logistic regression computed in NumPy, from the numbers
scikit-learn fitted.

Training fits scikit-learn's `TfidfVectorizer(ngram_range, sublinear_tf=True)` and a
multinomial `LogisticRegression` (`madewithml.training.tfidf`); this module computes the same
probabilities from their vocabulary, idf, coefficients and intercepts, so the shipped model
blends it with the transformer without importing scikit-learn.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
TFIDF_FILE = "tfidf_model.npz"
VOCABULARY_FILE = "tfidf_vocabulary.json"


@dataclass
class TfidfModel:
    """TF-IDF features (word n-grams, sublinear tf, l2 norm) and a softmax over classes."""

    vocabulary: dict[str, int]
    idf: np.ndarray  # (features,)
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    ngram_range: tuple[int, int] = (1, 2)

    def _terms(self, text: str) -> Counter:
        tokens = TOKEN.findall(text.lower())
        low, high = self.ngram_range
        terms = []
        for n in range(low, high + 1):
            terms += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return Counter(term for term in terms if term in self.vocabulary)

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """The logits of every class for each text, shape (texts, classes)."""
        logits = np.tile(self.intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            counts = self._terms(text)
            if not counts:
                continue
            columns = np.fromiter((self.vocabulary[t] for t in counts), dtype=np.int64)
            tf = np.log(np.fromiter(counts.values(), dtype=np.float64)) + 1.0
            weights = tf * self.idf[columns]
            weights /= np.linalg.norm(weights)
            logits[row] += self.coef[:, columns] @ weights
        return logits

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities (softmax of the logits), shape (texts, classes)."""
        logits = self.decision(texts)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, folder: str | Path) -> None:
        """`tfidf_model.npz` (idf, coefficients, intercepts) and the vocabulary as JSON."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / TFIDF_FILE, idf=self.idf, coef=self.coef, intercept=self.intercept)
        saved = {"vocabulary": self.vocabulary, "ngram_range": list(self.ngram_range)}
        (folder / VOCABULARY_FILE).write_text(json.dumps(saved))

    @classmethod
    def load(cls, folder: str | Path) -> TfidfModel:
        """Read what `save` wrote (plain arrays and JSON: nothing is unpickled)."""
        folder = Path(folder)
        arrays = np.load(folder / TFIDF_FILE, allow_pickle=False)
        saved = json.loads((folder / VOCABULARY_FILE).read_text())
        return cls(
            vocabulary=saved["vocabulary"],
            idf=arrays["idf"],
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            ngram_range=tuple(saved["ngram_range"]),
        )
