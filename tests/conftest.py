"""Shared fixtures: the project root, the real data, small hand-made raw tables."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
import torch
import yaml
from factories import (
    PROJECT_ROOT,
    fast_training_params,
    free_port,
    make_raw_projects,
    mlflow_tracking,
    tiny_parameters,
    write_raw_data,
)
from kedro.framework.startup import bootstrap_project

from madewithml.framework.ray_runtime import start_ray

# Where CI and the tests look for the real CSVs; MADEWITHML_DATA_DIR wins when it is a folder.
DEFAULT_REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "madewithml"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def real_data_dir() -> Path | None:
    """The folder with the real dataset.csv and holdout.csv, or None where there is none."""
    configured = os.environ.get("MADEWITHML_DATA_DIR")
    for candidate in filter(None, [configured, str(DEFAULT_REAL_DATA)]):
        folder = Path(candidate)
        if (folder / "dataset.csv").is_file() and (folder / "holdout.csv").is_file():
            return folder.resolve()
    return None


# A test is `slow` (left out of `make test-fast`) when it needs Ray, a trained project, the real
# data or a built environment, or runs a command line (`kedro`, a browser, a notebook, a server).
SLOW_FIXTURES = {
    "ray_session",
    "real_data",
    "real_default_run",
    "tiny_trained_project",
    "tiny_champion_project",
    "trained_model",
}
SLOW_MODULES = {"tests.e2e"}
# What test modules import to run a command.
SLOW_HELPERS = {"kedro", "kedro_in_terminal", "start", "kedro_env"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = getattr(item, "module", None)
        module_name = getattr(module, "__name__", "")
        if (
            SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
            or any(module_name.startswith(prefix) for prefix in SLOW_MODULES)
            or any(callable(getattr(module, name, None)) for name in SLOW_HELPERS)
            or item.get_closest_marker("real_data")
            or item.get_closest_marker("shipped_model")
        ):
            item.add_marker(pytest.mark.slow)


def pytest_addoption(parser):
    parser.addoption(
        "--model-uri",
        default=None,
        help="MLflow model URI for tests/e2e/test_behaviour.py (e.g. "
        "models:/madewithml-tagger@champion); without it the session trains the default model "
        "on the real data once",
    )
    parser.addoption(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI for --model-uri (default: MLFLOW_TRACKING_URI, else the "
        "project's sqlite:///mlflow.db)",
    )


@pytest.fixture(scope="session")
def real_default_run(tmp_path_factory, real_data, ray_session) -> Path:
    """A project copy in which `kedro run` (the default pipeline) ran once on the real data."""
    from kedro_project import copy_project, kedro  # noqa: PLC0415

    project = copy_project(tmp_path_factory.mktemp("real_default_run"))
    env = {"RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    result = kedro(project, "run", data_dir=real_data, env=env, timeout=1200)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return project


@pytest.fixture(scope="session")
def tiny_trained_project(tmp_path_factory, tiny_encoder, ray_session):
    """A project copy in which `kedro run --pipelines=training` and then `kedro run` ran on a tiny
    model and 60 synthetic projects: versions 1 and 2 of the registered model.

    Returns (project, {"training": CompletedProcess, "__default__": CompletedProcess}).
    """

    from kedro_project import copy_project, kedro  # noqa: PLC0415

    root = tmp_path_factory.mktemp("training_project")
    data_dir = write_raw_data(root / "raw")
    project = copy_project(root / "project")
    (project / "conf/local/parameters_test.yml").write_text(
        tiny_parameters(tiny_encoder, num_epochs=2, lr=3.0e-3)
    )
    # Join the test session's Ray instead of starting another one.
    env = {"RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    results = {
        name: kedro(project, "run", *args, data_dir=data_dir, env=env)
        for name, args in [("training", ["--pipelines=training"]), ("__default__", [])]
    }
    return project, results


@pytest.fixture(scope="session")
def tiny_champion_project(tiny_trained_project, tmp_path_factory) -> Path:
    """A copy of `tiny_trained_project` (its own MLflow database; the artifacts are the
    original's) whose registry's champion is version 1."""
    import shutil  # noqa: PLC0415

    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    original, _ = tiny_trained_project
    project = tmp_path_factory.mktemp("tiny_champion") / "project"
    shutil.copytree(original, project, ignore=shutil.ignore_patterns("ray_results"))
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    client.set_registered_model_alias("madewithml-tagger", "champion", "1")
    return project


@pytest.fixture(scope="session")
def trained_model(request):
    """The pyfunc model under behavioural test: `--model-uri`, or the default one trained here."""
    import json  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    uri = request.config.getoption("--model-uri")
    if uri:
        tracking = (
            request.config.getoption("--tracking-uri")
            or os.environ.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
        )
    else:
        project = request.getfixturevalue("real_default_run")
        tracking = f"sqlite:///{project / 'mlflow.db'}"
        report = json.loads((project / "data/08_reporting/evaluation.json").read_text())
        uri = report["model"]["model_uri"]  # the version `kedro run` trained and registered
    mlflow.set_tracking_uri(tracking)
    try:
        yield mlflow.pyfunc.load_model(uri)
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def project_root() -> Path:
    bootstrap_project(PROJECT_ROOT)
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def real_data() -> Path:
    folder = real_data_dir()
    if folder is None:
        pytest.skip(
            "the real data is absent: put dataset.csv and holdout.csv in "
            f"{DEFAULT_REAL_DATA} or set MADEWITHML_DATA_DIR to their folder"
        )
    return folder


@pytest.fixture
def raw_projects() -> pd.DataFrame:
    return make_raw_projects()


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with the MiniLM tokenizer, as a folder.

    Trains in a fraction of a second per step, so tests exercise the real code paths fast.
    """
    from transformers import AutoTokenizer, BertConfig, BertModel  # noqa: PLC0415

    from madewithml.data.encoder import PACKAGED_ENCODER, resolve_encoder  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("tiny_encoder")
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(PACKAGED_ENCODER))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


