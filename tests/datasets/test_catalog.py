"""The catalog as Kedro-Viz draws it: every dataset a pipeline reads or writes outside memory has
a layer (explicit entries and dataset factories alike), and data only flows forward through
Kedro's layers (else Kedro-Viz hides all layers)."""

from __future__ import annotations

import pytest
from kedro.framework.project import pipelines, settings

LAYERS = [
    "raw",
    "intermediate",
    "primary",
    "feature",
    "model_input",
    "models",
    "model_output",
    "reporting",
]


@pytest.fixture(scope="module")
def catalog(project_root):
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_root / settings.CONF_SOURCE), **settings.CONFIG_LOADER_ARGS
    )
    return settings.DATA_CATALOG_CLASS.from_config(loader["catalog"])


def _declared(catalog, name: str) -> bool:
    """In the catalog by name or by a dataset factory (not a free in-memory dataset)."""
    return name in catalog or bool(catalog.config_resolver.match_dataset_pattern(name))


def _layer(catalog, name: str) -> str | None:
    metadata = getattr(catalog.get(name), "metadata", None) or {}
    return (metadata.get("kedro-viz") or {}).get("layer")


def test_every_declared_dataset_of_every_pipeline_has_a_known_layer(catalog):
    names = {n for p in pipelines.values() for n in p.datasets() if not n.startswith("params:")}
    declared = sorted(n for n in names if _declared(catalog, n))
    assert {"train_model_input", "confusion_matrix_plot", "tagger"} <= set(declared)
    layers = {name: _layer(catalog, name) for name in declared}
    assert not {name: layer for name, layer in layers.items() if layer not in LAYERS}


@pytest.mark.parametrize(
    "name",
    ["__default__", "tuning", "inference", "evaluation", "monitoring", "continuous_training"],
)
def test_data_only_flows_forward_through_the_layers(catalog, name):
    backwards = []
    for node in pipelines[name].nodes:
        for source in node.inputs:
            for target in node.outputs:
                if _declared(catalog, source) and _declared(catalog, target):
                    before = LAYERS.index(_layer(catalog, source))
                    after = LAYERS.index(_layer(catalog, target))
                    if after < before:
                        backwards.append(f"{source} → {node.name} → {target}")
    assert not backwards, backwards
