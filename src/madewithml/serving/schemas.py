"""The service's request and configuration schemas (pydantic): projects in, predictions out,
limits, batching and the service's configuration."""

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from madewithml.core.text import is_blank


def _unicode(text: str) -> str:
    """Refuse text that cannot be encoded (a lone surrogate such as "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (it holds a lone surrogate)") from None
    return text


def _visible(text: str) -> str:
    """Refuse text with nothing to see (zero-width spaces, controls) as an empty one is."""
    if is_blank(text):
        raise ValueError("has no visible character")
    return text


Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(_unicode),
    AfterValidator(_visible),
]


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


class Limits(BaseModel):
    """What one request may ask of the app (`serving.limits`)."""

    max_body_bytes: Annotated[int, Field(ge=1)]
    max_items: Annotated[int, Field(ge=1)]
    max_text_chars: Annotated[int, Field(ge=1)]  # per title or description
    max_request_chars: Annotated[int, Field(ge=1)]  # all titles and descriptions of a request


class HttpLimits(BaseModel):
    """What one connection may hold of the HTTP proxy (`serving.http`, serving.framing)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    max_connections: Annotated[int, Field(ge=1)]
    max_header_bytes: Annotated[int, Field(ge=256)]
    max_headers: Annotated[int, Field(ge=1)]
    header_timeout_s: Annotated[float, Field(gt=0)]
    body_timeout_s: Annotated[float, Field(gt=0)]
    keep_alive_timeout_s: Annotated[int, Field(ge=1)]  # Ray Serve's own option
    # How often Ray Serve's controller checks the proxy (Ray's own variable): a dead proxy is
    # restarted after three failed checks.
    proxy_health_check_period_s: Annotated[float, Field(gt=0)]


class RequestLog(BaseModel):
    """Where and how each replica records what it answered (`serving.request_log`,
    madewithml.monitoring.request_log)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    # The log's folder (any fsspec URL): the catalog's `request_log`, set by `kedro serve`.
    path: str
    store_text: bool  # False: titles and descriptions are not stored, only their digest
    flush_interval_s: Annotated[float, Field(gt=0)]  # a write at least this often
    flush_rows: Annotated[int, Field(ge=1)]  # ... or as soon as this many rows wait
    max_buffered_rows: Annotated[int, Field(ge=1)]  # beyond it, new rows are dropped (counted)


class Champion(BaseModel):
    """How `kedro serve` of an alias follows it (`serving.champion`,
    madewithml.serving.champion)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    follow: bool  # False: the version pinned at start, whatever the alias does
    poll_interval_s: Annotated[float, Field(ge=1)]  # how often the registry is asked
    # Known projects a new version must answer (well-formed) before it is switched in.
    check_projects: Annotated[list[Project], Field(min_length=1)]


class Batching(BaseModel):
    max_batch_projects: Annotated[int, Field(ge=1)]  # projects per `predict`
    wait_s: Annotated[float, Field(ge=0)] = 0.0  # hold a batch for more requests (0: none)


class ServiceConfig(BaseModel):
    """What the service needs: the model and how to serve it (`conf/<env>/serving.yml`)."""

    model_config = ConfigDict(extra="forbid")
    model_uri: str
    tracking_uri: str | None = None  # None: MLFLOW_TRACKING_URI, or MLflow's default
    threshold: Annotated[float, Field(ge=0, le=1)] | None = None  # None: the model's own
    limits: Limits
    batching: Batching
    # A file that gets one line per request (method, path, status, latency, projects); None: none.
    access_log: str | None = None
    # What the service answered, one row per project (None: not recorded).
    request_log: RequestLog | None = None
    deployment: dict[str, Any] = Field(default_factory=dict)  # serve.deployment options
    # SHA-256 of the token that `POST /reload` needs (the token itself stays in the command's
    # process); None: no reload endpoint.
    reload_token_sha256: str | None = None