TINY_CLASSES = ["computer-vision", "mlops", "natural-language-processing", "other"]


@pytest.fixture(scope="session")
def tiny_tagger(tiny_encoder):
    """A `Tagger` over a tiny random classifier (untrained), threshold 0.3, batches of 2."""
    from madewithml.core.classifier import TagClassifier  # noqa: PLC0415
    from madewithml.core.tagger import Tagger, TaggerSettings  # noqa: PLC0415
    from madewithml.data.encoder import load_tokenizer  # noqa: PLC0415

    torch.manual_seed(0)
    classifier = TagClassifier.from_encoder(str(tiny_encoder), len(TINY_CLASSES), 0.1, "mean")
    settings = TaggerSettings(max_length=32, threshold=0.3, other_tag="other", batch_size=2)
    return Tagger(classifier, load_tokenizer(str(tiny_encoder)), TINY_CLASSES, settings)


@pytest.fixture(scope="session")
def tiny_logged_model(tiny_tagger, tmp_path_factory):
    """`tiny_tagger` saved as an MLflow model folder and loaded back as a pyfunc model."""
    import mlflow  # noqa: PLC0415

    from madewithml.shipping import packaging as model_logging  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("tiny_logged_model") / "model"
    model_logging.save_model(tiny_tagger, folder)
    return folder, mlflow.pyfunc.load_model(str(folder))


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole test session (2 CPUs, as on the target laptop)."""
    import ray  # noqa: PLC0415

    # Ray's processes inherit these: no progress bars from Ray Data (also inside Tune trials),
    # and a worker group that cannot start fails the test instead of retrying for ever.
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "120")
    if not ray.is_initialized():
        # As `kedro run` starts it (conf/base/ray.yml: on loopback only, Ray's token readable by
        # this user only, every worker with the project's runtime environment), with the
        # dashboard, whose state API Tune over Ray Train V2 needs.
        config = yaml.safe_load((PROJECT_ROOT / "conf/base/ray.yml").read_text())
        config["init"].update(num_cpus=2, include_dashboard=True, logging_level="ERROR")
        start_ray(config, set())
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


# The HTTP service, started for real on loopback in the test session's Ray.
SERVING = {
    "limits": {
        "max_body_bytes": 20_000,
        "max_items": 8,
        "max_text_chars": 500,
        "max_request_chars": 4_000,
    },
    # A long wait, so that concurrent requests surely share batches.
    "batching": {"max_batch_projects": 16, "wait_s": 0.2},
    # As conf/base/serving.yml: Ray's default of 5 ongoing requests makes the router back off.
    "deployment": {
        "num_replicas": 1,
        "max_ongoing_requests": 64,
        "ray_actor_options": {"num_cpus": 0},
        "logging_config": {"log_level": "WARNING", "enable_access_log": False},
    },
    # No line per request into the test session's console (the kedro serve test checks them).
    "access_log": None,
}


@pytest.fixture(scope="session")
def tiny_model(tiny_champion_project):
    """(tracking URI, model URI) of the tiny project's champion, pinned to its version."""
    import mlflow  # noqa: PLC0415

    from madewithml.shipping.registry import pinned_model_uri  # noqa: PLC0415

    tracking = f"sqlite:///{tiny_champion_project / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    try:
        yield tracking, pinned_model_uri("models:/madewithml-tagger@champion")
    finally:
        mlflow.set_tracking_uri(None)


