"""Where a `/predict` request's time goes inside the service: the requests, projects and batches
it answered, and the seconds they spent in each phase, cumulative (`GET /`; the serving
benchmark's waterfall reads two snapshots and divides).

A request's marks, in order: `received` (the guard sees it), `parsed` (the endpoint starts: body
read, JSON and schema done), `checked` (limits and the input contract), `batched` (its batch's
`predict` starts), `predicted` (it returns), `answered` (the endpoint returns), `sent` (the
response is out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# (phase, from mark, to mark)
PHASES = (
    ("parse", "received", "parsed"),
    ("check", "parsed", "checked"),
    ("queue", "checked", "batched"),
    ("predict", "batched", "predicted"),
    ("answer", "predicted", "answered"),
    ("respond", "answered", "sent"),
)


@dataclass
class ServiceStats:
    """Counters of one replica."""

    requests: int = 0
    projects: int = 0
    batches: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {p: 0.0 for p, _, _ in PHASES})

    def batch(self, requests: int, projects: int) -> None:
        """One `predict` answered `requests` requests holding `projects` projects."""
        self.batches += 1
        self.requests += requests
        self.projects += projects

    def record(self, marks: dict[str, float]) -> None:
        """A finished request's marks (`time.perf_counter()` values); a request refused before
        its batch has no `batched` mark and counts in no phase."""
        if all(mark in marks for _, start, end in PHASES for mark in (start, end)):
            for phase, start, end in PHASES:
                self.seconds[phase] += marks[end] - marks[start]

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "projects": self.projects,
            "batches": self.batches,
            "seconds": dict(self.seconds),
        }
