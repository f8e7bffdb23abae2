"""The bar over training batches, drawn on the driver's console from a Ray Train worker."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ray.experimental.tqdm_ray import tqdm as ray_tqdm


class BatchProgress:
    """A bar over training batches, on the driver's console although counted in a Ray worker:
    Ray's `tqdm_ray` prints the bar's state to the worker's stdout, and the driver, which
    receives the worker's output (`log_to_driver` in conf/base/ray.yml), draws it. Ray Train's
    print patch must be off (`RAY_TRAIN_ENABLE_PRINT_PATCH: "0"` in the job's runtime_env), or
    the state arrives twice.

    Use as a context manager, so that the bar is closed when training fails too. Disabled
    (`show` false), it counts nothing and draws nothing.
    """

    def __init__(self, show: bool, total: int, done: int = 0, unit: str = "batch"):
        self._bar: Any = None
        if show:
            self._bar = ray_tqdm(total=total, unit=unit)
            if done:
                self._bar.update(done)  # resumed from a checkpoint: those batches are done

    def describe(self, text: str) -> None:
        """The text in front of the bar (e.g. the epoch)."""
        if self._bar is not None:
            self._bar.set_description(text)

    def count(self, batches: Iterable[Any]) -> Iterator[Any]:
        """`batches`, each counted once the caller has done with it (asks for the next)."""
        for batch in batches:
            yield batch
            if self._bar is not None:
                self._bar.update(1)

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
