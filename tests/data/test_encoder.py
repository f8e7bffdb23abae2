from pathlib import Path

import pytest

from madewithml.data.encoder import PACKAGED_ENCODER, resolve_encoder


def test_packaged_encoder_resolves_to_a_local_folder_with_weights():
    folder = Path(resolve_encoder(PACKAGED_ENCODER))
    assert (folder / "config.json").is_file()
    assert (folder / "model.safetensors").is_file()


def test_hub_id_passes_through_unchanged():
    assert resolve_encoder("allenai/scibert_scivocab_uncased") == "allenai/scibert_scivocab_uncased"


def test_local_folder_is_used_as_it_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_encoder(str(tmp_path)) == str(tmp_path.resolve())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("packaged:scibert", "only packaged encoder"),
        ("./no/such/encoder", "does not exist"),
    ],
)
def test_bad_encoder_names_fail_clearly(name, message):
    with pytest.raises(ValueError, match=message):
        resolve_encoder(name)


def test_local_folder_without_config_fails(tmp_path):
    with pytest.raises(ValueError, match="without a config.json"):
        resolve_encoder(str(tmp_path))
