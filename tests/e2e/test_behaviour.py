"""Behavioural tests of a trained model (the seed's kinds), against `--model-uri`.

- invariance: a change that must not change the tag;
- directional: a change that must change the tag, to the expected one;
- minimum functionality: plain cases of every tag.

    pytest tests/e2e/test_behaviour.py --model-uri models:/madewithml-tagger@champion

Without `--model-uri` the session trains the default model on the real data once (see
tests/conftest.py) and tests that.
"""

import pandas as pd
import pytest

pytestmark = pytest.mark.real_data


def _predict(model, titles: list[str], descriptions: list[str] | None = None) -> list[str]:
    """The model's answers as served: its own `predict` with its defaults (its own threshold),
    what `mlflow models serve`, `kedro serve`, `kedro predict` and batch inference answer."""
    frame = pd.DataFrame({"title": titles, "description": descriptions or [""] * len(titles)})
    return model.predict(frame)["prediction"].tolist()


INVARIANCE = [
    ("Object detection with YOLO on {} images", ["drone", "satellite"]),
    ("Fine-tuning BERT for sentiment analysis of {} reviews", ["movie", "product"]),
    ("Deploying models with Kubernetes and Docker on {}", ["AWS", "GCP"]),
    ("Named entity recognition for {} documents", ["legal", "medical"]),
    ("Image segmentation of tumors in {} scans", ["MRI", "CT"]),
    ("Monitoring {} models in production for data drift", ["fraud", "churn"]),
]


@pytest.mark.parametrize(("template", "words"), INVARIANCE)
def test_invariance(trained_model, template, words):
    predictions = _predict(trained_model, [template.format(word) for word in words])
    assert len(set(predictions)) == 1, dict(zip(words, predictions, strict=True))


DIRECTIONAL = [
    (
        "Transformers for {} classification",
        {"text": "natural-language-processing", "image": "computer-vision"},
    ),
    (
        "Convolutional networks for {}",
        {
            "object detection in photos": "computer-vision",
            "sentiment of tweets": "natural-language-processing",
        },
    ),
    (
        "{} with deep learning",
        {
            "Machine translation": "natural-language-processing",
            "Face recognition": "computer-vision",
        },
    ),
    (
        "Model {} tooling for machine learning teams",
        {
            "serving and monitoring": "mlops",
            "summarization of documents": "natural-language-processing",
        },
    ),
    (
        "Learning to {}",
        {
            "play Atari games with reinforcement learning": "other",
            "caption images": "computer-vision",
        },
    ),
]


@pytest.mark.parametrize(("template", "expected"), DIRECTIONAL)
def test_directional(trained_model, template, expected):
    texts = [template.format(change) for change in expected]
    assert dict(zip(expected, _predict(trained_model, texts), strict=True)) == expected


MINIMUM_FUNCTIONALITY = [
    ("Real-time object detection with YOLOv8", "computer-vision"),
    ("Semantic segmentation of street scenes with U-Net", "computer-vision"),
    ("Question answering with BERT on SQuAD", "natural-language-processing"),
    ("Machine translation with a sequence-to-sequence transformer", "natural-language-processing"),
    ("CI/CD for machine learning models with MLflow and Kubernetes", "mlops"),
    ("A feature store for serving machine learning features in production", "mlops"),
    ("Deep reinforcement learning agent that plays Atari games", "other"),
    ("Graph neural networks for molecule property prediction", "other"),
]


@pytest.mark.parametrize(("title", "expected"), MINIMUM_FUNCTIONALITY)
def test_minimum_functionality(trained_model, title, expected):
    assert _predict(trained_model, [title]) == [expected]
