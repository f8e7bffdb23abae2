import pandas as pd
import pytest

from madewithml.evaluation import slices
from madewithml.evaluation.slices import SLICES, nlp_llm, short_text, slice_function, slice_masks

ROWS = pd.DataFrame(
    {
        "title": ["BERT for QA", "Fine-tuning LLMs", "YOLOv5", "Transformers in vision", "Big"],
        "description": [
            "question answering with a pretrained model",
            "parameter efficient tuning of large models",
            "real time object detection",
            "vision transformer for image classification",
            "a model",
        ],
        "tag": [
            "natural-language-processing",
            "natural-language-processing",
            "computer-vision",
            "computer-vision",
            "other",
        ],
    }
)


def test_nlp_llm_needs_the_tag_and_a_mention():
    # row 3 mentions transformers but is computer vision
    assert nlp_llm(ROWS).tolist() == [True, True, False, False, False]


def test_nlp_llm_matches_whole_words_only():
    rows = pd.DataFrame(
        {
            "title": ["Albert Einstein"],
            "description": ["robert"],
            "tag": ["natural-language-processing"],
        }
    )
    assert nlp_llm(rows).tolist() == [False]


def test_short_text_counts_words_of_title_and_description():
    # "YOLOv5 real time object detection" has 5 words; "Big a model" 3
    assert short_text(ROWS).tolist() == [False, False, True, False, True]


def test_registry_holds_the_seed_slices_and_masks_every_one():
    assert {"nlp_llm", "short_text"} <= set(SLICES)
    masks = slice_masks(ROWS)
    assert masks["short_text"].tolist() == short_text(ROWS).tolist()


def test_new_slices_register_by_decorator(monkeypatch):
    monkeypatch.setattr(slices, "SLICES", {})

    @slice_function("other_tag")
    def other_tag(rows):
        return rows["tag"] == "other"

    assert slice_masks(ROWS, slices.SLICES)["other_tag"].tolist() == [False] * 4 + [True]
    with pytest.raises(ValueError, match="registered twice"):
        slice_function("other_tag")(other_tag)
