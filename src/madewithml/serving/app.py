"""The HTTP service: a Ray Serve deployment with a FastAPI app over a logged model.

Concurrent `/predict` requests are batched dynamically (`@serve.batch`): one forward pass answers
all the projects of the requests that arrive within `batch_wait_timeout_s`, up to
`max_batch_size` requests. Every answer is the logged model's own `predict`.

`build_app` is a Ray Serve application builder: `kedro serve` uses it, and so can
`serve run madewithml.serving.app:build_app model_uri=...` or a `serve deploy` / KubeRay config
(`import_path: madewithml.serving.app:build_app`). Limits, batching and the deployment's resources
come from `conf/<env>/serving.yml` (or the builder's arguments).
"""

# No `from __future__ import annotations`: Ray Serve's class-based FastAPI routes need the real
# annotations to find the request body.
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve import Application

from madewithml.core.inputs import InvalidInputError, check_texts
from madewithml.core.pyfunc import THRESHOLD_PARAM
from madewithml.evaluation.scoring import evaluate
from madewithml.serving.answers import answers
from madewithml.serving.guard import RequestGuard, requests_log
from madewithml.serving.schemas import LabelledProject, Prediction, Project, ServiceConfig

logger = logging.getLogger(__name__)
APP_NAME = "madewithml"


