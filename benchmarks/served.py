"""What ships, scored by every way a user asks it: the champion of a fresh `kedro run` on the
real data, on the 191 holdout projects, through each server **with its defaults** (no
threshold given: the logged model's own, chosen on validation by calibration).

1. `kedro run` (the default pipeline) in a throw-away copy of the project;
2. the evaluation report's served and most-likely holdout F1 (data/08_reporting/evaluation.json);
3. the champion's own `predict` in this process (`mlflow.pyfunc.load_model`);
4. batch inference: `kedro run --pipelines=inference` on holdout.csv;
5. `mlflow models serve` of models:/madewithml-tagger@champion: one /invocations request;
6. `kedro serve`: /predict requests of up to `serving.limits.max_items` projects;
7. `kedro predict`: one command per project (`--predict-rows` of them, the first ones).

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/served.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from commands import Server, free_port, run
from project_copy import copy_project, kedro_env
from training import RESULTS, _data_dir, _machine, write_results

CHAMPION = "models:/madewithml-tagger@champion"


def _flat(answers: list[dict]) -> pd.DataFrame:
    """kedro serve's and kedro predict's JSON answers as one table like `predict`'s."""
    return pd.DataFrame([{"prediction": a["prediction"], **a["probabilities"]} for a in answers])


def ask_every_path(
    project: Path, env: dict[str, str], data: Path, predict_rows: int
) -> list[tuple[str, pd.DataFrame, float]]:
    """(path, its answers for the first holdout projects, seconds) for every way to ask the
    champion of `project`, each with its defaults; the first is the model's own `predict`."""
    import mlflow  # noqa: PLC0415

    projects = pd.read_csv(data / "holdout.csv")[["title", "description"]]
    answered = []

    def timed(name: str, ask) -> None:
        started = time.perf_counter()
        answers = ask()
        answered.append((name, answers, time.perf_counter() - started))
        print(f"{name}: {len(answers)} projects in {answered[-1][2]:.1f} s", flush=True)

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    try:
        model = mlflow.pyfunc.load_model(CHAMPION)
        timed("the champion's own `predict`, in process", lambda: model.predict(projects))
    finally:
        mlflow.set_tracking_uri(None)

    def batch() -> pd.DataFrame:
        output = project / "data/07_model_output/holdout_batch.csv"
        params = f"inference.input={data / 'holdout.csv'},inference.output={output}"
        run(["kedro", "run", "--pipelines=inference", f"--params={params}"], project, env)
        return pd.read_csv(output)

    timed("`kedro run --pipelines=inference` (batch)", batch)

    port = free_port()
    serve = ["mlflow", "models", "serve", "-m", CHAMPION, "--env-manager", "local"]
    with Server(
        [*serve, "-h", "127.0.0.1", "-p", str(port)],
        project.parent,
        env,
        f"http://127.0.0.1:{port}/ping",
    ):

        def invocations() -> pd.DataFrame:
            split = json.loads(projects.to_json(orient="split", index=False))
            response = httpx.post(
                f"http://127.0.0.1:{port}/invocations", json={"dataframe_split": split}, timeout=600
            )
            response.raise_for_status()
            return pd.DataFrame(response.json()["predictions"])

        timed("`mlflow models serve` /invocations", invocations)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Server(["kedro", "serve", "--port", str(port)], project, env, url + "/"):

        def predict_requests() -> pd.DataFrame:
            body, answers = projects.to_dict(orient="records"), []
            for i in range(0, len(body), 64):
                response = httpx.post(url + "/predict", json=body[i : i + 64], timeout=600)
                response.raise_for_status()
                answers += response.json()
            return _flat(answers)

        timed("`kedro serve` /predict", predict_requests)

    def commands() -> pd.DataFrame:
        return _flat(
            [
                json.loads(
                    run(
                        [
                            "kedro",
                            "predict",
                            f"--title={p.title}",
                            f"--description={p.description}",
                        ],
                        project,
                        env,
                    )
                )
                for p in projects.iloc[:predict_rows].itertuples()
            ]
        )

    timed("`kedro predict`, one command per project", commands)
    return answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predict-rows", type=int, default=191, help="kedro predict commands")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from madewithml.evaluation.metrics import weighted_scores  # noqa: PLC0415

    data = _data_dir()
    truth = pd.read_csv(data / "holdout.csv")["tag"].tolist()
    with tempfile.TemporaryDirectory() as workdir:
        project = copy_project(Path(workdir) / "project")
        env = kedro_env(project, data)
        started = time.perf_counter()
        run(["kedro", "run"], project, env)
        trained = time.perf_counter() - started
        report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
        assert report["promotion"]["promote"], report["promotion"]
        answered = ask_every_path(project, env, data, args.predict_rows)

    reference = answered[0][1]
    tags = [c for c in reference.columns if c != "prediction"]
    table = []
    for name, answers, seconds in answered:
        count = len(answers)
        f1 = weighted_scores(truth[:count], answers["prediction"].tolist())["f1"]
        same = answers["prediction"].tolist() == reference["prediction"].tolist()[:count]
        gap = abs(answers[tags].to_numpy(float) - reference[tags].to_numpy()[:count]).max()
        other = (answers["prediction"] == "other").mean()
        table.append(
            f"| {name} | {count} | **{f1:.4f}** | {other:.1%} | {'yes' if same else 'NO'} "
            f"| {gap:.1e} | {seconds:.1f} |"
        )
    lines = [
        "# served benchmark: what ships, scored by every server with its defaults",
        "",
        f"Command: `python benchmarks/served.py --predict-rows {args.predict_rows}` — "
        f"{time.strftime('%Y-%m-%d')}, {_machine()}. A fresh `kedro run` ({trained:.0f} s) "
        f"promoted {report['model']['model_uri']}; its own threshold (calibrated on validation) "
        f"is **{report['model']['threshold']:.4f}**. No server is given a threshold.",
        "",
        f"The evaluation report: holdout weighted F1 **{report['overall']['f1']:.4f}** as served, "
        f"{report['most_likely']['overall']['f1']:.4f} by the most likely tag, TF-IDF baseline "
        f"{report['baseline']['overall']['f1']:.4f}; answered `other` "
        f"{report['answered_other']['served']:.1%} (truly `other`: "
        f"{report['answered_other']['true']:.1%}).",
        "",
        "| tag (support) | F1 as served | most likely tag | TF-IDF baseline |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {tag} ({scores['support']}) | {scores['f1']:.3f} | "
            f"{report['most_likely']['per_class'][tag]['f1']:.3f} | "
            f"{report['baseline']['per_class'][tag]['f1']:.3f} |"
            for tag, scores in report["per_class"].items()
        ],
        "",
        "Slices as served: "
        + ", ".join(
            f"`{name}` F1 {scores['f1']:.3f} ({scores['num_samples']} projects)"
            for name, scores in report["slices"].items()
            if scores["f1"] is not None
        )
        + ".",
        "",
        "Every path, asked with its defaults:",
        "",
        "| path | holdout projects | weighted F1 | answered `other` | same answers as in process "
        "| largest probability gap | seconds |",
        "| --- | ---: | ---: | ---: | :---: | ---: | ---: |",
        *table,
        "",
    ]
    write_results(args.out or RESULTS / "served.md", lines)


if __name__ == "__main__":
    main()
