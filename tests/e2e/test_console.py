"""What a person sees on the console: no warning nobody listed and no line twice in a `kedro
run`, a run summary at its end, and `kedro predict` answering on stdout alone."""

from __future__ import annotations

import json
import re

import pytest
from console_checks import console_lines, repeated_lines, unexpected_warnings
from kedro_project import kedro


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
