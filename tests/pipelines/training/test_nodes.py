"""The training pipeline's nodes after the Ray job: the text model fitted on the training split,
and the packaged `Tagger` that blends it in (run by Kedro's runner on an in-memory catalog)."""

import numpy as np
import pandas as pd
import pytest
import torch
from factories import make_raw_projects
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from madewithml.core.classifier import TagClassifier
from madewithml.data.encoder import load_tokenizer
from madewithml.evaluation.metrics import weighted_scores
from madewithml.pipelines.data_processing.nodes import add_clean_text, map_tags, split_train_val
from madewithml.pipelines.training import create_pipeline
from madewithml.pipelines.training.nodes import fit_tfidf_model, package_model

ACCEPTED = ["computer-vision", "mlops", "natural-language-processing"]
# Not in alphabetical order: the classes' order is the classifier's, class_to_index's.
CLASS_TO_INDEX = {"other": 0, "natural-language-processing": 1, "mlops": 2, "computer-vision": 3}
TEXT_MODEL = {"blend_weight": 0.4, "C": 10.0, "ngram_range": [1, 2], "min_df": 1}


@pytest.fixture(scope="module")
def splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    projects = add_clean_text(map_tags(make_raw_projects(12), ACCEPTED, "other"), False)
    return split_train_val(projects, test_size=0.25, seed=0, min_rows_per_class=5)


@pytest.fixture(scope="module")
def train_projects(splits) -> pd.DataFrame:
    return splits[0]


@pytest.fixture(scope="module")
def val_projects(splits) -> pd.DataFrame:
    return splits[1]


@pytest.fixture(scope="module")
def classifier(tiny_encoder) -> TagClassifier:
    torch.manual_seed(0)
    return TagClassifier.from_encoder(str(tiny_encoder), len(CLASS_TO_INDEX), 0.1, "mean")


def test_the_text_model_answers_in_the_order_of_class_to_index(train_projects):
    linear = fit_tfidf_model(train_projects, CLASS_TO_INDEX, TEXT_MODEL)

    probabilities = linear.predict_proba(train_projects["text"].tolist())
    assert probabilities.shape == (len(train_projects), len(CLASS_TO_INDEX))
    # the synthetic topics are separable: each training row's most likely column is its tag's
    tags = train_projects["tag"].map(CLASS_TO_INDEX)
    assert probabilities.argmax(axis=1).tolist() == tags.tolist()


def _catalog(train_projects, classifier, tiny_encoder, tfidf_model: dict) -> DataCatalog:
    params = {
        "params:encoder.max_length": 32,
        "params:data_processing": {"other_tag": "other", "remove_stopwords": False},
        "params:inference.batch_size": 16,
        "params:inference.precision": "float32",
        "params:tfidf_model": tfidf_model,
    }
    datasets = {name: MemoryDataset(value) for name, value in params.items()}
    datasets.update(
        train_projects=MemoryDataset(train_projects),
        class_to_index=MemoryDataset(CLASS_TO_INDEX),
        classifier=MemoryDataset(classifier, copy_mode="assign"),
        tokenizer=MemoryDataset(load_tokenizer(str(tiny_encoder)), copy_mode="assign"),
        uncalibrated_tagger=MemoryDataset(copy_mode="assign"),
    )
    return DataCatalog(datasets=datasets)


def _packaged(train_projects, classifier, tiny_encoder, tfidf_model: dict):
    """The `uncalibrated_tagger` of the training pipeline's text model and packaging nodes."""
    nodes = create_pipeline().only_nodes("fit_tfidf_model", "package_model")
    catalog = _catalog(train_projects, classifier, tiny_encoder, tfidf_model)
    SequentialRunner().run(nodes, catalog)
    return catalog.load("uncalibrated_tagger")


def test_the_packaged_tagger_blends_the_text_model_by_its_weight(
    train_projects, classifier, tiny_encoder
):
    tagger = _packaged(train_projects, classifier, tiny_encoder, TEXT_MODEL)

    assert tagger.classes == ["other", "natural-language-processing", "mlops", "computer-vision"]
    assert tagger.settings.blend_weight == 0.4 and tagger.tfidf_model is not None
    transformer = _packaged(
        train_projects, classifier, tiny_encoder, {**TEXT_MODEL, "blend_weight": 0.0}
    )
    assert transformer.tfidf_model is None and transformer.settings.blend_weight == 0.0
    raw = train_projects[["title", "description"]]
    tfidf_model = tagger.tfidf_model.predict_proba(tagger.texts(raw).tolist())
    np.testing.assert_allclose(
        tagger.predict_proba(raw), 0.6 * transformer.predict_proba(raw) + 0.4 * tfidf_model
    )


