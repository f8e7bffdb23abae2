"""Behavioural tests of a trained model (the seed's kinds), against `--model-uri`: the cases of
`evaluation.behaviour` (conf/base/parameters_evaluation.yml), the same ones the promotion gate
requires, one test per case.

- invariance: a change that must not change the tag;
- directional: a change that must change the tag, to the expected one;
- minimum functionality: plain cases of every tag.

    pytest tests/e2e/test_behaviour.py --model-uri models:/madewithml-tagger@champion

Without `--model-uri` the session trains the default model on the real data once (see
tests/conftest.py) and tests that.
"""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from madewithml.core.tagger import PREDICTION
from madewithml.evaluation.behaviour import behaviour_cases, passes

pytestmark = pytest.mark.real_data

CONF = Path(__file__).parents[2] / "conf/base/parameters_evaluation.yml"
CASES = behaviour_cases(yaml.safe_load(CONF.read_text())["evaluation"]["behaviour"])


@pytest.mark.parametrize("case", CASES, ids=[f"{c['kind']}: {c['case']}" for c in CASES])
def test_behaviour(trained_model, case):
    """Asked as served: the model's own `predict` with its defaults (its own threshold), what
    `mlflow models serve`, `kedro serve`, `kedro predict` and batch inference answer."""
    frame = pd.DataFrame({"title": case["titles"], "description": [""] * len(case["titles"])})
    answers = trained_model.predict(frame)[PREDICTION].tolist()
    assert passes(case, answers), dict(zip(case["titles"], answers, strict=True))
