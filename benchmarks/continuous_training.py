"""Benchmark: continuous training promotes a better challenger and refuses a worse one, on the
real data, by the commands a user runs.

In a throw-away project copy whose raw dataset.csv is a stratified half of the real one (the
holdout is the real holdout):

1. `kedro run`: the champion, trained on that half (made the champion by hand if the promotion
   gate refuses it, so that the next steps have a champion to beat);
2. the other half arrives, correctly labelled, as data/01_raw/incoming/batch.csv, and
   `kedro run --pipelines=continuous_training` (`make retrain`) trains a challenger on all of it:
   it should be promoted;
3. the same rows arrive again, but labelled wrong (each tag replaced by the next one: a
   labelling batch gone bad), and continuous training runs again: the challenger should be
   refused and the champion kept.

    MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/continuous_training.py

Writes benchmarks/results/continuous_training.md (each step's decision, scores and time) and
benchmarks/results/continuous_training_comparison.md (step 2's comparison report, as the
pipeline wrote it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient
from project_copy import copy_project, kedro_env
from training import KEDRO, RESULTS, _data_dir, _machine, write_results

SEED = 7
NAME = "madewithml-tagger"


def _run(project: Path, data_dir: Path, *args: str) -> float:
    """Wall seconds of `kedro run ARGS` in `project` (exits with its output on failure)."""
    started = time.time()
    result = subprocess.run(
        [KEDRO, "run", *args],
        cwd=project,
        env=kedro_env(project, data_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(result.stdout[-5000:] + result.stderr[-5000:])
    return time.time() - started


def _outcome(project: Path, step: str, seconds: float) -> dict:
    """What one step decided, from the files the run wrote."""
    report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
    promotion = report["promotion"]
    champion = promotion.get("current_champion") or {}
    intake = project / "data/08_reporting/intake.json"
    added = json.loads(intake.read_text())["added"]["count"] if intake.exists() else 0
    return {
        "step": step,
        "seconds": seconds,
        "added": added,
        "challenger_f1": report["overall"]["f1"],
        "champion_f1": champion.get("holdout_f1"),
        "behaviour": f"{report['behaviour']['passed']}/{report['behaviour']['total']}",
        "promoted": promotion["promote"],
        "reason": promotion["reason"],
        "version": report["model"]["model_uri"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=RESULTS / "continuous_training.md")
    args = parser.parse_args()
    real = _data_dir()
    dataset = pd.read_csv(real / "dataset.csv")
    first = dataset.groupby("tag", group_keys=False).sample(frac=0.5, random_state=SEED)
    second = dataset.drop(first.index)
    tags = sorted(dataset["tag"].unique())
    mislabelled = second.assign(
        tag=second["tag"].map({tag: tags[(i + 1) % len(tags)] for i, tag in enumerate(tags)})
    )
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "raw"
        data_dir.mkdir()
        first.sort_index().to_csv(data_dir / "dataset.csv", index=False)
        (data_dir / "holdout.csv").write_bytes((real / "holdout.csv").read_bytes())
        project = copy_project(Path(folder) / "project")
        incoming = project / "data/01_raw/incoming"
        incoming.mkdir(parents=True)

        outcomes.append(_outcome(project, "champion: `kedro run` on half", _run(project, data_dir)))
        if not outcomes[0]["promoted"]:
            # The gate refused it (the reason is in the table): a person makes it the champion
            # anyway, so that the challengers below have one to beat.
            version = outcomes[0]["version"].rsplit("/", 1)[1]
            client = MlflowClient(tracking_uri=kedro_env(project, data_dir)["MLFLOW_TRACKING_URI"])
            client.set_registered_model_alias(NAME, "champion", version)
            outcomes[0]["step"] += ", made champion by hand"
        second.to_csv(incoming / "batch.csv", index=False)
        seconds = _run(project, data_dir, "--pipelines=continuous_training")
        outcomes.append(_outcome(project, "the other half arrives, labelled", seconds))
        comparison = (project / "data/08_reporting/comparison.md").read_text()
        mislabelled.to_csv(incoming / "batch.csv", index=False)
        seconds = _run(project, data_dir, "--pipelines=continuous_training")
        outcomes.append(_outcome(project, "the same rows arrive mislabelled", seconds))

    Path(args.out).with_name("continuous_training_comparison.md").write_text(comparison)
    lines = [
        "# Continuous training: a better challenger promoted, a worse one refused",
        "",
        f"`make benchmark-retrain` (benchmarks/continuous_training.py), {_machine()}, "
        f"{time.strftime('%Y-%m-%d')}. dataset.csv split in two stratified halves (seed {SEED},"
        f" {len(first)} and {len(second)} rows); the real 191-row holdout; the default "
        "parameters (evaluation.promotion_margin, evaluation.behaviour).",
        "",
        "| step | rows added | challenger F1 (served) | champion F1 (now, same holdout) "
        "| behavioural cases | promoted | seconds |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for o in outcomes:
        champion = "–" if o["champion_f1"] is None else f"{o['champion_f1']:.4f}"
        lines.append(
            f"| {o['step']} | {o['added']} | {o['challenger_f1']:.4f} | {champion} "
            f"| {o['behaviour']} | {'yes' if o['promoted'] else 'no'} | {o['seconds']:.0f} |"
        )
    lines += ["", "Why, as each run's evaluation.json says:", ""]
    lines += [f"- {o['step']}: {o['reason']}" for o in outcomes]
    lines += [
        "",
        "The comparison report of the promoting run, as written to "
        "data/08_reporting/comparison.md: "
        "[continuous_training_comparison.md](continuous_training_comparison.md).",
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
