"""Following the champion: the policy of `ChampionFollower` (when it checks, what it deploys,
what it refuses) with the registry, the check and Ray Serve replaced by fakes, and the check
of a candidate's answers."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from madewithml.serving.champion import CandidateRefused, ChampionFollower, check_answers

ALIAS = "models:/tagger@champion"
BROKEN = {"models:/tagger/3"}  # versions whose check fails


class Fakes:
    def __init__(self):
        self.now = 0.0
        self.points_to = "models:/tagger/1"
        self.deployed: list[str] = []
        self.checked: list[str] = []
        self.reload = False

    def check(self, uri):
        self.checked.append(uri)
        if uri in BROKEN:
            raise CandidateRefused("its files differ from those it was logged with")

    def follower(self, poll=30.0):
        def taken():
            asked, self.reload = self.reload, False
            return asked

        return ChampionFollower(
            ALIAS,
            "models:/tagger/1",
            poll_interval_s=poll,
            pin=lambda alias: self.points_to,
            check=self.check,
            deploy=self.deployed.append,
            reload_requested=taken,
            clock=lambda: self.now,
        )


def test_a_new_version_is_checked_and_deployed_at_the_next_poll():
    fakes = Fakes()
    follower = fakes.follower()
    fakes.points_to = "models:/tagger/2"
    fakes.now = 29.0
    assert follower.step() is None  # not yet time
    fakes.now = 30.0
    assert follower.step() == "models:/tagger/2"
    assert fakes.checked == fakes.deployed == ["models:/tagger/2"]
    assert follower.serving_uri == "models:/tagger/2"
    fakes.now = 60.0
    assert follower.step() is None  # the same version: nothing to do
    assert fakes.deployed == ["models:/tagger/2"]


def test_a_refused_version_is_not_deployed_and_is_logged_once(caplog):
    fakes = Fakes()
    follower = fakes.follower()
    fakes.points_to = "models:/tagger/3"
    with caplog.at_level(logging.ERROR, logger="madewithml.serving.champion"):
        for minute in range(1, 4):
            fakes.now = 60.0 * minute
            assert follower.step() is None
    assert fakes.deployed == []
    assert follower.serving_uri == "models:/tagger/1"
    assert fakes.checked == ["models:/tagger/3"]  # not checked again at every poll
    assert len(caplog.records) == 1
    assert (
        "refused (its files differ" in caplog.text
        and "still serving models:/tagger/1" in caplog.text
    )
    fakes.points_to = "models:/tagger/4"  # the alias moves on: that version is served
    fakes.now = 240.0
    assert follower.step() == "models:/tagger/4"


def test_a_reload_checks_at_once_even_a_version_refused_before():
    fakes = Fakes()
    follower = fakes.follower(poll=3600)
    fakes.points_to = "models:/tagger/3"
    fakes.reload = True
    assert follower.step() is None
    fakes.reload = True
    assert follower.step() is None
    assert fakes.checked == ["models:/tagger/3", "models:/tagger/3"]
    fakes.points_to, fakes.reload = "models:/tagger/2", True
    fakes.now = 1.0
    assert follower.step() == "models:/tagger/2"


def test_a_registry_that_cannot_be_reached_or_a_failed_rollout_keeps_the_service():
    fakes = Fakes()
    follower = fakes.follower(poll=1)

    def unreachable(alias):
        raise ValueError("no model version behind it")

    follower._pin = unreachable
    fakes.now = 1.0
    assert follower.step() is None
    follower._pin = lambda alias: "models:/tagger/2"

    def failing(uri):
        raise RuntimeError("Deploying application failed")

    follower._deploy = failing
    fakes.now = 2.0
    assert follower.step() is None
    assert follower.serving_uri == "models:/tagger/1"


@given(
    moves=st.lists(
        st.tuples(st.sampled_from(["1", "2", "3", "4"]), st.booleans(), st.floats(0, 100)),
        max_size=20,
    )
)
def test_whatever_the_alias_does_only_checked_versions_are_served(moves):
    """Property: any sequence of alias moves, reloads and clock steps: every deployed version
    passed its check, none is broken, and the service serves the last one deployed."""
    fakes = Fakes()
    follower = fakes.follower(poll=10)
    for version, reload, elapsed in moves:
        fakes.points_to, fakes.reload = f"models:/tagger/{version}", reload
        fakes.now += elapsed
        follower.step()
    assert not set(fakes.deployed) & BROKEN
    assert set(fakes.deployed) <= set(fakes.checked)
    assert follower.serving_uri == (fakes.deployed[-1] if fakes.deployed else "models:/tagger/1")
    assert all(a != b for a, b in zip(fakes.deployed, fakes.deployed[1:], strict=False))


def _answers(**changes):
    frame = pd.DataFrame(
        {"prediction": ["mlops", "other"], "mlops": [0.7, 0.2], "computer-vision": [0.3, 0.8]}
    )
    return frame.assign(**changes)


@pytest.mark.parametrize(
    ("answers", "problem"),
    [
        (_answers().iloc[:1], "1 answers to 2"),
        (_answers(mlops=[float("nan"), 0.2]), "probabilities"),
        (_answers(mlops=[0.9, 0.2]), "sum to"),
        (_answers(prediction=["mlops", "nlp"]), "prediction 'nlp'"),
    ],
)
def test_malformed_answers_refuse_a_candidate(answers, problem):
    projects = [{"title": "a", "description": "b"}] * 2
    check_answers(_answers(), projects)  # well-formed
    with pytest.raises(CandidateRefused, match=problem):
        check_answers(answers, projects)
