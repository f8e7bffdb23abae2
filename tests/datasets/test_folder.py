"""Folder datasets: a missing folder named, the tokenizer round trip, Kedro-Viz previews."""

import json

import pytest
from kedro.io.core import DatasetError


def test_folder_dataset_names_a_missing_folder(tmp_path):
    from madewithml.datasets import MlflowTaggerDataset  # noqa: PLC0415

    with pytest.raises(DatasetError, match=r"no saved folder at '.*nothing'"):
        MlflowTaggerDataset(filepath=str(tmp_path / "nothing")).load()


def test_tokenizer_dataset_round_trip(tmp_path, tiny_encoder):
    from transformers import AutoTokenizer  # noqa: PLC0415

    from madewithml.datasets import TokenizerDataset  # noqa: PLC0415

    dataset = TokenizerDataset(filepath=str(tmp_path / "tokenizer"))
    dataset.save(AutoTokenizer.from_pretrained(tiny_encoder))
    assert dataset.load()("graph neural network")["input_ids"][0] == 101


def test_folder_previews_list_files_and_scalar_settings(tmp_path, tiny_encoder, tiny_tagger):
    from transformers import AutoTokenizer  # noqa: PLC0415

    from madewithml.datasets import MlflowTaggerDataset, TokenizerDataset  # noqa: PLC0415

    model = MlflowTaggerDataset(filepath=str(tmp_path / "tagger"))
    model.save(tiny_tagger)
    preview = json.loads(model.preview())
    assert {"MLmodel", "requirements.txt", "artifacts/tagger/classifier/model.safetensors"} <= set(
        preview["files"]
    )
    assert preview["config"] == {}  # tagger.json holds only lists and a settings block
    tokenizer = TokenizerDataset(filepath=str(tmp_path / "tokenizer"))
    tokenizer.save(AutoTokenizer.from_pretrained(tiny_encoder))
    preview = json.loads(tokenizer.preview())
    assert "tokenizer_config.json" in preview["files"]
    assert all(not isinstance(value, dict | list) for value in preview["config"].values())
    with pytest.raises(DatasetError, match="no saved folder"):
        TokenizerDataset(filepath=str(tmp_path / "missing")).preview()
