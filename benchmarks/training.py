"""Benchmarks of the training pipeline on the real data, 2 CPU cores.

waterfall  one `kedro run --pipelines=training` with a timeline (MADEWITHML_TIMELINE): where every
           second goes, from the interpreter's start to the model registered.
quality    `kedro run --pipelines=training` once per seed (training.seed), each in a fresh copy of
           the project: wall time (Ray start included), holdout weighted F1 of the registered
           model, and its accuracy on tests/e2e/generalisation.csv (hand-written projects,
           never trained on). Mean and spread over the seeds.
overhead   the epochs of a `kedro run` (Kedro + Ray Train) against the same model, batches and
           steps in a bare PyTorch loop, in one invocation.
sweep      bare PyTorch loops (no Kedro, no Ray) of a recipe (conf/base, --set name=value ...):
           holdout F1 and generalisation accuracy per epoch, alone and blended with the TF-IDF
           model, for choosing the defaults quickly.

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
GENERALISATION = ROOT / "tests" / "e2e" / "generalisation.csv"


def _data_dir() -> Path:
    folder = os.environ.get("MADEWITHML_DATA_DIR")
    if not folder or not (Path(folder) / "holdout.csv").is_file():
        raise SystemExit("set MADEWITHML_DATA_DIR to the folder with dataset.csv and holdout.csv")
    return Path(folder).resolve()


def _machine() -> str:
    return f"{os.cpu_count()} CPU cores, no GPU"


def _kedro_training(
    project: Path, params: str, timeline: Path | None = None, console: Path | None = None
) -> float:
    """Wall seconds of `kedro run --pipelines=training` in `project` (raises on failure); the
    run's console output is written to `console` if given."""
    env = kedro_env(project, _data_dir())
    if timeline is not None:
        env["MADEWITHML_TIMELINE"] = str(timeline)
    command = [KEDRO, "run", "--pipelines=training"] + ([f"--params={params}"] if params else [])
    started = time.time()
    if timeline is not None:
        timeline.write_text(json.dumps({"event": "kedro run launched", "t": started}) + "\n")
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False
    )
    wall = time.time() - started
    if console is not None:
        console.write_text(result.stdout + result.stderr)
    if result.returncode:
        raise SystemExit(result.stdout[-5000:] + result.stderr[-5000:])
    if timeline is not None:
        with timeline.open("a") as file:
            file.write(json.dumps({"event": "kedro run exited", "t": started + wall}) + "\n")
    return wall


def _latest_model(project: Path):
    import mlflow  # noqa: PLC0415

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    version = max(
        client.search_model_versions("name='madewithml-tagger'"), key=lambda v: int(v.version)
    )
    return mlflow.pyfunc.load_model(f"models:/madewithml-tagger/{version.version}")


def scores(model, holdout: pd.DataFrame, generalisation: pd.DataFrame) -> dict[str, float]:
    """A logged model scored as it ships (its own `predict`, its own threshold) and by its most
    likely tag (the threshold undone), as the evaluation pipeline scores it: holdout weighted
    F1, the share of the holdout answered `other`, and generalisation accuracy."""
    from madewithml.evaluation.metrics import weighted_scores  # noqa: PLC0415
    from madewithml.evaluation.scoring import MOST_LIKELY, predict_labelled  # noqa: PLC0415

    (threshold,) = model.metadata.get_params_schema().params
    answers = predict_labelled(model, holdout)
    unseen = predict_labelled(model, generalisation)
    truth = holdout["tag"].tolist()
    return {
        "threshold": threshold.default,
        "holdout_f1": weighted_scores(truth, answers["prediction"].tolist())["f1"],
        "holdout_most_likely_f1": weighted_scores(truth, answers[MOST_LIKELY].tolist())["f1"],
        "holdout_answered_other": float((answers["prediction"] == "other").mean()),
        "generalisation_accuracy": float((unseen["prediction"] == generalisation["tag"]).mean()),
    }


