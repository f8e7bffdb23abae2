"""The in-process runner of a logged model answers exactly as MLflow's pyfunc predict."""

import mlflow
import pandas as pd
import pytest

from madewithml.prediction import THRESHOLD_PARAM, PipelinePredictor, answers, pinned_model_uri

FRAME = pd.DataFrame(
    {
        "title": ["Transformers for text", "YOLO object detection", "Kubeflow pipelines"],
        "description": ["A language model.", "Real-time images.", "Deploying models."],
    }
)


@pytest.fixture(scope="module")
def models(tiny_model):
    tracking, model_uri = tiny_model
    mlflow.set_tracking_uri(tracking)
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    return pyfunc, PipelinePredictor(pyfunc, model_uri)


@pytest.mark.parametrize("params", [None, {THRESHOLD_PARAM: 0.0}, {THRESHOLD_PARAM: 0.4}])
def test_the_predictor_answers_as_pyfunc_predict(models, params):
    pyfunc, predictor = models
    pd.testing.assert_frame_equal(predictor.predict(FRAME, params), pyfunc.predict(FRAME, params))


def test_the_predictor_knows_the_run_the_default_threshold_and_the_tags(models, tiny_model):
    pyfunc, predictor = models
    assert predictor.run_id == pyfunc.metadata.run_id
    assert predictor.default_params == {THRESHOLD_PARAM: 0.9}  # conf/base/parameters_inference.yml
    assert predictor.classes == ["computer-vision", "mlops", "natural-language-processing", "other"]


def test_answers_are_a_tag_and_every_probability(models):
    _, predictor = models
    result = answers(predictor.predict(FRAME))
    assert len(result) == 3
    assert set(result[0]) == {"prediction", "probabilities"}
    assert sum(result[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)


def test_pinned_model_uri_resolves_an_alias_and_keeps_other_uris(tiny_model):
    assert pinned_model_uri("models:/madewithml-tagger@champion") == "models:/madewithml-tagger/1"
    assert pinned_model_uri("runs:/abc/model") == "runs:/abc/model"
    with pytest.raises(
        ValueError, match="no model version behind 'models:/madewithml-tagger@gone'"
    ):
        pinned_model_uri("models:/madewithml-tagger@gone")
