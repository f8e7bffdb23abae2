import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from madewithml.core.inputs import InvalidInputError
from madewithml.core.tagger import Tagger, apply_threshold

PROJECTS = pd.DataFrame(
    {
        "title": ["BERT for search", "GAN faces", "Feature store", "Graph nets", "CNN"],
        "description": ["text ranking", "image synthesis", "ml ops", "node classes", "vision"],
    },
    index=[10, 11, 12, 13, 14],
)


def test_a_prediction_and_the_probability_of_every_tag_per_row(tiny_tagger):
    predictions = tiny_tagger.predict(PROJECTS, threshold=0.0)
    assert list(predictions.columns) == ["prediction", *tiny_tagger.classes]
    assert list(predictions.index) == list(PROJECTS.index)
    probabilities = predictions[tiny_tagger.classes].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    most_likely = [tiny_tagger.classes[i] for i in probabilities.argmax(axis=1)]
    assert predictions["prediction"].tolist() == most_likely


def test_answers_do_not_depend_on_the_batch_size_nor_the_order_of_rows(tiny_tagger):
    reference = tiny_tagger.predict(PROJECTS)
    one_by_one = Tagger(
        tiny_tagger.classifier,
        tiny_tagger.tokenizer,
        tiny_tagger.classes,
        replace(tiny_tagger.settings, batch_size=1),
    )
    pd.testing.assert_frame_equal(one_by_one.predict(PROJECTS), reference, atol=1e-5)
    shuffled = PROJECTS.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(
        tiny_tagger.predict(shuffled).loc[PROJECTS.index], reference, atol=1e-5
    )


def test_the_settings_threshold_is_the_default(tiny_tagger):
    assert tiny_tagger.settings.threshold == 0.3
    default = tiny_tagger.predict(PROJECTS)
    explicit = tiny_tagger.predict(PROJECTS, threshold=0.3)
    pd.testing.assert_frame_equal(default, explicit)
    everything_other = tiny_tagger.predict(PROJECTS, threshold=1.0)
    assert set(everything_other["prediction"]) == {"other"}


def _probabilities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "computer-vision": [0.05, 0.50, 0.25],
            "mlops": [0.95, 0.30, 0.25],
            "natural-language-processing": [0.0, 0.2, 0.5],
        }
    )


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.0, ["mlops", "computer-vision", "natural-language-processing"]),
        (0.5, ["mlops", "computer-vision", "natural-language-processing"]),  # >= keeps it
        (0.9, ["mlops", "other", "other"]),
        (0.96, ["other", "other", "other"]),
    ],
)
def test_below_the_threshold_the_prediction_is_other(threshold, expected):
    assert apply_threshold(_probabilities(), threshold, "other").tolist() == expected


def test_a_row_with_no_letter_or_digit_is_refused_by_id(tiny_tagger):
    frame = pd.DataFrame({"id": [5, 6], "title": ["CNN", "🚀🔥"], "description": ["vision", "!!"]})
    with pytest.raises(InvalidInputError, match=r"no letter or digit .* \(rows with id 6\)"):
        tiny_tagger.predict(frame)


def test_stopwords_in_the_settings_are_dropped_before_tokenizing(tiny_tagger):
    with_stopwords = Tagger(
        tiny_tagger.classifier,
        tiny_tagger.tokenizer,
        tiny_tagger.classes,
        replace(tiny_tagger.settings, stopwords=("the", "of")),
    )
    frame = pd.DataFrame({"title": ["The state of the art"], "description": ["of"]})
    assert with_stopwords.texts(frame).tolist() == ["state art"]
    assert tiny_tagger.texts(frame).tolist() == ["the state of the art of"]


def test_save_and_load_give_the_same_answers_from_plain_files(tiny_tagger, tmp_path):
    tiny_tagger.save(tmp_path)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == [
        "classifier/model.safetensors",
        "classifier/model_config.json",
        "tagger.json",
        "tokenizer/tokenizer.json",
        "tokenizer/tokenizer_config.json",
    ]
    assert json.loads((tmp_path / "tagger.json").read_text())["classes"] == tiny_tagger.classes
    loaded = Tagger.load(tmp_path)
    assert loaded.settings == tiny_tagger.settings
    pd.testing.assert_frame_equal(loaded.predict(PROJECTS), tiny_tagger.predict(PROJECTS))
