"""Benchmarks of the training pipeline on the real data, 2 CPU cores.

quality   `kedro run --pipeline=training` once per seed (training.seed), each in a fresh copy
          of the project: wall time of the command (Ray start included) and the weighted F1
          of the registered pyfunc model on holdout.csv. Mean and spread over the seeds.
overhead  time per epoch through Kedro + Ray (the `epoch_s` of the run's training history)
          against a bare PyTorch loop on the same model, data and batches in this process,
          measured one after the other in one invocation; and Ray's start-up time.
sweep     bare PyTorch loops (no Kedro, no Ray) that print validation and holdout F1 after
          every epoch, for choosing defaults quickly (e.g. --no-stopwords, --lr).

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/training.py quality
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from project_copy import copy_project, kedro_env

ROOT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))
RESULTS = ROOT / "benchmarks" / "results"


def _data_dir() -> Path:
    folder = os.environ.get("MADEWITHML_DATA_DIR")
    if not folder or not (Path(folder) / "holdout.csv").is_file():
        raise SystemExit("set MADEWITHML_DATA_DIR to the folder with dataset.csv and holdout.csv")
    return Path(folder).resolve()


def _kedro_training(project: Path, params: str) -> tuple[float, str]:
    env = kedro_env(project, _data_dir())
    command = [KEDRO, "run", "--pipeline=training"] + ([f"--params={params}"] if params else [])
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(result.stdout[-5000:] + result.stderr[-5000:])
    return wall, f"sqlite:///{project / 'mlflow.db'}"


def holdout_f1(predict, holdout: pd.DataFrame) -> float:
    """Weighted F1 of `predict(frame) -> predicted tags` on the holdout."""
    from madewithml.metrics import weighted_scores  # noqa: PLC0415

    predicted = list(predict(holdout[["title", "description"]]))
    return weighted_scores(holdout["tag"].tolist(), predicted)["f1"]


def _latest_model_f1(tracking_uri: str, holdout: pd.DataFrame) -> tuple[float, str]:
    import mlflow  # noqa: PLC0415

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    version = max(client.search_model_versions("name='madewithml-tagger'"), key=lambda v: v.version)
    model = mlflow.pyfunc.load_model(f"models:/madewithml-tagger/{version.version}")
    from madewithml.scoring import predict_most_likely  # noqa: PLC0415

    # The evaluation's rule: the most likely tag, no inference.threshold.
    f1 = holdout_f1(lambda frame: predict_most_likely(model, frame)["prediction"], holdout)
    return f1, version.run_id


def quality(args: argparse.Namespace) -> None:
    holdout = pd.read_csv(_data_dir() / "holdout.csv")
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as workdir:
            project = copy_project(Path(workdir))
            params = ",".join(filter(None, [f"training.seed={seed}", args.params]))
            wall, tracking_uri = _kedro_training(project, params)
            f1, run_id = _latest_model_f1(tracking_uri, holdout)
            history = pd.read_csv(project / "data/08_reporting/training_history.csv")
        rows.append({"seed": seed, "wall_s": wall, "holdout_f1": f1, "epochs": len(history)})
        print(json.dumps(rows[-1]), flush=True)
    f1s = [r["holdout_f1"] for r in rows]
    walls = [r["wall_s"] for r in rows]
    lines = [
        "# training benchmark: quality and wall time",
        "",
        f"Command: `python benchmarks/training.py quality --seeds {' '.join(map(str, args.seeds))}"
        + (f" --params {args.params}" if args.params else "")
        + f"` — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, no GPU.",
        "",
        "| training.seed | `kedro run --pipeline=training` wall (s) | epochs "
        "| holdout weighted F1 |",
        "| ---: | ---: | ---: | ---: |",
        *[
            f"| {r['seed']} | {r['wall_s']:.0f} | {r['epochs']} | {r['holdout_f1']:.3f} |"
            for r in rows
        ],
        f"| mean ± sd | {statistics.mean(walls):.0f} ± {statistics.pstdev(walls):.0f} | | "
        f"{statistics.mean(f1s):.3f} ± {statistics.pstdev(f1s):.3f} |",
        "",
    ]
    write_results(args.out or RESULTS / "training_quality.md", lines)


def _bare_setup(remove_stopwords: bool | None = None):
    """The real data through the project's own functions, as the pipeline prepares it."""
    import yaml  # noqa: PLC0415

    from madewithml.pipelines.data_processing import nodes  # noqa: PLC0415

    dp = _parameters("data_processing")
    if remove_stopwords is None:
        remove_stopwords = dp["remove_stopwords"]
    encoder = yaml.safe_load((ROOT / "conf/base/parameters.yml").read_text())["encoder"]
    raw = pd.read_csv(_data_dir() / "dataset.csv")
    projects = nodes.add_clean_text(
        nodes.map_tags(nodes.validate_projects(raw), dp["accepted_tags"], dp["other_tag"]),
        remove_stopwords,
    )
    train, val = nodes.split_train_val(
        projects, dp["test_size"], dp["seed"], dp["min_rows_per_class"]
    )
    class_to_index = nodes.encode_labels(train, dp["accepted_tags"], dp["other_tag"])
    tokenizer = nodes.prepare_tokenizer(encoder["name"], projects, encoder["max_length"])
    tokenize = lambda frame: nodes.tokenize_projects(  # noqa: E731
        frame, tokenizer, encoder["max_length"], class_to_index
    )
    return encoder["name"], tokenize(train), tokenize(val), class_to_index, tokenizer


