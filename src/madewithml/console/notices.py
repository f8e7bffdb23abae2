"""What the console shows: the third-party notices this project hides, in one place.

Each entry below is a notice that tells the person at the console nothing they can act on
(a library's deprecation of its own internals, a background poll that cannot succeed in a local
Ray without the dashboard). Causes are fixed where a supported setting exists (conf/ray.yml,
conf/logging.yml, `training.ray_train.log_level`); what remains is filtered here, never an error
that is not also raised.

`MADEWITHML_VERBOSE=1` turns every filter off, for debugging.

- `quiet()` runs in the Kedro process: first when Kedro's CLI loads this project's CLI hooks
  (`madewithml.framework.cli_hooks`, before it imports any plugin's commands), then from
  settings.py (for
  a session started without the CLI: Jupyter, the service, a packaged run).
- `quiet_ray_worker()` runs in every Ray worker process of the job (conf/ray.yml's
  `runtime_env.worker_process_setup_hook`), where Ray's background actors log.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

VERBOSE_ENV = "MADEWITHML_VERBOSE"

# (warning category name, message regex): Python warnings raised by libraries about themselves.
WARNINGS = [
    # OmegaConf deprecated the function Kedro and kedro-mlflow call to register resolvers.
    ("UserWarning", r"register_new_resolver\(\) is deprecated"),
    # kedro-mlflow's KedroPipelineModel (not this project's model) has no type hints; MLflow
    # warns when the class is defined, as Kedro's CLI imports kedro-mlflow's commands.
    ("UserWarning", r".*Add type hints to the `predict` method"),  # after a colour code
    # Ray Data passes its own deprecated option to itself (in Tune and multi-worker training).
    ("RayDeprecationWarning", r"`ExecutionOptions.exclude_resources` is deprecated"),
]

# A logger named after its module's file (`logging.getLogger(__file__)`), written `file:<module>`.
FILE_LOGGER = "file:"

# logger name -> message prefix: log records of libraries' background threads.
LOG_RECORDS = {
    # Ray Train's placement-group cleaner asks the state API (served by the dashboard, which a
    # local training run does not start) once a second whether the controller is alive.
    "ray.train.v2._internal.execution.controller.placement_group_cleaner": (
        "Failed to query Ray Train Controller actor state"
    ),
    # Ray Train prints every `ray.train.report` of each worker in full (metrics and checkpoint
    # path), from a logger its own `LoggingConfig(log_level=...)` does not reach.
    f"{FILE_LOGGER}ray.train.v2._internal.execution.context": "Reporting training result",
    # Ray says, at every local start, that token authentication is on and how to turn it off:
    # on is this project's choice (docs/reliability.md#security). Ray's warning that
    # it is *off* still shows.
    "ray._private.authentication.authentication_token_setup": (
        "Token authentication is enabled for this Ray cluster"
    ),
    # MLflow's SQL store logs a database error with its traceback, then raises it: the raised
    # error reaches the console (a locked or read-only store in one line:
    # madewithml.framework.hooks.TrackingStoreHook), so this is a second copy of it.
    "mlflow.store.db.utils": "SQLAlchemy database error. The following exception is caught.",
}


def logger_name(name: str) -> str:
    """A logger's name: `file:<module>` becomes the module's file path, found without importing
    the module (only its top-level package)."""
    if not name.startswith(FILE_LOGGER):
        return name
    top, _, rest = name.removeprefix(FILE_LOGGER).partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        return name
    return str(Path(spec.origin).parent.joinpath(*rest.split(".")).with_suffix(".py"))


def verbose() -> bool:
    """Whether the console should show everything (MADEWITHML_VERBOSE set and not 0/false)."""
    return os.environ.get(VERBOSE_ENV, "").lower() not in ("", "0", "false", "no")


class ThirdPartyNotices(logging.Filter):
    """Drops the log records listed in `LOG_RECORDS`."""

    def __init__(self) -> None:
        super().__init__()
        self._prefixes = {logger_name(name): prefix for name, prefix in LOG_RECORDS.items()}

    def filter(self, record: logging.LogRecord) -> bool:
        prefix = self._prefixes.get(record.name)
        return prefix is None or not record.getMessage().startswith(prefix)


def listed(message: Warning | str, category: type[Warning]) -> bool:
    """Whether a warning is one of `WARNINGS`: its message matches the pattern from the start
    (case-insensitive, as `warnings.filterwarnings` does) and its class is, or derives from,
    the one named."""
    names = {klass.__name__ for klass in category.__mro__}
    return any(
        name in names and re.match(pattern, str(message), re.IGNORECASE)
        for name, pattern in WARNINGS
    )


def _filter_warnings() -> None:
    for category_name, message in WARNINGS:
        category = {"UserWarning": UserWarning}.get(category_name)
        if category is None:  # a library's own class: match it by name
            warnings.filterwarnings("ignore", message=message)
        else:
            warnings.filterwarnings("ignore", message=message, category=category)
    # A library may force its own filter around its warning (MLflow wraps the check that warns
    # about type hints in `simplefilter("once")`): what reaches the display is checked too.
    if not getattr(warnings.showwarning, "drops_listed", False):
        warnings.showwarning = _without_listed(warnings.showwarning)


def _without_listed(showwarning: Callable[..., None]) -> Callable[..., None]:
    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if not listed(message, category):
            showwarning(message, category, *args, **kwargs)

    show.drops_listed = True  # type: ignore[attr-defined]
    return show


def quiet() -> None:
    """Filter the listed warnings and log records in this process (unless verbose); turn off
    MLflow's artifact download bars (a bar per file of a local model folder) and INFO lines."""
    if verbose():
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow's INFO lines (creating/upgrading the sqlite tables, "Validating input example")
    # repeat what the run says; its warnings still show. MLflow sets its loggers' level when it
    # is imported (from MLFLOW_LOGGING_LEVEL), which may be before or after this.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    _filter_warnings()  # idempotent: an equal filter replaces the one before
    notices = ThirdPartyNotices()
    for name in LOG_RECORDS:
        logger = logging.getLogger(logger_name(name))
        if not any(isinstance(each, ThirdPartyNotices) for each in logger.filters):
            logger.addFilter(notices)


def quiet_ray_worker() -> None:
    """`worker_process_setup_hook` of the job's Ray workers: the same filters there."""
    quiet()
