"""Test data and paths shared by the test modules (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import random
import socket
import textwrap
from pathlib import Path

import pandas as pd
from kedro.config import OmegaConfigLoader

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_parameters(prefix: str) -> dict:
    """The project's conf/base parameters under ``prefix``, keyed as the catalog feeds them
    (``params:<prefix>.<key>``), so a test catalog cannot drift from conf/."""
    conf = Path(__file__).resolve().parents[1] / "conf"
    params = OmegaConfigLoader(str(conf), base_env="base", default_run_env="base")["parameters"]
    return {f"params:{prefix}.{key}": value for key, value in params[prefix].items()}


def make_raw_projects(rows_per_tag: int = 6, title: str = "Project") -> pd.DataFrame:
    """A small raw table in the upstream format, with a tag outside the accepted set. Another
    `title` makes other projects (a holdout that does not repeat the training data)."""
    topics = {
        "computer-vision": "image segmentation with convolutional networks",
        "natural-language-processing": "transformer language model for text",
        "mlops": "model monitoring and deployment pipeline",
        "reinforcement-learning": "agent learns policy from rewards",
        "graph-learning": "graph neural network for node classification",
    }
    rows = []
    for tag, topic in topics.items():
        for i in range(rows_per_tag):
            rows.append(
                {
                    "id": len(rows) + 1,
                    "created_on": str(pd.Timestamp("2020-03-01 10:00:00") + pd.Timedelta(days=i)),
                    "title": f"{title} {len(rows)}: {topic.split()[0].title()}",
                    "description": f"A {topic} example number {i}, see https://example.com/{i}.",
                    "tag": tag,
                }
            )
    return pd.DataFrame(rows)


def write_raw_data(folder: Path) -> Path:
    """`folder` holding a synthetic `dataset.csv` (60 projects) and `holdout.csv` (15 others),
    as MADEWITHML_DATA_DIR expects: a tiny project's raw data."""
    folder.mkdir(parents=True, exist_ok=True)
    make_raw_projects(12).to_csv(folder / "dataset.csv", index=False)
    make_raw_projects(3, title="Holdout").to_csv(folder / "holdout.csv", index=False)
    return folder


def tiny_parameters(
    encoder: Path,
    more: str = "",
    num_epochs: int = 1,
    lr: float | None = None,
    workers: bool = True,
) -> str:
    """A tiny project's `conf/local/parameters_test.yml`: the tiny encoder (32 tokens),
    `num_epochs` of batches of 8 (at `lr`, else conf/base's) on one worker with one CPU
    (`workers` false: the environment's own), answering in float32 (the untrained tiny model's
    probabilities are nearly equal: bfloat16's rounding, which depends a little on a batch's
    other rows, would turn its most likely tag), with no behavioural cases (those of conf/base
    are about real projects, which a tiny model trained on synthetic ones cannot know); `more`
    is YAML appended as it is."""
    return (
        textwrap.dedent(
            f"""\
            encoder: {{name: {encoder}, max_length: 32}}
            inference: {{precision: float32}}
            evaluation:
              min_holdout_rows: 10
              behaviour: {{invariance: [], directional: [], minimum_functionality: []}}
            training:
              num_epochs: {num_epochs}
              batch_size: 8
            """
        )
        + (f"  lr: {lr}\n" if lr is not None else "")
        + ("  ray_train: {scaling: {resources_per_worker: {CPU: 1}}}\n" if workers else "")
        + more
    )


