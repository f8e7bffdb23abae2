"""A `kedro run`'s files, committed together when it succeeds and dropped when it fails."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any


class RunTransaction:
    """The files one `kedro run` writes, committed together when it succeeds.

    While a run is open (`madewithml.framework.hooks.TransactionHook`), every dataset of this
    package saves
    into a hidden ``.staging-<id>/`` folder beside its target, and later nodes of the run read
    it from there. When the run succeeds, `commit` moves every staged file and folder over its
    target; when it fails, `rollback` deletes them. A failed (or killed) run therefore leaves
    each layer's files all from the previous successful run, never a mix. One run at a time
    per project; `catalog.save` outside a run writes at once (atomically).
    """

    active: RunTransaction | None = None

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex[:8]
        self._staged: list[tuple[Any, Any, str, str]] = []  # (dataset, fs, staged, final)
        self._on_commit: list[Callable[[], None]] = []

    def on_commit(self, action: Callable[[], None]) -> None:
        """Do `action` (a change outside the files, e.g. a registry alias) once the run's
        files are committed; never if the run fails."""
        self._on_commit.append(action)

    @classmethod
    def begin(cls) -> RunTransaction:
        cls.active = cls()
        return cls.active

    def staging_path(self, final: PurePosixPath) -> PurePosixPath:
        """Where `final` is written during the run: same name, in the run's staging folder."""
        return final.parent / f".staging-{self.id}" / final.name

    def add(self, dataset: Any, fs: Any, staged: str, final: str) -> None:
        self._staged.append((dataset, fs, staged, final))

    def commit(self) -> None:
        """Move every staged file and folder over its target (each move a rename)."""
        for dataset, fs, staged, final in self._staged:
            if not fs.exists(staged):  # saved twice in the run: the last save is staged
                continue
            if fs.isdir(staged) and fs.exists(final):
                retired = f"{final}.old-{self.id}"
                fs.mv(final, retired, recursive=True)
                fs.mv(staged, final, recursive=True)
                fs.rm(retired, recursive=True)
            else:
                fs.mv(staged, final, recursive=fs.isdir(staged))
            dataset._staged = None
        self._clean()
        for action in self._on_commit:
            action()

    def rollback(self) -> None:
        """Delete what the run staged: the targets keep the previous run's files."""
        for dataset, *_ in self._staged:
            dataset._staged = None
        self._clean()

    def _clean(self) -> None:
        for _, fs, staged, _ in self._staged:
            folder = staged.rsplit("/", 1)[0]
            if fs.exists(folder):
                fs.rm(folder, recursive=True)
        self._staged = []
        RunTransaction.active = None


def clear_leftovers(fs: Any, final: str) -> None:
    """What a killed earlier run left beside `final` (hidden, never read): delete it."""
    parent, name = final.rsplit("/", 1) if "/" in final else (".", final)
    current = RunTransaction.active.id if RunTransaction.active else None
    for leftover in fs.glob(f"{parent}/.staging-*"):
        if not current or not leftover.endswith(f".staging-{current}"):
            fs.rm(leftover, recursive=True)
    for leftover in fs.glob(f"{parent}/.{name}.*.writing"):
        fs.rm(leftover, recursive=True)
