"""Behavioural cases (madewithml.evaluation.behaviour): every case asked in one batch, each
answer matched to its own case."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from madewithml.evaluation.behaviour import behaviour_cases, check_behaviour

TAGS = ["computer-vision", "mlops", "natural-language-processing", "other"]
CONF = Path(__file__).parents[2] / "conf/base/parameters_evaluation.yml"


class KeywordModel:
    """Answers by the first keyword of the title; counts its `predict` calls."""

    KEYWORDS = {"image": "computer-vision", "text": "natural-language-processing", "ops": "mlops"}

    def __init__(self):
        self.calls = 0

    def predict(self, frame: pd.DataFrame, params=None) -> pd.DataFrame:
        self.calls += 1
        answers = [
            next((tag for word, tag in self.KEYWORDS.items() if word in title), "other")
            for title in frame["title"]
        ]
        return pd.DataFrame({"prediction": answers})


CASES = {
    "invariance": [
        {"template": "{} image classifier", "fill": ["big", "small"]},  # passes
        {"template": "{} classifier", "fill": ["image", "text"]},  # fails: two tags
    ],
    "directional": [
        {"template": "a {} model", "expected": {"image": "computer-vision", "ops": "mlops"}},
        {"template": "a {} model", "expected": {"text": "computer-vision", "ops": "mlops"}},
    ],
    "minimum_functionality": [
        {"title": "text summarisation", "expected": "natural-language-processing"},
        {"title": "graph networks", "expected": "mlops"},  # fails: answered other
    ],
}


def test_each_case_passes_or_fails_on_its_own_answers():
    model = KeywordModel()
    result = check_behaviour(model, CASES)
    assert model.calls == 1  # every title in one batch
    assert [case["passed"] for case in result["cases"]] == [True, False, True, False, True, False]
    assert result["cases"][3]["answered"] == ["natural-language-processing", "mlops"]
    assert result["failed"] == [
        "invariance: {} classifier",
        "directional: a {} model",
        "minimum_functionality: graph networks",
    ]
    assert (result["passed"], result["total"]) == (3, 6)


def test_no_cases_ask_nothing():
    model = KeywordModel()
    assert check_behaviour(model, {}) == {"passed": 0, "total": 0, "failed": [], "cases": []}
    assert model.calls == 0


def test_the_shipped_cases_cover_the_three_kinds():
    params = yaml.safe_load(CONF.read_text())["evaluation"]["behaviour"]
    cases = behaviour_cases(params)
    kinds = [case["kind"] for case in cases]
    assert kinds.count("invariance") == 6 and kinds.count("directional") == 5
    assert kinds.count("minimum_functionality") == 8
    pairs = [case for case in cases if case["kind"] != "minimum_functionality"]
    assert all(len(case["titles"]) >= 2 for case in pairs)


WORD = st.sampled_from(["image", "text", "ops", "graph", "audio"])


@settings(max_examples=100, deadline=None)
@given(
    fills=st.lists(st.lists(WORD, min_size=2, max_size=4), max_size=4),
    titles=st.lists(st.tuples(WORD, st.sampled_from(TAGS)), max_size=4),
)
def test_every_case_gets_the_answers_to_its_own_titles(fills, titles):
    params = {
        "invariance": [{"template": "{} model", "fill": fill} for fill in fills],
        "minimum_functionality": [{"title": t, "expected": tag} for t, tag in titles],
    }
    model = KeywordModel()
    result = check_behaviour(model, params)
    for case in result["cases"]:
        alone = KeywordModel().predict(pd.DataFrame({"title": case["titles"]}))
        assert case["answered"] == alone["prediction"].tolist()
        expected = case["expected"]
        should_pass = (
            len(set(case["answered"])) == 1 if expected is None else case["answered"] == expected
        )
        assert case["passed"] is should_pass
    assert result["passed"] + len(result["failed"]) == result["total"] == len(fills) + len(titles)
