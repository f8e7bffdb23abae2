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

from madewithml.datasets.atomic import (
    AtomicCSVDataset,
    AtomicJSONDataset,
    AtomicMatplotlibDataset,
    AtomicParquetDataset,
    AtomicTextDataset,
    AtomicYAMLDataset,
)
from madewithml.datasets.engine_csv import EngineCSVDataset
from madewithml.datasets.folder import TokenizerDataset
from madewithml.datasets.model import (
    MlflowPyfuncDataset,
    MlflowTaggerDataset,
    RegisteredModelAliasDataset,
)
from madewithml.datasets.raw import RawCSVDataset
from madewithml.datasets.request_log import RequestLogDataset
from madewithml.datasets.tables import TokenizedProjectsDataset
from madewithml.datasets.tracking import MlflowMetricsDataset, MlflowRunDataset
from madewithml.datasets.transaction import RunInProgressError, RunLock, RunTransaction

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
