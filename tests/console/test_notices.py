"""The console a person reads: no preventable warning, no line twice, a summary at the end, and
`kedro predict` answering on one line."""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections import Counter

import pytest
from kedro_project import kedro

from madewithml.console import notices as console

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


@pytest.mark.parametrize("run", ["training", "__default__"])
def test_a_run_prints_no_warning_and_no_line_twice(tiny_trained_project, run):
    _, results = tiny_trained_project
    result = results[run]
    assert result.returncode == 0, result.stderr[-4000:]
    lines = console_lines(result)
    unexpected = unexpected_warnings(lines)
    assert not unexpected, "\n".join(unexpected)
    repeated = repeated_lines(lines)
    assert not repeated, "\n".join(repeated)


def test_a_run_ends_with_its_summary(tiny_trained_project):
    _, results = tiny_trained_project
    training = "\n".join(console_lines(results["training"]))
    default = "\n".join(console_lines(results["__default__"]))
    assert "run summary" in training and "model models:/madewithml-tagger/1" in training
    assert "kedro run --pipelines=evaluation" in training  # trained, not yet evaluated
    summary = default[default.index("run summary") :]
    assert re.search(
        r"holdout weighted F1 \d\.\d{3} as served at its threshold \d\.\d{2} "
        r"\(most likely tag \d\.\d{3}; TF-IDF baseline \d\.\d{3}\); "
        r"answered other \d+% \(truly other \d+%\)",
        summary,
    )
    assert re.search(r"(promoted to champion|not promoted): \S", summary)
    assert "model models:/madewithml-tagger/2" in summary
    assert re.search(r"MLflow run [0-9a-f]{32}", summary)
    assert "next: kedro serve" in summary


def test_the_checks_catch_what_they_are_for():
    lines = [
        "20:16:44 INFO    kedro: fine",
        "2026-11-27 20:17:13,647\tWARNING placement_group_cleaner.py:85 -- Failed to query",
        "/x/omegaconf_config.py:701: UserWarning: register_new_resolver() is deprecated",
        "20:16:45 INFO    kedro.io.data_catalog: Loading data from projects (ParquetDataset)...",
        "20:16:46 INFO    kedro.io.data_catalog: Loading data from projects (ParquetDataset)...",
        "20:16:47 WARNING kedro.io.core: 'exists()' not implemented for 'MlflowRunDataset'",
        "20:16:47 WARNING kedro.io.core: 'exists()' not implemented for 'MlflowRunDataset'",
    ]
    assert len(unexpected_warnings(lines)) == 4
    assert repeated_lines(lines) == [
        "WARNING kedro.io.core: 'exists()' not implemented for 'MlflowRunDataset'"
    ]


@pytest.fixture
def fresh_filters(monkeypatch):
    """No filter of an earlier `quiet()` (settings.py runs it) during the test; the warning
    filters and the loggers' filters as they were after it."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        names = [console.logger_name(name) for name in console.LOG_RECORDS]
        before = {name: list(logging.getLogger(name).filters) for name in names}
        for name in names:
            logging.getLogger(name).filters = [
                f for f in before[name] if not isinstance(f, console.ThirdPartyNotices)
            ]
        yield
        for name, filters in before.items():
            logging.getLogger(name).filters = filters


@pytest.mark.parametrize("verbose", [False, True])
def test_listed_notices_are_hidden_unless_verbose(fresh_filters, monkeypatch, verbose):
    monkeypatch.setenv(console.VERBOSE_ENV, "1" if verbose else "0")
    console.quiet()
    cleaner = logging.getLogger(
        "ray.train.v2._internal.execution.controller.placement_group_cleaner"
    )
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # Ray's loggers do not propagate to pytest's handler
    cleaner.addHandler(handler)
    monkeypatch.setattr(cleaner, "disabled", False)  # whatever an earlier dictConfig did
    monkeypatch.setattr(cleaner, "level", logging.DEBUG)
    try:
        cleaner.warning("Failed to query Ray Train Controller actor state. State API ...")
        cleaner.warning("Detected that the Ray Train controller actor is dead.")
    finally:
        cleaner.removeHandler(handler)
    messages = [record.getMessage() for record in records]
    assert "Detected that the Ray Train controller actor is dead." in messages  # never hidden
    assert any(m.startswith("Failed to query") for m in messages) is verbose
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn(
            "\x1b[33mAdd type hints to the `predict` method to ...\x1b[0m",
            UserWarning,
            stacklevel=1,
        )
        warnings.warn("something this project did not list", UserWarning, stacklevel=1)
    shown = [str(w.message) for w in caught]
    assert "something this project did not list" in shown
    assert any("Add type hints" in message for message in shown) is verbose


@pytest.mark.parametrize("verbose", [False, True])
def test_a_listed_notice_is_hidden_even_inside_a_library_s_own_filter(
    fresh_filters, monkeypatch, verbose
):
    """MLflow warns about a `PythonModel` without type hints inside its own
    `simplefilter("once")`, which overrides every filter: the display drops it."""
    monkeypatch.setenv(console.VERBOSE_ENV, "1" if verbose else "0")
    shown: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *_, **__: shown.append(message))
    console.quiet()
    console.quiet()  # a second call (cli_hooks, then settings.py) wraps the display once
    with warnings.catch_warnings():
        warnings.simplefilter("once", category=UserWarning)
        warnings.warn("\x1b[33mAdd type hints to the `predict` method ...", UserWarning, 1)
        warnings.warn(
            "Add type hints to the `predict` method, as a DeprecationWarning", DeprecationWarning, 1
        )
        warnings.warn("something this project did not list", UserWarning, stacklevel=1)
    messages = [str(message) for message in shown]
    assert "something this project did not list" in messages
    assert any("as a DeprecationWarning" in message for message in messages)  # category counts
    assert any(message.startswith("\x1b[33mAdd type hints") for message in messages) is verbose
    assert len(messages) == 3 if verbose else 2


def test_kedro_predict_answers_on_stdout_and_prints_nothing_else(tiny_champion_project):
    result = kedro(
        tiny_champion_project,
        *["predict", "--title", "Segmenting cells", "--description", "U-Net on microscopy"],
        data_dir=tiny_champion_project,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert len(result.stdout.splitlines()) == 1
    assert set(json.loads(result.stdout)) >= {"prediction", "probabilities"}
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["--title", "!!!", "--description", "???"], "invalid input"),
        (
            ["--title", "x", "--description", "y", "--model-uri", "models:/madewithml-tagger/99"],
            "cannot load the model models:/madewithml-tagger/99",
        ),
    ],
)
def test_kedro_predict_puts_the_error_first(tiny_champion_project, args, first_line):
    result = kedro(tiny_champion_project, "predict", *args, data_dir=tiny_champion_project)
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith(f"Error: {first_line}"), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
