"""The HTTP service: a Ray Serve deployment with a FastAPI app over a logged model.

Concurrent `/predict` requests are batched dynamically (`@serve.batch`): one forward pass answers
all the projects of the requests that arrive within `batch_wait_timeout_s`, up to
`max_batch_size` requests. Limits, batching and the deployment's resources come from
`conf/base/serving.yml`; `kedro serve` starts it (see `madewithml.cli`).
"""

# No `from __future__ import annotations`: Ray Serve's class-based FastAPI routes need the real
# annotations to find the request body.
import asyncio
import logging
from typing import Annotated, Any

import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from ray import serve

from madewithml.prediction import THRESHOLD_PARAM, PipelinePredictor, answers, evaluate

logger = logging.getLogger(__name__)
APP_NAME = "madewithml"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Project(BaseModel):
    """A project to tag."""

    model_config = ConfigDict(extra="forbid")
    title: Text = Field(examples=["Transfer learning with transformers"])
    description: Text = Field(examples=["Using transformers for transfer learning on text."])


class LabelledProject(Project):
    """A project with its true tag, for /evaluate."""

    tag: Text = Field(examples=["natural-language-processing"])


class Prediction(BaseModel):
    prediction: str
    probabilities: dict[str, float]


app = FastAPI(
    title="madewithml",
    description="Tags machine-learning projects from their title and description.",
)


@app.middleware("http")
async def limit_body_size(request: Request, call_next):
    """413 for a body larger than `limits.max_body_bytes`, before it is parsed."""
    limit = getattr(request.app.state, "max_body_bytes", None)
    length = request.headers.get("content-length")
    if limit and length and length.isdigit() and int(length) > limit:
        return JSONResponse(
            status_code=413,
            content={"detail": f"request body of {length} bytes is over the {limit}-byte limit"},
        )
    return await call_next(request)


@serve.deployment
@serve.ingress(app)
class TagService:
    """Answers with one logged model at one threshold."""

    def __init__(
        self,
        model_uri: str,
        tracking_uri: str,
        threshold: float,
        other_tag: str,
        limits: dict[str, int],
        batching: dict[str, float],
    ) -> None:
        import mlflow  # noqa: PLC0415 - in the replica's process

        logging.getLogger("kedro").setLevel(logging.WARNING)  # no line per node per batch
        mlflow.set_tracking_uri(tracking_uri)
        self.predictor = PipelinePredictor(mlflow.pyfunc.load_model(model_uri), model_uri)
        self.threshold = threshold
        self.other_tag = other_tag
        self.limits = limits
        self.batches = 0  # forward passes of /predict, and the requests they answered
        self.batched_requests = 0
        app.state.max_body_bytes = limits["max_body_bytes"]
        self._predict_batch.set_max_batch_size(batching["max_batch_size"])
        self._predict_batch.set_batch_wait_timeout_s(batching["batch_wait_timeout_s"])

    @app.get("/")
    def health(self) -> dict[str, Any]:
        """Health: the service is up and which model it serves."""
        return {
            "status": "ok",
            "model_uri": self.predictor.model_uri,
            "run_id": self.predictor.run_id,
            "threshold": self.threshold,
            "predict_batches": self.batches,
            "predict_requests": self.batched_requests,
        }

    @app.get("/run_id")
    def run_id(self) -> dict[str, str]:
        """The MLflow run that logged the served model."""
        return {"run_id": self.predictor.run_id}

    @app.post("/predict")
    async def predict(self, projects: Project | list[Project]) -> Prediction | list[Prediction]:
        """The tag of one project, or of a list of projects, and the probability of every tag.

        A prediction whose top probability is below the service's threshold is `other`.
        """
        items = projects if isinstance(projects, list) else [projects]
        self._check(items)
        results = await self._predict_batch([item.model_dump() for item in items])
        return results if isinstance(projects, list) else results[0]

    @app.post("/evaluate")
    async def evaluate(self, projects: list[LabelledProject]) -> dict[str, Any]:
        """The evaluation pipeline's metrics of the served model on labelled projects."""
        self._check(projects)
        frame = pd.DataFrame([project.model_dump() for project in projects])
        return await asyncio.to_thread(evaluate, self.predictor, frame, self.other_tag)

    def _check(self, items: list[Project]) -> None:
        if not items:
            raise HTTPException(status_code=422, detail="no project given")
        if len(items) > self.limits["max_items"]:
            raise HTTPException(
                status_code=413,
                detail=f"{len(items)} projects: at most {self.limits['max_items']} per request",
            )
        limit = self.limits["max_text_chars"]
        for i, item in enumerate(items):
            for field in ("title", "description"):
                if len(getattr(item, field)) > limit:
                    raise HTTPException(
                        status_code=422,
                        detail=f"project {i}: {field} is over the {limit}-character limit",
                    )

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def _predict_batch(self, requests: list[list[dict]]) -> list[list[dict]]:
        """One forward pass for the projects of every request in the batch."""
        self.batches += 1
        self.batched_requests += len(requests)
        rows = [project for projects in requests for project in projects]
        frame = pd.DataFrame(rows, columns=["title", "description"])
        predictions = await asyncio.to_thread(
            self.predictor.predict, frame, {THRESHOLD_PARAM: self.threshold}
        )
        flat = answers(predictions)
        results, start = [], 0
        for projects in requests:
            results.append(flat[start : start + len(projects)])
            start += len(projects)
        return results


def start_service(
    model_uri: str,
    tracking_uri: str,
    *,
    threshold: float,
    other_tag: str,
    serving: dict[str, Any],
    host: str,
    port: int,
) -> str:
    """Deploy `TagService` on the running Ray and return its URL."""
    serve.start(http_options={"host": host, "port": port})
    deployment = TagService.options(**serving["deployment"]).bind(
        model_uri, tracking_uri, threshold, other_tag, serving["limits"], serving["batching"]
    )
    serve.run(deployment, name=APP_NAME, route_prefix="/", blocking=False)
    return f"http://{host}:{port}"
