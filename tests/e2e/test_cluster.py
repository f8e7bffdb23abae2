"""The project on a multi-node Ray cluster with an MLflow tracking server, both started here with
the engines' own tools: Ray's multi-node test cluster (`ray.cluster_utils.Cluster`, a head and a
second node, each with its own raylet and one CPU) and `mlflow server` (sqlite, artifacts served
by the server). Every command is the one a person types, with `-e cluster`, `RAY_ADDRESS` and
`MLFLOW_TRACKING_URI`; what the workers need comes from conf/cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from factories import free_port, tiny_parameters, write_raw_data
from kedro_project import copy_project, kedro

pytestmark = pytest.mark.cluster

MODEL_NAME = "madewithml-tagger"
PREFER_LOCAL = "RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING"


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node on this machine, one CPU each (Ray's own test utility)."""
    from ray.cluster_utils import Cluster  # noqa: PLC0415

    # Ray Serve's proxy prefers the replica on its own node: off, so that requests reach the
    # replicas of both nodes (the request log test below needs both to answer).
    routing = os.environ.get(PREFER_LOCAL)
    os.environ[PREFER_LOCAL] = "0"
    try:
        # Its own dashboard port: the test session's Ray may hold Ray's default one already.
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 1,
                "include_dashboard": True,
                "dashboard_port": free_port(),
            },
        )
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
    finally:
        if routing is None:
            os.environ.pop(PREFER_LOCAL)
        else:
            os.environ[PREFER_LOCAL] = routing
    yield cluster
    cluster.shutdown()


@pytest.fixture(autouse=True)
def a_fresh_shell(monkeypatch):
    """The commands run as in a new shell: Ray puts RAY_AUTH_MODE=token into the environment of
    a process that starts a Ray (this test session), and a `kedro` command that inherited it
    joined a cluster with the token where a user's would not have."""
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """`mlflow server` with a sqlite store, serving the artifacts itself (a client never
    touches the artifact folder)."""
    folder = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            *["server", "--host", "127.0.0.1", "--port", str(port)],
            *["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"],
            *["--artifacts-destination", str(folder / "artifacts")],
            *["--workers", "1"],
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(folder / 'server.log').read_text()}")
            time.sleep(0.5)
    yield uri
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster_project(tmp_path_factory, tiny_encoder):
    """A project copy with 60 synthetic projects and the tiny encoder, for `-e cluster`."""
    root = tmp_path_factory.mktemp("cluster_project")
    data_dir = write_raw_data(root / "raw")
    project = copy_project(root / "project")
    (project / "conf/cluster/parameters_test.yml").write_text(
        tiny_parameters(tiny_encoder, num_epochs=2, lr=3.0e-3, workers=False)
    )
    return project, data_dir


def _run(project, data_dir, cluster, tracking_server, *args):
    env = {"RAY_ADDRESS": cluster.address, "MLFLOW_TRACKING_URI": tracking_server}
    result = kedro(project, "run", "-e", "cluster", *args, data_dir=data_dir, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


def _client(tracking_server):
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    return MlflowClient(tracking_uri=tracking_server)


def test_training_runs_on_two_nodes_and_logs_through_the_tracking_server(
    cluster, tracking_server, cluster_project
):
    import mlflow  # noqa: PLC0415

    project, data_dir = cluster_project
    _run(project, data_dir, cluster, tracking_server, "--pipelines=training")

    client = _client(tracking_server)
    experiment = client.get_experiment_by_name("madewithml")
    (run,) = client.search_runs([experiment.experiment_id], "attributes.run_name = 'training'")
    run_id = run.info.run_id
    # 2 data-parallel workers, on 2 different nodes, every epoch
    for name, expected in [("world_size", 2.0), ("worker_nodes", 2.0)]:
        history = client.get_metric_history(run_id, name)
        assert [m.step for m in history] == [0, 1], name
        assert {m.value for m in history} == {expected}, name
    for name in ["train_loss", "val_loss", "val_f1", "lr", "epoch_s"]:
        assert [m.step for m in client.get_metric_history(run_id, name)] == [0, 1], name
    # the model was logged through the server and registered; the version predicts
    (version,) = client.search_model_versions(f"name='{MODEL_NAME}'")
    assert version.run_id == run_id
    assert version.source.startswith(("models:/", "mlflow-artifacts:", "runs:/"))
    mlflow.set_tracking_uri(tracking_server)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version.version}")
    finally:
        mlflow.set_tracking_uri(None)
    # the version in the server is the model this run trained: its answers are those of the
    # copy the run saved under data/06_models (the tagger's own files), probability for
    # probability
    local = mlflow.pyfunc.load_model(str(project / "data/06_models/tagger"))
    frame = pd.DataFrame(
        [
            {"title": "Segmenting cells", "description": "A U-Net for microscopy images."},
            {"title": "Serving models", "description": "Model monitoring and deployment."},
        ]
    )
    served, saved = model.predict(frame), local.predict(frame)
    assert served["prediction"].tolist() == saved["prediction"].tolist()
    tags = [column for column in served.columns if column != "prediction"]
    assert abs(served[tags].to_numpy() - saved[tags].to_numpy()).max() < 1e-6
    # conf/cluster's checkpoints were written where both nodes read them: the run folder was
    # removed after training (keep_run_folder: false), the model is in the server
    assert not list((project / "data/06_models/ray_results").glob("train_*"))