def quality(args: argparse.Namespace) -> None:
    holdout = pd.read_csv(_data_dir() / "holdout.csv")
    generalisation = pd.read_csv(GENERALISATION)
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as workdir:
            project = copy_project(Path(workdir))
            params = ",".join(filter(None, [f"training.seed={seed}", args.params]))
            wall = _kedro_training(project, params)
            result = scores(_latest_model(project), holdout, generalisation)
            history = pd.read_csv(project / "data/08_reporting/training_history.csv")
        rows.append({"seed": seed, "wall_s": wall, "epochs": len(history), **result})
        print(json.dumps(rows[-1]), flush=True)

    def mean_sd(name: str, digits: int = 3) -> str:
        values = [r[name] for r in rows]
        return f"{statistics.mean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f}"

    truly_other = float((holdout["tag"] == "other").mean())
    lines = [
        "# training benchmark: quality and wall time",
        "",
        f"Command: `python benchmarks/training.py quality --seeds {' '.join(map(str, args.seeds))}"
        + (f" --params {args.params}" if args.params else "")
        + f"` — {time.strftime('%Y-%m-%d')}, {_machine()}.",
        "",
        "Each row is one `kedro run --pipelines=training` from a fresh copy, scored on the 191 "
        "holdout projects through the logged model's own `predict`: **as served** (its own "
        "threshold, chosen on validation by calibration: what every server answers) and by its "
        f"most likely tag (the threshold undone). {truly_other:.1%} of the holdout is truly "
        "`other`; generalisation accuracy is as served.",
        "",
        "| training.seed | wall (s) | epochs | threshold | holdout F1 as served "
        "| most likely tag | answered `other` | generalisation accuracy (48) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {r['seed']} | {r['wall_s']:.0f} | {r['epochs']} | {r['threshold']:.3f} | "
            f"{r['holdout_f1']:.3f} | {r['holdout_most_likely_f1']:.3f} | "
            f"{r['holdout_answered_other']:.1%} | {r['generalisation_accuracy']:.3f} |"
            for r in rows
        ],
        f"| mean ± sd | {mean_sd('wall_s', 0)} | | {mean_sd('threshold')} | "
        f"{mean_sd('holdout_f1')} | {mean_sd('holdout_most_likely_f1')} | "
        f"{mean_sd('holdout_answered_other')} | {mean_sd('generalisation_accuracy')} |",
        "",
    ]
    write_results(args.out or RESULTS / "training_quality.md", lines)


def _phases(events: list[dict]) -> list[tuple[str, float, float]]:
    """(event, seconds since launch, seconds since the previous event), in time order."""
    events = sorted(events, key=lambda e: e["t"])
    start = events[0]["t"]
    out, previous = [], start
    for event in events:
        out.append((event["event"], event["t"] - start, event["t"] - previous))
        previous = event["t"]
    return out