app = FastAPI(
    title="madewithml",
    description="Tags machine-learning projects from their title and description.",
)


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming each bad field by its place in the body; the input is not echoed (it may be
    what cannot be encoded: NaN, a lone surrogate)."""
    details = [
        {"loc": list(problem["loc"]), "msg": problem["msg"], "type": problem["type"]}
        for problem in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": details})


app.add_middleware(RequestGuard)


@serve.deployment
@serve.ingress(app)
class TagService:
    """Answers with one logged model at one threshold."""

    def __init__(self, config: ServiceConfig) -> None:
        import mlflow  # noqa: PLC0415 - in the replica's process

        if config.tracking_uri:
            mlflow.set_tracking_uri(config.tracking_uri)
        self.model = mlflow.pyfunc.load_model(config.model_uri)
        self.tagger = self.model.unwrap_python_model().tagger  # for checking requests first
        self.config = config
        self.threshold = (
            self.model.metadata.get_params_schema().params[0].default
            if config.threshold is None
            else config.threshold
        )
        self.batches = 0  # forward passes of /predict, and the requests they answered
        self.batched_requests = 0
        app.state.config = config
        if config.request_log and not requests_log.handlers:
            handler = logging.StreamHandler(sys.stderr)  # the replica's stderr reaches the driver
            handler.setFormatter(logging.Formatter("%(message)s"))
            requests_log.addHandler(handler)
            requests_log.setLevel(logging.INFO)
            requests_log.propagate = False
        self._predict_batch.set_max_batch_size(config.batching.max_batch_size)
        self._predict_batch.set_batch_wait_timeout_s(config.batching.batch_wait_timeout_s)

    @app.get("/")
    def health(self) -> dict[str, Any]:
        """Health: the service is up and which model it serves."""
        return {
            "status": "ok",
            "model_uri": self.config.model_uri,
            "run_id": self.model.metadata.run_id,
            "threshold": self.threshold,
            "predict_batches": self.batches,
            "predict_requests": self.batched_requests,
        }

    @app.get("/run_id")
    def run_id(self) -> dict[str, str]:
        """The MLflow run that logged the served model."""
        return {"run_id": self.model.metadata.run_id}

    @app.post("/predict")
    async def predict(
        self, request: Request, projects: Project | list[Project]
    ) -> Prediction | list[Prediction]:
        """The tag of one project, or of a list of projects, and the probability of every tag.

        A prediction whose top probability is below the service's threshold is `other`.
        """
        items = projects if isinstance(projects, list) else [projects]
        frame = self._check(request, items)
        results = await self._predict_batch(frame.to_dict(orient="records"))
        return results if isinstance(projects, list) else results[0]

    @app.post("/evaluate")
    async def evaluate(self, request: Request, projects: list[LabelledProject]) -> dict[str, Any]:
        """The evaluation pipeline's scores of the served model on labelled projects: as served
        (at the service's threshold) and by the most likely tag."""
        frame = self._check(request, projects)
        labelled = frame.assign(tag=[project.tag for project in projects])
        other_tag = self.tagger.settings.other_tag
        return await asyncio.to_thread(evaluate, self.model, labelled, other_tag, self.threshold)

    def _check(self, request: Request, items: list[Project]) -> pd.DataFrame:
        """The projects as a table, once they pass the limits and the model's input contract."""
        request.state.projects = len(items)
        limits = self.config.limits
        if not items:
            raise HTTPException(status_code=422, detail="no project given")
        if len(items) > limits.max_items:
            raise HTTPException(
                status_code=413,
                detail=f"{len(items)} projects: at most {limits.max_items} per request",
            )
        for i, item in enumerate(items):
            for field in ("title", "description"):
                if len(getattr(item, field)) > limits.max_text_chars:
                    raise HTTPException(
                        status_code=422,
                        detail=f"project {i}: {field} is over the "
                        f"{limits.max_text_chars}-character limit",
                    )
        frame = pd.DataFrame(
            [{"title": item.title, "description": item.description} for item in items]
        )
        try:  # here, not in the shared batch: one bad project must not fail the others
            check_texts(frame, self.tagger.texts(frame), name="projects")
        except InvalidInputError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return frame

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def _predict_batch(self, requests: list[list[dict]]) -> list[list[dict]]:
        """One forward pass for the projects of every request in the batch."""
        self.batches += 1
        self.batched_requests += len(requests)
        rows = [project for projects in requests for project in projects]
        frame = pd.DataFrame(rows, columns=["title", "description"])
        predictions = await asyncio.to_thread(
            self.model.predict, frame, {THRESHOLD_PARAM: self.threshold}
        )
        flat = answers(predictions)
        results, start = [], 0
        for projects in requests:
            results.append(flat[start : start + len(projects)])
            start += len(projects)
        return results


def _project_serving(conf_source: str | None, env: str | None) -> dict[str, Any]:
    """`serving` of the project's conf/<env>/serving.yml (the current folder's project, or
    `conf_source`), or {} outside a project."""
    from kedro.framework.project import settings  # noqa: PLC0415
    from kedro.utils import find_kedro_project  # noqa: PLC0415

    from madewithml.framework.config_loader import CONFIG_LOADER_ARGS, ProjectConfigLoader  # noqa: PLC0415

    project = find_kedro_project(Path.cwd())
    if conf_source is None and project is None:
        return {}
    source = conf_source or str(Path(project) / settings.CONF_SOURCE)
    loader = ProjectConfigLoader(source, env=env, **CONFIG_LOADER_ARGS)
    return dict((loader.get("serving") or {}).get("serving") or {})


def build_app(args: dict[str, Any]) -> Application:
    """The Ray Serve application (`serve run madewithml.serving.app:build_app model_uri=...`).

    `args`: `model_uri` (required), `tracking_uri`, `threshold` (None: the model's own), and any of
    `serving.yml`'s `limits`, `batching`, `request_log`, `deployment`; what is not given comes
    from the project's `conf/<env>/serving.yml` (`conf_source` and `env` choose it).
    """
    args = dict(args)
    conf_source, env = args.pop("conf_source", None), args.pop("env", None)
    defaults = {
        key: value
        for key, value in _project_serving(conf_source, env).items()
        if key in ServiceConfig.model_fields
    }
    config = ServiceConfig.model_validate({**defaults, **args})
    return TagService.options(**config.deployment).bind(config)


def start_service(config: dict[str, Any], *, host: str, port: int) -> str:
    """Deploy the service (`build_app`) on the running Ray and return its URL."""
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_app(config), name=APP_NAME, route_prefix="/", blocking=False)
    return f"http://{host}:{port}"
