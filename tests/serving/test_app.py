"""Real HTTP requests to the Ray Serve + FastAPI service: every endpoint and every bad input."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import mlflow
import pandas as pd
import pytest

from madewithml.core.pyfunc import THRESHOLD_PARAM

TAGS = ["computer-vision", "mlops", "natural-language-processing", "other"]
PROJECT = {"title": "Transformers for text", "description": "A language model for search."}
PROJECTS = [
    PROJECT,
    {"title": "YOLO object detection", "description": "Real-time images."},
    {"title": "Kubeflow pipelines", "description": "Deploying models."},
]


@pytest.fixture(scope="module")
def pyfunc(tiny_model):
    """The same logged model, loaded with MLflow: what the service must answer."""
    tracking, model_uri = tiny_model
    mlflow.set_tracking_uri(tracking)
    return mlflow.pyfunc.load_model(model_uri)


def expected(pyfunc, projects, threshold=0.5):
    predictions = pyfunc.predict(pd.DataFrame(projects), params={THRESHOLD_PARAM: threshold})
    return [
        {"prediction": row["prediction"], "probabilities": {tag: row[tag] for tag in TAGS}}
        for _, row in predictions.iterrows()
    ]


def assert_same(answers, reference):
    assert [a["prediction"] for a in answers] == [r["prediction"] for r in reference]
    for answer, ref in zip(answers, reference, strict=True):
        assert answer["probabilities"] == pytest.approx(ref["probabilities"], abs=1e-6)


def test_health_and_run_id_name_the_served_model(service, tiny_model, pyfunc):
    health = httpx.get(service + "/").json()
    assert health["status"] == "ok"
    assert health["replica"]  # whose statistics these are (each replica counts its own)
    assert health["model_uri"] == tiny_model[1] == "models:/madewithml-tagger/1"
    assert (health["model_name"], health["model_version"]) == ("madewithml-tagger", "1")
    assert health["run_id"] == pyfunc.metadata.run_id
    assert httpx.get(service + "/run_id").json() == {"run_id": pyfunc.metadata.run_id}


def test_predict_one_project_answers_as_the_pyfunc_model(service, pyfunc):
    response = httpx.post(service + "/predict", json=PROJECT)
    assert response.status_code == 200
    assert response.headers["x-model-version"] == "1"  # the version that answered
    assert set(response.json()) == {"prediction", "probabilities"}
    assert_same([response.json()], expected(pyfunc, [PROJECT]))


def test_predict_a_list_answers_each_in_order(service, pyfunc):
    response = httpx.post(service + "/predict", json=PROJECTS)
    assert response.status_code == 200
    assert_same(response.json(), expected(pyfunc, PROJECTS))


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(service, pyfunc):
    before = httpx.get(service + "/").json()
    projects = [
        {"title": f"{p['title']} {i}", "description": p["description"]}
        for i, p in enumerate(PROJECTS * 6)
    ]
    with ThreadPoolExecutor(max_workers=len(projects)) as pool:
        responses = list(
            pool.map(lambda p: httpx.post(service + "/predict", json=p, timeout=60), projects)
        )
    assert [r.status_code for r in responses] == [200] * len(projects)
    assert_same([r.json() for r in responses], expected(pyfunc, projects))
    after = httpx.get(service + "/").json()
    requests = after["stats"]["requests"] - before["stats"]["requests"]
    batches = after["stats"]["batches"] - before["stats"]["batches"]
    assert requests == after["stats"]["projects"] - before["stats"]["projects"] == len(projects)
    assert batches < requests  # several requests shared a forward pass
    # every answered request's time is in the phases, and waiting for its batch is part of it
    seconds = {
        phase: after["stats"]["seconds"][phase] - before["stats"]["seconds"][phase]
        for phase in after["stats"]["seconds"]
    }
    assert all(value > 0 for value in seconds.values()), seconds


def test_every_answer_is_in_the_request_log_under_its_request_id(
    service, service_request_log, pyfunc
):
    """One row per project answered, with what was answered, by which model version and
    replica, in the order of the request; read back through the catalog's dataset class."""
    from madewithml.datasets import RequestLogDataset  # noqa: PLC0415

    answered = {}
    for body in (PROJECTS, PROJECT):
        response = httpx.post(service + "/predict", json=body)
        assert response.status_code == 200
        answered[response.headers["x-request-id"]] = (body, response.json())
    assert len(answered) == 2  # a new id per request
    # A client's own id is the id of its rows.
    response = httpx.post(service + "/predict", json=PROJECT, headers={"X-Request-ID": "mine-1"})
    assert response.headers["x-request-id"] == "mine-1"
    answered["mine-1"] = (PROJECT, response.json())
    log = RequestLogDataset(path=str(service_request_log))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = log.load()
        rows = rows[rows["request_id"].isin(list(answered))]
        if len(rows) == len(PROJECTS) + 2:
            break
        time.sleep(0.2)
    health = httpx.get(service + "/").json()
    for request_id, (body, answer) in answered.items():
        mine = rows[rows["request_id"] == request_id].sort_values("item")
        projects = body if isinstance(body, list) else [body]
        answers = answer if isinstance(answer, list) else [answer]
        assert list(mine["title"]) == [p["title"] for p in projects]
        assert list(mine["description"]) == [p["description"] for p in projects]
        assert list(mine["prediction"]) == [a["prediction"] for a in answers]
        for logged, given in zip(mine["probabilities"], answers, strict=True):
            assert logged == given["probabilities"]
        assert list(mine["top_probability"]) == [max(a["probabilities"].values()) for a in answers]
        assert set(mine["model_version"]) == {"1"} and set(mine["run_id"]) == {health["run_id"]}
        assert set(mine["replica"]) == {health["replica"]}
        assert (mine["latency_ms"] > 0).all()
    assert health["request_log"]["failed_writes"] == 0


