"""Tokenization of cleaned text with the encoder's own tokenizer."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from madewithml.encoder import resolve_encoder


@lru_cache(maxsize=4)
def load_tokenizer(encoder: str) -> PreTrainedTokenizerBase:
    """The tokenizer that belongs to `encoder` (see `resolve_encoder`), loaded once per process."""
    return AutoTokenizer.from_pretrained(resolve_encoder(encoder))


def tokenize(texts: list[str], tokenizer: PreTrainedTokenizerBase, max_length: int) -> dict:
    """Token ids and attention masks, padded to the longest text and truncated to `max_length`."""
    encoded = tokenizer(
        texts, padding="longest", truncation=True, max_length=max_length, return_tensors="np"
    )
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


def tokenize_frame(
    texts: pd.Series, encoder: str, max_length: int
) -> tuple[list[list[int]], list[list[int]]]:
    """Tokenize a column of cleaned texts; one list of ids and one mask per row."""
    encoded = tokenize(texts.tolist(), load_tokenizer(encoder), max_length)
    return encoded["input_ids"].tolist(), encoded["attention_mask"].tolist()
