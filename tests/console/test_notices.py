"""The third-party notices the project hides (madewithml.console.notices), and the console
checks the end-to-end tests rely on."""

from __future__ import annotations

import logging
import warnings

import pytest
from console_checks import repeated_lines, unexpected_warnings

from madewithml.console import notices as console


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
