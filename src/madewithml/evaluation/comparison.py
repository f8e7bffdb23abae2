"""The comparison report in Markdown: the champion against the candidate (the challenger) on the
same holdout and behavioural cases, and the promotion decision with its reason. The kind of
report Made-With-ML's CI/CD workflow posts on a pull request; the evaluation pipeline writes it
to data/08_reporting/comparison.md and to the MLflow run.
"""

from __future__ import annotations

from typing import Any

from madewithml.evaluation.scoring import MOST_LIKELY, SERVED

NONE = "–"


def _number(value: float | None) -> str:
    return NONE if value is None else f"{value:.4f}"


def _change(new: float | None, old: float | None) -> str:
    if new is None or old is None:
        return NONE
    return f"{new - old:+.4f}"


def _table(header: list[str], rows: list[list[str]], numbers: bool = True) -> list[str]:
    """A Markdown table; the columns after the first right-aligned when they hold `numbers`."""
    aligned = ["---"] + ["---:" if numbers else "---"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(aligned) + " |"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _scores_table(
    names: list[str], champion: dict[str, Any] | None, candidate: dict[str, Any], key: str
) -> list[str]:
    """One row per name of `candidate[key]` (a class or a slice): F1 of each and the change."""
    rows = []
    for name in names:
        new = candidate[key][name]["f1"]
        old = champion[key][name]["f1"] if champion and name in champion[key] else None
        scores = candidate[key][name]
        support = scores.get("support", scores.get("num_samples"))  # per class, per slice
        rows.append([f"`{name}`", str(support), _number(old), _number(new), _change(new, old)])
    return _table(["", "rows", "champion", "challenger", "change"], rows)


def _behaviour_rows(champion: dict[str, Any] | None, candidate: dict[str, Any]) -> list[str]:
    """Every case either model fails, with both answers."""
    theirs = {case["case"]: case for case in (champion or {}).get("cases", [])}
    rows = []
    for case in candidate["cases"]:
        old = theirs.get(case["case"])
        if case["passed"] and (old is None or old["passed"]):
            continue
        expected = "one tag for all" if case["expected"] is None else ", ".join(case["expected"])
        rows.append(
            [
                f"{case['kind']}: {case['case']}",
                expected,
                NONE if old is None else ", ".join(old["answered"]),
                ", ".join(case["answered"]),
            ]
        )
    return rows


def comparison_markdown(report: dict[str, Any], champion_scores: dict[str, Any]) -> str:
    """The comparison of the evaluation `report` (the candidate's, with the decision) and the
    champion's scores on the same holdout (`champion_scores`, ``{}`` without a champion)."""
    promotion, model = report["promotion"], report["model"]
    champion_info = promotion.get("current_champion") or {}
    served = champion_scores.get(SERVED)
    holdout = promotion["holdout"]
    decision = "promoted" if promotion["promote"] else "not promoted"
    champion_name = (
        f"version {champion_info['version']}" if champion_info.get("version") else "none yet"
    )
    lines = [
        "# Challenger vs champion",
        "",
        f"**Decision: {decision}.** {promotion['reason'][0].upper()}{promotion['reason'][1:]}.",
        "",
        f"- Challenger: `{model.get('model_uri')}` (run `{model.get('run_id')}`, threshold "
        f"{_number(model.get('threshold'))})",
        f"- Champion: {champion_name}",
        f"- Holdout: {holdout['rows']} rows, digest `{holdout['digest'][:12]}`; both scored now, "
        "as served (each with its own threshold)",
        "",
        "## Overall",
        "",
    ]
    mine, theirs = report["behaviour"], champion_scores.get("behaviour")
    numbers = [
        (name, served and served["overall"][name], report["overall"][name])
        for name in ["precision", "recall", "f1"]
    ] + [
        (
            "f1, most likely tag",
            served and champion_scores[MOST_LIKELY]["overall"]["f1"],
            report[MOST_LIKELY]["overall"]["f1"],
        ),
        (
            "answered `other`",
            served and champion_scores["answered_other"][SERVED],
            report["answered_other"][SERVED],
        ),
    ]
    rows = [[name, _number(old), _number(new), _change(new, old)] for name, old, new in numbers]
    rows.append(
        [
            "behavioural cases passed",
            f"{theirs['passed']}/{theirs['total']}" if theirs else NONE,
            f"{mine['passed']}/{mine['total']}",
            NONE if not theirs else f"{mine['passed'] - theirs['passed']:+d}",
        ]
    )
    lines += _table(["", "champion", "challenger", "change"], rows)
    lines += ["", "## F1 per class", ""]
    lines += _scores_table(list(report["per_class"]), served, report, "per_class")
    lines += ["", "## F1 per slice", ""]
    lines += _scores_table(list(report["slices"]), served, report, "slices")
    lines += ["", "## Behavioural cases", ""]
    failing = _behaviour_rows(theirs, mine)
    if failing:
        header = ["case", "expected", "champion answered", "challenger answered"]
        lines += _table(header, failing, numbers=False)
    else:
        lines.append(f"{'Both pass' if theirs else 'It passes'} all {mine['total']} cases.")
    return "\n".join(lines) + "\n"
