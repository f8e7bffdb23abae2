"""The whole model as it ships: cleaning, tokenization, the classifier, an optional TF-IDF
model blended in, temperature scaling, and the threshold rule.

A `Tagger` turns raw `title` + `description` rows into the probability of every tag and a
prediction. Saved as a folder of plain files (no pickle): the classifier (safetensors + JSON),
the tokenizer (`save_pretrained`), the TF-IDF model (arrays and JSON) and `tagger.json` (the tags
and the settings).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from madewithml.core.classifier import TagClassifier
from madewithml.core.inputs import check_projects, check_texts, check_threshold
from madewithml.core.text import one_project_text, project_text
from madewithml.core.tfidf import TfidfModel
from madewithml.core.tokenization import length_sorted_batches, pad_batch, pad_id, tokenize

SETTINGS_FILE = "tagger.json"
CLASSIFIER_FOLDER = "classifier"
TOKENIZER_FOLDER = "tokenizer"
TFIDF_FOLDER = "tfidf_model"
PREDICTION = "prediction"


@dataclass(frozen=True)
class TaggerSettings:
    """How raw rows become predictions (from the parameters of the run that trained it)."""

    max_length: int  # tokens per text (encoder.max_length)
    threshold: float  # below it the prediction is `other_tag` (inference.threshold)
    other_tag: str  # data_processing.other_tag
    batch_size: int = 64  # rows per forward pass (inference.batch_size)
    stopwords: tuple[str, ...] = field(default=())  # dropped from the text; empty: none
    blend_weight: float = 0.0  # the TF-IDF model's share of the probabilities (0: none)
    # Temperature scaling of the (blended) probabilities, fitted on the validation split by
    # training (`madewithml.evaluation.calibration`): p ∝ exp(log p / temperature); 1 leaves
    # them as they are. The threshold above is a probability on this calibrated scale.
    temperature: float = 1.0
    # The classifier's arithmetic when answering (inference.precision): float32, bfloat16, or
    # auto (bfloat16 on a CPU that computes it natively; `madewithml.core.classifier`).
    precision: str = "float32"


def tag_columns(predictions: pd.DataFrame) -> list[str]:
    """The tags of a predictions table: its probability columns, in the model's order."""
    return [column for column in predictions.columns if column != PREDICTION]


