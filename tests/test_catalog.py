"""The catalog as Kedro-Viz draws it: every dataset a pipeline reads or writes outside memory has
a layer, and data only flows forward through Kedro's layers (else Kedro-Viz hides all layers)."""

from __future__ import annotations

import pytest
from kedro.framework.project import pipelines, settings
from kedro.framework.startup import bootstrap_project

LAYERS = ["raw", "primary", "feature", "model_input", "models", "model_output", "reporting"]


@pytest.fixture(scope="module")
def catalog_config(project_root):
    bootstrap_project(project_root)
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_root / settings.CONF_SOURCE), **settings.CONFIG_LOADER_ARGS
    )
    return {name: entry for name, entry in loader["catalog"].items() if not name.startswith("_")}


def _layer(entry: dict) -> str | None:
    return (entry.get("metadata") or {}).get("kedro-viz", {}).get("layer")


def test_every_catalog_dataset_has_a_known_layer(catalog_config):
    missing = sorted(name for name, entry in catalog_config.items() if _layer(entry) is None)
    assert not missing, f"datasets without a kedro-viz layer: {missing}"
    unknown = {name: _layer(e) for name, e in catalog_config.items() if _layer(e) not in LAYERS}
    assert not unknown


@pytest.mark.parametrize("name", ["__default__", "tuning", "inference", "evaluation"])
def test_data_only_flows_forward_through_the_layers(catalog_config, name):
    backwards = []
    for node in pipelines[name].nodes:
        for source in node.inputs:
            for target in node.outputs:
                if source in catalog_config and target in catalog_config:
                    before = LAYERS.index(_layer(catalog_config[source]))
                    after = LAYERS.index(_layer(catalog_config[target]))
                    if after < before:
                        backwards.append(f"{source} → {node.name} → {target}")
    assert not backwards, backwards
