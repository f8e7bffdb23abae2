"""The HTTP service: a Ray Serve deployment with a FastAPI app over a logged model.

Concurrent `/predict` requests are batched dynamically (`madewithml.serving.batcher`): when the
model is free, one `predict` answers every request waiting then, up to `max_batch_projects`
projects. Every answer is the logged model's own `predict`.

`build_app` is a Ray Serve application builder: `kedro serve` calls it with `serving` of
`conf/<env>/serving.yml` (read once, by the command), and so can a `serve run` / `serve deploy` /
KubeRay config (`import_path: madewithml.serving.app:build_app`, `args:` the same keys as
`ServiceConfig`).
"""

# No `from __future__ import annotations`: Ray Serve's class-based FastAPI routes need the real
# annotations to find the request body.
import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from typing import Any

import pandas as pd
import ray
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve import Application

from madewithml.core.pyfunc import THRESHOLD_PARAM
from madewithml.evaluation.scoring import evaluate
from madewithml.monitoring.request_log import RequestLogWriter, answer_rows, now
from madewithml.serving.answers import answers
from madewithml.serving.batcher import Batcher
from madewithml.serving.champion import RELOAD_ACTOR, RELOAD_NAMESPACE, RELOAD_PATH
from madewithml.serving.guard import RequestGuard, UniqueKeysRoute, log_access_to
from madewithml.serving.schemas import LabelledProject, Prediction, Project, ServiceConfig
from madewithml.serving.timings import ServiceStats
from madewithml.shipping.loading import load_model
from madewithml.shipping.registry import model_version

logger = logging.getLogger(__name__)
APP_NAME = "madewithml"
REQUEST_ID_HEADER = "x-request-id"
MODEL_VERSION_HEADER = "x-model-version"  # the version that answered (a registry URI's)