RELOAD_TOKEN = "a token only the tests know"  # `service`'s POST /reload token


@pytest.fixture(scope="module")
def service_request_log(tmp_path_factory) -> Path:
    """The folder of `service`'s request log (written quickly: every 0.1 s)."""
    return tmp_path_factory.mktemp("request_log") / "requests"


@pytest.fixture(scope="module")
def service(ray_session, tiny_model, service_request_log):
    """The base URL of a running service over the tiny champion, threshold 0.5 (one per test
    module: Serve does not idle on the test session's cores in between)."""
    from ray import serve  # noqa: PLC0415

    from madewithml.serving.app import start_service  # noqa: PLC0415

    tracking, model_uri = tiny_model
    serve.shutdown()  # a fresh Serve with this port, whatever ran on the session's Ray before
    request_log = {
        "path": str(service_request_log),
        "store_text": True,
        "flush_interval_s": 0.1,
        "flush_rows": 1000,
        "max_buffered_rows": 10_000,
    }
    url = start_service(
        {
            **SERVING,
            "model_uri": model_uri,
            "tracking_uri": tracking,
            "threshold": 0.5,
            "request_log": request_log,
            "reload_token_sha256": hashlib.sha256(RELOAD_TOKEN.encode()).hexdigest(),
        },
        host="127.0.0.1",
        port=free_port(),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield url
    serve.shutdown()


# Small, real model inputs for the training and tuning tests, and a throw-away MLflow run.
ACCEPTED = ["computer-vision", "mlops", "natural-language-processing"]


@pytest.fixture(scope="session")
def model_inputs(tiny_encoder):
    """(train, val, class_to_index) for 60 synthetic projects, tokenized by the tiny encoder."""
    from madewithml.data.encoder import load_tokenizer  # noqa: PLC0415
    from madewithml.pipelines.data_processing.nodes import (  # noqa: PLC0415
        add_clean_text,
        encode_labels,
        map_tags,
        split_train_val,
        tokenize_projects,
    )

    projects = add_clean_text(map_tags(make_raw_projects(12), ACCEPTED, "other"), False)
    train, val = split_train_val(projects, test_size=0.25, seed=0, min_rows_per_class=5)
    class_to_index = encode_labels(train, ACCEPTED, "other")
    tokenizer = load_tokenizer(str(tiny_encoder))  # the `tiny_tokenizer`
    return (
        tokenize_projects(train, tokenizer, 32, class_to_index),
        tokenize_projects(val, tokenizer, 32, class_to_index),
        class_to_index,
    )


@pytest.fixture
def training_params(tmp_path) -> dict:
    """Fast training parameters: 3 epochs of a tiny model, 1 worker with 1 CPU."""
    return fast_training_params(tmp_path / "ray_results")


@pytest.fixture
def tracking(tmp_path):
    """An MLflow run in a throw-away sqlite store, as kedro-mlflow opens for `kedro run`."""
    run, client = mlflow_tracking(tmp_path)
    yield run, client
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_encoder):
    """The tiny encoder's tokenizer (MiniLM's)."""
    from madewithml.data.encoder import load_tokenizer  # noqa: PLC0415

    return load_tokenizer(str(tiny_encoder))
