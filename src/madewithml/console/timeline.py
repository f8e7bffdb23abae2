"""A timeline of a run, for the training benchmark's waterfall: where every second goes.

`mark("ray.init done")` appends ``{"event", "t", "pid"}`` (wall-clock seconds) as a JSON line to
the file named by the environment variable ``MADEWITHML_TIMELINE``; without it, it does nothing.
Ray's local workers inherit the variable, so the train loop's marks land in the same file.
"""

from __future__ import annotations

import json
import os
import time

VARIABLE = "MADEWITHML_TIMELINE"


def mark(event: str) -> None:
    """Record that `event` happened now (when MADEWITHML_TIMELINE names a file)."""
    path = os.environ.get(VARIABLE)
    if not path:
        return
    line = json.dumps({"event": event, "t": time.time(), "pid": os.getpid()})
    with open(path, "a", encoding="utf-8") as timeline:  # one short line: appends stay whole
        timeline.write(line + "\n")
