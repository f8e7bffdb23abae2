import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from madewithml.core.inputs import InvalidInputError
from madewithml.core.tagger import ModelFilesError, Tagger, apply_threshold
from madewithml.core.tfidf import TfidfModel
from madewithml.training import tfidf

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


# The TF-IDF + logistic regression text model the shipped tagger blends in, fitted on a few
# cleaned texts (as `tiny_tagger.texts` cleans them) in the tiny tagger's class order.
TEXT_MODEL_TRAINING = pd.DataFrame(
    {
        "text": [
            "gan faces image synthesis",
            "cnn vision",
            "feature store ml ops",
            "model deployment pipeline ops",
            "bert for search text ranking",
            "language model text",
            "graph nets node classes",
            "agent rewards policy",
        ],
        "tag": ["computer-vision"] * 2
        + ["mlops"] * 2
        + ["natural-language-processing"] * 2
        + ["other"] * 2,
    }
)


@pytest.fixture(scope="module")
def tfidf_model(tiny_tagger) -> TfidfModel:
    return tfidf.fit(
        TEXT_MODEL_TRAINING["text"],
        TEXT_MODEL_TRAINING["tag"],
        tiny_tagger.classes,
        {"C": 10.0, "ngram_range": [1, 2], "min_df": 1},
    )


def _blended(tagger: Tagger, tfidf_model: TfidfModel, weight: float) -> Tagger:
    return Tagger(
        tagger.classifier,
        tagger.tokenizer,
        tagger.classes,
        replace(tagger.settings, blend_weight=weight),
        tfidf_model,
    )


@pytest.fixture(scope="module")
def halves(tiny_tagger, tfidf_model) -> tuple[np.ndarray, np.ndarray]:
    """The transformer's and the TF-IDF model's probabilities of PROJECTS, each on its own."""
    tfidf = tfidf_model.predict_proba(tiny_tagger.texts(PROJECTS).tolist())
    return tiny_tagger.predict_proba(PROJECTS), tfidf


@pytest.mark.parametrize("weight", [0.1, 0.4, 1.0])
def test_the_tfidf_model_is_blended_in_by_its_weight(tiny_tagger, tfidf_model, halves, weight):
    transformer, tfidf = halves
    assert not np.allclose(transformer, tfidf, atol=0.05)  # the blend is not a no-op

    blended = _blended(tiny_tagger, tfidf_model, weight).predict_proba(PROJECTS)
    np.testing.assert_allclose(blended, (1 - weight) * transformer + weight * tfidf)
    np.testing.assert_allclose(blended.sum(axis=1), 1.0)


def test_a_blended_prediction_follows_the_blended_probabilities(tiny_tagger, tfidf_model, halves):
    predictions = _blended(tiny_tagger, tfidf_model, 0.9).predict(PROJECTS, threshold=0.0)
    probabilities = predictions[tiny_tagger.classes].to_numpy()
    transformer, tfidf_model = halves
    expected = 0.1 * transformer + 0.9 * tfidf_model
    np.testing.assert_allclose(probabilities, expected)
    assert predictions["prediction"].tolist() == [
        tiny_tagger.classes[i] for i in expected.argmax(axis=1)
    ]


def test_a_tfidf_model_without_weight_changes_nothing(tiny_tagger, tfidf_model):
    pd.testing.assert_frame_equal(
        _blended(tiny_tagger, tfidf_model, 0.0).predict(PROJECTS), tiny_tagger.predict(PROJECTS)
    )


def test_a_blend_weight_needs_a_tfidf_model(tiny_tagger):
    with pytest.raises(ValueError, match="a blend weight needs the TF-IDF model"):
        _blended(tiny_tagger, None, 0.4)


def test_save_and_load_a_blended_tagger_give_the_same_answers(tiny_tagger, tfidf_model, tmp_path):
    blended = _blended(tiny_tagger, tfidf_model, 0.4)
    blended.save(tmp_path)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert {"tfidf_model/tfidf_model.npz", "tfidf_model/tfidf_vocabulary.json"} <= set(files)
    assert json.loads((tmp_path / "tagger.json").read_text())["settings"]["blend_weight"] == 0.4

    loaded = Tagger.load(tmp_path)
    assert loaded.settings == blended.settings and loaded.tfidf_model is not None
    pd.testing.assert_frame_equal(loaded.predict(PROJECTS), blended.predict(PROJECTS))
    assert not np.allclose(loaded.predict_proba(PROJECTS), tiny_tagger.predict_proba(PROJECTS))


