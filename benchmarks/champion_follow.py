"""Benchmark: `kedro serve` follows a new champion under load, without a failed request.

In a throw-away project copy, `kedro run` trains the default model on the real data (the
champion, version 1); version 2 is the same model recalibrated (its temperature ×1.5: other
probabilities, as a new calibration gives). `kedro serve` serves the champion alias as shipped
(conf/base/serving.yml: two replicas, the request log on), checking the alias every
`--poll-interval` s (conf/local, for the copy only; the shipped default is 30 s). CLIENTS clients
send one holdout project per request, without pause; `--before` s into the load the alias moves to
version 2; the load goes on `--after` s past the switch.

    MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/champion_follow.py

Writes benchmarks/results/champion_follow.md: requests and failures; throughput and latency
before, during and after the switch; how long the check and the rollout took, from the
service's own log lines.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle
from pathlib import Path

import httpx
import pandas as pd
from commands import Server, free_port, train
from project_copy import copy_project, kedro_env
from training import RESULTS, _data_dir, _machine, write_results

NAME = "madewithml-tagger"
CLIENTS = 32


def _recalibrated(folder: Path) -> None:
    (settings_file,) = folder.rglob("tagger.json")
    settings = json.loads(settings_file.read_text())
    settings["settings"]["temperature"] *= 1.5
    settings_file.write_text(json.dumps(settings))


def _new_version(env: dict[str, str], workdir: Path) -> str:
    """Version 2: version 1's files, recalibrated, logged by the same run."""
    import mlflow  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    try:
        local = mlflow.artifacts.download_artifacts(f"models:/{NAME}/1", dst_path=str(workdir))
    finally:
        mlflow.set_tracking_uri(None)
    _recalibrated(Path(local))
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    run_id = client.get_model_version(NAME, "1").run_id
    return str(client.create_model_version(NAME, local, run_id=run_id).version)


def _client(url: str, projects: list[dict], offset: int, done: threading.Event, out: list):
    """/predict without pause until `done`: (sent, answered, status, version) per request."""
    with httpx.Client(timeout=120) as client:
        for project in cycle(projects[offset:] + projects[:offset]):
            if done.is_set():
                return
            sent = time.monotonic()
            try:
                response = client.post(url + "/predict", json=project)
                status, version = response.status_code, response.headers.get("x-model-version")
            except httpx.TransportError as error:
                status, version = repr(error), None
            out.append((sent, time.monotonic(), status, version))


def _phase(answers: list[tuple], start: float, end: float) -> dict:
    rows = [a for a in answers if start <= a[0] < end]
    latencies = sorted(a[1] - a[0] for a in rows)
    seconds = end - start

    def percentile(q: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {
        "seconds": seconds,
        "requests": len(rows),
        "per_s": len(rows) / seconds,
        "p50_ms": percentile(0.5),
        "p99_ms": percentile(0.99),
        "failed": sum(1 for a in rows if a[2] != 200),
        "versions": sorted({str(a[3]) for a in rows}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll-interval", type=float, default=2.0, dest="poll")
    parser.add_argument("--before", type=float, default=20.0)
    parser.add_argument("--after", type=float, default=20.0)
    parser.add_argument("--out", default=str(RESULTS / "champion_follow.md"))
    args = parser.parse_args()
    data = _data_dir()
    projects = pd.read_csv(data / "holdout.csv")[["title", "description"]].to_dict("records")
    with tempfile.TemporaryDirectory() as workdir:
        project = copy_project(Path(workdir) / "project")
        env = kedro_env(project, data)
        env.pop("RAY_ADDRESS", None)
        train(project, env)  # version 1, the champion
        new = _new_version(env, Path(workdir) / "v2")
        (project / "conf/local/serving.yml").write_text(
            f"serving:\n  champion:\n    poll_interval_s: {args.poll}\n"
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
        answers: list[tuple] = []
        done = threading.Event()
        with Server(["kedro", "serve", "--port", str(port)], project, env, url + "/") as server:
            time.sleep(10)  # both replicas up
            with ThreadPoolExecutor(CLIENTS) as pool:
                for offset in range(CLIENTS):
                    pool.submit(_client, url, projects, offset, done, answers)
                started = time.monotonic()
                time.sleep(args.before)
                promoted = time.monotonic()
                client.set_registered_model_alias(NAME, "champion", new)
                deadline = promoted + 300
                line = f"now serving models:/{NAME}/{new}"
                while time.monotonic() < deadline and not any(line in x for x in server.lines):
                    time.sleep(0.2)
                switched = time.monotonic()
                time.sleep(args.after)
                done.set()
                ended = time.monotonic()
            output = "".join(server.lines)

    checked = re.search(r"checked in ([\d.]+) s", output)
    rolled_out = re.search(r"rolled out in ([\d.]+) s", output)
    if not (checked and rolled_out):
        raise SystemExit(output[-3000:])
    phases = {
        "before the promotion": _phase(answers, started, promoted),
        "promotion → switched": _phase(answers, promoted, switched),
        "after the switch": _phase(answers, switched, ended),
    }
    failed = sum(1 for a in answers if a[2] != 200)
    first_new = min(a[1] for a in answers if a[3] == new) - promoted
    last_old = max(a[1] for a in answers if a[3] == "1") - promoted
    lines = [
        "# Following the champion under load",
        "",
        f"`python benchmarks/champion_follow.py`, {_machine()}, {time.strftime('%Y-%m-%d')}. The "
        f"default model trained by `kedro run` on the real data (version 1) and the same model "
        f"recalibrated (version {new}); `kedro serve` as shipped but checking the alias every "
        f"{args.poll:g} s (the default is 30 s); {CLIENTS} clients, one holdout project per "
        "request, no pause.",
        "",
        f"**{len(answers):,} requests, {failed} failed.** The alias moved at 0 s; the service "
        f"noticed and checked version {new} in {float(checked.group(1)):.1f} s, rolled it out in "
        f"{float(rolled_out.group(1)):.1f} s; the first answer of version {new} came "
        f"{first_new:.1f} s after the promotion, the last of version 1 {last_old:.1f} s after.",
        "",
        "| phase | seconds | requests | requests/s | p50 ms | p99 ms | failed | versions |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, p in phases.items():
        lines.append(
            f"| {name} | {p['seconds']:.1f} | {p['requests']:,} | {p['per_s']:.1f} | "
            f"{p['p50_ms']:.0f} | {p['p99_ms']:.0f} | {p['failed']} | {', '.join(p['versions'])} |"
        )
    lines += [
        "",
        "During the switch the new replicas start beside the old ones on the same 2 cores "
        "(max_surge_percent 100), so throughput drops and latency rises until the old ones "
        "drain; no request is dropped. tests/e2e/test_production_loop.py checks the same on the "
        "tiny model, in the whole loop, and that a broken version is refused.",
    ]
    write_results(args.out, lines)


if __name__ == "__main__":
    main()
