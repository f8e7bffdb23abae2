"""The project's configuration loader: local files override single keys of a block, every
resolver the catalog uses resolves, and an environment without a folder is an error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from kedro.config import MissingConfigException

from madewithml.framework.config_loader import CONFIG_LOADER_ARGS, ProjectConfigLoader


def _conf(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "conf" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "conf"


BASE = {
    "base/parameters_training.yml": """\
        training:
          num_epochs: 3
          lr: 1.0e-4
          ray_train: {scaling: {num_workers: 1, use_gpu: false}}
        """,
    "base/serving.yml": """\
        serving: {host: 127.0.0.1, port: 8000, limits: {max_items: 256}}
        """,
    "base/ray.yml": """\
        init: {num_cpus: 2, include_dashboard: false}
        """,
}


# (file in conf/local, what it says, the merged section, what the merge gives)
OVERRIDES = {
    "parameters": (
        "local/parameters.yml",
        "training: {num_epochs: 1, ray_train: {scaling: {num_workers: 2}}}\n",
        lambda loader: loader["parameters"]["training"],
        {
            "num_epochs": 1,
            "lr": 1.0e-4,
            "ray_train": {"scaling": {"num_workers": 2, "use_gpu": False}},
        },
    ),
    "serving": (
        "local/serving.yml",
        "serving: {port: 9000}\n",
        lambda loader: loader["serving"]["serving"],
        {"host": "127.0.0.1", "port": 9000, "limits": {"max_items": 256}},
    ),
    "ray": (
        "local/ray.yml",
        "init: {num_cpus: 1}\n",
        lambda loader: loader["ray"]["init"],
        {"num_cpus": 1, "include_dashboard": False},
    ),
}


@pytest.mark.parametrize("section", list(OVERRIDES))
def test_a_local_file_overrides_single_keys_and_keeps_the_rest(tmp_path, section):
    local, text, merged, expected = OVERRIDES[section]
    conf = _conf(tmp_path, {**BASE, local: text})
    loader = ProjectConfigLoader(str(conf), env="local", **CONFIG_LOADER_ARGS)
    assert merged(loader) == expected


def test_an_environment_without_a_folder_is_named_with_the_ones_there_are(tmp_path):
    conf = _conf(tmp_path, {**BASE, "local/.gitkeep": ""})
    with pytest.raises(MissingConfigException, match=r"'cluster' does not exist.*base, local"):
        ProjectConfigLoader(str(conf), env="cluster", **CONFIG_LOADER_ARGS)


def test_the_environment_variable_resolver_points_the_data_at_a_folder(tmp_path, monkeypatch):
    conf = _conf(
        tmp_path,
        {
            **BASE,
            "base/catalog.yml": """\
                dataset:
                  type: pandas.CSVDataset
                  filepath: ${oc.env:MADEWITHML_TEST_DIR,https://example.org}/dataset.csv
                """,
        },
    )
    monkeypatch.setenv("MADEWITHML_TEST_DIR", "/data/here")
    loader = ProjectConfigLoader(str(conf), env="base", **CONFIG_LOADER_ARGS)
    assert loader["catalog"]["dataset"]["filepath"] == "/data/here/dataset.csv"