def test_at_blend_weight_1_the_tagger_answers_as_the_text_model_on_the_training_cleaning(
    train_projects, classifier, tiny_encoder
):
    # The text model was fitted on the pipeline's cleaned `text`; the shipped tagger cleans raw
    # titles and descriptions itself. The same text on both sides: it gives back the tags.
    tagger = _packaged(train_projects, classifier, tiny_encoder, {**TEXT_MODEL, "blend_weight": 1})
    raw = train_projects[["title", "description"]]
    assert tagger.texts(raw).tolist() == train_projects["text"].tolist()
    assert tagger.predict(raw)["prediction"].tolist() == train_projects["tag"].tolist()


def test_package_model_leaves_the_text_model_out_at_weight_0(classifier, tiny_encoder):
    tagger = package_model(
        classifier,
        load_tokenizer(str(tiny_encoder)),
        CLASS_TO_INDEX,
        object(),  # never used
        32,
        {"other_tag": "other", "remove_stopwords": True},
        {**TEXT_MODEL, "blend_weight": 0},
        8,
        "bfloat16",
    )
    assert tagger.tfidf_model is None and tagger.settings.blend_weight == 0.0
    assert tagger.settings.precision == "bfloat16"
    assert "the" in tagger.settings.stopwords and tagger.settings.batch_size == 8
    # calibration's to set: until then it always answers the most likely tag
    assert tagger.settings.threshold == 0.0 and tagger.settings.temperature == 1.0


CALIBRATION = {
    "temperature_scaling": True,
    "threshold": "auto",
    "f1_tolerance": 0.0,
    "reliability_bins": 5,
}


def _calibrated(uncalibrated, val_projects, params: dict):
    """The training pipeline's `calibrate_model` node, run by Kedro on an in-memory catalog."""
    catalog = DataCatalog(
        datasets={
            "uncalibrated_tagger": MemoryDataset(uncalibrated, copy_mode="assign"),
            "val_projects": MemoryDataset(val_projects),
            "params:calibration": MemoryDataset(params),
            "tagger": MemoryDataset(copy_mode="assign"),
            "calibration_report": MemoryDataset(),
            "calibration_metrics": MemoryDataset(),
        }
    )
    SequentialRunner().run(create_pipeline().only_nodes("calibrate_model"), catalog)
    return (catalog.load(name) for name in ["tagger", "calibration_report", "calibration_metrics"])


def test_the_shipped_tagger_answers_with_the_calibrated_temperature_and_threshold(
    train_projects, val_projects, classifier, tiny_encoder
):
    uncalibrated = _packaged(train_projects, classifier, tiny_encoder, TEXT_MODEL)
    tagger, report, metrics = _calibrated(uncalibrated, val_projects, CALIBRATION)
    assert tagger.settings.temperature == report["temperature"] != 1.0
    assert tagger.settings.threshold == report["threshold"] > 0.25
    assert metrics["threshold"] == [{"value": report["threshold"], "step": 0}]
    raw = val_projects[["title", "description"]]
    before, after = uncalibrated.predict_proba(raw), tagger.predict_proba(raw)
    assert (before.argmax(axis=1) == after.argmax(axis=1)).all()  # no most likely tag moves
    assert report["after"]["nll"] <= report["before"]["nll"]
    # the report's served F1 is what the shipped model answers with its defaults
    answers = tagger.predict(raw)["prediction"]
    f1 = weighted_scores(val_projects["tag"].tolist(), answers.tolist())["f1"]
    assert report["served_weighted_f1"] == pytest.approx(f1)
    assert report["answered_other"] == pytest.approx((answers == "other").mean())
    best = max(row["weighted_f1"] for row in report["threshold_curve"])
    assert f1 == pytest.approx(best)  # tolerance 0: the best served F1 on validation
    # the curve is the shipped model's: at each interval's midpoint it answers with that F1
    tags = val_projects["tag"].tolist()
    for row in report["threshold_curve"]:
        at = tagger.predict(raw, threshold=(row["low"] + row["high"]) / 2)["prediction"]
        assert weighted_scores(tags, at.tolist())["f1"] == pytest.approx(row["weighted_f1"])


def test_a_fixed_threshold_ships_as_configured_and_no_scaling_keeps_the_probabilities(
    train_projects, val_projects, classifier, tiny_encoder
):
    uncalibrated = _packaged(train_projects, classifier, tiny_encoder, TEXT_MODEL)
    fixed = {**CALIBRATION, "temperature_scaling": False, "threshold": 0.5}
    tagger, report, _ = _calibrated(uncalibrated, val_projects, fixed)
    assert tagger.settings.threshold == report["threshold"] == 0.5
    assert tagger.settings.temperature == 1.0
    raw = val_projects[["title", "description"]]
    np.testing.assert_array_equal(tagger.predict_proba(raw), uncalibrated.predict_proba(raw))
    assert report["threshold_rule"] == "fixed by calibration.threshold"
