"""The project's Kedro datasets, one module per kind; re-exported here so that catalog
`type:` paths read `madewithml.datasets.<Name>`.

- `transaction`: a `kedro run`'s files, committed together or not at all (`RunTransaction`),
  one run at a time per project (`RunLock`).
- `atomic`: kedro-datasets file datasets with atomic, staged saves (`Atomic*Dataset`).
- `raw`: raw CSV sources with errors that name where the data came from.
- `folder`: folders replaced atomically (the tokenizer).
- `tables`: model-input tables whose cells are token-id arrays.
- `model`: the model that ships, any logged model by URI, the registry's champion alias.
- `tracking`: metrics logged to MLflow, and where the active MLflow run is.
- `engine_csv`: batch inference's CSVs as pandas or a streaming Ray Dataset.
- `request_log`: what the service answered, read back (`kedro serve` writes it).
"""

from __future__ import annotations

import importlib
from typing import Any

# Where each name lives. Loaded on first use (PEP 562), so that a command pays only for the
# datasets its run uses: the model's pulls in torch and transformers, the tracking ones MLflow.
_MODULE_OF = {
    "AtomicCSVDataset": "atomic",
    "AtomicJSONDataset": "atomic",
    "AtomicMatplotlibDataset": "atomic",
    "AtomicParquetDataset": "atomic",
    "AtomicTextDataset": "atomic",
    "AtomicYAMLDataset": "atomic",
    "EngineCSVDataset": "engine_csv",
    "MlflowMetricsDataset": "tracking",
    "MlflowPyfuncDataset": "model",
    "MlflowRunDataset": "tracking",
    "MlflowTaggerDataset": "model",
    "RawCSVDataset": "raw",
    "RegisteredModelAliasDataset": "model",
    "RequestLogDataset": "request_log",
    "RunInProgressError": "transaction",
    "RunLock": "transaction",
    "RunTransaction": "transaction",
    "TokenizedProjectsDataset": "tables",
    "TokenizerDataset": "folder",
}
__all__ = [
    "AtomicCSVDataset",
    "AtomicJSONDataset",
    "AtomicMatplotlibDataset",
    "AtomicParquetDataset",
    "AtomicTextDataset",
    "AtomicYAMLDataset",
    "EngineCSVDataset",
    "MlflowMetricsDataset",
    "MlflowPyfuncDataset",
    "MlflowRunDataset",
    "MlflowTaggerDataset",
    "RawCSVDataset",
    "RegisteredModelAliasDataset",
    "RequestLogDataset",
    "RunInProgressError",
    "RunLock",
    "RunTransaction",
    "TokenizedProjectsDataset",
    "TokenizerDataset",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
