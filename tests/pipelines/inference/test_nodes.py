import numpy as np
import pandas as pd
import pytest

from madewithml.model import TagClassifier
from madewithml.pipelines.data_processing.nodes import add_clean_text, tokenize_texts
from madewithml.pipelines.inference.nodes import apply_threshold, predict_tags, validate_inputs
from madewithml.schemas import DataValidationError
from madewithml.tokenization import load_tokenizer

CLASS_TO_INDEX = {"computer-vision": 0, "mlops": 1, "natural-language-processing": 2, "other": 3}


def test_validate_inputs_keeps_title_and_description():
    frame = pd.DataFrame({"title": ["A"], "description": ["b"], "extra": [1]})
    assert list(validate_inputs(frame).columns) == ["title", "description"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"title": ["A"]}), "missing column 'description'"),
        (pd.DataFrame({"title": [""], "description": ["b"]}), "'title' has empty strings"),
        (pd.DataFrame({"title": [None], "description": ["b"]}), "'title' has missing values"),
    ],
)
def test_validate_inputs_refuses_bad_rows(frame, message):
    with pytest.raises(DataValidationError, match=message):
        validate_inputs(frame)


@pytest.fixture
def model_input(tiny_encoder):
    frame = pd.DataFrame(
        {
            "title": ["BERT for search", "GAN faces", "Feature store", "Graph nets", "CNN"],
            "description": ["text ranking", "image synthesis", "mlops", "node classes", "vision"],
        }
    )
    cleaned = add_clean_text(frame, remove_stopwords=True)
    return tokenize_texts(cleaned, load_tokenizer(str(tiny_encoder)), 32)


def test_predict_tags_gives_a_tag_and_every_probability(tiny_encoder, model_input):
    model = TagClassifier.from_encoder(str(tiny_encoder), 4, 0.1, "mean")
    predictions = predict_tags(model, model_input, CLASS_TO_INDEX, batch_size=2)
    assert list(predictions.columns) == ["prediction", *CLASS_TO_INDEX]
    probabilities = predictions[list(CLASS_TO_INDEX)].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    best = [list(CLASS_TO_INDEX)[i] for i in probabilities.argmax(axis=1)]
    assert predictions["prediction"].tolist() == best


def test_predictions_do_not_depend_on_the_batch_size(tiny_encoder, model_input):
    model = TagClassifier.from_encoder(str(tiny_encoder), 4, 0.1, "mean")
    one = predict_tags(model, model_input, CLASS_TO_INDEX, batch_size=1)
    all_at_once = predict_tags(model, model_input, CLASS_TO_INDEX, batch_size=64)
    pd.testing.assert_frame_equal(one, all_at_once, atol=1e-5)


def _probabilities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prediction": ["mlops", "computer-vision"],
            "computer-vision": [0.05, 0.50],
            "mlops": [0.95, 0.30],
            "natural-language-processing": [0.0, 0.2],
        }
    )


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(0.0, ["mlops", "computer-vision"]), (0.9, ["mlops", "other"]), (0.96, ["other", "other"])],
)
def test_apply_threshold_makes_unsure_rows_other(threshold, expected):
    result = apply_threshold(_probabilities(), threshold, "other")
    assert result["prediction"].tolist() == expected
    pd.testing.assert_frame_equal(result.drop(columns="prediction"), _probabilities().iloc[:, 1:])


def test_apply_threshold_refuses_a_threshold_outside_0_1():
    with pytest.raises(ValueError, match="inference.threshold must be between 0 and 1"):
        apply_threshold(_probabilities(), 1.5, "other")
