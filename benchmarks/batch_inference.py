"""Benchmark of batch inference on its two engines, in process (pandas) and on Ray Data.

The real holdout replicated 100× and 1,000× (19,100 and 191,000 rows, every row with a unique
id) goes through `kedro run --pipelines=inference`, once per engine and size, each run its own
process; the model is a real one, trained here by `kedro run --pipelines=training` in a
throw-away copy of the project (or `--model-uri` with `--tracking-uri`). Reported per run:
wall time of the whole `kedro run` (Kedro, model load, Ray's start, reading, predicting,
writing), rows/s, the peak resident memory of the driver (the `kedro` process itself, its
`ru_maxrss`), and the peak of the driver with every process under it (Ray's, sampled).

A run still going after `--cap-s` seconds is stopped: the table then says how many rows it had
written by then (the Ray Data engine writes as it goes; the pandas one writes at the end).

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/batch_inference.py
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psutil
from commands import train
from project_copy import copy_project, kedro_env
from training import _data_dir

ROOT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))
RESULTS = ROOT / "benchmarks" / "results"
ENGINES = ("pandas", "ray_data")

# `kedro` in this interpreter, printing its own peak RSS (KiB on Linux) when it exits.
DRIVER = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: print('DRIVER_MAXRSS_KB', "
    "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
    "from kedro.framework.cli import main\n"
    "sys.argv = ['kedro', *sys.argv[1:]]\n"
    "main()\n"
)


def replicated_holdout(times: int, target: Path) -> int:
    """The holdout `times` over, with unique ids (copy k of row i: i's id + k × (max id + 1)),
    written to `target`; returns the number of rows."""
    holdout = pd.read_csv(_data_dir() / "holdout.csv")
    step = int(holdout["id"].max()) + 1
    copies = [holdout.assign(id=holdout["id"] + k * step) for k in range(times)]
    table = pd.concat(copies, ignore_index=True)
    assert table["id"].is_unique
    table.to_csv(target, index=False)
    return len(table)


def _rows_written(folder: Path, name: str) -> int:
    """Rows in the output so far: the finished file, else the one being written (hidden)."""
    candidates = [folder / name, *folder.rglob(f".{name}.*.writing")]
    for path in candidates:
        if path.is_file():
            with path.open(newline="") as file:
                return max(sum(1 for _ in csv.reader(file)) - 1, 0)
    return 0


def measure(
    project: Path,
    engine: str,
    source: Path,
    rows: int,
    model_uri: str,
    env: dict,
    cap_s: float,
    extra_params: str = "",
) -> dict:
    """One `kedro run --pipelines=inference` in its own process, sampled every 0.2 s."""
    output = source.parent / f"predictions_{engine}_{source.stem}.csv"
    params = (
        f"inference.input={source},inference.output={output},"
        f"inference.model_uri={model_uri},inference.engine={engine}"
    )
    if extra_params:
        params += f",{extra_params}"
    command = [sys.executable, "-c", DRIVER, "run", "--pipelines=inference", f"--params={params}"]
    machine_busy, own = _busy_cpu_seconds(), psutil.Process().cpu_times()
    started = time.time()
    process = subprocess.Popen(
        command,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ray's processes signal their process group: not ours
    )
    driver = psutil.Process(process.pid)
    driver_peak, tree_peak, capped, written = 0, 0, False, None
    cpu_seen: dict[int, float] = {}  # CPU seconds of every process of the run, last sample
    while process.poll() is None:
        try:
            members = [driver, *driver.children(recursive=True)]
            driver_peak = max(driver_peak, _rss(driver))
            tree_peak = max(tree_peak, sum(_rss(member) for member in members))
            for member in members:
                with contextlib.suppress(psutil.Error):
                    times = member.cpu_times()
                    cpu_seen[member.pid] = times.user + times.system
        except psutil.Error:
            pass
        if time.time() - started > cap_s:
            capped = True
            written = _rows_written(output.parent, output.name)
            _stop(driver)
            break
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    wall = time.time() - started
    own_now = psutil.Process().cpu_times()
    ours = sum(cpu_seen.values()) + (own_now.user + own_now.system) - (own.user + own.system)
    others = (_busy_cpu_seconds() - machine_busy - ours) / wall  # cores busy with others' work
    driver_kb = [line.split()[-1] for line in stderr.splitlines() if "DRIVER_MAXRSS_KB" in line]
    if not capped and process.returncode:
        raise SystemExit(
            f"{engine} on {rows} rows failed (exit status {process.returncode}):\n"
            f"{stdout[-3000:]}{stderr[-5000:]}"
        )
    if not capped:
        written = len(pd.read_csv(output, usecols=["id"]))
        assert written == rows, (written, rows)
    return {
        "engine": engine,
        "rows": rows,
        "wall_s": round(wall, 1),
        "rows_per_s": round((written or 0) / wall, 1),
        "finished": not capped,
        "rows_written": written,
        # the driver's own ru_maxrss when it exited normally, else its sampled peak
        "driver_peak_mb": round(int(driver_kb[0]) / 1024 if driver_kb else driver_peak / 2**20),
        "tree_peak_mb": round(tree_peak / 2**20),
        "other_load": round(max(others, 0.0), 2),
        "output": str(output),
    }


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (/proc/stat). Less the run's own (every
    process of the run, sampled every 0.2 s), it says how busy other work kept the machine:
    approximate, it tells a quiet machine from a busy one."""
    total = psutil.cpu_times()
    return total.user + total.nice + total.system + total.irq + total.softirq


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def _stop(driver: psutil.Process) -> None:
    """SIGTERM the driver (Ray's shutdown then stops its processes), SIGKILL what is left."""
    members = [driver, *driver.children(recursive=True)]
    driver.terminate()
    _, alive = psutil.wait_procs([driver], timeout=30)
    for member in [*alive, *members]:
        with contextlib.suppress(psutil.Error):
            member.kill()


def same_predictions(first: Path, second: Path) -> str:
    """Whether two prediction files agree: same columns and ids, same predictions, and the
    largest probability difference."""
    a, b = pd.read_csv(first), pd.read_csv(second)
    if list(a.columns) != list(b.columns) or a["id"].tolist() != b["id"].tolist():
        return "columns or rows differ"
    tags = list(a.columns[list(a.columns).index("prediction") + 1 :])
    differ = int((a["prediction"] != b["prediction"]).sum())
    gap = float((a[tags] - b[tags]).abs().to_numpy().max())
    return f"{differ} predictions differ; largest probability difference {gap:.1e}"


def report(results: list[dict], args: argparse.Namespace, model: str, agreement: dict) -> str:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        "# batch inference benchmark: in process (pandas) and on Ray Data",
        "",
        f"Command: `python benchmarks/batch_inference.py {' '.join(sys.argv[1:])}`".rstrip()
        + f" — {date}, {os.cpu_count()} CPU cores, no GPU; model {model}; the real holdout "
        "(191 rows) replicated with unique ids; each run is a separate `kedro run "
        "--pipelines=inference` process; Ray Data: "
        f"{args.ray_data}; cap {args.cap_s:.0f} s per run.",
        "",
        "Wall time is the whole command (Kedro, model load, Ray's start for `ray_data`, read, "
        "predict, write); rows/s = rows written / wall time. Driver peak: the `kedro` process's "
        "own peak RSS (`ru_maxrss`); with Ray: the driver and every process under it (Ray's "
        "GCS, raylet, actors), sampled every 0.2 s. A run stopped at the cap reports the rows "
        "it had written by then (the in-process engine writes only at the end) and the "
        "driver's sampled peak. Other load: cores busy with other processes of the machine "
        "during the run, on average (approximate; 0 on a quiet machine).",
        "",
        "| rows | engine | finished | wall (s) | rows/s | rows written | driver peak (MB) "
        "| driver + Ray peak (MB) | other load |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['engine']} | {'yes' if r['finished'] else 'no (cap)'} "
            f"| {r['wall_s']} | {r['rows_per_s']} | {r['rows_written']:,} "
            f"| {r['driver_peak_mb']}{'' if r['finished'] else ' (sampled)'} "
            f"| {r['tree_peak_mb']} | {r['other_load']} |"
        )
    if agreement:
        lines += ["", "Both engines on the same input:", ""]
        lines += [f"- {rows:,} rows: {text}" for rows, text in agreement.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--cap-s", type=float, default=360.0, help="stop a run after this")
    parser.add_argument("--model-uri", help="a logged model instead of training one")
    parser.add_argument("--tracking-uri", help="the MLflow store of --model-uri")
    parser.add_argument(
        "--ray-data",
        default="",
        help="inference.ray_data overrides, e.g. batch_size=512,concurrency=2",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep the project copy, its model and each finished measurement here; run again "
        "with the same folder to go on where a stopped benchmark left off (default: a "
        "temporary folder, deleted)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "batch_inference.md")
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args, args.workdir.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="batch_inference_") as workdir:
            run(args, Path(workdir))


def run(args: argparse.Namespace, workdir: Path) -> None:
    """Train (once per workdir), then every measurement not already in workdir/results.jsonl."""
    project = workdir / "project"
    if not project.exists():
        copy_project(project)
    env = kedro_env(project, _data_dir())
    env["RAY_ADDRESS"] = ""  # each Ray Data run starts (and stops) its own Ray
    if args.model_uri:
        model_uri = args.model_uri
        env["MLFLOW_TRACKING_URI"] = args.tracking_uri or env["MLFLOW_TRACKING_URI"]
    elif (workdir / "trained").is_file():
        model_uri = (workdir / "trained").read_text()
    else:
        model_uri = train(project, env, pipeline="training")
        (workdir / "trained").write_text(model_uri)
    extra = ",".join(f"inference.ray_data.{kv}" for kv in args.ray_data.split(",") if kv)
    log = workdir / "results.jsonl"
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    results, agreement = [], {}
    for times in args.times:
        source = workdir / f"holdout_x{times}.csv"
        rows = replicated_holdout(times, source)
        runs = {}
        for engine in args.engines:
            previous = [r for r in done if r["engine"] == engine and r["rows"] == rows]
            if previous:
                result = previous[-1]
            else:
                print(f"{engine} on {rows:,} rows ...", flush=True)
                result = measure(project, engine, source, rows, model_uri, env, args.cap_s, extra)
                with log.open("a") as file:
                    file.write(json.dumps(result) + "\n")
            print(json.dumps(result), flush=True)
            results.append(result)
            if result["finished"]:
                runs[engine] = Path(result["output"])
        if len(runs) == 2:
            agreement[rows] = same_predictions(*runs.values())
    args.ray_data = args.ray_data or "conf/base/parameters_inference.yml (inference.ray_data)"
    text = report(results, args, model_uri, agreement)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
