"""The logged model: a `Tagger` saved and logged as an MLflow pyfunc model from code.

What ships is `madewithml.core` alone (the `code/` folder of the model), the model file
`core/logged_model.py`, the tagger's files (one artifact) and a `requirements.txt` that lists
exactly the distributions the core imports, with the project's pins.
"""

from __future__ import annotations

import ast
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import packages_distributions, requires
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from madewithml import core
from madewithml.core.pyfunc import TAGGER_ARTIFACT, THRESHOLD_PARAM
from madewithml.core.tagger import PREDICTION, Tagger

CORE = Path(core.__file__).parent
MODEL_CODE = CORE / "logged_model.py"


def core_imports() -> set[str]:
    """The top-level modules that `madewithml.core` imports, besides the standard library and
    itself."""
    modules = set()
    for source in CORE.glob("*.py"):
        for statement in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(statement, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in statement.names}
            elif isinstance(statement, ast.ImportFrom) and statement.level == 0:
                modules.add((statement.module or "").split(".")[0])
    return {
        m
        for m in modules
        if m not in sys.stdlib_module_names and m not in {"madewithml", "__future__"}
    }


def project_pins() -> dict[str, str]:
    """The exact pins (``name==version``) of this project's own dependencies (pyproject.toml),
    by normalised distribution name."""
    pins = {}
    for requirement in requires("madewithml") or []:
        parsed = Requirement(requirement)
        if parsed.marker is None and len(parsed.specifier) == 1:
            (spec,) = parsed.specifier
            if spec.operator == "==":
                pins[canonicalize_name(parsed.name)] = f"{parsed.name}=={spec.version}"
    return pins


def requirements() -> list[str]:
    """`requirements.txt` of the logged model: the project's pin of each distribution that
    provides a module the core imports.

    Raises:
        RuntimeError: when the core imports a module whose distribution the project does not
            pin exactly (pin it in pyproject.toml).
    """
    pins, distributions = project_pins(), packages_distributions()
    chosen = set()
    for module in sorted(core_imports()):
        candidates = [canonicalize_name(d) for d in distributions.get(module) or []]
        pinned = [pins[name] for name in candidates if name in pins]
        if not pinned:
            raise RuntimeError(
                f"madewithml.core imports {module!r} (from {candidates or 'no distribution'}), "
                "which pyproject.toml does not pin exactly: the logged model's requirements.txt "
                "lists only the project's own pins"
            )
        chosen.add(pinned[0])
    return sorted(chosen)


def signature(tagger: Tagger) -> ModelSignature:
    """Raw text in; the prediction and every tag's probability out; the threshold a parameter
    whose default is the one the model was trained with."""
    return ModelSignature(
        inputs=Schema([ColSpec("string", "title"), ColSpec("string", "description")]),
        outputs=Schema(
            [ColSpec("string", PREDICTION)] + [ColSpec("double", tag) for tag in tagger.classes]
        ),
        params=ParamSchema(
            [ParamSpec(THRESHOLD_PARAM, "double", float(tagger.settings.threshold))]
        ),
    )


@contextmanager
def shipped_code() -> Iterator[str]:
    """A folder `madewithml/core/` with the core's modules and no `madewithml/__init__.py`:
    in the model's own environment `madewithml` is then a namespace package holding only the
    core, and where the project is installed its regular package takes precedence."""
    with tempfile.TemporaryDirectory(prefix="madewithml-code-") as staging:
        package = Path(staging) / "madewithml"
        shutil.copytree(CORE, package / "core", ignore=shutil.ignore_patterns("__pycache__"))
        yield str(package)


def input_example() -> pd.DataFrame:
    """One project, as MLflow shows it for the model (and checks the model answers it)."""
    return pd.DataFrame(
        {
            "title": ["Transfer learning with transformers"],
            "description": ["Using transformers for transfer learning on text classification."],
        }
    )


def model_arguments(tagger: Tagger, tagger_folder: str | Path) -> dict[str, Any]:
    """The arguments of `mlflow.pyfunc.save_model` / `log_model` besides where it goes."""
    return {
        "python_model": str(MODEL_CODE),
        "artifacts": {TAGGER_ARTIFACT: str(tagger_folder)},
        "pip_requirements": requirements(),
        "signature": signature(tagger),
        "input_example": input_example(),
    }


def save_model(tagger: Tagger, path: str | Path) -> Path:
    """Write `tagger` as a complete MLflow model folder at `path` (which must not exist).

    Returns the folder of the tagger's files inside it (`artifacts/tagger`).
    """
    import mlflow.pyfunc  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="tagger-") as staging, shipped_code() as code:
        files = Path(staging) / TAGGER_ARTIFACT
        tagger.save(files)
        mlflow.pyfunc.save_model(
            path=str(path), code_paths=[code], **model_arguments(tagger, files)
        )
    return Path(path) / "artifacts" / TAGGER_ARTIFACT


def log_model(tagger: Tagger, tagger_folder: str | Path, registered_model_name: str | None) -> Any:
    """Log `tagger` to the active MLflow run from its saved files (`save_model`'s
    `artifacts/tagger`: copied, not written again) and register it under
    `registered_model_name` (None: not registered). Returns MLflow's `ModelInfo`."""
    import mlflow.pyfunc  # noqa: PLC0415

    with shipped_code() as code:
        return mlflow.pyfunc.log_model(
            name="model",
            code_paths=[code],
            registered_model_name=registered_model_name,
            **model_arguments(tagger, tagger_folder),
        )