app = FastAPI(
    title="madewithml",
    description="Tags machine-learning projects from their title and description.",
)
app.router.route_class = UniqueKeysRoute  # a key given twice in a body is a 422


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming each bad field by its place in the body; the input is not echoed (it may be
    what cannot be encoded: NaN, a lone surrogate)."""
    details = [
        {
            "loc": list(problem["loc"]),
            # a JSON decode error says what is wrong in its context (e.g. a key given twice)
            "msg": ": ".join(
                filter(None, [problem["msg"], (problem.get("ctx") or {}).get("error")])
            )
            if problem["type"] == "json_invalid"
            else problem["msg"],
            "type": problem["type"],
        }
        for problem in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": details})


app.add_middleware(RequestGuard)


@serve.deployment
@serve.ingress(app)
class TagService:
    """Answers with one logged model, at its own threshold unless the service is given one."""

    def __init__(self, config: ServiceConfig) -> None:
        import mlflow  # noqa: PLC0415 - in the replica's process

        if config.tracking_uri:
            mlflow.set_tracking_uri(config.tracking_uri)
        self.model = load_model(config.model_uri)
        self.tagger = self.model.unwrap_python_model().tagger  # for checking requests first
        self.config = config
        # None: the model answers with its own threshold; `params` only for an override.
        self.params = None if config.threshold is None else {THRESHOLD_PARAM: config.threshold}
        self.threshold = (
            self.tagger.settings.threshold if config.threshold is None else config.threshold
        )
        self.stats = ServiceStats()  # where /predict requests' time goes (the guard records)
        self.replica = serve.get_replica_context().replica_id.unique_id
        self.identity = {**model_version(config.model_uri), "run_id": self.model.metadata.run_id}
        self.request_log = (
            None
            if config.request_log is None
            else RequestLogWriter(
                config.request_log.path,
                self.replica,
                flush_interval_s=config.request_log.flush_interval_s,
                flush_rows=config.request_log.flush_rows,
                max_buffered_rows=config.request_log.max_buffered_rows,
            )
        )
        app.state.config = config
        app.state.stats = self.stats
        if config.access_log is not None:
            log_access_to(config.access_log)
        self.batcher = Batcher(
            self._predict_rows,
            config.batching.max_batch_projects,
            config.batching.wait_s,
            on_batch=self.stats.batch,
        )

    @app.get("/")
    def health(self) -> dict[str, Any]:
        """Health: the service is up, which model it serves, and the statistics of the replica
        that answers (`replica`: each replica counts its own)."""
        return {
            "status": "ok",
            "replica": self.replica,
            "model_uri": self.config.model_uri,
            **self.identity,
            "threshold": self.threshold,
            "stats": self.stats.as_dict(),
            "request_log": None if self.request_log is None else self.request_log.stats,
        }

    @app.post(RELOAD_PATH, status_code=202)
    async def reload(self, request: Request) -> dict[str, Any]:
        """Ask `kedro serve` to check its champion alias now, rather than at its next poll
        (`Authorization: Bearer <serving_reload_token>`). The answer names the version serving
        now; `GET /` names the one serving after the switch."""
        expected = self.config.reload_token_sha256
        if expected is None:
            raise HTTPException(
                status_code=404,
                detail="reload is off: kedro serve of a model alias, with serving_reload_token "
                "in conf/local/credentials.yml, turns it on",
            )
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        digest = hashlib.sha256(token.encode()).hexdigest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(digest, expected):
            raise HTTPException(
                status_code=401,
                detail="a valid reload token is needed: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            requests = ray.get_actor(RELOAD_ACTOR, namespace=RELOAD_NAMESPACE)
        except ValueError:
            raise HTTPException(
                status_code=503, detail="no kedro serve follows this service's champion"
            ) from None
        await requests.request.remote()
        return {"reload": "requested", "serving": self.config.model_uri}

    @app.get("/run_id")
    def run_id(self) -> dict[str, str]:
        """The MLflow run that logged the served model."""
        return {"run_id": self.model.metadata.run_id}

    @app.post("/predict")
    async def predict(
        self, request: Request, response: Response, projects: Project | list[Project]
    ) -> Prediction | list[Prediction]:
        """The tag of one project, or of a list of projects, and the probability of every tag.

        A prediction whose top probability is below the service's threshold is `other`. The
        answer's `X-Request-ID` header (the request's own, if it has one) names its rows in the
        request log.
        """
        marks = request.state.marks  # set by the guard
        marks["parsed"] = time.perf_counter()
        items = projects if isinstance(projects, list) else [projects]
        rows = self._check(request, items)
        marks["checked"] = time.perf_counter()
        results, marks["batched"], marks["predicted"] = await self.batcher.submit(rows)
        marks["answered"] = time.perf_counter()
        # Ray Serve's proxy gives every request an id (the client's `X-Request-ID`, or its own)
        # and returns it in the answer's `X-Request-ID`: the id of its rows in the request log.
        request_id = request.headers.get(REQUEST_ID_HEADER)
        if request_id is None:  # not through Ray's proxy (the app alone)
            request_id = response.headers[REQUEST_ID_HEADER] = uuid.uuid4().hex
        response.headers[MODEL_VERSION_HEADER] = self.identity["model_version"] or ""
        if self.request_log is not None:
            self._log(request_id, rows, results, 1000 * (marks["answered"] - marks["received"]))
        return results if isinstance(projects, list) else results[0]

    def _log(self, request_id: str, rows: list[dict], results: list[dict], latency_ms: float):
        """The answered request's rows to the request log; an answer never fails on it."""
        try:
            self.request_log.add(
                answer_rows(
                    when=now(),
                    request_id=request_id,
                    projects=rows,
                    predictions=results,
                    model={**self.identity, "replica": self.replica},
                    latency_ms=latency_ms,
                    store_text=self.config.request_log.store_text,
                )
            )
        except Exception:  # noqa: BLE001 - logged; the client has its answer
            logger.exception("request log: the rows of request %s were not recorded", request_id)

    def __del__(self) -> None:
        """Ray Serve calls it when the replica shuts down: the request log writes what it
        holds."""
        request_log = getattr(self, "request_log", None)
        if request_log is not None:
            request_log.close()

    @app.post("/evaluate")
    async def evaluate(self, request: Request, projects: list[LabelledProject]) -> dict[str, Any]:
        """The evaluation pipeline's scores of the served model on labelled projects: as served
        (at the service's threshold) and by the most likely tag."""
        frame = pd.DataFrame(self._check(request, projects), columns=["title", "description"])
        labelled = frame.assign(tag=[project.tag for project in projects])
        other_tag = self.tagger.settings.other_tag
        return await asyncio.to_thread(
            evaluate, self.model, labelled, other_tag, self.config.threshold
        )

    def _check(self, request: Request, items: list[Project]) -> list[dict[str, str]]:
        """The projects as rows, once they pass the limits and the model's input contract:
        checked one by one, without a table (this runs on the event loop for every request);
        here, not in the shared batch, so that one bad project never fails the others."""
        request.state.projects = len(items)
        limits = self.config.limits
        if not items:
            raise HTTPException(status_code=422, detail="no project given")
        if len(items) > limits.max_items:
            raise HTTPException(
                status_code=413,
                detail=f"{len(items)} projects: at most {limits.max_items} per request",
            )
        chars = sum(len(item.title) + len(item.description) for item in items)
        if chars > limits.max_request_chars:
            raise HTTPException(
                status_code=413,
                detail=f"{chars} characters of titles and descriptions: at most "
                f"{limits.max_request_chars} per request",
            )
        rows = []
        for i, item in enumerate(items):
            for field in ("title", "description"):
                if len(getattr(item, field)) > limits.max_text_chars:
                    raise HTTPException(
                        status_code=422,
                        detail=f"project {i}: {field} is over the "
                        f"{limits.max_text_chars}-character limit",
                    )
            if not self.tagger.text(item.title, item.description):
                raise HTTPException(
                    status_code=422,
                    detail=f"project {i}: no letter or digit in title and description",
                )
            rows.append({"title": item.title, "description": item.description})
        return rows

    def _predict_rows(self, rows: list[dict]) -> list[dict]:
        """One `predict` of the logged model for the projects of a batch of requests (run in a
        thread by the batcher): one answer per project, in order."""
        frame = pd.DataFrame(rows, columns=["title", "description"])
        return answers(self.model.predict(frame, self.params))