# The service is deployed before the tuning test: its two replicas need both nodes' CPU. In one
# run (2026-12-07), after the two-trial tuning run, one CPU stayed in use for over 4 minutes
# (Ray Serve: "total resources available: {}"; not diagnosed further, docs/scaling-out.md) and
# the second replica was never scheduled.
def test_kedro_serve_deploys_the_service_onto_the_cluster(
    cluster, tracking_server, cluster_project
):
    """`kedro serve` joins the cluster (Ray Serve, `madewithml.serving.app:build_app`) and answers
    with the version the tracking server holds; its two replicas, one per node, record what
    they answered in the one request log."""
    import json  # noqa: PLC0415

    import mlflow  # noqa: PLC0415
    from servers import start, stop, wait_for_line  # noqa: PLC0415

    project, data_dir = cluster_project
    port = free_port()
    env = {
        **os.environ,
        "RAY_ADDRESS": cluster.address,
        "MLFLOW_TRACKING_URI": tracking_server,
        "MADEWITHML_DATA_DIR": str(data_dir),
    }
    process = start(
        [
            "kedro",
            "serve",
            "-e",
            "cluster",
            "--model-uri",
            f"models:/{MODEL_NAME}/1",
            "--port",
            str(port),
        ],
        project,
        env,
    )
    try:
        deadline = time.monotonic() + 240
        body = json.dumps({"title": "Segmenting cells", "description": "U-Net"}).encode()
        while True:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predict",
                data=body,
                headers={"content-type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = json.load(response)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("kedro serve did not answer:\n" + "".join(process.lines[-60:]))
                time.sleep(1)
        # the service's answer is the registered version's own, probability for probability
        mlflow.set_tracking_uri(tracking_server)
        try:
            model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/1")
        finally:
            mlflow.set_tracking_uri(None)
        expected = model.predict(
            pd.DataFrame([{"title": "Segmenting cells", "description": "U-Net"}])
        ).iloc[0]
        assert answer["prediction"] == expected["prediction"]
        assert answer["probabilities"] == pytest.approx(
            expected.drop("prediction").to_dict(), abs=1e-6
        )
        # Requests spread over both replicas, one on each node, once both run: the first
        # answer may come while the second node's replica still starts (kedro serve prints
        # its line when the whole application runs).
        wait_for_line(process, f"serving models:/{MODEL_NAME}/1 at", timeout=240)
        ids = [f"cluster-{n}" for n in range(30)]
        for request_id in ids:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/predict",
                data=body,
                headers={"content-type": "application/json", "X-Request-ID": request_id},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
    finally:
        stop(process)
    # Each replica wrote its own files into the one folder the catalog names (absolute, so
    # every node of this one-machine cluster reaches it; shared storage on a real cluster).
    from madewithml.datasets import RequestLogDataset  # noqa: PLC0415

    logged = RequestLogDataset(path=str(project / "data/01_raw/requests")).load()
    logged = logged[logged["request_id"].isin(ids)]
    assert sorted(logged["request_id"]) == sorted(ids)
    assert logged["replica"].nunique() == 2, logged["replica"].value_counts()


def test_tuning_runs_two_trials_at_once_each_a_child_run_in_the_server(
    cluster, tracking_server, cluster_project
):
    project, data_dir = cluster_project
    params = ",".join(
        [
            "tuning.num_runs=2",  # the cluster environment's two at once
            "training.ray_train.scaling.num_workers=1",  # a trial: one worker on one node
            "training.num_epochs=2",
        ]
    )
    _run(project, data_dir, cluster, tracking_server, "--pipelines=tuning", f"--params={params}")

    client = _client(tracking_server)
    experiment = client.get_experiment_by_name("madewithml")
    (parent,) = client.search_runs([experiment.experiment_id], "attributes.run_name = 'tuning'")
    trials = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(trials) == 2
    assert all(t.data.tags.get("trial_status") for t in trials)
    # two trials at once: some pair of trials overlapped in time
    spans = sorted((t.info.start_time, t.info.end_time) for t in trials)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))
