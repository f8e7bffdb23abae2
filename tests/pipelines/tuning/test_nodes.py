"""The tuning pipeline's pure parts: search space, outcomes, best trial, plot."""

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from ray import tune

from madewithml.pipelines.tuning.nodes import plot_trials, select_best_hyperparameters
from madewithml.tuning import best_trial, initial_point, search_space, trial_outcome

SEED_SPACE = {
    "dropout_p": {"distribution": "uniform", "low": 0.3, "high": 0.9},
    "lr": {"distribution": "loguniform", "low": 1.0e-5, "high": 5.0e-4},
    "lr_factor": {"distribution": "uniform", "low": 0.1, "high": 0.9},
    "lr_patience": {"distribution": "integer", "low": 1, "high": 10},
}
TUNING = {"metric": "val_loss", "mode": "min", "search_space": SEED_SPACE}


def make_trials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial": ["a", "b", "c"],
            "dropout_p": [0.5, 0.7, 0.4],
            "lr": [1e-4, 3e-4, 2e-5],
            "lr_factor": [0.8, 0.2, 0.5],
            "lr_patience": [3, 7, 1],
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


def test_search_space_reads_the_seeds_space():
    space = search_space(SEED_SPACE)

    assert set(space) == set(SEED_SPACE)
    assert isinstance(space["dropout_p"], tune.search.sample.Float)
    assert (space["dropout_p"].lower, space["dropout_p"].upper) == (0.3, 0.9)
    assert isinstance(space["lr"].get_sampler(), tune.search.sample.LogUniform)
    samples = [space["lr_patience"].sample() for _ in range(400)]
    assert set(samples) == set(range(1, 11))  # both bounds included


def test_the_first_point_is_the_training_parameters():
    training = {"dropout_p": 0.5, "lr": 1e-4, "lr_factor": 0.8, "lr_patience": 3, "seed": 1}
    assert initial_point(search_space(SEED_SPACE), training) == {
        "dropout_p": 0.5,
        "lr": 1e-4,
        "lr_factor": 0.8,
        "lr_patience": 3,
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

    assert best == {"training": {"dropout_p": 0.7, "lr": 3e-4, "lr_factor": 0.2, "lr_patience": 7}}
    assert type(best["training"]["lr_patience"]) is int  # plain YAML, not a numpy scalar
    assert metrics["best_val_loss"] == [{"value": 0.30, "step": 0}]
    assert metrics["trials_stopped_early"] == [{"value": 1.0, "step": 0}]
    assert (
        "kedro run --pipeline=training --params=training.dropout_p=0.7,training.lr=0.0003,"
        "training.lr_factor=0.2,training.lr_patience=7" in caplog.text
    )


def test_plot_trials_draws_a_curve_per_trial_and_a_panel_per_hyperparameter():
    history = pd.DataFrame(
        {"trial": ["a", "a", "b", "c"], "epoch": [0, 1, 0, 0], "val_loss": [0.5, 0.35, 0.4, 1.2]}
    )
    figure = plot_trials(make_trials(), history, TUNING)

    curves, *panels = figure.axes
    assert len(curves.lines) == 3
    assert [axis.get_xlabel() for axis in panels] == list(SEED_SPACE)
    assert panels[1].get_xscale() == "log"
    plt.close(figure)
