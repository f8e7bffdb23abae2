"""Benchmark of the tuning pipeline on the real data, 2 CPU cores.

`kedro run --pipelines=tuning` with the default parameters in a fresh copy of the project: wall
time of the command (Ray start and data processing included), the trials (hyperparameters,
epochs run, outcome, best validation scores), and the best trial against the first one, which
is the untuned training defaults. With --train-best it then runs
`kedro run --pipelines=training` with the printed `--params` line (the seed of the training
defaults) and reports the registered model's holdout F1, like `benchmarks/training.py quality`.

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/tuning.py --train-best
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from project_copy import copy_project, kedro_env
from training import GENERALISATION, RESULTS, _data_dir, _latest_model, scores, write_results

KEDRO = str(Path(sys.executable).with_name("kedro"))
PARAMS_LINE = re.compile(r"kedro run --pipelines=training --params=(\S+)")


def _kedro(project: Path, *args: str, timeline: Path | None = None) -> tuple[float, str]:
    env = kedro_env(project, _data_dir())
    if (
        timeline is not None
    ):  # madewithml.console.timeline: the driver, the trials and their workers
        env["MADEWITHML_TIMELINE"] = str(timeline)
        timeline.write_text(json.dumps({"event": "kedro run launched", "t": time.time()}) + "\n")
    started = time.perf_counter()
    result = subprocess.run(
        [KEDRO, "run", *args], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(result.stdout[-5000:] + result.stderr[-5000:])
    if timeline is not None:
        with timeline.open("a") as file:
            file.write(json.dumps({"event": "kedro run exited", "t": time.time()}) + "\n")
    return wall, result.stdout + result.stderr


TRIAL_STARTED = re.compile(r"trial (\S+) started")
EPOCH_REPORTED = re.compile(r"worker: epoch \d+ reported")
# (phase, the event that ends it) within a trial, in order; a trial stopped by the scheduler
# ends at its last report (its worker is stopped).
TRIAL_PHASES = [
    ("trainer built", "ray train fit started"),
    ("Ray Train worker group up, loop entered", "worker: loop started"),
    ("model and data ready", "worker: data ready"),
]


def waterfall(events: list[dict]) -> list[str]:
    """Where the tuning run's seconds went: before the first trial, each trial's phases (trial
    start to its last event), and the gaps between trials (Tune ending one trial and starting
    the next), from the run's timeline. The rows add up to the wall time."""
    events = sorted(events, key=lambda event: event["t"])
    starts = [i for i, event in enumerate(events) if TRIAL_STARTED.fullmatch(event["event"])]
    rows = [
        (
            "before the first trial (Kedro, ray.init, data, Tune)",
            events[starts[0]]["t"] - events[0]["t"],
        )
    ]
    for number, (first, end) in enumerate(
        zip(starts, [*starts[1:], len(events) - 1], strict=True), 1
    ):
        trial = events[first:end]
        at = {event["event"]: event["t"] for event in trial}
        previous = trial[0]["t"]
        for phase, event in TRIAL_PHASES:
            if event in at:
                rows.append((f"trial {number}: {phase}", at[event] - previous))
                previous = at[event]
        reports = [e["t"] for e in trial if EPOCH_REPORTED.fullmatch(e["event"])]
        if reports:
            rows.append(
                (
                    f"trial {number}: {len(reports)} epoch(s), to the last report",
                    reports[-1] - previous,
                )
            )
            previous = reports[-1]
        if "ray train fit returned" in at:
            rows.append(
                (f"trial {number}: Ray Train teardown", at["ray train fit returned"] - previous)
            )
            previous = at["ray train fit returned"]
        following = (
            "after the last trial (results, MLflow, exit)"
            if end == len(events) - 1
            else f"between trial {number} and {number + 1} (Tune)"
        )
        rows.append((following, events[end]["t"] - previous))
    return [
        "| phase | seconds |",
        "| --- | ---: |",
        *[f"| {phase} | {seconds:.1f} |" for phase, seconds in rows],
        f"| **total** | **{sum(seconds for _, seconds in rows):.1f}** |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="", help="extra kedro --params for the tuning run")
    parser.add_argument("--train-best", action="store_true", dest="train_best")
    parser.add_argument("--out", default=str(RESULTS / "tuning.md"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        project = copy_project(Path(workdir))
        extra = [f"--params={args.params}"] if args.params else []
        timeline = Path(workdir) / "timeline.jsonl"
        wall, output = _kedro(project, "--pipelines=tuning", *extra, timeline=timeline)
        events = [json.loads(line) for line in timeline.read_text().splitlines() if line]
        trials = pd.read_parquet(project / "data/08_reporting/tuning_trials.parquet")
        tuning = yaml.safe_load((project / "conf/base/parameters_tuning.yml").read_text())
        training = yaml.safe_load((project / "conf/base/parameters_training.yml").read_text())
        searched = list(tuning["tuning"]["search_space"])
        trained = None
        if args.train_best:
            line = PARAMS_LINE.search(" ".join(output.split())).group(1)
            train_wall, _ = _kedro(project, "--pipelines=training", f"--params={line}")
            holdout = pd.read_csv(_data_dir() / "holdout.csv")
            trained = (
                line,
                train_wall,
                scores(_latest_model(project), holdout, pd.read_csv(GENERALISATION))["holdout_f1"],
            )

    num_epochs = training["training"]["num_epochs"]
    default, best = trials.iloc[0], trials.loc[trials["best_val_loss"].idxmin()]
    stopped = int((trials["outcome"] == "stopped_early").sum())
    lines = [
        "# tuning benchmark: a default tuning run on the real data",
        "",
        f"Command: `python benchmarks/tuning.py{' --train-best' if args.train_best else ''}"
        f"{f' --params {args.params}' if args.params else ''}` — {time.strftime('%Y-%m-%d')}, "
        "2 CPU cores, no GPU.",
        "",
        f"`kedro run --pipelines=tuning`: **{wall:.0f} s** wall for {len(trials)} trials; "
        f"{int(trials['epochs'].sum())} of {len(trials) * num_epochs} possible epochs ran "
        f"({stopped} trial{'' if stopped == 1 else 's'} stopped early by asynchronous HyperBand).",
        "",
        "| trial | " + " | ".join(searched) + " | outcome | epochs | best val_loss | val F1 |",
        "| --- | " + " | ".join("---:" for _ in searched) + " | --- | ---: | ---: | ---: |",
    ]
    for i, trial in trials.iterrows():
        values = " | ".join(f"{trial[name]:.3g}" for name in searched)
        label = f"{i + 1}{' (training defaults)' if i == 0 else ''}"
        lines.append(
            f"| {label} | {values} | {trial['outcome']} | {trial['epochs']} | "
            f"{trial['best_val_loss']:.4f} | {trial['best_val_f1']:.3f} |"
        )
    lines += [
        "",
        f"Best trial against the untuned defaults: val_loss {best['best_val_loss']:.4f} vs "
        f"{default['best_val_loss']:.4f}, val F1 {best['best_val_f1']:.3f} vs "
        f"{default['best_val_f1']:.3f}.",
    ]
    if trained:
        line, train_wall, f1 = trained
        lines += [
            "",
            f"`kedro run --pipelines=training --params={line}`: {train_wall:.0f} s, "
            f"holdout weighted F1 **{f1:.3f}** (the untuned defaults: see training_quality.md).",
        ]
    lines += [
        "",
        "Where the time went (marks of `madewithml.console.timeline` in the driver, each trial and "
        "its "
        "Ray Train worker):",
        "",
        *waterfall(events),
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