def test_a_tagger_saved_before_the_blend_loads_without_a_tfidf_model(tiny_tagger, tmp_path):
    # tagger.json of a model registered before `blend_weight` existed
    tiny_tagger.save(tmp_path)
    saved = json.loads((tmp_path / "tagger.json").read_text())
    del saved["settings"]["blend_weight"]
    (tmp_path / "tagger.json").write_text(json.dumps(saved))

    loaded = Tagger.load(tmp_path)
    assert loaded.settings.blend_weight == 0.0 and loaded.tfidf_model is None
    pd.testing.assert_frame_equal(loaded.predict(PROJECTS), tiny_tagger.predict(PROJECTS))


def test_a_bfloat16_tagger_saves_float32_weights_and_reloads_answering_alike(tiny_tagger, tmp_path):
    settings = replace(tiny_tagger.settings, precision="bfloat16")
    tagger = Tagger(tiny_tagger.classifier, tiny_tagger.tokenizer, tiny_tagger.classes, settings)
    np.testing.assert_allclose(
        tagger.predict_proba(PROJECTS), tiny_tagger.predict_proba(PROJECTS), atol=0.02
    )
    tagger.save(tmp_path)
    loaded = Tagger.load(tmp_path)
    assert loaded.settings.precision == "bfloat16"
    assert loaded.classifier.head.weight.dtype == torch.float32
    for name, tensor in loaded.classifier.state_dict().items():
        assert torch.equal(tensor, tiny_tagger.classifier.state_dict()[name]), name
    np.testing.assert_array_equal(loaded.predict_proba(PROJECTS), tagger.predict_proba(PROJECTS))


def test_a_tagger_saved_before_precision_existed_answers_in_float32(tiny_tagger, tmp_path):
    tiny_tagger.save(tmp_path)
    saved = json.loads((tmp_path / "tagger.json").read_text())
    del saved["settings"]["precision"]
    (tmp_path / "tagger.json").write_text(json.dumps(saved))
    assert Tagger.load(tmp_path).settings.precision == "float32"


@pytest.mark.parametrize("threshold", [float("nan"), 2.0, -5.0, "0.5", True])
def test_the_model_refuses_a_threshold_it_cannot_apply(tiny_tagger, threshold):
    projects = pd.DataFrame({"title": ["GAN faces"], "description": ["images"]})
    with pytest.raises(InvalidInputError, match="threshold must be a number"):
        tiny_tagger.predict(projects, threshold)


def test_the_model_refuses_input_columns_named_as_its_answer(tiny_tagger):
    projects = pd.DataFrame({"title": ["GAN faces"], "description": ["images"]})
    answered = pd.concat([projects, tiny_tagger.predict(projects)], axis=1)
    with pytest.raises(InvalidInputError, match=r"\['prediction', .*\] are the answer's own"):
        tiny_tagger.predict(answered)


@pytest.fixture(scope="module")
def saved_tagger(tiny_tagger, tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved_tagger")
    tiny_tagger.save(folder)
    return folder


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_model_file_changed_in_any_way_is_refused_by_name(saved_tagger, tmp_path, data):
    """Issue 26: overwritten weights loaded and answered differently unnoticed, and a truncated
    file gave a long traceback. Every file's SHA-256 is recorded at saving and checked at
    loading: any file, truncated, a byte changed, or removed, is named."""
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    folder = Path(tempfile.mkdtemp(dir=tmp_path)) / "model"  # one per generated case
    shutil.copytree(saved_tagger, folder)
    recorded = json.loads((folder / "tagger.json").read_text())["files"]
    assert "classifier/model.safetensors" in recorded
    name = data.draw(st.sampled_from(sorted(recorded)), label="file")
    path = folder / name
    content = path.read_bytes()
    change = data.draw(st.sampled_from(["truncate", "flip", "remove"]), label="change")
    if change == "remove":
        path.unlink()
    elif change == "truncate" or not content:
        path.write_bytes(content[: data.draw(st.integers(0, max(len(content) - 1, 0)))])
    else:
        at = data.draw(st.integers(0, len(content) - 1))
        path.write_bytes(content[:at] + bytes([content[at] ^ 0x01]) + content[at + 1 :])
    with pytest.raises(ModelFilesError, match=f"model file {re.escape(name)} (is missing|differs)"):
        Tagger.load(folder)


def test_a_model_saved_before_the_digests_loads_as_before(saved_tagger, tmp_path):
    import shutil  # noqa: PLC0415

    folder = tmp_path / "old"
    shutil.copytree(saved_tagger, folder)
    settings_file = folder / "tagger.json"
    saved = json.loads(settings_file.read_text())
    del saved["files"]
    settings_file.write_text(json.dumps(saved))
    assert (
        Tagger.load(folder).classes
        == json.loads((saved_tagger / "tagger.json").read_text())["classes"]
    )
