"""Ray's runtime for this project: started (or joined) as conf/<env>/ray.yml says, by the Ray
hook for a pipeline that needs it and by `kedro serve`."""

from __future__ import annotations

import importlib
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from madewithml.console.timeline import mark

logger = logging.getLogger(__name__)

LOCAL, JOINED = "local", "joined"


def start_ray(config: dict[str, Any], tags: set[str]) -> str | None:
    """Start (or join) Ray as conf/<env>/ray.yml says, for work with these tags.

    Returns ``"local"`` when it started a Ray on this machine (whose processes go with
    `ray.shutdown()`), ``"joined"`` when it connected to a running cluster (`ray.shutdown()` only
    disconnects), and None, changing nothing, when Ray is already running in this process.
    """
    import ray  # noqa: PLC0415 - only what needs Ray pays for importing it

    if ray.is_initialized():
        logger.info("Ray is already running: using it as it is")
        return None
    init = dict(config.get("init") or {})
    for tag, overrides in (config.get("init_by_tag") or {}).items():
        if tag in tags:
            init.update(overrides or {})
    address = init.get("address") or os.environ.get("RAY_ADDRESS")
    if address:
        init["address"] = address
        init.pop("num_cpus", None)
        init.pop("num_gpus", None)
    else:
        private_auth_token()
    runtime_env = init.get("runtime_env")
    if runtime_env and runtime_env.get("py_modules"):
        init["runtime_env"] = {**runtime_env, "py_modules": _py_modules(runtime_env["py_modules"])}
    logging_config = config.get("logging")
    if logging_config:
        init["logging_config"] = ray.LoggingConfig(**logging_config)
    mark("ray.init started")
    context = ray.init(**init)
    mark("ray.init done")
    dashboard = f", dashboard http://{context.dashboard_url}" if context.dashboard_url else ""
    logger.info("Ray %s%s", f"joined at {address}" if address else "started", dashboard)
    data_context = ray.data.DataContext.get_current()
    for name, value in (config.get("data_context") or {}).items():
        setattr(data_context, name, value)
    return JOINED if address else LOCAL


def auth_token_path() -> Path | None:
    """Where Ray looks for its authentication token (`RAY_AUTH_TOKEN_PATH`, else
    ~/.ray/auth_token), or None when the token is given as `RAY_AUTH_TOKEN` itself."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return None
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")


def private_auth_token() -> Path | None:
    """Create Ray's authentication token, readable by this user only, where Ray will look for it
    and none exists yet; return its path (None when the token is in the environment or token
    authentication is turned off).

    Ray 2.60 turns token authentication on for every Ray that `ray.init` starts and writes a
    missing token itself, but readable by every local user (0644), who could then join this
    Ray and run code as this user. Ray's gRPC servers listen on every interface whatever
    address the node is given, so the token is what keeps other machines out
    (docs/reliability.md#security).
    """
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return None
    path = auth_token_path()
    if path is None or path.exists():
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first: theirs is as good
        return path
    with os.fdopen(descriptor, "w") as token:
        token.write(secrets.token_hex(32))
    logger.info("Ray's authentication token written to %s (readable by you only)", path)
    return path


def _py_modules(entries: list[str]) -> list:
    """`runtime_env.py_modules` with every entry that names an importable package (not a path or
    a URI) replaced by the package itself, which Ray ships from wherever it is installed."""
    return [
        importlib.import_module(entry)
        if "/" not in entry and "://" not in entry and not Path(entry).exists()
        else entry
        for entry in entries
    ]