def build_app(args: dict[str, Any]) -> Application:
    """The Ray Serve application: `args` are `ServiceConfig`'s fields (`model_uri`,
    `tracking_uri`, `threshold` (None: the model's own), `limits`, `batching`, `access_log`,
    `request_log`, `deployment`), checked here."""
    config = ServiceConfig.model_validate(args)
    return TagService.options(**config.deployment).bind(config)


def deploy_service(config: dict[str, Any]) -> None:
    """Deploy `config` (`build_app`'s) in place of the running application: a new version of
    it, which Ray Serve rolls out replica by replica (new ones ready before old ones drain);
    returns once it is running."""
    serve.run(build_app(config), name=APP_NAME, route_prefix="/", blocking=False)


def start_service(
    config: dict[str, Any], *, host: str, port: int, keep_alive_timeout_s: int | None = None
) -> str:
    """Deploy the service (`build_app`) on the running Ray and return its URL. Idle keep-alive
    connections are closed after `keep_alive_timeout_s` (None: Ray's default)."""
    http_options: dict[str, Any] = {"host": host, "port": port}
    if keep_alive_timeout_s is not None:
        http_options["keep_alive_timeout_s"] = keep_alive_timeout_s
    serve.start(http_options=http_options)
    deploy_service(config)
    return f"http://{host}:{port}"