def waterfall(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        project = copy_project(Path(workdir) / "project")
        timeline = Path(workdir) / "timeline.jsonl"
        console = Path(args.console) if args.console else None
        wall = _kedro_training(project, args.params, timeline, console)
        events = [json.loads(line) for line in timeline.read_text().splitlines() if line]
    phases = _phases(events)
    lines = [
        "# training benchmark: where the time goes",
        "",
        "Command: `python benchmarks/training.py waterfall"
        + (f" --params {args.params}" if args.params else "")
        + f"` — {time.strftime('%Y-%m-%d')}, {_machine()}. One `kedro run --pipelines=training`, "
        f"{wall:.1f} s wall; each line is a mark of `madewithml.console.timeline` "
        "(MADEWITHML_TIMELINE) "
        "and the time since the previous one.",
        "",
        "| at (s) | + (s) | event |",
        "| ---: | ---: | --- |",
        *[f"| {at:.1f} | {delta:.1f} | {event} |" for event, at, delta in phases],
        "",
    ]
    write_results(args.out or RESULTS / "training_waterfall.md", lines)


def _bare_setup():
    """The real data through the project's own nodes, as the pipeline prepares it: (encoder
    parameters, the cleaned training projects, train and validation model inputs,
    class_to_index, tokenizer, data_processing parameters)."""
    import yaml  # noqa: PLC0415

    from madewithml.pipelines.data_processing import nodes  # noqa: PLC0415

    dp = _parameters("data_processing")
    encoder = yaml.safe_load((ROOT / "conf/base/parameters.yml").read_text())["encoder"]
    raw = pd.read_csv(_data_dir() / "dataset.csv")
    projects = nodes.resolve_duplicate_texts(
        nodes.add_clean_text(
            nodes.map_tags(nodes.validate_projects(raw), dp["accepted_tags"], dp["other_tag"]),
            dp["remove_stopwords"],
        ),
        dp["contradictory_labels"],
    )
    train, val = nodes.split_train_val(
        projects, dp["test_size"], dp["seed"], dp["min_rows_per_class"]
    )
    class_to_index = nodes.encode_labels(train, dp["accepted_tags"], dp["other_tag"])
    tokenizer = nodes.prepare_tokenizer(encoder["name"], projects, encoder["max_length"])
    tokenize = lambda frame: nodes.tokenize_projects(  # noqa: E731
        frame, tokenizer, encoder["max_length"], class_to_index
    )
    return encoder, train, tokenize(train), tokenize(val), class_to_index, tokenizer, dp


def bare_loop(config: dict, train, val, num_classes: int, on_epoch=None) -> list[float]:
    """The train loop's own steps on the same batches, without Ray or Kedro: same model,
    optimizer, schedule and length-bucketed batches. Returns the seconds of every epoch."""
    from madewithml.core.classifier import TagClassifier  # noqa: PLC0415
    from madewithml.core.tokenization import pad_id  # noqa: PLC0415
    from madewithml.data.encoder import load_tokenizer, resolve_encoder  # noqa: PLC0415
    from madewithml.training.batching import (  # noqa: PLC0415
        as_rows,
        batches_of,
        epoch_batches,
        eval_batches,
    )
    from madewithml.training.loop import eval_step, set_seed, train_step  # noqa: PLC0415
    from madewithml.training.optim import (  # noqa: PLC0415
        class_weights,
        make_loss,
        make_optimizer,
        make_scheduler,
    )

    set_seed(config["seed"])
    model = TagClassifier.from_encoder(
        resolve_encoder(config["encoder"]), num_classes, config["dropout_p"], config["pooling"]
    )
    train_rows, val_rows = as_rows(train), as_rows(val)
    padding = pad_id(load_tokenizer(resolve_encoder(config["encoder"])))
    steps = -(-len(train) // config["batch_size"])
    loss_fn = make_loss(
        config["loss"],
        config["label_smoothing"],
        class_weights(train_rows["target"], num_classes, config["class_weighting"]),
    )
    optimizer = make_optimizer(
        config["optimizer"], model, config["lr"], config["head_lr"], config["weight_decay"]
    )
    scheduler = make_scheduler(
        optimizer, config["lr_schedule"], steps * config["num_epochs"], config["warmup_ratio"]
    )
    times = []
    for epoch in range(config["num_epochs"]):
        started = time.perf_counter()
        set_seed(config["seed"] + epoch)
        batches = batches_of(train_rows, epoch_batches(train_rows, config, epoch), padding)
        train_step(batches, model, loss_fn, optimizer, scheduler)
        val_loss, y_true, y_pred = eval_step(
            batches_of(val_rows, eval_batches(val_rows, config["batch_size"]), padding),
            model,
            loss_fn,
        )
        times.append(time.perf_counter() - started)
        if on_epoch:
            on_epoch(epoch, model, val_loss, y_true, y_pred, times[-1])
    return times


def _parameters(pipeline: str, block: str | None = None) -> dict:
    """The `<block>` block (default: `<pipeline>`) of conf/base/parameters_<pipeline>.yml."""
    import yaml  # noqa: PLC0415

    path = ROOT / f"conf/base/parameters_{pipeline}.yml"
    return yaml.safe_load(path.read_text())[block or pipeline]


def _value(text: str):
    """A --set value: a number where it reads as one (1e-3 too), else YAML."""
    import yaml  # noqa: PLC0415

    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


BLEND_WEIGHTS = (0.0, 0.2, 0.4)


def sweep(args: argparse.Namespace) -> None:
    """Bare loops (the train loop's own steps, no Kedro, no Ray) of one recipe over seeds: per
    epoch, holdout F1 and generalisation accuracy by the most likely tag, with the transformer
    alone (blend 0) and blended with the TF-IDF model at each of `BLEND_WEIGHTS`."""
    import torch  # noqa: PLC0415

    from madewithml.core.tagger import Tagger, TaggerSettings  # noqa: PLC0415
    from madewithml.data.stopwords import stopwords  # noqa: PLC0415
    from madewithml.evaluation.metrics import weighted_scores  # noqa: PLC0415
    from madewithml.training import tfidf  # noqa: PLC0415

    torch.set_num_threads(2)
    encoder, train_projects, train, val, class_to_index, tokenizer, dp = _bare_setup()
    holdout = pd.read_csv(_data_dir() / "holdout.csv")
    generalisation = pd.read_csv(GENERALISATION)
    classes = sorted(class_to_index, key=class_to_index.get)
    tfidf_params = _parameters("training", "tfidf_model")
    tfidf_model = tfidf.fit(train_projects["text"], train_projects["tag"], classes, tfidf_params)
    base = {**_parameters("training"), "encoder": encoder["name"]}
    base.pop("ray_train")
    overrides = dict(item.split("=", 1) for item in args.set)
    config = {**base, **{k: _value(v) for k, v in overrides.items()}}
    if args.train_on_val:
        train = pd.concat([train, val], ignore_index=True)
    rows = []
    for seed in args.seeds:

        def report(epoch, model, val_loss, y_true, y_pred, seconds, seed=seed):
            row = {"seed": seed, "epoch": epoch + 1, "seconds": round(seconds, 1)}
            for weight in BLEND_WEIGHTS:
                settings = TaggerSettings(
                    encoder["max_length"],
                    0.0,  # the most likely tag: the recipe, not the threshold
                    dp["other_tag"],
                    64,
                    stopwords(dp["remove_stopwords"]),
                    blend_weight=weight,
                )
                tagger = Tagger(model, tokenizer, classes, settings, tfidf_model)
                answers = tagger.predict(holdout)["prediction"].tolist()
                unseen = tagger.predict(generalisation)["prediction"]
                row[f"holdout_f1@{weight}"] = weighted_scores(holdout["tag"].tolist(), answers)[
                    "f1"
                ]
                row[f"generalisation@{weight}"] = float((unseen == generalisation["tag"]).mean())
            rows.append(row)
            print(json.dumps(row), flush=True)

        bare_loop({**config, "seed": seed}, train, val, len(class_to_index), report)

    table = pd.DataFrame(rows).groupby("epoch").mean(numeric_only=True)
    header = " | ".join(
        f"blend {w}: holdout F1 | generalisation" if w else "alone: holdout F1 | generalisation"
        for w in BLEND_WEIGHTS
    )
    lines = [
        "# training benchmark: recipe sweep",
        "",
        f"Command: `python benchmarks/training.py sweep --seeds {' '.join(map(str, args.seeds))}"
        + (f" --set {' '.join(args.set)}" if args.set else "")
        + (" --train-on-val" if args.train_on_val else "")
        + f"` — {time.strftime('%Y-%m-%d')}, {_machine()}.",
        "",
        "The train loop's own steps without Kedro or Ray, on the real data's split; the recipe is "
        "conf/base's `training` block"
        + (f" with {', '.join(args.set)}" if args.set else "")
        + ". Each model is scored by its most likely tag (threshold 0) on the 191 holdout "
        "projects (weighted F1) and on tests/e2e/generalisation.csv (accuracy), transformer "
        "alone and blended with the TF-IDF model (conf/base `tfidf_model`) at each weight. Mean "
        f"over {len(args.seeds)} seeds.",
        "",
        f"| epoch | {header} |",
        "| ---: |" + " ---: | ---: |" * len(BLEND_WEIGHTS),
        *[
            f"| {epoch} | "
            + " | ".join(
                f"{r[f'holdout_f1@{w}']:.3f} | {r[f'generalisation@{w}']:.3f}"
                for w in BLEND_WEIGHTS
            )
            + " |"
            for epoch, r in table.iterrows()
        ],
        "",
    ]
    write_results(args.out or RESULTS / "training_sweep.md", lines)


def overhead(args: argparse.Namespace) -> None:
    import torch  # noqa: PLC0415

    epochs = args.num_epochs or 3
    with tempfile.TemporaryDirectory() as workdir:
        project = copy_project(Path(workdir))
        wall = _kedro_training(project, f"training.num_epochs={epochs}")
        history = pd.read_csv(project / "data/08_reporting/training_history.csv")
    kedro_epochs = history["epoch_s"].tolist()

    torch.set_num_threads(2)
    encoder, _, train, val, class_to_index, _, _ = _bare_setup()
    config = {**_parameters("training"), "encoder": encoder["name"], "num_epochs": epochs}
    bare_epochs = bare_loop(config, train, val, len(class_to_index))
    kedro_steady = statistics.mean(kedro_epochs[1:])
    bare_steady = statistics.mean(bare_epochs[1:])
    lines = [
        "# training benchmark: overhead of Kedro + Ray",
        "",
        f"Command: `python benchmarks/training.py overhead --num-epochs {epochs}` — "
        f"{time.strftime('%Y-%m-%d')}, {_machine()}. The same model, batches (length-bucketed, "
        "seeded) and steps: in a `kedro run` (Ray Train, 1 worker with 2 CPUs), then in a bare "
        "PyTorch loop in this process.",
        "",
        "| | epoch 1 (s) | later epochs, mean (s) |",
        "| --- | ---: | ---: |",
        f"| Kedro + Ray Train | {kedro_epochs[0]:.1f} | {kedro_steady:.1f} |",
        f"| bare PyTorch loop | {bare_epochs[0]:.1f} | {bare_steady:.1f} |",
        f"| ratio | {kedro_epochs[0] / bare_epochs[0]:.2f}× | {kedro_steady / bare_steady:.2f}× |",
        "",
        f"The whole `kedro run --pipelines=training` for {epochs} epochs: {wall:.0f} s, of which "
        f"{sum(kedro_epochs):.0f} s in epochs (the waterfall shows the rest).",
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
    parser.add_argument("mode", choices=["quality", "waterfall", "overhead", "sweep"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 1, 2, 3])
    parser.add_argument("--params", default="", help="extra kedro --params")
    parser.add_argument("--num-epochs", type=int, dest="num_epochs")
    parser.add_argument("--set", nargs="*", default=[], help="sweep: training.<name>=<value>")
    parser.add_argument("--train-on-val", action="store_true", help="sweep: train on both")
    parser.add_argument("--out")
    parser.add_argument("--console", help="waterfall: write the run's console output here")
    args = parser.parse_args()
    {"quality": quality, "waterfall": waterfall, "overhead": overhead, "sweep": sweep}[args.mode](
        args
    )


if __name__ == "__main__":
    main()
