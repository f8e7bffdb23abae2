"""The tuning pipeline's pure parts: search space, outcomes, best trial, plot."""

import math
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from factories import project_parameters
from hypothesis import given
from hypothesis import strategies as st
from ray import tune
from ray.tune.integration.ray_train import CHECKPOINT_PATH_KEY

from madewithml.pipelines.tuning.nodes import plot_trials, select_best_hyperparameters
from madewithml.training import tuner
from madewithml.training.tuner import (
    best_epoch,
    best_trial,
    initial_point,
    search_space,
    trial_outcome,
)

# conf/base/parameters_tuning.yml's search space, and an integer dimension
SPACE = {
    "lr": {"distribution": "loguniform", "low": 2.0e-5, "high": 3.0e-4},
    "head_lr": {"distribution": "loguniform", "low": 1.0e-4, "high": 3.0e-3},
    "dropout_p": {"distribution": "uniform", "low": 0.1, "high": 0.6},
    "label_smoothing": {"distribution": "uniform", "low": 0.0, "high": 0.2},
    "bucket_window": {"distribution": "integer", "low": 1, "high": 10},
}
TUNING = {"metric": "val_loss", "mode": "min", "search_space": SPACE}


def make_trials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial": ["a", "b", "c"],
            "lr": [1e-4, 3e-4, 2e-5],
            "head_lr": [1e-3, 2e-3, 1e-4],
            "dropout_p": [0.5, 0.3, 0.4],
            "label_smoothing": [0.1, 0.05, 0.0],
            "bucket_window": [8, 4, 1],
            "outcome": ["completed", "completed", "stopped_early"],
            "epochs": [4, 4, 1],
            "best_epoch": [3, 4, 1],
            "best_train_loss": [0.3, 0.2, 1.1],
            "best_val_f1": [0.90, 0.93, 0.40],
            "best_val_loss": [0.35, 0.30, 1.20],
            "checkpoint_path": ["/ckpt/a", "/ckpt/b", "/ckpt/c"],
            "error": [None, None, None],
        }
    )


def test_search_space_reads_the_parameters_space():
    space = search_space(SPACE)

    assert set(space) == set(SPACE)
    assert isinstance(space["dropout_p"], tune.search.sample.Float)
    assert (space["dropout_p"].lower, space["dropout_p"].upper) == (0.1, 0.6)
    for name in ["lr", "head_lr"]:
        assert isinstance(space[name].get_sampler(), tune.search.sample.LogUniform)
        assert (space[name].lower, space[name].upper) == (SPACE[name]["low"], SPACE[name]["high"])
    samples = [space["bucket_window"].sample() for _ in range(400)]
    assert set(samples) == set(range(1, 11))  # both bounds included


def test_the_projects_search_space_is_the_one_tested_here():
    searched = project_parameters("tuning")["params:tuning.search_space"]
    assert searched == {name: SPACE[name] for name in searched}
    assert set(searched) == {"lr", "head_lr", "dropout_p"}  # not label_smoothing (see conf)


def test_the_first_point_is_the_training_parameters():
    training = {
        name.removeprefix("params:training."): value
        for name, value in project_parameters("training").items()
    }
    assert initial_point(search_space(SPACE), training) == {
        "lr": training["lr"],
        "head_lr": training["head_lr"],
        "dropout_p": training["dropout_p"],
        "label_smoothing": training["label_smoothing"],
        "bucket_window": training["bucket_window"],
    }


@pytest.mark.parametrize(
    ("epochs", "failed", "outcome"),
    [(4, False, "completed"), (1, False, "stopped_early"), (2, True, "failed")],
)
def test_trial_outcome(epochs, failed, outcome):
    assert trial_outcome(epochs, 4, failed) == outcome


def test_best_trial_follows_the_metric_and_mode():
    trials = make_trials()
    assert best_trial(trials, "val_loss", "min")["trial"] == "b"
    assert best_trial(trials, "val_f1", "max")["trial"] == "b"
    assert best_trial(trials, "train_loss", "max")["trial"] == "c"


def test_best_trial_names_the_errors_when_no_trial_reported():
    trials = make_trials().assign(best_val_loss=math.nan, error="RuntimeError: out of memory")
    with pytest.raises(RuntimeError, match="out of memory"):
        best_trial(trials, "val_loss", "min")


