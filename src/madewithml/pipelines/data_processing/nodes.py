"""Nodes of the data_processing pipeline: pure functions from tables to tables."""

from __future__ import annotations

import logging

import pandas as pd
from matplotlib.figure import Figure  # plots are files: no pyplot, no backend
from sklearn.model_selection import train_test_split
from transformers import PreTrainedTokenizerBase

from madewithml.core.inputs import check_texts
from madewithml.core.text import project_text
from madewithml.core.tokenization import tokenize
from madewithml.data.encoder import load_tokenizer
from madewithml.data.labels import encode_labels, map_tags
from madewithml.data.quality import check_split_preconditions, resolve_duplicate_texts
from madewithml.data.schemas import RAW_COLUMNS, validate_raw_projects
from madewithml.data.stopwords import stopwords

__all__ = [
    "add_clean_text",
    "encode_labels",
    "map_tags",
    "plot_class_balance",
    "prepare_tokenizer",
    "resolve_duplicate_texts",
    "split_train_val",
    "tokenize_projects",
    "tokenize_texts",
    "validate_projects",
]

logger = logging.getLogger(__name__)


def validate_projects(raw: pd.DataFrame) -> pd.DataFrame:
    """Check the raw table against the schema; the error names failing columns and row ids.

    Columns beyond the schema's are kept (and logged): they never reach the model.
    """
    validated = validate_raw_projects(raw, name="raw projects table")
    if extra := [column for column in raw.columns if column not in RAW_COLUMNS]:
        logger.warning("raw projects table: extra columns %s are kept but not used", extra)
    return validated


def add_clean_text(projects: pd.DataFrame, remove_stopwords: bool) -> pd.DataFrame:
    """Add the model's input column `text`: cleaned title + description. A project left with no
    letter or digit is refused by id, as the model refuses it at inference."""
    cleaned = projects.copy()
    cleaned["text"] = project_text(
        cleaned["title"], cleaned["description"], stopwords(remove_stopwords)
    )
    check_texts(cleaned, cleaned["text"], name="projects")
    return cleaned


def split_train_val(
    projects: pd.DataFrame, test_size: float, seed: int, min_rows_per_class: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified split: each tag is split on its own, so every tag is in both parts.

    Every tag must have `min_rows_per_class` rows (checked first, naming the tags that do not).
    Splitting tag by tag (as the seed does with Ray Data) rounds each class's validation share
    up, which gives 610 / 154 rows on dataset.csv. The texts are unique
    (`resolve_duplicate_texts`), so no text is on both sides.
    """
    check_split_preconditions(projects, min_rows_per_class)
    train_parts, val_parts = [], []
    for _, group in projects.groupby("tag", sort=True):
        train, val = train_test_split(group, test_size=test_size, shuffle=True, random_state=seed)
        train_parts.append(train)
        val_parts.append(val)
    train = pd.concat(train_parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    val = pd.concat(val_parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return train, val


def plot_class_balance(train_projects: pd.DataFrame, val_projects: pd.DataFrame) -> Figure:
    """Projects per tag in the training and validation parts (the split is stratified)."""
    counts = pd.DataFrame(
        {
            "train": train_projects["tag"].value_counts(),
            "validation": val_projects["tag"].value_counts(),
        }
    ).fillna(0)
    counts = counts.sort_values("train", ascending=False)
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    positions = range(len(counts))
    for offset, part in ((-0.2, "train"), (0.2, "validation")):
        bars = axes.bar([p + offset for p in positions], counts[part], width=0.4, label=part)
        axes.bar_label(bars, fmt="%d", fontsize=8)
    axes.set_xticks(list(positions), counts.index, rotation=20, ha="right")
    axes.set_ylabel("projects")
    axes.legend()
    axes.set_title("Projects per tag")
    figure.tight_layout()
    return figure


def prepare_tokenizer(
    encoder: str, projects: pd.DataFrame, max_length: int
) -> PreTrainedTokenizerBase:
    """The configured encoder's tokenizer, kept with the model so inference needs no hub.

    Warns when `max_length` truncates some of `projects`' texts.
    """
    tokenizer = load_tokenizer(encoder)
    lengths = [len(ids) for ids in tokenizer(projects["text"].tolist())["input_ids"]]
    truncated = sum(length > max_length for length in lengths)
    if truncated:
        logger.warning(
            "%d of %d texts are longer than encoder.max_length=%d tokens and get truncated",
            truncated,
            len(lengths),
            max_length,
        )
    return tokenizer


def tokenize_texts(
    projects: pd.DataFrame, tokenizer: PreTrainedTokenizerBase, max_length: int
) -> pd.DataFrame:
    """`input_ids` of each row's `text`: its token ids, truncated to `max_length`, unpadded
    (batches are padded to their own longest row when they are made)."""
    ids = tokenize(projects["text"].tolist(), tokenizer, max_length)
    return pd.DataFrame({"input_ids": ids}, index=projects.index)


def tokenize_projects(
    projects: pd.DataFrame,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    class_to_index: dict[str, int],
) -> pd.DataFrame:
    """Training inputs: `id`, `input_ids` (unpadded) and the class index `target`."""
    unknown = sorted(set(projects["tag"]) - set(class_to_index))
    if unknown:
        raise ValueError(f"column 'tag' has values outside class_to_index: {unknown}")
    inputs = tokenize_texts(projects, tokenizer, max_length)
    inputs.insert(0, "id", projects["id"].to_numpy())
    inputs["target"] = projects["tag"].map(class_to_index).astype("int64").to_numpy()
    return inputs.reset_index(drop=True)
