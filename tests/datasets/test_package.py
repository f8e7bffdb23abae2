"""`madewithml.datasets` names every dataset of the catalog, each loaded only when first used."""

from __future__ import annotations

import subprocess
import sys

import pytest

from madewithml import datasets


@pytest.mark.parametrize("name", datasets.__all__)
def test_every_exported_name_is_its_modules_own(name):
    exported = getattr(datasets, name)
    assert exported.__module__.startswith("madewithml.datasets.")
    assert exported.__name__ == name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="RawCsvDataset"):
        datasets.RawCsvDataset  # noqa: B018


def test_the_run_transaction_imports_neither_torch_nor_mlflow():
    """The hooks of every `kedro` command use the run transaction: asking for it does not load
    the model's or the tracking datasets (in a fresh interpreter)."""
    script = (
        "import sys\n"
        "from madewithml.datasets import RunLock, RunTransaction\n"
        "print(sorted({'torch', 'mlflow', 'transformers'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"
