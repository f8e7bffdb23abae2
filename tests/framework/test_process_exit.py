"""A `kedro` command's quick exit (`madewithml.framework.process_exit`): once the project's CLI
hooks are loaded, the garbage collector does not run at exit, after every other exit handler."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# A reference cycle whose finalizer says when the collector frees it, and an exit handler
# registered after the CLI hooks were loaded (as MLflow's and Ray's are): it must still run.
PROGRAM = textwrap.dedent(
    """\
    import atexit, os, sys
    if sys.argv[1] == "cli":
        import madewithml.framework.cli_hooks
    class Cycle:
        def __init__(self):
            self.me = self
        def __del__(self, write=os.write):
            write(1, b"collected\\n")
    Cycle()
    atexit.register(lambda write=os.write: write(1, b"handler ran\\n"))
    """
)


def _exit_output(mode: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True
    )
    return result.stdout


@pytest.mark.parametrize(("mode", "collected"), [("plain", True), ("cli", False)])
def test_the_collector_runs_at_exit_only_without_the_cli_hooks(mode, collected):
    output = _exit_output(mode)
    assert "handler ran" in output  # the other exit handlers all run, before the freeze
    assert ("collected" in output) is collected, output