def temper(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of probabilities (rows sum to 1): ``softmax(log p / temperature)``.
    Below 1 it sharpens them, above 1 it flattens them; the most likely tag never changes."""
    if temperature == 1.0:
        return probabilities
    logits = np.log(np.clip(probabilities, np.finfo(np.float64).tiny, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


class ModelFilesError(ValueError):
    """A model file is missing, truncated or overwritten since the model was saved."""


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder` but `tagger.json` itself, by relative path."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != SETTINGS_FILE
    }


def check_files(folder: Path, recorded: dict[str, str] | None) -> None:
    """Every file recorded at saving is there with the same SHA-256 (a model saved before the
    digests were recorded has none to check).

    Raises:
        ModelFilesError: naming the first file that is missing or differs.
    """
    for name, digest in (recorded or {}).items():
        path = folder / name
        if not path.is_file():
            raise ModelFilesError(f"model file {name} is missing from {folder}")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise ModelFilesError(
                f"model file {name} differs from when the model was saved (truncated, "
                f"overwritten or corrupted): {path}"
            )


def check_saved_files(folder: str | Path) -> None:
    """`check_files` of a tagger saved in `folder`, against what its `tagger.json` recorded
    (without loading it).

    Raises:
        ModelFilesError: naming the first file that is missing or differs.
    """
    folder = Path(folder)
    check_files(folder, json.loads((folder / SETTINGS_FILE).read_text()).get("files"))


def apply_threshold(probabilities: pd.DataFrame, threshold: float, other_tag: str) -> pd.Series:
    """The seed's rule: the most likely tag, or `other_tag` where its probability is below
    `threshold` (0 keeps every most likely tag)."""
    most_likely = probabilities.idxmax(axis=1)
    return most_likely.where(probabilities.max(axis=1) >= threshold, other_tag)


class Tagger:
    """A trained classifier with everything it needs to answer for raw projects."""

    def __init__(
        self,
        classifier: TagClassifier,
        tokenizer: PreTrainedTokenizerBase,
        classes: list[str],
        settings: TaggerSettings,
        tfidf_model: TfidfModel | None = None,
    ) -> None:
        if len(classes) != classifier.config.num_classes:
            raise ValueError(
                f"{len(classes)} classes for a classifier with {classifier.config.num_classes}"
            )
        if settings.blend_weight > 0 and tfidf_model is None:
            raise ValueError("a blend weight needs the TF-IDF model it blends")
        self.classifier = classifier.eval()  # float32: what `save` writes
        self._answering = self.classifier.for_inference(settings.precision)
        self.tokenizer = tokenizer
        self.classes = list(classes)
        self.settings = settings
        self.tfidf_model = tfidf_model

    def texts(self, projects: pd.DataFrame) -> pd.Series:
        """The cleaned text of each project, as in training."""
        return project_text(projects["title"], projects["description"], self.settings.stopwords)

    def text(self, title: str, description: str) -> str:
        """The cleaned text of one project, as in training (`texts` without a table)."""
        return one_project_text(title, description, self.settings.stopwords)

    def predict_proba(self, projects: pd.DataFrame) -> np.ndarray:
        """The probability of every tag (columns in `classes` order) for each row: the
        classifier's, blended with the TF-IDF model's, at the settings' temperature.

        Raises:
            InvalidInputError: for rows that are not text, a blank title, or a title and
                description with no letter or digit (see `madewithml.core.inputs`).
        """
        checked = check_projects(projects)
        texts = self.texts(checked)
        check_texts(projects, texts)
        ids = tokenize(texts.tolist(), self.tokenizer, self.settings.max_length)
        probabilities = np.zeros((len(ids), len(self.classes)), dtype=np.float64)
        padding = pad_id(self.tokenizer)
        for rows in length_sorted_batches([len(x) for x in ids], self.settings.batch_size):
            input_ids, attention_mask = pad_batch([ids[i] for i in rows], padding)
            probabilities[rows] = self._answering.predict_proba(input_ids, attention_mask)
        weight = self.settings.blend_weight
        if weight > 0:
            probabilities = (1 - weight) * probabilities + weight * self.tfidf_model.predict_proba(
                texts.tolist()
            )
        return temper(probabilities, self.settings.temperature)

    def predict(self, projects: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
        """`prediction` (after the threshold rule) and the probability of every tag, one row
        per project, with the input's index. `threshold` None: the settings' threshold.

        Raises:
            InvalidInputError: as `predict_proba`; for a threshold that is not a number in
                [0, 1]; for input columns named as the answer's (`prediction`, a tag).
        """
        threshold = self.settings.threshold if threshold is None else check_threshold(threshold)
        check_projects(projects, reserved=[PREDICTION, *self.classes])
        probabilities = pd.DataFrame(
            self.predict_proba(projects), columns=self.classes, index=projects.index
        )
        prediction = apply_threshold(probabilities, threshold, self.settings.other_tag)
        return probabilities.assign(**{PREDICTION: prediction})[[PREDICTION, *self.classes]]

    def save(self, folder: str | Path) -> None:
        """Write the classifier, the tokenizer and `tagger.json` into `folder`."""
        folder = Path(folder)
        self.classifier.save(folder / CLASSIFIER_FOLDER)
        self.tokenizer.save_pretrained(folder / TOKENIZER_FOLDER)
        if self.tfidf_model is not None:
            self.tfidf_model.save(folder / TFIDF_FOLDER)
        settings = {
            "classes": self.classes,
            "settings": asdict(self.settings),
            "files": file_digests(folder),  # checked by `load`
        }
        (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> Tagger:
        """Read what `save` wrote: JSON, safetensors and tokenizer files, nothing unpickled.

        Raises:
            ModelFilesError: a file is missing or differs from when the model was saved.
        """
        folder = Path(folder)
        saved = json.loads((folder / SETTINGS_FILE).read_text())
        check_files(folder, saved.get("files"))
        settings = saved["settings"]
        settings["stopwords"] = tuple(settings.get("stopwords") or ())
        tfidf_folder = folder / TFIDF_FOLDER
        return cls(
            TagClassifier.load(folder / CLASSIFIER_FOLDER, device=device),
            AutoTokenizer.from_pretrained(folder / TOKENIZER_FOLDER),
            saved["classes"],
            TaggerSettings(**settings),
            TfidfModel.load(tfidf_folder) if tfidf_folder.is_dir() else None,
        )
