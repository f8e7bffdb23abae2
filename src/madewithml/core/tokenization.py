"""Tokenization without padding, and padding per batch (as `DataCollatorWithPadding` does).

Token ids are stored and handed around unpadded, one array per text; a batch is padded to its
own longest row when it is made, so no table ever carries padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase


def tokenize(
    texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> list[np.ndarray]:
    """The token ids of each text as `clean_text` makes it (with the special tokens),
    truncated to `max_length`.

    Each text is cut to its first `max_length` words before the tokenizer sees it: a word of a
    clean text (letters and digits) gives at least one token, so truncation keeps the same ids,
    and a text of megabytes costs what one of `max_length` words does (a 20 MB description took
    24 s and 2.9 GiB to tokenize whole: benchmarks/long_text.py).
    """
    cut = [first_words(text, max_length) for text in texts]
    encoded = tokenizer(cut, truncation=True, max_length=max_length, padding=False)
    return [np.asarray(ids, dtype=np.int64) for ids in encoded["input_ids"]]


def first_words(text: str, count: int) -> str:
    """`text` up to the end of its `count`-th word (words: what `str.split` separates), as
    written; `text` itself when it has no more words."""
    parts = text.split(maxsplit=count)
    if len(parts) <= count:
        return text
    return text[: len(text) - len(parts[-1])].rstrip()


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id that pads a batch: the tokenizer's pad token (0 for one without, which the
    attention mask hides anyway). Training and the shipped model both pad with it."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of a batch, padded on the right with `pad_id` to its longest
    row."""
    length = max((len(ids) for ids in sequences), default=0) or 1
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(np.asarray(ids, dtype=np.int64))  # a copy
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Row positions in batches of similar length (longest first), for inference: each batch
    pads to its own longest row, so sorting cuts the padding; callers restore the order."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
