"""Project settings: configuration loading and the hooks that own Ray and MLflow.

See https://docs.kedro.org/en/stable/configure/configuration_basics/.
"""

from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.utils import find_kedro_project
from omegaconf.resolvers import oc

from madewithml.hooks import ParameterValidationHook, PromotionHook, RayHook

HOOKS = (ParameterValidationHook(), RayHook(), PromotionHook())


def _project_dir() -> str:
    """The project's root folder, wherever the command runs from (a notebook runs in notebooks/)."""
    return str(find_kedro_project(Path.cwd()) or Path.cwd())


CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `${oc.env:NAME,default}` in the catalog and parameters: MADEWITHML_DATA_DIR points the raw
    # datasets at a local folder (see conf/base/catalog.yml).
    # `${project_dir:}`: the project root, so that the MLflow store is the same one from
    # notebooks/ as from the root (conf/base/mlflow.yml).
    "custom_resolvers": {"oc.env": oc.env, "project_dir": _project_dir},
    "config_patterns": {"ray": ["ray*", "ray/**"], "serving": ["serving*", "serving/**"]},
    # conf/local/parameters*.yml may override single keys (e.g. training.num_epochs) without
    # restating the whole `training` block.
    "merge_strategy": {"parameters": "soft", "ray": "soft", "serving": "soft", "globals": "soft"},
}
