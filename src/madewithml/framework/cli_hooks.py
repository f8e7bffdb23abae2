"""This project's Kedro CLI hooks: the `kedro.cli_hooks` entry point in pyproject.toml.

Kedro's CLI creates its CLI hook manager, and so loads this module, after reading the project's
metadata and before it imports any plugin's commands. Some of those imports warn about the
library itself (kedro-mlflow's command module defines an MLflow `PythonModel` without type
hints, and MLflow warns as the class is defined), so the console's filters
(`madewithml.console.notices.quiet`) are installed here, when the hooks are created: `settings.py`
would be too late for `kedro <command>`. For the same reason, this is where a command's exit
is made quick (`madewithml.framework.process_exit`): only `kedro` commands load this module, so
a notebook's or a test's process ends as Python ends it.
"""

from __future__ import annotations

from madewithml.console.notices import quiet
from madewithml.framework.process_exit import skip_collection_at_exit


class ConsoleCLIHooks:
    """Keeps third-party notices off the console of every `kedro` command in this project, and
    makes the command's exit quick.

    It implements no hook (`before_command_run` comes after the plugins' commands are
    imported): creating it, as Kedro loads the entry point, is its work."""

    def __init__(self) -> None:
        quiet()  # before Kedro imports the plugins' commands (see the module's docstring)
        skip_collection_at_exit()  # first registered: after the libraries' exit handlers


cli_hooks = ConsoleCLIHooks()
