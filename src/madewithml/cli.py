"""The project's own `kedro` commands: `kedro predict` (one project) and `kedro serve` (HTTP).

Both read the project's configuration as `kedro run` does (parameters, conf/<env>/serving.yml,
ray.yml, and the MLflow tracking store that kedro-mlflow sets up), and answer with a logged model:
the registry's champion unless `--model-uri` names another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import time
from typing import Any, NamedTuple

import click

logger = logging.getLogger(__name__)


class Threshold(click.ParamType):
    """A threshold on the top probability, checked as the model checks one (NaN refused)."""

    name = "threshold"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        from madewithml.core.inputs import InvalidInputError, check_threshold  # noqa: PLC0415

        try:
            return check_threshold(value if isinstance(value, float) else float(value))
        except (InvalidInputError, ValueError):
            self.fail(f"must be a number in [0, 1], got {value!r}", param, ctx)


@click.group(name="madewithml")
def cli() -> None:
    """madewithml's project commands."""


class _Project(NamedTuple):
    """The project as `kedro run` sees it: its config loader, the logged model it answers with
    (the catalog's `inference_model`: the registry's champion unless `--model-uri` is given, as
    `--params=inference.model_uri=...` would), the MLflow tracking URI kedro-mlflow set, and
    where the request log is (the catalog's `request_log`)."""

    config_loader: Any
    model: Any
    tracking_uri: str
    request_log_path: str


def _project(env: str | None, model_uri: str | None) -> _Project:
    """The project (`_Project`) of configuration environment `env`."""
    import mlflow  # noqa: PLC0415
    from kedro.framework.session import KedroSession  # noqa: PLC0415

    runtime_params = {"inference": {"model_uri": model_uri}} if model_uri else None
    with KedroSession.create(env=env, runtime_params=runtime_params) as session:
        context = session.load_context()  # kedro-mlflow's hook sets the tracking URI here
        return _Project(
            context.config_loader,
            context.catalog.get("inference_model"),
            mlflow.get_tracking_uri(),
            context.catalog.get("request_log").path,
        )


def _quiet() -> None:
    """Keep stdout for the answer: only warnings and errors are logged."""
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("kedro", "kedro_mlflow", "madewithml", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)


@cli.command()
@click.option("--title", required=True, help="The project's title.")
@click.option("--description", required=True, help="The project's description.")
@click.option("--model-uri", default=None, help="Any MLflow model URI [default: the champion].")
@click.option(
    "--threshold",
    type=Threshold(),
    default=None,
    help="Answer `other` below this top probability [default: the model's own].",
)
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
def predict(
    title: str, description: str, model_uri: str | None, threshold: float | None, env: str | None
) -> None:
    """Print the tag of one project and the probability of every tag, as JSON."""
    import pandas as pd  # noqa: PLC0415
    from kedro.io import DatasetError  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    from madewithml.core.inputs import InvalidInputError  # noqa: PLC0415
    from madewithml.core.pyfunc import THRESHOLD_PARAM, ModelFailure  # noqa: PLC0415
    from madewithml.serving.answers import answers  # noqa: PLC0415

    _quiet()
    dataset = _project(env, model_uri).model
    uri = dataset.model_uri
    frame = pd.DataFrame([{"title": title, "description": description}])
    try:
        model = dataset.load()
        # The model's own threshold unless one is given.
        overrides = None if threshold is None else {THRESHOLD_PARAM: threshold}
        predictions = model.predict(frame, params=overrides)
    except InvalidInputError as error:  # the message names the field
        raise click.ClickException(f"invalid input: {error}") from None
    except ModelFailure as error:  # its traceback is logged above
        raise click.ClickException(f"the model {uri} failed: {error.message}") from None
    except (DatasetError, MlflowException, OSError) as error:  # no such model, missing files
        cause = error.__cause__ or error
        lines = str(cause).strip().splitlines() or [repr(cause)]
        raise click.ClickException(f"cannot load the model {uri}: {lines[0]}") from None
    click.echo(json.dumps(answers(predictions)[0]))


