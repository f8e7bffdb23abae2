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


def _kedro(project: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [KEDRO, "run", *args],
        cwd=project,
        env=kedro_env(project, _data_dir()),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(result.stdout[-5000:] + result.stderr[-5000:])
    return wall, result.stdout + result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="", help="extra kedro --params for the tuning run")
    parser.add_argument("--train-best", action="store_true", dest="train_best")
    parser.add_argument("--out", default=str(RESULTS / "tuning.md"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        project = copy_project(Path(workdir))
        extra = [f"--params={args.params}"] if args.params else []
        wall, output = _kedro(project, "--pipelines=tuning", *extra)
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
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