def test_best_hyperparameters_are_a_training_block_of_the_best_trial(caplog):
    caplog.set_level("INFO")
    best, metrics = select_best_hyperparameters(make_trials(), TUNING)

    assert best == {
        "training": {
            "lr": 3e-4,
            "head_lr": 2e-3,
            "dropout_p": 0.3,
            "label_smoothing": 0.05,
            "bucket_window": 4,
        }
    }
    assert type(best["training"]["bucket_window"]) is int  # plain YAML, not a numpy scalar
    assert type(best["training"]["lr"]) is float
    assert metrics["best_val_loss"] == [{"value": 0.30, "step": 0}]
    assert metrics["trials_stopped_early"] == [{"value": 1.0, "step": 0}]
    # --pipeline (deprecated in Kedro 1.x) or --pipelines
    assert re.search(
        r"kedro run --pipelines?=training --params=training\.lr=0\.0003,training\.head_lr=0\.002,"
        r"training\.dropout_p=0\.3,training\.label_smoothing=0\.05,training\.bucket_window=4\n",
        caplog.text,
    )


def test_plot_trials_draws_a_curve_per_trial_and_a_panel_per_hyperparameter():
    history = pd.DataFrame(
        {"trial": ["a", "a", "b", "c"], "epoch": [0, 1, 0, 0], "val_loss": [0.5, 0.35, 0.4, 1.2]}
    )
    figure = plot_trials(make_trials(), history, TUNING)

    curves, *panels = figure.axes
    assert len(curves.lines) == 3
    assert [axis.get_xlabel() for axis in panels] == list(SPACE)
    assert [axis.get_xscale() for axis in panels] == ["log", "log", "linear", "linear", "linear"]
    plt.close(figure)


epoch_scores = st.lists(st.sampled_from([0.5, 0.7, 0.9, float("nan")]), min_size=0, max_size=6)


@given(scores=epoch_scores, mode=st.sampled_from(["min", "max"]))
def test_the_best_epoch_is_the_best_score_and_of_equal_scores_the_later(scores, mode):
    """As Ray Train keeps checkpoints: the best score, and of equal scores the later epoch (Ray
    deletes the earlier one, so a table pointing at it would point at nothing)."""
    rows = [{"epoch": epoch, "val_loss": score} for epoch, score in enumerate(scores)]
    scored = [row for row in rows if not math.isnan(row["val_loss"])]
    best = best_epoch(scored, "val_loss", mode)
    if not scored:
        assert best == {}
        return
    pick = min if mode == "min" else max
    optimum = pick(row["val_loss"] for row in scored)
    assert best["val_loss"] == optimum
    assert best["epoch"] == max(row["epoch"] for row in scored if row["val_loss"] == optimum)


class _Result:
    def __init__(self, trial, rows, error=None):
        self.metrics = {"trial_id": trial} if rows else {}
        self.metrics_dataframe = pd.DataFrame(rows) if rows else None
        self.path = f"/runs/tune_x/run_{trial}"
        self.config = {"lr": 1e-4}
        self.error = error


class _Grid(list):
    experiment_path = "/runs/tune_x"


def test_a_stopped_trial_points_at_the_checkpoint_its_train_run_kept(monkeypatch):
    """The scheduler stopped trial `a` after the epoch Tune saw (checkpoint 0); its Train run
    finished one more, better epoch, and Ray Train deleted checkpoint 0 for checkpoint 1. The
    table points at checkpoint 1, with that epoch's scores. Trial `b` failed before any epoch."""
    seen = {"epoch": 0, "val_loss": 0.8, "val_f1": 0.5, "train_loss": 0.9}
    kept = {"epoch": 1, "val_loss": 0.7, "val_f1": 0.6, "train_loss": 0.8}
    runs = {"/runs/tune_x_trial_a": [{**kept, CHECKPOINT_PATH_KEY: "/runs/a/checkpoint_1"}]}
    monkeypatch.setattr(tuner, "kept_checkpoints", lambda path: runs.get(path, []))
    grid = _Grid(
        [
            _Result("a", [{**seen, CHECKPOINT_PATH_KEY: "/runs/a/checkpoint_0", "lr": 1e-4}]),
            _Result("b", [], error=ValueError("dropout probability has to be between 0 and 1")),
        ]
    )
    trials, history = tuner.trial_tables(grid, ["lr"], num_epochs=3, metric="val_loss", mode="min")
    a, b = trials.to_dict("records")
    assert a["checkpoint_path"] == "/runs/a/checkpoint_1"
    assert (a["best_epoch"], a["best_val_loss"], a["epochs"]) == (2, 0.7, 2)
    assert a["outcome"] == "stopped_early"
    assert pd.isna(b["checkpoint_path"]) and b["outcome"] == "failed"
    assert list(history["trial"]) == ["a"]  # the history is what Tune saw
