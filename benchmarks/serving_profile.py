"""Where `kedro serve`'s CPU goes under load, by process and by library (issue 24).

`kedro serve` of a model (as benchmarks/serving.py starts it) gets one-project holdout requests
at `--concurrency` from the same asyncio client as benchmarks/serving.py; after `--warm-up`
seconds, Linux `perf` samples every CPU of the machine (`cpu-clock`, `--frequency` Hz, no call
graphs, so it barely adds load) for `--seconds`. Each sample is counted by its process (the
service's replicas, Ray Serve's HTTP proxy, the rest of Ray, this client, anything else) and by
the library it was in (torch's maths, the tokenizers, the Python interpreter, Ray's C++ core,
the kernel, ...), as CPU milliseconds per answered request.

Needs `perf` (Debian: `apt install linux-perf`) and the right to sample the whole machine (root,
or `kernel.perf_event_paranoid` <= 0).

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/serving_profile.py \
    --model-uri models:/madewithml-tagger/1 --tracking-uri sqlite:///$PWD/mlflow.db
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import psutil
import yaml
from commands import (
    SERVE_PROCESSES,
    add_model_arguments,
    descendants,
    model_in_a_copy,
)
from serving import kedro_served, load
from training import RESULTS, _data_dir, _machine, write_results

# Shared objects by what they do (first match wins); anything else is "other native code".
LIBRARIES = [
    ("torch (the model's maths)", r"libtorch|libc10|libgomp|libiomp|libmkl|libsleef|libdnnl"),
    ("tokenizers", r"tokenizers"),
    ("Python interpreter", r"libpython|^python3"),
    ("Ray's C++ core", r"_raylet"),
    ("kernel (system calls, network, scheduling)", r"kernel"),
    ("C and C++ runtime", r"^libc\.|libc-|libstdc\+\+|^libm\.|ld-linux|libpthread"),
    ("pydantic", r"pydantic_core"),
    ("numpy and pandas", r"_multiarray|numpy|pandas|libopenblas|libscipy_openblas"),
    ("asyncio and uvloop", r"uvloop|loop\.cpython|_asyncio"),
]
OTHER_LIBRARY = "other native code"
ROW = re.compile(r"^\s*[\d.]+%\s+(\d+)\s+(\d+):(\S.*?)\s{2,}(\S+)\s*$")


def _library(dso: str) -> str:
    return next((name for name, pattern in LIBRARIES if re.search(pattern, dso)), OTHER_LIBRARY)


def _parts(server_pid: int) -> dict[int, str]:
    """pid -> part, for the service's processes and this client (whose thread may have ended
    by the time the samples are read: its threads are listed now)."""
    parts = {server_pid: "rest of Ray and the driver", os.getpid(): "load client"}
    parts.update({thread.id: "load client" for thread in psutil.Process().threads()})
    for process, command in descendants(server_pid):
        part = next((p for name, p in SERVE_PROCESSES.items() if name in command), None)
        parts[process.pid] = part or "rest of Ray and the driver"
    return parts


def _process_of(thread: int) -> int:
    """The process a thread belongs to (perf counts samples by thread); itself once it ended."""
    try:
        status = Path(f"/proc/{thread}/status").read_text()
    except OSError:
        return thread
    return int(re.search(r"^Tgid:\s+(\d+)", status, re.MULTILINE).group(1))


def sample(seconds: float, frequency: int, parts: dict[int, str]) -> Counter:
    """CPU seconds over `seconds` of the whole machine, by (part, library). Read while the
    processes still run, so that each sampled thread is found in its process."""
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "perf.data"
        subprocess.run(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(frequency), "-a"]
            + ["-o", str(data), "--", "sleep", str(seconds)],
            check=True,
            capture_output=True,
        )
        report = subprocess.run(
            [
                "perf",
                "report",
                "-i",
                str(data),
                "--stdio",
                "-n",
                "--no-children",
                "--sort",
                "pid,dso",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    cpu: Counter = Counter()
    for line in report.splitlines():
        match = ROW.match(line)
        if not match:
            continue
        samples, thread, command, dso = match.groups()
        if int(thread) == 0:  # the idle task: no work
            continue
        part = parts.get(_process_of(int(thread)), "other processes")
        if part == "other processes" and command.startswith("perf"):
            part = "perf itself"
        cpu[(part, _library(dso))] += int(samples) / frequency
    return cpu


def report(args: argparse.Namespace, model_uri: str, cpu: Counter, rps: float) -> list[str]:
    requests = rps * args.seconds
    parts = sorted(
        {p for p, _ in cpu}, key=lambda p: -sum(v for (q, _), v in cpu.items() if q == p)
    )
    libraries = sorted(
        {lib for _, lib in cpu}, key=lambda b: -sum(v for (_, c), v in cpu.items() if c == b)
    )
    busy = sum(cpu.values())

    def ms(value: float) -> str:
        return f"{1000 * value / requests:.1f}"

    lines = [
        "# Where `kedro serve`'s CPU goes under load, by process and library",
        "",
        f"Command: `python benchmarks/serving_profile.py --concurrency {args.concurrency}"
        f" --seconds {args.seconds:g} --model-uri {model_uri}` — {time.strftime('%Y-%m-%d')},"
        f" {_machine()}. One-project holdout requests at concurrency {args.concurrency} from"
        f" benchmarks/serving.py's asyncio client on the same cores; `perf record -e cpu-clock"
        f" -F {args.frequency} -a` over {args.seconds:g} s of it"
        + (f", Ray's workers with {' '.join(args.replica_env)}" if args.replica_env else "")
        + f": {rps:.1f} requests/s, the"
        f" machine's {os.cpu_count()} cores {100 * busy / (args.seconds * os.cpu_count()):.0f} %"
        " busy. CPU milliseconds per answered request:",
        "",
        "| library | " + " | ".join(parts) + " | all |",
        "| --- | " + " | ".join("---:" for _ in parts) + " | ---: |",
    ]
    for library in libraries:
        cells = [ms(cpu.get((part, library), 0.0)) for part in parts]
        total = sum(v for (_, lib), v in cpu.items() if lib == library)
        lines.append(f"| {library} | " + " | ".join(cells) + f" | {ms(total)} |")
    totals = [ms(sum(v for (p, _), v in cpu.items() if p == part)) for part in parts]
    lines.append("| **all** | " + " | ".join(totals) + f" | **{ms(busy)}** |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warm-up", type=float, default=5.0, dest="warm_up")
    parser.add_argument("--seconds", type=float, default=12.0, help="sampled by perf")
    parser.add_argument("--frequency", type=int, default=499, help="perf samples per second")
    parser.add_argument(
        "--replica-env",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="environment variables of Ray's workers for this run (conf/local/ray.yml over "
        "conf/base's init_by_tag.serve.runtime_env.env_vars), to compare a setting",
    )
    parser.add_argument("--out", default=str(RESULTS / "serving_profile.md"))
    args = parser.parse_args()
    if not shutil.which("perf"):
        raise SystemExit("perf is not installed (Debian: apt install linux-perf)")

    data = _data_dir()
    holdout = pd.read_csv(data / "holdout.csv")
    bodies = [[row] for row in holdout[["title", "description"]].to_dict("records")]
    with model_in_a_copy(args, data) as (project, env, model_uri):
        if args.replica_env:
            variables = dict(item.split("=", 1) for item in args.replica_env)
            serve = {"serve": {"runtime_env": {"env_vars": variables}}}
            text = yaml.safe_dump({"init_by_tag": serve})
            (project / "conf/local/ray.yml").write_text(text)
        with kedro_served(project, env, model_uri) as target:
            result: dict = {}
            loaded = args.warm_up + args.seconds + 2
            client = threading.Thread(
                target=lambda: result.update(
                    asyncio.run(load(target, bodies, args.concurrency, loaded))
                )
            )
            client.start()
            time.sleep(args.warm_up)
            cpu = sample(args.seconds, args.frequency, _parts(target.pid))
            client.join()
    if result["errors"]:
        raise SystemExit(f"{result['errors']} requests failed")
    write_results(args.out, report(args, model_uri, cpu, result["rps"]))


if __name__ == "__main__":
    main()
