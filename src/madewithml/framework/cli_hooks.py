"""This project's Kedro CLI hooks: the `kedro.cli_hooks` entry point in pyproject.toml.

Kedro's CLI creates its CLI hook manager, and so loads this module, after reading the project's
metadata and before it imports any plugin's commands. Some of those imports warn about the
library itself (kedro-mlflow's command module defines an MLflow `PythonModel` without type
hints, and MLflow warns as the class is defined), so the console's filters
(`madewithml.console.notices.quiet`) are installed here, when the hooks are created: `settings.py`
would be too late for `kedro <command>`.
"""

from __future__ import annotations

from madewithml.console.notices import quiet


class ConsoleCLIHooks:
    """Keeps third-party notices off the console of every `kedro` command in this project.

    It implements no hook (`before_command_run` comes after the plugins' commands are
    imported): creating it, as Kedro loads the entry point, is its work."""

    def __init__(self) -> None:
        quiet()  # before Kedro imports the plugins' commands (see the module's docstring)


cli_hooks = ConsoleCLIHooks()