def test_evaluate_returns_the_evaluation_pipelines_metrics(service, pyfunc):
    labelled = [
        {**PROJECTS[0], "tag": "natural-language-processing"},
        {**PROJECTS[1], "tag": "computer-vision"},
        {**PROJECTS[2], "tag": "reinforcement-learning"},  # not a model tag: counts as other
    ]
    response = httpx.post(service + "/evaluate", json=labelled)
    assert response.status_code == 200
    report = response.json()
    assert set(report) == {"served", "most_likely", "answered_other"}
    truth = ["natural-language-processing", "computer-vision", "other"]
    # served: at the service's threshold (0.5); most likely: the threshold undone
    for name, threshold in [("served", 0.5), ("most_likely", 0.0)]:
        scores = report[name]
        assert set(scores) == {"overall", "per_class", "confusion_matrix", "slices"}
        assert scores["overall"]["num_samples"] == 3
        assert scores["confusion_matrix"]["classes"] == TAGS
        predicted = [p["prediction"] for p in expected(pyfunc, PROJECTS, threshold=threshold)]
        right = sum(p == t for p, t in zip(predicted, truth, strict=True))
        matrix = scores["confusion_matrix"]["matrix"]
        assert sum(sum(row) for row in matrix) == 3
        assert sum(matrix[i][i] for i in range(len(TAGS))) == right, name
        answered_other = sum(p == "other" for p in predicted) / 3
        assert report["answered_other"][name] == pytest.approx(answered_other)
    assert report["answered_other"]["true"] == pytest.approx(1 / 3)


