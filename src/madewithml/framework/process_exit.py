"""How a `kedro` command ends: without the garbage collector's passes over everything it imported.

When Python exits it clears every module and runs full garbage collections over what is left.
A `kedro` command of this project has imported torch, transformers, MLflow, Ray and
scikit-learn, and those passes took 2 to 4 s of a `kedro run --pipelines=data_processing`
of ~20 s (docs/development.md, "Where the suite's time goes"). `gc.freeze()`, run last,
moves every object to a generation the collector does not scan: objects are still released
as their references go, exit handlers have all run, and the OS takes back the memory.
"""

from __future__ import annotations

import atexit
import gc


def skip_collection_at_exit() -> None:
    """Run `gc.freeze()` after every other exit handler: registered as early as the project
    is loaded (exit handlers run last-registered first), before the libraries that register
    their own (MLflow's, Ray's) are imported."""
    atexit.register(gc.freeze)
