"""`python -m madewithml` (and the `madewithml` entry point of a packaged project): Kedro's
`run` command for this project, e.g. outside a project folder after `kedro package`::

    python -m madewithml --conf-source=dist/conf-madewithml.tar.gz --pipelines=training
"""

import sys
from pathlib import Path
from typing import Any

from kedro.framework.cli.project import run
from kedro.framework.project import configure_project


def main(*args, **kwargs) -> Any:
    """Configure the project from its package, then run Kedro's `run` command."""
    configure_project(Path(__file__).parent.name)
    kwargs["standalone_mode"] = not hasattr(sys, "ps1")  # interactive: return, do not exit
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
