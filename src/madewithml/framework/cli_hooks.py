"""This project's Kedro CLI hooks: the `kedro.cli_hooks` entry point in pyproject.toml.

Kedro's CLI creates its CLI hook manager, and so loads this module, after reading the project's
metadata and before it imports any plugin's commands. Some of those imports warn about the
library itself (kedro-mlflow's command module defines an MLflow `PythonModel` without type
hints, and MLflow warns as the class is defined), so the console's filters
(`madewithml.console.notices.quiet`) are installed here, when the hooks are created: `settings.py`
would be too late for `kedro <command>`.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from kedro.framework.cli.hooks import cli_hook_impl

from madewithml.console.notices import quiet


class ConsoleCLIHooks:
    """Keeps third-party notices off the console of every `kedro` command in this project
    (creating it, as Kedro loads the entry point, does that), and names an unknown pipeline of
    `kedro run` in one line with the ones there are, before the run starts."""

    def __init__(self) -> None:
        quiet()  # before Kedro imports the plugins' commands (see the module's docstring)

    @cli_hook_impl
    def before_command_run(self, project_metadata: Any, command_args: list[str]) -> None:
        """`kedro run --pipeline(s)=<unknown>`: one line and exit 2 (Kedro's own error is a
        ValueError raised inside the run, two tracebacks long)."""
        if project_metadata is None or not command_args or command_args[0] != "run":
            return
        asked = requested_pipelines(command_args[1:])
        if not asked:
            return
        from kedro.framework.project import pipelines  # noqa: PLC0415 - configured by now

        known = sorted(pipelines)
        unknown = [name for name in asked if name not in known]
        if unknown:
            click.echo(
                f"Error: no pipeline named {', '.join(map(repr, unknown))} in this project "
                f"(pipelines: {', '.join(known)})",
                err=True,
            )
            sys.exit(2)


def requested_pipelines(args: list[str]) -> list[str]:
    """The pipeline names `kedro run` is given: `-p/--pipeline NAME` and `--pipelines A,B`,
    as separate words or with `=`."""
    names: list[str] = []
    for i, arg in enumerate(args):
        option, equals, value = arg.partition("=")
        if option not in ("-p", "--pipeline", "--pipelines"):
            continue
        if not equals:
            value = args[i + 1] if i + 1 < len(args) else ""
        names += [name.strip() for name in value.split(",") if name.strip()]
    return names


cli_hooks = ConsoleCLIHooks()