def test_openapi_docs(service):
    assert httpx.get(service + "/docs").status_code == 200
    schema = httpx.get(service + "/openapi.json").json()
    assert {"/", "/run_id", "/predict", "/evaluate"} <= set(schema["paths"])


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("/predict", {"title": "No description"}, 422, "description"),
        ("/predict", {"title": 3, "description": "x"}, 422, "title"),
        ("/predict", {**PROJECT, "tag": "mlops"}, 422, "tag"),  # unknown field
        ("/predict", {"title": "   ", "description": "x"}, 422, "title"),
        ("/predict", {"title": "x", "description": ""}, 422, "description"),
        ("/predict", [], 422, "no project"),
        ("/predict", "just text", 422, ""),
        ("/predict", [PROJECT] * 9, 413, "at most 8"),
        ("/predict", [PROJECT] * 10_000, 413, "byte limit"),  # 10,000 items: over the body limit
        # 8 projects of 998 characters: under every other limit, over the request's 4,000.
        ("/predict", [{"title": "x" * 499, "description": "y" * 499}] * 8, 413, "at most 4000"),
        ("/predict", {"title": None, "description": "x"}, 422, "title"),
        ("/predict", {"title": ["a"], "description": "x"}, 422, "title"),
        ("/predict", {"title": "x" * 501, "description": "x"}, 422, "500-character"),
        (
            "/predict",
            [PROJECT, {"title": "🚀🚀", "description": "!!"}],
            422,
            "project 1: no letter",
        ),
        ("/evaluate", [PROJECT], 422, "tag"),
        ("/evaluate", [{**PROJECT, "tag": ""}], 422, "tag"),
    ],
)
def test_bad_requests_get_4xx_and_the_service_keeps_serving(service, path, body, status, detail):
    response = httpx.post(service + path, json=body)
    assert response.status_code == status, response.text
    assert detail in response.text
    assert httpx.post(service + "/predict", json=PROJECT).status_code == 200


def test_oversize_and_malformed_bodies(service):
    big = b'{"title": "' + b"x" * 30_000 + b'", "description": "x"}'
    response = httpx.post(
        service + "/predict", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "20000-byte limit" in response.text
    broken = httpx.post(
        service + "/predict", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert httpx.get(service + "/predict").status_code == 405
    assert httpx.post(service + "/predict", json=PROJECT).status_code == 200


def test_unicode_and_control_characters_are_answered_like_the_model(service, pyfunc):
    projects = [
        {"title": "Détection d'objets 🚀 en temps réel", "description": "Вид: YOLO; 目标检测"},
        {
            "title": "Tabs\tand\nnew lines",
            "description": "NUL \u0000 bell \u0007 escape \u001b[31m",
        },
        {"title": "\u202eRight-to-left override", "description": "zero\u200bwidth space"},
    ]
    response = httpx.post(service + "/predict", json=projects)
    assert response.status_code == 200, response.text
    assert_same(response.json(), expected(pyfunc, projects))


def test_reload_needs_the_token_and_leaves_its_request_for_kedro_serve(service):
    """`POST /reload`: 401 without the token or with another; with it, 503 while no `kedro
    serve` follows the champion, then 202 and the request left in `ReloadRequests`."""
    import ray  # noqa: PLC0415
    from conftest import RELOAD_TOKEN  # noqa: PLC0415

    from madewithml.serving.champion import (  # noqa: PLC0415
        RELOAD_ACTOR,
        RELOAD_NAMESPACE,
        start_reload_requests,  # noqa: PLC0415
    )

    url = service + "/reload"
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": RELOAD_TOKEN}]:
        response = httpx.post(url, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    right = {"Authorization": f"Bearer {RELOAD_TOKEN}"}
    assert httpx.post(url, headers=right).status_code == 503
    requests = start_reload_requests()
    try:
        response = httpx.post(url, headers=right)
        assert response.status_code == 202
        assert response.json() == {"reload": "requested", "serving": "models:/madewithml-tagger/1"}
        assert ray.get(requests.take.remote()) is True
        assert ray.get(requests.take.remote()) is False  # taken once
    finally:
        ray.kill(ray.get_actor(RELOAD_ACTOR, namespace=RELOAD_NAMESPACE))
