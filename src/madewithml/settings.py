"""Project settings: configuration loading and the hooks that check parameters and own Ray.

See https://docs.kedro.org/en/stable/configure/configuration_basics/.
"""

from madewithml.config_loader import CONFIG_LOADER_ARGS, ProjectConfigLoader
from madewithml.hooks import ParameterValidationHook, RayHook, TimelineHook, TransactionHook

HOOKS = (TimelineHook(), ParameterValidationHook(), RayHook(), TransactionHook())

CONFIG_LOADER_CLASS = ProjectConfigLoader
__all__ = ["CONFIG_LOADER_ARGS", "CONFIG_LOADER_CLASS", "HOOKS"]  # the loader's arguments