def _bare_loop(config: dict, train, val, class_to_index, on_epoch=None) -> list[float]:
    """The train loop's own steps, without Ray: same model, batches, optimizer and scheduler."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from madewithml.core.model import TagClassifier  # noqa: PLC0415
    from madewithml.encoder import resolve_encoder  # noqa: PLC0415
    from madewithml.train_loop import (  # noqa: PLC0415
        collate,
        eval_step,
        make_loss,
        make_optimizer,
        set_seed,
        train_step,
    )

    set_seed(config["seed"])
    model = TagClassifier.from_encoder(
        resolve_encoder(config["encoder"]), len(class_to_index), config["dropout_p"], "mean"
    )
    optimizer = make_optimizer(
        config["optimizer"], model.parameters(), config["lr"], config["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=config["lr_factor"], patience=config["lr_patience"]
    )
    loss_fn = make_loss(config["loss"], config["label_smoothing"])
    columns = ["input_ids", "target"]
    arrays = {c: train[c].to_numpy() for c in columns}
    val_arrays = {c: val[c].to_numpy() for c in columns}
    size, times = config["batch_size"], []
    for epoch in range(config["num_epochs"]):
        started = time.perf_counter()
        set_seed(config["seed"] + epoch)
        order = np.random.default_rng(config["seed"] + epoch).permutation(len(train))
        batches = (
            collate({c: arrays[c][order[i : i + size]] for c in columns})
            for i in range(0, len(order), size)
        )
        train_step(batches, model, loss_fn, optimizer)
        val_batches = (
            collate({c: val_arrays[c][i : i + size] for c in columns})
            for i in range(0, len(val), size)
        )
        val_loss, y_true, y_pred = eval_step(val_batches, model, loss_fn)
        scheduler.step(val_loss)
        times.append(time.perf_counter() - started)
        if on_epoch:
            on_epoch(epoch, model, val_loss, y_true, y_pred, times[-1])
    return times


def _parameters(pipeline: str) -> dict:
    """The `<pipeline>` block of conf/base/parameters_<pipeline>.yml."""
    import yaml  # noqa: PLC0415

    path = ROOT / f"conf/base/parameters_{pipeline}.yml"
    return yaml.safe_load(path.read_text())[pipeline]


def _training_params() -> dict:
    return _parameters("training")


def sweep(args: argparse.Namespace) -> None:
    import torch  # noqa: PLC0415

    from madewithml.core.tagger import Tagger, TaggerSettings  # noqa: PLC0415
    from madewithml.metrics import weighted_scores  # noqa: PLC0415
    from madewithml.stopwords import stopwords  # noqa: PLC0415

    torch.set_num_threads(2)
    encoder, train, val, class_to_index, tokenizer = _bare_setup(
        False if args.no_stopwords else None
    )
    holdout = pd.read_csv(_data_dir() / "holdout.csv")
    remove_stopwords = not args.no_stopwords and bool(
        __import__("yaml").safe_load(
            (ROOT / "conf/base/parameters_data_processing.yml").read_text()
        )["data_processing"]["remove_stopwords"]
    )
    classes = sorted(class_to_index, key=class_to_index.get)
    settings = TaggerSettings(128, 0.0, "other", 64, stopwords(remove_stopwords))
    params = {**_training_params(), "encoder": encoder}
    params.update({k: v for k, v in vars(args).items() if k in params and v is not None})
    for seed in args.seeds:

        def report(epoch, model, val_loss, y_true, y_pred, seconds, seed=seed):
            tagger = Tagger(model, tokenizer, classes, settings)
            predicted = tagger.predict(holdout, threshold=0.0)["prediction"].tolist()
            f1 = weighted_scores(holdout["tag"].tolist(), predicted)["f1"]
            print(
                f"seed {seed} epoch {epoch + 1}: val_loss {val_loss:.4f} "
                f"val_f1 {weighted_scores(y_true, y_pred)['f1']:.4f} holdout_f1 {f1:.4f} "
                f"({seconds:.1f} s)",
                flush=True,
            )

        _bare_loop({**params, "seed": seed}, train, val, class_to_index, report)


def overhead(args: argparse.Namespace) -> None:
    import torch  # noqa: PLC0415

    epochs = args.num_epochs or 3
    with tempfile.TemporaryDirectory() as workdir:
        project = copy_project(Path(workdir))
        wall, _ = _kedro_training(project, f"training.num_epochs={epochs}")
        history = pd.read_csv(project / "data/08_reporting/training_history.csv")
    kedro_epochs = history["epoch_s"].tolist()

    torch.set_num_threads(2)
    encoder, train, val, class_to_index, _ = _bare_setup()
    params = {**_training_params(), "encoder": encoder, "num_epochs": epochs}
    bare_epochs = _bare_loop(params, train, val, class_to_index)

    ray_start = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t = time.perf_counter(); import ray; "
            "ray.init(num_cpus=2); print(time.perf_counter() - t); ray.shutdown()",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        check=True,
    )
    ray_start_s = float(ray_start.stdout.strip().splitlines()[-1])
    # The first epoch pays one-off warm-up; the steady state is the mean of the others.
    kedro_steady = statistics.mean(kedro_epochs[1:])
    bare_steady = statistics.mean(bare_epochs[1:])
    lines = [
        "# training benchmark: overhead of Kedro + Ray",
        "",
        f"Command: `python benchmarks/training.py overhead --num-epochs {epochs}` — "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores.",
        "",
        "| | epoch 1 (s) | later epochs, mean (s) |",
        "| --- | ---: | ---: |",
        f"| Kedro + Ray Train (1 worker, 2 CPUs) | {kedro_epochs[0]:.1f} | {kedro_steady:.1f} |",
        f"| bare PyTorch loop, same process | {bare_epochs[0]:.1f} | {bare_steady:.1f} |",
        f"| ratio | {kedro_epochs[0] / bare_epochs[0]:.2f}× | {kedro_steady / bare_steady:.2f}× |",
        "",
        f"Whole `kedro run --pipeline=training` for {epochs} epochs: {wall:.0f} s, of which "
        f"{sum(kedro_epochs):.0f} s in epochs; the rest ({wall - sum(kedro_epochs):.0f} s) is "
        "start-up (Python, Kedro, Ray, the Train worker group, the encoder), data_processing and "
        "logging the model to MLflow.",
        f"`ray.init(num_cpus=2)` alone: {ray_start_s:.1f} s.",
        "",
    ]
    write_results(args.out or RESULTS / "training_overhead.md", lines)


def write_results(path: Path | str, lines: list[str]) -> None:
    """Write a benchmark's Markdown result and print it."""
    text = "\n".join(lines) + "\n"
    Path(path).write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["quality", "overhead", "sweep"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--params", default="", help="extra kedro --params for quality runs")
    parser.add_argument("--num-epochs", type=int, dest="num_epochs")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--dropout-p", type=float, dest="dropout_p")
    parser.add_argument("--batch-size", type=int, dest="batch_size")
    parser.add_argument("--no-stopwords", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    {"quality": quality, "overhead": overhead, "sweep": sweep}[args.mode](args)


if __name__ == "__main__":
    main()
