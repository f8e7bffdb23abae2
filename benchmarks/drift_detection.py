"""Benchmark: how often drift monitoring raises a false alarm, and how often it sees real shifts.

A project after `make run` (its champion, its split, its tokenizer) is the reference, as the
monitoring pipeline makes it (the validation split as the champion answers it). Windows of
traffic are drawn from pools that the champion answers, each profiled as the pipeline profiles
the request log, and each window gets the pipeline's verdict (`monitoring.drift` parameters):

- `holdout`: the holdout replayed as traffic, the same distribution as the reference: every
  alarm is a false alarm, whose rate should be at most the configured significance;
- `one_class`: only the holdout's computer-vision projects (traffic from one class);
- `other_domain`: texts from another domain, the Python standard library's own documentation
  (a function's name as the title, its docstring's first paragraph as the description);
- `short_descriptions`: the holdout with each description cut to its first three words (a
  client that truncates: another text-length distribution).

    MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/drift_detection.py

Writes benchmarks/results/drift_detection.md. The tests (tests/e2e/test_drift_detection.py)
run the same scenarios with fewer windows.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from training import RESULTS, _machine, write_results

from madewithml.core.tagger import tag_columns
from madewithml.monitoring.drift import DriftSettings, drift_verdict
from madewithml.pipelines.monitoring.nodes import (
    fit_reference_space,
    profile_reference,
    profile_window,
)

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 50  # answers per window: a few hours of a small service's traffic
ONE_CLASS = "computer-vision"
SHORT_WORDS = 3
# Documented modules of the standard library, for traffic from another domain.
STDLIB = (  # noqa: SIM905 (a list of words reads best as words)
    "argparse bisect calendar collections csv datetime decimal difflib email.utils "
    "fractions functools glob gzip heapq hashlib html inspect io ipaddress itertools json "
    "logging math mimetypes operator os os.path pathlib pickle platform pprint queue random "
    "re secrets shlex shutil socket sqlite3 statistics string struct subprocess tarfile "
    "tempfile textwrap threading time tokenize typing unicodedata urllib.parse uuid "
    "warnings zipfile zlib"
).split()


class Reference(NamedTuple):
    """What the monitoring pipeline compares a window with, and what it needs to profile one."""

    profile: pd.DataFrame
    space: Any
    tokenizer: Any
    model: Any
    max_length: int
    other_tag: str
    settings: dict[str, Any]


def load_reference(project: Path) -> tuple[Reference, pd.DataFrame]:
    """The reference of the project's monitoring pipeline (from its catalog and parameters),
    and its raw holdout."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project)
    # In the project's folder, as `kedro` runs: conf's `${project_dir:}` (the MLflow store the
    # champion is in) is the folder the command runs in.
    with contextlib.chdir(project), KedroSession.create(project_path=project) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
        settings = params["monitoring"]["drift"]
        space = fit_reference_space(catalog.load("train_projects"), settings)
        tokenizer = catalog.load("tokenizer")
        model = catalog.load("monitored_model")
        max_length = params["encoder"]["max_length"]
        profile = profile_reference(
            catalog.load("val_projects"), model, tokenizer, space, max_length
        )
        holdout = catalog.load("holdout")
    other_tag = params["data_processing"]["other_tag"]
    return Reference(profile, space, tokenizer, model, max_length, other_tag, settings), holdout


def stdlib_projects() -> pd.DataFrame:
    """Projects from another domain: each documented public function of `STDLIB`, its name as
    the title, its docstring's first paragraph as the description."""
    rows = []
    for name in STDLIB:
        module = importlib.import_module(name)
        for attribute, value in sorted(vars(module).items()):
            doc = inspect.getdoc(value) if callable(value) else None
            if attribute.startswith("_") or not doc or len(doc.split()) < 4:
                continue
            rows.append({"title": f"{name}.{attribute}", "description": doc.split("\n\n")[0]})
    return pd.DataFrame(rows).drop_duplicates("description", ignore_index=True)


