from dataclasses import replace

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


@pytest.fixture(scope="module")
def decisive_model(tiny_tagger, tmp_path_factory):
    """(tagger, its logged model): the tiny tagger with its tags reordered so that its most
    likely tag is never `other` (the untrained head prefers its last class), and its own
    threshold between its rows' top probabilities: some rows answered, some `other`."""
    import mlflow  # noqa: PLC0415

    from madewithml.core.tagger import Tagger  # noqa: PLC0415
    from madewithml.shipping.packaging import save_model  # noqa: PLC0415

    classes = ["other", "computer-vision", "natural-language-processing", "mlops"]
    reordered = Tagger(tiny_tagger.classifier, tiny_tagger.tokenizer, classes, tiny_tagger.settings)
    tops = np.sort(reordered.predict_proba(PROJECTS).max(axis=1))
    own = float((tops[0] + tops[-1]) / 2)
    tagger = Tagger(
        tiny_tagger.classifier,
        tiny_tagger.tokenizer,
        classes,
        replace(tiny_tagger.settings, threshold=own),
    )
    folder = tmp_path_factory.mktemp("decisive") / "model"
    save_model(tagger, folder)
    return tagger, mlflow.pyfunc.load_model(str(folder))


def test_the_threshold_reaches_the_model_and_none_is_the_models_own(decisive_model):
    tagger, model = decisive_model
    probabilities = tagger.predict_proba(PROJECTS)
    most_likely = np.array(tagger.classes)[probabilities.argmax(axis=1)]
    assert "other" not in most_likely  # so that `other` can only come from a threshold
    answered = {
        threshold: predict_projects(model, PROJECTS, threshold=threshold)["prediction"].tolist()
        for threshold in (None, 0.0, 1.0)
    }
    # 0: every most likely tag; 1: `other` everywhere; None: the model's own threshold, which
    # answers some rows and not others (so neither override can pass by being ignored).
    assert answered[0.0] == most_likely.tolist()
    assert answered[1.0] == ["other"] * len(PROJECTS)
    own = tagger.settings.threshold
    expected = np.where(probabilities.max(axis=1) >= own, most_likely, "other").tolist()
    assert answered[None] == expected
    assert "other" in expected and set(expected) != {"other"}


class _Counting:
    """A pyfunc model that records the rows it is asked, then answers as `model`."""

    def __init__(self, model) -> None:
        self.model, self.asked = model, []

    def predict(self, frame, params=None):
        self.asked += frame.index.tolist()
        return self.model.predict(frame, params=params)


@pytest.mark.parametrize("progress_rows", [1, 2, 5])
def test_chunks_predict_each_row_once_and_answer_as_one_call(tiny_logged_model, progress_rows):
    _, model = tiny_logged_model
    projects = pd.concat([PROJECTS, PROJECTS.assign(id=PROJECTS["id"] + 10)]).set_index(
        pd.RangeIndex(6)
    )
    whole = predict_projects(model, projects, threshold=None, progress_rows=0)
    counting = _Counting(model)
    chunked = predict_projects(counting, projects, threshold=None, progress_rows=progress_rows)
    pd.testing.assert_frame_equal(chunked, whole)
    assert sorted(counting.asked) == projects["id"].tolist()  # each row asked once (by its id)


def test_bad_rows_are_named_by_their_id(tiny_logged_model):
    _, model = tiny_logged_model
    bad = PROJECTS.assign(title=["ok", "", 7])
    with pytest.raises(
        InvalidInputError,
        match=r"projects_to_predict: column 'title' must be text, not int \(rows with id 33\)",
    ):
        predict_projects(model, bad, threshold=0.5)
