"""What the console tests look for in a command's output: warnings nobody listed, and lines
printed twice (shared by tests/e2e/test_console.py and the checks' own test)."""

from __future__ import annotations

import re
from collections import Counter

# Warnings a run may print, each with the reason it stays. Anything else matching WARNING_LINE
# fails the test: fix its cause, or filter it in madewithml/console/notices.py with a reason.
ALLOWED_WARNINGS: list[tuple[str, str]] = [
    (
        r"madewithml.data.labels: tag '(reinforcement|graph)-learning' \(\d+ projects\) is not an "
        r"accepted tag",
        "The tests' synthetic projects include tags outside the accepted ones, on purpose: the "
        "warning (once per tag) is the project's own, about the data.",
    ),
]

WARNING_LINE = re.compile(r"\bWARNING\b|Warning:|\bwarn\(")

TIMESTAMP = re.compile(r"^(\d{4}/\d\d/\d\d )?\d\d:\d\d:\d\d(,\d+)? ")

# Kedro reads a dataset once per node that takes it: these lines repeat by design.
REPEATS_BY_DESIGN = re.compile(r"Loading data from |Saving data to ")


def console_lines(result) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def allowed(line: str) -> bool:
    return any(re.search(pattern, line) for pattern, _ in ALLOWED_WARNINGS)


def unexpected_warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if WARNING_LINE.search(line) and not allowed(line)]


def repeated_lines(lines: list[str]) -> list[str]:
    messages = Counter(
        TIMESTAMP.sub("", line).strip() for line in lines if not REPEATS_BY_DESIGN.search(line)
    )
    return [message for message, count in messages.items() if count > 1]
