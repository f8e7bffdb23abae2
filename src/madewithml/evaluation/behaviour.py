"""Behavioural cases a model must answer right (the seed's three kinds), from
`evaluation.behaviour`:

- ``invariance``: a change that must not change the tag (a template, the words that fill it);
- ``directional``: a change that must change the tag, to the expected one (a template, each
  filling word with its tag);
- ``minimum_functionality``: plain projects of every tag (a title, its tag).

A model is asked as served: the `prediction` of its own `predict` with its defaults. The
promotion gate requires every case to pass (`madewithml.evaluation.promotion`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from madewithml.core.tagger import PREDICTION

KINDS = ("invariance", "directional", "minimum_functionality")


def behaviour_cases(params: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every case of `params` as ``{"kind", "case", "titles", "expected"}``: `titles` asked
    together, `expected` their tags (``None`` for invariance: one tag, whichever)."""
    cases = []
    for spec in params.get("invariance", []):
        titles = [spec["template"].format(word) for word in spec["fill"]]
        cases.append(
            {"kind": "invariance", "case": spec["template"], "titles": titles, "expected": None}
        )
    for spec in params.get("directional", []):
        fill = spec["expected"]
        cases.append(
            {
                "kind": "directional",
                "case": spec["template"],
                "titles": [spec["template"].format(word) for word in fill],
                "expected": list(fill.values()),
            }
        )
    for spec in params.get("minimum_functionality", []):
        cases.append(
            {
                "kind": "minimum_functionality",
                "case": spec["title"],
                "titles": [spec["title"]],
                "expected": [spec["expected"]],
            }
        )
    return cases


def passes(case: dict[str, Any], answers: list[str]) -> bool:
    """Whether `answers` (one per title of `case`) pass it: one tag for all (invariance), or
    exactly the expected tags."""
    if case["expected"] is None:
        return len(set(answers)) == 1
    return answers == case["expected"]


def check_behaviour(model: Any, params: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every behavioural case of `params` put to `model` (a logged model of this project; all
    titles in one `predict`, with empty descriptions): ``{"passed", "total", "failed": [case
    names], "cases": [{"kind", "case", "titles", "expected", "answered", "passed"}]}``."""
    cases = behaviour_cases(params)
    titles = [title for case in cases for title in case["titles"]]
    if titles:
        frame = pd.DataFrame({"title": titles, "description": [""] * len(titles)})
        answered = model.predict(frame)[PREDICTION].tolist()
    else:
        answered = []
    results, start = [], 0
    for case in cases:
        answers = answered[start : start + len(case["titles"])]
        start += len(case["titles"])
        results.append({**case, "answered": answers, "passed": passes(case, answers)})
    failed = [f"{case['kind']}: {case['case']}" for case in results if not case["passed"]]
    return {
        "passed": len(results) - len(failed),
        "total": len(results),
        "failed": failed,
        "cases": results,
    }
