"""A `kedro run`'s files, committed together when it succeeds and dropped when it fails; one
run at a time per project."""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Any


class RunInProgressError(RuntimeError):
    """Another `kedro run` holds the project's run lock; the message names it."""


class RunLock:
    """One `kedro run` at a time per project: an exclusive lock (`flock`) on `path`, which
    holds a line naming the run that has it.

    A second run fails at once, naming the first, before any work (its staging would delete
    the first run's). The operating system releases the lock when the process that holds it
    ends, however it ends (a kill included), so a stale lock needs no recovery: the file's
    text is only ever read while the lock is held.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self, holder: str) -> None:
        """Take the lock, recording `holder`; raise `RunInProgressError` if another has it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            running = handle.read().strip() or "a process that has not said which yet"
            handle.close()
            raise RunInProgressError(
                f"another kedro run is running in this project: {running}. Wait for it to "
                f"finish, or stop it ({self.path} is locked while it runs)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, {holder}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Let the next run in (idempotent)."""
        if self._handle is None:
            return
        self._handle.truncate(0)
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None


class RunTransaction:
    """The files one `kedro run` writes, committed together when it succeeds.

    While a run is open (`madewithml.framework.hooks.TransactionHook`), every dataset of this
    package saves
    into a hidden ``.staging-<id>/`` folder beside its target, and later nodes of the run read
    it from there. When the run succeeds, `commit` moves every staged file and folder over its
    target; when it fails, `rollback` deletes them. A failed (or killed) run therefore leaves
    each layer's files all from the previous successful run, never a mix. One run at a time
    per project (`RunLock`); `catalog.save` outside a run writes at once (atomically).
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