@cli.command()
@click.option("--model-uri", default=None, help="Any MLflow model URI [default: the champion].")
@click.option(
    "--threshold",
    type=Threshold(),
    default=None,
    help="Answer `other` below this top probability [default: the model's own].",
)
@click.option("--host", default=None, help="[default: serving.host, 127.0.0.1]")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="[default: serving.port, 8000]"
)
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
def serve(
    model_uri: str | None,
    threshold: float | None,
    host: str | None,
    port: int | None,
    env: str | None,
) -> None:
    """Serve a logged model over HTTP (Ray Serve + FastAPI) until interrupted."""
    import ray  # noqa: PLC0415
    from ray import serve as ray_serve  # noqa: PLC0415

    from madewithml.framework.ray_runtime import LOCAL, start_ray  # noqa: PLC0415
    from madewithml.serving.app import APP_NAME, start_service  # noqa: PLC0415
    from madewithml.serving.framing import proxy_environment  # noqa: PLC0415
    from madewithml.serving.schemas import Champion, HttpLimits  # noqa: PLC0415

    config_loader, dataset, tracking_uri, request_log_path = _project(env, model_uri)
    serving = dict(config_loader["serving"]["serving"])
    uri = _checked_model(dataset.model_uri)
    access_log = _access_log(serving.get("access_log"))
    request_log = _request_log(serving.get("request_log"), request_log_path)
    http_limits = HttpLimits.model_validate(serving["http"])
    # Ray's processes inherit them: the Serve proxy of a Ray started here applies the limits.
    os.environ.update(proxy_environment(http_limits))
    started = start_ray(config_loader.get("ray") or {}, {"serve"})
    if started != LOCAL:
        logger.info(
            "HTTP limits (serving.http) apply where the Ray nodes were started with them"
            " (make cluster-up does): docs/serving.md#http-limits"
        )
        if request_log and request_log["path"].startswith("/"):
            logger.warning(
                "the request log is the local folder %s: each replica writes on its own node,"
                " so on a cluster of several machines point the catalog's request_log at"
                " storage every node reaches (docs/monitoring.md)",
                request_log["path"],
            )
    # After ray.init, which installs its own handler: SIGTERM stops the service cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    champion = Champion.model_validate(serving["champion"])
    follows = champion.follow and uri != dataset.model_uri  # an alias or `latest`
    reload_token = _reload_token(config_loader) if follows else None
    service = {
        **{key: serving[key] for key in ("limits", "batching", "deployment")},
        "access_log": access_log,
        "request_log": request_log,
        "model_uri": uri,
        "tracking_uri": tracking_uri,
        "threshold": threshold,  # None: the model's own
        "reload_token_sha256": reload_token and hashlib.sha256(reload_token.encode()).hexdigest(),
    }
    try:
        url = start_service(
            service,
            host=host or serving["host"],
            port=serving["port"] if port is None else port,
            keep_alive_timeout_s=http_limits.keep_alive_timeout_s,
        )
        click.echo(f"serving {uri} at {url} (OpenAPI docs at {url}/docs); Ctrl-C stops it")
        if access_log:
            click.echo(f"one line per request in {access_log}")
        if request_log:
            click.echo(f"what it answers recorded in {request_log['path']}")
        follower = _follower(dataset.model_uri, service, champion) if follows else None
        if follower is not None:
            click.echo(
                f"following {dataset.model_uri}: checked every {champion.poll_interval_s} s"
                + (", and on POST /reload with the reload token" if reload_token else "")
            )
        while True:
            time.sleep(0.5)
            if follower is not None:
                follower.step()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        if started == LOCAL:  # our own Ray: Serve and Ray go with it
            ray_serve.shutdown()
        else:  # a Ray we joined (a cluster) or found running: remove our application only
            ray_serve.delete(APP_NAME)
        if started:
            ray.shutdown()


def _checked_model(model_uri: str) -> str:
    """`model_uri` pinned to a version, its files checked: before Ray, a missing or damaged
    model in one line, not in each replica's traceback."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    from madewithml.core.tagger import ModelFilesError  # noqa: PLC0415
    from madewithml.shipping.loading import ModelNotLoadedError, check_model_files  # noqa: PLC0415
    from madewithml.shipping.registry import pinned_model_uri  # noqa: PLC0415

    try:
        uri = pinned_model_uri(model_uri)
        check_model_files(uri)
    except (ModelFilesError, ModelNotLoadedError, MlflowException, OSError) as error:
        lines = str(error).strip().splitlines() or [repr(error)]
        raise click.ClickException(f"cannot serve the model {model_uri}: {lines[0]}") from None
    return uri


def _follower(alias_uri: str, service: dict[str, Any], champion: Any) -> Any:
    """The `ChampionFollower` of a service started with `service` (`build_app`'s config) from
    `alias_uri`, with the `serving.champion` settings (a `Champion`); its reload requests'
    actor started."""
    import ray  # noqa: PLC0415

    from madewithml.serving.app import deploy_service  # noqa: PLC0415
    from madewithml.serving.champion import (  # noqa: PLC0415
        ChampionFollower,
        check_candidate,
        start_reload_requests,
    )
    from madewithml.shipping.registry import pinned_model_uri  # noqa: PLC0415

    requests = start_reload_requests()
    projects = [project.model_dump() for project in champion.check_projects]
    return ChampionFollower(
        alias_uri,
        service["model_uri"],
        poll_interval_s=champion.poll_interval_s,
        pin=pinned_model_uri,
        check=lambda candidate: check_candidate(candidate, projects),
        deploy=lambda candidate: deploy_service(service | {"model_uri": candidate}),
        reload_requested=lambda: ray.get(requests.take.remote()),
    )


def _reload_token(config_loader: Any) -> str | None:
    """The token that `POST /reload` needs: `serving_reload_token` in the credentials
    (conf/local/credentials.yml); None (no reload endpoint) when there is none."""
    from kedro.config import MissingConfigException  # noqa: PLC0415

    try:
        token = (config_loader["credentials"] or {}).get("serving_reload_token")
    except MissingConfigException:
        return None
    return str(token) if token else None


def _access_log(path: str | None) -> str | None:
    """The access log's absolute path (a relative one is the project's: `kedro` runs in its
    root), or None for none."""
    from pathlib import Path  # noqa: PLC0415

    return str(Path(path).resolve()) if path else None


def _request_log(settings: dict[str, Any] | None, path: str) -> dict[str, Any] | None:
    """`serving.request_log` for the service, writing to `path` (the catalog's `request_log`;
    a local path made absolute, since replicas may run elsewhere); None when not enabled."""
    from pathlib import Path  # noqa: PLC0415

    import fsspec  # noqa: PLC0415

    if not settings or not settings.get("enabled"):
        return None
    if isinstance(fsspec.core.url_to_fs(path)[0], fsspec.implementations.local.LocalFileSystem):
        path = str(Path(fsspec.core.strip_protocol(path)).resolve())
    return {key: value for key, value in settings.items() if key != "enabled"} | {"path": path}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
