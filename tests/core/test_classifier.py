import json

import pytest
import torch

from madewithml.core.classifier import CONFIG_FILE, WEIGHTS_FILE, TagClassifier


@pytest.fixture(params=["mean", "cls", "pooler"])
def model(request, tiny_encoder) -> TagClassifier:
    torch.manual_seed(0)
    return TagClassifier.from_encoder(str(tiny_encoder), 4, 0.5, request.param)


@pytest.fixture
def batch():
    input_ids = torch.tensor([[101, 2023, 2003, 102, 0], [101, 7592, 102, 0, 0]])
    return input_ids, (input_ids != 0).long()


def test_logits_and_probabilities(model, batch):
    model.eval()
    assert model(*batch).shape == (2, 4)
    probabilities = model.predict_proba(*batch)
    assert probabilities.shape == (2, 4)
    assert probabilities.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-6)
    logits = model(*batch)
    assert probabilities == pytest.approx(torch.softmax(logits, dim=-1).detach().numpy(), abs=1e-6)


def test_pooling_by_name(tiny_encoder, batch):
    # mean averages the unpadded tokens, cls takes the first, pooler is BERT's pooler: three
    # different answers for the same weights.
    torch.manual_seed(0)
    answers = {
        pooling: TagClassifier.from_encoder(str(tiny_encoder), 4, 0.0, pooling)
        for pooling in ("mean", "cls", "pooler")
    }
    head = answers["mean"].head.state_dict()
    for model in answers.values():
        model.head.load_state_dict(head)
        model.eval()
    outputs = {name: model.predict_proba(*batch) for name, model in answers.items()}
    assert abs(outputs["mean"] - outputs["cls"]).max() > 1e-4
    assert abs(outputs["cls"] - outputs["pooler"]).max() > 1e-4


def test_mean_pooling_ignores_padding(tiny_encoder):
    model = TagClassifier.from_encoder(str(tiny_encoder), 4, 0.0, "mean").eval()
    ids = torch.tensor([[101, 2023, 102]])
    padded = torch.tensor([[101, 2023, 102, 0, 0]])
    short = model.predict_proba(ids, torch.ones_like(ids))
    long = model.predict_proba(padded, (padded != 0).long())
    assert short == pytest.approx(long, abs=1e-5)


def test_save_then_load_gives_identical_outputs(model, batch, tmp_path):
    model.save(tmp_path)
    loaded = TagClassifier.load(tmp_path)
    assert loaded.config == model.config
    assert (loaded.predict_proba(*batch) == model.predict_proba(*batch)).all()


def test_checkpoint_is_weights_and_json_only(model, tmp_path):
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([WEIGHTS_FILE, CONFIG_FILE])
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["num_classes"] == 4
    assert (tmp_path / WEIGHTS_FILE).read_bytes()[8:9] == b"{"  # safetensors: JSON header


def test_load_needs_no_encoder_folder(tiny_encoder, batch, tmp_path):
    # The encoder's architecture travels in model_config.json and its weights in the
    # safetensors file: loading reads neither the original folder nor the hub.
    import shutil  # noqa: PLC0415

    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, encoder)
    torch.manual_seed(0)
    model = TagClassifier.from_encoder(str(encoder), 4, 0.0, "cls").eval()
    model.save(tmp_path / "model")
    shutil.rmtree(encoder)
    loaded = TagClassifier.load(tmp_path / "model")
    assert loaded.config == model.config
    assert (loaded.predict_proba(*batch) == model.predict_proba(*batch)).all()


@pytest.mark.parametrize(
    ("precision", "device", "native", "expected"),
    [
        ("float32", "cpu", True, torch.float32),
        ("bfloat16", "cpu", False, torch.bfloat16),  # asked for: emulated if it must be
        ("auto", "cpu", True, torch.bfloat16),
        ("auto", "cpu", False, torch.float32),  # emulated bfloat16 is slower than float32
        ("auto", "cuda", True, torch.float32),
    ],
)
def test_the_precision_a_model_answers_in(monkeypatch, precision, device, native, expected):
    from madewithml.core import classifier  # noqa: PLC0415

    monkeypatch.setattr(classifier, "_native_bfloat16", lambda: native)
    assert classifier.inference_dtype(precision, device) == expected


def test_an_unknown_precision_is_named():
    from madewithml.core.classifier import inference_dtype  # noqa: PLC0415

    with pytest.raises(ValueError, match="'float16'"):
        inference_dtype("float16", "cpu")


def test_a_bfloat16_copy_answers_close_to_float32_and_leaves_the_original_alone(model, batch):
    model.eval()
    assert model.for_inference("float32") is model
    answering = model.for_inference("bfloat16")
    assert answering is not model and answering.head.weight.dtype == torch.bfloat16
    assert model.head.weight.dtype == torch.float32  # what `save` writes
    close = model.predict_proba(*batch)
    assert answering.predict_proba(*batch) == pytest.approx(close, abs=0.02)
    assert answering.predict_proba(*batch).dtype == close.dtype  # float32 probabilities
