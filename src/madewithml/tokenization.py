"""Tokenization of cleaned text with the encoder's own tokenizer."""

from __future__ import annotations

from functools import lru_cache

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
