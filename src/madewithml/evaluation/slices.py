"""Data slices: named predicates over raw project rows, for metrics on the cases that matter.

Add a slice by decorating a function that takes the raw rows (title, description, tag) and
returns a boolean mask::

    @slice_function("mentions_gans")
    def mentions_gans(rows):
        return _text(rows).str.contains(r"\\bgans?\\b")
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

SliceFunction = Callable[[pd.DataFrame], pd.Series]
SLICES: dict[str, SliceFunction] = {}


def slice_function(name: str) -> Callable[[SliceFunction], SliceFunction]:
    """Register `function` as the slice `name`."""

    def register(function: SliceFunction) -> SliceFunction:
        if name in SLICES:
            raise ValueError(f"slice {name!r} is registered twice")
        SLICES[name] = function
        return function

    return register


def _text(rows: pd.DataFrame) -> pd.Series:
    return (rows["title"].fillna("") + " " + rows["description"].fillna("")).str.lower()


@slice_function("nlp_llm")
def nlp_llm(rows: pd.DataFrame) -> pd.Series:
    """NLP projects that mention transformers, LLMs or BERT (the seed's slice)."""
    mentions = _text(rows).str.contains(r"\b(?:transformers?|llms?|bert)\b", regex=True)
    return (rows["tag"] == "natural-language-processing") & mentions


@slice_function("short_text")
def short_text(rows: pd.DataFrame) -> pd.Series:
    """Projects whose title and description together have fewer than 8 words."""
    return _text(rows).str.split().str.len() < 8


def slice_masks(
    rows: pd.DataFrame, slices: dict[str, SliceFunction] | None = None
) -> dict[str, pd.Series]:
    """The boolean mask of every registered slice (or of `slices`) over `rows`."""
    return {name: function(rows).astype(bool) for name, function in (slices or SLICES).items()}