def scenarios(holdout: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The pools of traffic (module docstring), as raw projects (title, description)."""
    projects = holdout[["title", "description"]]
    short = projects.assign(
        description=projects["description"].map(
            lambda text: " ".join(str(text).split()[:SHORT_WORDS])
        )
    )
    return {
        "holdout": projects,
        "one_class": projects[holdout["tag"] == ONE_CLASS],
        "other_domain": stdlib_projects(),
        "short_descriptions": short,
    }


def answered(reference: Reference, projects: pd.DataFrame) -> pd.DataFrame:
    """The pool as the request log records it: the projects and the model's answers."""
    projects = projects.reset_index(drop=True)
    answers = reference.model.predict(projects)
    return projects.assign(
        prediction=answers["prediction"], top_probability=answers[tag_columns(answers)].max(axis=1)
    )


def pool_profile(reference: Reference, projects: pd.DataFrame) -> pd.DataFrame:
    """The profile of a pool of traffic, as the monitoring pipeline profiles the log."""
    requests = answered(reference, projects)
    return profile_window(requests, reference.tokenizer, reference.space, reference.max_length)


def alarm_rate(
    reference: Reference, pool: pd.DataFrame, windows: int, seed: int, window: int = WINDOW
) -> dict[str, Any]:
    """The share of `windows` random windows of `window` answers of `pool` (drawn without
    replacement within a window) whose verdict is drift, and how often each test fired."""
    rng = np.random.default_rng(seed)
    settings = DriftSettings(**reference.settings)
    alarms, fired = 0, {}
    for _ in range(windows):
        rows = rng.choice(len(pool), size=min(window, len(pool)), replace=False)
        sample = pool.iloc[np.sort(rows)].reset_index(drop=True)
        verdict = drift_verdict(reference.profile, sample, reference.other_tag, settings)
        alarms += bool(verdict["drift_detected"])
        for name, result in verdict["tests"].items():
            fired[name] = fired.get(name, 0) + bool(result["drift"])
    return {
        "windows": windows,
        "window": min(window, len(pool)),
        "pool": len(pool),
        "alarm_rate": alarms / windows,
        "fired": {name: count / windows for name, count in fired.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=ROOT)
    parser.add_argument("--null-windows", type=int, default=2000)
    parser.add_argument("--shift-windows", type=int, default=200)
    args = parser.parse_args()
    started = time.perf_counter()
    reference, holdout = load_reference(args.project)
    pools = {name: pool_profile(reference, pool) for name, pool in scenarios(holdout).items()}
    results = {
        name: alarm_rate(
            reference, pool, args.null_windows if name == "holdout" else args.shift_windows, seed=i
        )
        for i, (name, pool) in enumerate(pools.items())
    }
    for name, result in results.items():
        print(name, json.dumps(result), flush=True)
    settings = reference.settings
    null = results["holdout"]
    bound = settings["significance"] + 3 * np.sqrt(
        settings["significance"] * (1 - settings["significance"]) / null["windows"]
    )
    tests = list(null["fired"])
    lines = [
        "# drift detection benchmark: false alarms on replayed holdout traffic, shifts seen",
        "",
        f"Command: `python benchmarks/drift_detection.py` — {time.strftime('%Y-%m-%d')}, "
        f"{_machine()}, {time.perf_counter() - started:.0f} s. The champion of `make run`; the "
        f"reference: the validation split ({len(reference.profile)} answers) as it answers it; "
        f"windows of {WINDOW} answers drawn from each pool; conf/base's `monitoring.drift` "
        f"(significance {settings['significance']} for the whole verdict, Bonferroni over the "
        f"{len(tests)} tests; {settings['permutations']} permutations).",
        "",
        "| traffic | pool | windows | alarm rate | " + " | ".join(f"`{t}`" for t in tests) + " |",
        "| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in tests) + " |",
    ]
    for name, result in results.items():
        lines.append(
            f"| {name} | {result['pool']} | {result['windows']} | "
            f"**{100 * result['alarm_rate']:.1f} %** | "
            + " | ".join(f"{100 * result['fired'].get(t, 0):.1f} %" for t in tests)
            + " |"
        )
    lines += [
        "",
        f"The holdout row is the false-alarm rate: at most the significance "
        f"({100 * settings['significance']:.0f} %; three standard errors above it: "
        f"{100 * bound:.1f} %). The others are detection rates (power). A test's column: the "
        "share of windows in which that test alone was under its significance.",
    ]
    write_results(RESULTS / "drift_detection.md", lines)


if __name__ == "__main__":
    main()
