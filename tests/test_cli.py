"""The options of `kedro predict` and `kedro serve` (issue 26: `--threshold nan` answered `other`
to everything, `--port 0` served on 8000): a value the command cannot use stops it at the option,
naming it, before the project is read."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from madewithml import cli

PREDICT = ["predict", "--title", "A title", "--description", "A description"]


@pytest.fixture
def reached(monkeypatch) -> list:
    """Records the options that got past click (the command then stops at `_project`)."""
    calls: list = []

    def project(env, model_uri):
        calls.append((env, model_uri))
        raise SystemExit(0)

    monkeypatch.setattr(cli, "_project", project)
    return calls


def _invoke(args: list[str]):
    return CliRunner().invoke(cli.cli, args)


@pytest.mark.parametrize("command", [PREDICT, ["serve"]])
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-0.5", "2", "1.0000001", "half", ""])
def test_a_threshold_the_model_cannot_apply_stops_at_the_option(reached, command, value):
    result = _invoke([*command, "--threshold", value])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--threshold'" in result.output
    assert f"must be a number in [0, 1], got {value!r}" in result.output
    assert reached == []


@pytest.mark.parametrize("value", ["0", "-1", "65536", "8000.5", "http"])
def test_a_port_outside_1_65535_stops_at_the_option(reached, value):
    result = _invoke(["serve", "--port", value])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--port'" in result.output
    assert reached == []


@given(text=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text()))
def test_a_threshold_passes_if_and_only_if_it_is_a_number_in_0_1(text):
    """Any text: accepted exactly when it reads as a float in [0, 1] (then as that float)."""
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    converted = None
    try:
        converted = cli.Threshold().convert(text, None, None)
    except Exception as error:  # noqa: BLE001 - click's own error type is what is checked
        assert type(error).__name__ == "BadParameter", error
    if 0.0 <= number <= 1.0:
        assert converted == number
    else:
        assert converted is None
