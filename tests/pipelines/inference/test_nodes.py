import numpy as np
import pandas as pd
import pytest

from madewithml.core.inputs import InvalidInputError
from madewithml.pipelines.inference.nodes import predict_projects

PROJECTS = pd.DataFrame(
    {
        "id": [31, 32, 33],
        "title": ["BERT for search", "GAN faces", "Feature store"],
        "description": ["text ranking", "image synthesis", "ml ops"],
        "source": ["a", "b", "c"],
    },
    index=[5, 6, 7],
)


def test_every_input_column_then_the_models_answer(tiny_logged_model, tiny_tagger):
    _, model = tiny_logged_model
    result = predict_projects(model, PROJECTS, threshold=0.0)
    assert list(result.columns) == [*PROJECTS.columns, "prediction", *tiny_tagger.classes]
    pd.testing.assert_frame_equal(result[list(PROJECTS.columns)], PROJECTS)
    expected = tiny_tagger.predict(PROJECTS, threshold=0.0)
    np.testing.assert_allclose(
        result[tiny_tagger.classes], expected[tiny_tagger.classes], atol=1e-6
    )
    assert result["prediction"].tolist() == expected["prediction"].tolist()


def test_the_threshold_reaches_the_model(tiny_logged_model, tiny_tagger):
    _, model = tiny_logged_model
    probabilities = tiny_tagger.predict_proba(PROJECTS)
    # between the lowest and the highest top probability: some rows above, some below
    threshold = float(np.median(probabilities.max(axis=1)))
    result = predict_projects(model, PROJECTS, threshold=threshold)
    unsure = probabilities.max(axis=1) < threshold
    assert unsure.any() and not unsure.all()
    assert (result.loc[unsure, "prediction"] == "other").all()
    most_likely = np.array(tiny_tagger.classes)[probabilities.argmax(axis=1)]
    assert (result.loc[~unsure, "prediction"].to_numpy() == most_likely[~unsure]).all()


def test_bad_rows_are_named_by_their_id(tiny_logged_model):
    _, model = tiny_logged_model
    bad = PROJECTS.assign(title=["ok", "", 7])
    with pytest.raises(
        InvalidInputError,
        match=r"projects_to_predict: column 'title' must be text, not int \(rows with id 33\)",
    ):
        predict_projects(model, bad, threshold=0.5)