def fast_training_params(storage_path: Path, **overrides) -> dict:
    """Training parameters for a tiny model: 3 epochs, 1 worker with 1 CPU, no retries.

    The schedule and the length bucketing are the default recipe's (linear warm-up and decay,
    windows of batches); no class weights and no label smoothing, so a plain
    `CrossEntropyLoss` recomputes the reported validation loss.
    """
    params = {
        "seed": 1234,
        "num_epochs": 3,
        "batch_size": 8,
        "loss": "cross_entropy",
        "label_smoothing": 0.0,
        "class_weighting": "none",
        "optimizer": "adamw",
        "lr": 3e-3,
        "head_lr": 3e-3,
        "weight_decay": 0.0,
        "lr_schedule": "linear",
        "warmup_ratio": 0.1,
        "dropout_p": 0.1,
        "pooling": "mean",
        "bucket_window": 2,
        "ray_train": {
            # conf/base's block (so a setting added there is here too), these replaced
            **project_parameters("training")["params:training.ray_train"],
            "scaling": {
                "num_workers": 1,
                "use_gpu": False,
                "resources_per_worker": {"CPU": 1},
                "placement_strategy": "PACK",
            },
            "storage_path": str(storage_path),
            "checkpoints_to_keep": 1,
            "max_failures": 0,
            "keep_run_folder": True,
            "log_level": "WARNING",
        },
    }
    return {**params, **overrides}


def mlflow_tracking(folder: Path):
    """A run in a throw-away sqlite MLflow store, as kedro-mlflow opens for `kedro run`:
    (``{"tracking_uri", "run_id", "experiment_id"}``, client)."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("test", artifact_location=str(folder / "mlruns"))
    run = client.create_run(experiment)
    return {"tracking_uri": uri, "run_id": run.info.run_id, "experiment_id": experiment}, client


def register_variant(project: Path, folder: Path, change, name: str = "madewithml-tagger") -> str:
    """A new registered version in `project`'s MLflow store: a copy of version 1's files in
    `folder`, `change`d (a function of the model folder), logged by version 1's run."""
    import mlflow  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    tracking = f"sqlite:///{project / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    try:
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(folder)))
    finally:
        mlflow.set_tracking_uri(None)
    change(local)
    client = MlflowClient(tracking_uri=tracking)
    run_id = client.get_model_version(name, "1").run_id
    return str(client.create_model_version(name, str(local), run_id=run_id).version)


def mislabelled(model: Path) -> None:
    """A model folder changed to answer the wrong tag for every project: its classes saved in
    the wrong order (each index named after the next tag), a bug a person could make."""
    import json  # noqa: PLC0415

    (settings_file,) = model.rglob("tagger.json")
    settings = json.loads(settings_file.read_text())
    classes = settings["classes"]
    settings["classes"] = classes[1:] + classes[:1]
    settings_file.write_text(json.dumps(settings))


def damaged(model: Path) -> None:
    """A model folder whose weights are overwritten at their end (their digest no longer
    matches): a version the service must refuse."""
    weights = max((p for p in model.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(weights.read_bytes())
    data[-64:] = bytes(64)
    weights.write_bytes(bytes(data))


def free_port(below: int | None = None) -> int:
    """A TCP port on loopback that nothing listens on now; `below`: one under that number
    (Kedro-Viz refuses ports above 49151, where the system picks ephemeral ones)."""
    candidates = iter(random.sample(range(20000, below), 200)) if below else iter([0] * 200)
    for candidate in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port on loopback")


PAD_ID = 0  # the MiniLM tokenizer's pad id, which the tiny encoder shares


def token_rows(n: int, length: int = 8, seed: int = 0) -> dict:
    """Unpadded token ids of different lengths, as Ray Data hands them over (an object array
    of arrays), and targets: the rows the train loop batches."""
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    ids = np.empty(n, dtype=object)
    for i, used in enumerate(rng.integers(3, length - 2, size=n)):
        ids[i] = np.concatenate([[101], rng.integers(1000, 1100, size=used - 1)])
    return {"input_ids": ids, "target": rng.integers(0, 4, size=n)}


def collated_batches(rows: dict, batch_size: int) -> list[dict]:
    """`rows` in order, cut into collated training batches of `batch_size`."""
    from madewithml.training.batching import collate  # noqa: PLC0415

    n = len(rows["target"])
    return [
        collate({key: value[start : start + batch_size] for key, value in rows.items()}, PAD_ID)
        for start in range(0, n, batch_size)
    ]
