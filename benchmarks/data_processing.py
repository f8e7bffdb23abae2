"""Benchmark: the data_processing pipeline on dataset.csv replicated 1x and 100x.

Each size runs `kedro run --pipelines=data_processing` in its own process on a throw-away copy of
the project, and reports the wall time of the whole command (Python start and imports included),
the pipeline's own time, and the peak resident memory of the process.

    MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/data_processing.py

Writes benchmarks/results/data_processing.md (the table in the README).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from project_copy import copy_project, kedro_env

ROOT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))


def replicate(raw: pd.DataFrame, times: int) -> pd.DataFrame:
    """`times` copies of the table, with ids and (title, description) pairs kept unique."""
    copies = []
    id_step = int(raw["id"].max()) + 1
    for k in range(times):
        copy = raw.copy()
        copy["id"] = copy["id"] + k * id_step
        if k:
            copy["title"] = copy["title"] + f" (copy {k})"
        copies.append(copy)
    return pd.concat(copies, ignore_index=True)


def run_once(raw: pd.DataFrame, times: int, workdir: Path) -> dict:
    """One `kedro run` on the replicated data, measured from outside the process."""
    data_dir = workdir / "raw"
    data_dir.mkdir()
    replicate(raw, times).to_csv(data_dir / "dataset.csv", index=False)
    env = kedro_env(copy_project(workdir), data_dir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run(
        [KEDRO, "run", "--pipelines=data_processing"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if result.returncode:
        raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])
    if peak_kib <= before:
        raise SystemExit("run sizes from small to large: ru_maxrss is a running maximum")
    found = re.search(
        r"completed\s+successfully\s+in\s+([\d.]+)\s+sec", result.stdout + result.stderr
    )
    return {
        "rows": len(raw) * times,
        "wall_s": wall,
        "pipeline_s": float(found.group(1)) if found else float("nan"),
        "peak_rss_mib": peak_kib / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--data-dir", default=os.environ.get("MADEWITHML_DATA_DIR"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/data_processing.md"))
    args = parser.parse_args()
    if not args.data_dir:
        raise SystemExit("set MADEWITHML_DATA_DIR (or --data-dir) to the folder with dataset.csv")
    raw = pd.read_csv(Path(args.data_dir) / "dataset.csv")

    rows = []
    for times in sorted(args.times):
        with tempfile.TemporaryDirectory() as workdir:
            row = run_once(raw, times, Path(workdir))
        rows.append({"times": times, **row})
        print(row, flush=True)

    base = rows[0]
    lines = [
        "| data | rows | `kedro run` wall (s) | pipeline (s) | peak RSS (MiB) "
        "| rows/s in pipeline |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| dataset.csv × {row['times']} | {row['rows']:,} | {row['wall_s']:.1f} | "
            f"{row['pipeline_s']:.1f} | {row['peak_rss_mib']:.0f} | "
            f"{row['rows'] / row['pipeline_s']:,.0f} |"
        )
    last = rows[-1]
    time_ratio = last["pipeline_s"] / base["pipeline_s"]
    memory_ratio = last["peak_rss_mib"] / base["peak_rss_mib"]
    growth = (
        f"{last['rows'] // base['rows']}× the rows cost {time_ratio:.0f}× the pipeline time "
        f"and {memory_ratio:.1f}× the peak memory."
    )
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    text = "\n".join(
        [
            "# data_processing benchmark",
            "",
            f"Command: `make benchmark-data` — {time.strftime('%Y-%m-%d')}, {machine}.",
            "",
            *lines,
            "",
            growth,
            "",
        ]
    )
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
