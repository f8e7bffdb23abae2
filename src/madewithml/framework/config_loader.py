"""The project's configuration loader: Kedro's `OmegaConfigLoader` that refuses an environment
without a folder, instead of silently running on `base` alone (and failing later elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException, OmegaConfigLoader
from kedro.utils import find_kedro_project
from omegaconf.resolvers import oc


class ProjectConfigLoader(OmegaConfigLoader):
    """`OmegaConfigLoader` that checks, when it is made, that the chosen `-e/--env` exists."""

    def __init__(self, conf_source: str, env: str | None = None, **kwargs: Any) -> None:
        super().__init__(conf_source, env=env, **kwargs)
        if env and env != self.base_env and not self._fs.isdir(self._get_conf_env_path(env)):
            found = sorted(
                path.rstrip("/").rsplit("/", 1)[-1]
                for path in self._fs.ls(self._get_conf_env_path(""), detail=False)
                if self._fs.isdir(path)
            )
            raise MissingConfigException(
                f"configuration environment {env!r} does not exist: there is no folder "
                f"{self._get_conf_env_path(env)!r} (environments: {', '.join(found)})"
            )


def _project_dir() -> str:
    """The project's root folder, wherever the command runs from (a notebook runs in notebooks/)."""
    return str(find_kedro_project(Path.cwd()) or Path.cwd())


# The loader's arguments (settings.CONFIG_LOADER_ARGS), here so that code outside a Kedro session
# (the HTTP service's application builder) reads conf/ exactly as `kedro run` does.
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
