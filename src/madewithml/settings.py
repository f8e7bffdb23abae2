"""Project settings: configuration loading and the hooks that check parameters and own Ray.

See https://docs.kedro.org/en/stable/configure/configuration_basics/.
"""

# First, before the imports below load MLflow, Ray and kedro-mlflow: the third-party notices
# listed in madewithml/console/notices.py stay off the console (MADEWITHML_VERBOSE=1 shows them).
from madewithml.console.notices import quiet

quiet()

from madewithml.framework.config_loader import CONFIG_LOADER_ARGS, ProjectConfigLoader  # noqa: E402
from madewithml.framework.hooks import (  # noqa: E402
    ParameterValidationHook,
    RayHook,
    RunSummaryHook,
    TimelineHook,
    TrackingStoreHook,
    TransactionHook,
)

HOOKS = (
    TrackingStoreHook(),
    TimelineHook(),
    ParameterValidationHook(),
    RayHook(),
    TransactionHook(),
    RunSummaryHook(report="evaluation_report", model="tagger"),
)

# Kedro's usage telemetry stays off in every session of this project, wherever it runs (the
# packaged project and a notebook included); the `kedro` command line reads .telemetry.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-telemetry",)

CONFIG_LOADER_CLASS = ProjectConfigLoader
__all__ = [  # CONFIG_LOADER_ARGS: the loader's arguments
    "CONFIG_LOADER_ARGS",
    "CONFIG_LOADER_CLASS",
    "DISABLE_HOOKS_FOR_PLUGINS",
    "HOOKS",
]
