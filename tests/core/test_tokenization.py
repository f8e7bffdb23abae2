import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.core.text import clean_text
from madewithml.core.tokenization import first_words, length_sorted_batches, pad_batch, tokenize
from madewithml.data.encoder import PACKAGED_ENCODER, load_tokenizer


def test_tokenize_truncates_and_never_pads():
    tokenizer = load_tokenizer(PACKAGED_ENCODER)
    ids = tokenize(["a short text", "a much longer text " * 20], tokenizer, max_length=16)
    assert [len(row) for row in ids] == [5, 16]  # [CLS] a short text [SEP]; cut at 16
    assert all(
        row[0] == tokenizer.cls_token_id and row[-1] == tokenizer.sep_token_id for row in ids
    )
    assert tokenizer.pad_token_id not in np.concatenate(ids)


TOKENIZER = load_tokenizer(PACKAGED_ENCODER)
# Words of any script and length, separated by any white space.
words = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30)
texts = st.lists(words, max_size=60).map(" ".join) | st.text(max_size=400)


@settings(max_examples=150, deadline=None)
@given(text=texts.map(clean_text), max_length=st.integers(2, 40))
def test_cutting_a_clean_text_to_its_first_words_never_changes_its_tokens(text, max_length):
    """What `tokenize` keeps of a text as the model cleans it (`clean_text`: words of letters
    and digits) is what the tokenizer alone keeps of it whole. (Not of any raw text: a "word"
    of combining accents gives no token.)"""
    whole = TOKENIZER([text], truncation=True, max_length=max_length)["input_ids"][0]
    assert tokenize([text], TOKENIZER, max_length)[0].tolist() == whole


@given(text=texts, count=st.integers(0, 30))
def test_first_words_keeps_the_first_words_as_written(text, count):
    cut = first_words(text, count)
    assert text.startswith(cut)
    assert cut.split() == text.split()[:count]


def test_a_20_mb_description_is_tokenized_as_its_first_words():
    long = "deep learning for images " * 800_000  # 20 MB
    ids = tokenize([long], TOKENIZER, max_length=512)[0]
    assert (
        ids.tolist() == TOKENIZER([long[:10_000]], truncation=True, max_length=512)["input_ids"][0]
    )


sequences = st.lists(st.lists(st.integers(1, 30_000), min_size=1, max_size=40), min_size=1)


@given(sequences, st.integers(0, 30_000))
def test_a_batch_pads_to_its_own_longest_row_and_masks_the_padding(rows, pad_id):
    input_ids, attention_mask = pad_batch(rows, pad_id)
    assert input_ids.shape == attention_mask.shape == (len(rows), max(map(len, rows)))
    for row, ids, mask in zip(rows, input_ids, attention_mask, strict=True):
        assert ids[: len(row)].tolist() == row
        assert mask.tolist() == [1] * len(row) + [0] * (len(ids) - len(row))
        assert (ids[len(row) :] == pad_id).all()
    assert input_ids.dtype == attention_mask.dtype == torch.long


@given(st.lists(st.integers(1, 100)), st.integers(1, 10))
def test_length_sorted_batches_cover_every_row_once_longest_first(lengths, batch_size):
    batches = length_sorted_batches(lengths, batch_size)
    order = np.concatenate(batches) if batches else np.array([], dtype=int)
    assert sorted(order.tolist()) == list(range(len(lengths)))
    assert all(len(batch) <= batch_size for batch in batches)
    in_order = [lengths[i] for i in order]
    assert in_order == sorted(lengths, reverse=True)
