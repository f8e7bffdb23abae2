"""Ray's runtime for this project: started (or joined) as conf/<env>/ray.yml says, by the Ray
hook for a pipeline that needs it and by `kedro serve`."""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
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
        # A Ray on loopback (the tests' session Ray, say) is joined in the same mode: otherwise
        # Ray turns the address into the machine's external one, where nothing listens.
        binding = loopback_only() if is_loopback(joined_address(address)) else nullcontext()
        token_if_available()
    else:
        private_auth_token()
        binding = loopback_only() if config.get("loopback_only", True) else nullcontext()
    runtime_env = init.get("runtime_env")
    if runtime_env and runtime_env.get("py_modules"):
        init["runtime_env"] = {**runtime_env, "py_modules": _py_modules(runtime_env["py_modules"])}
    logging_config = config.get("logging")
    if logging_config:
        init["logging_config"] = ray.LoggingConfig(**logging_config)
    mark("ray.init started")
    with binding:
        context = ray.init(**init)
    mark("ray.init done")
    dashboard = f", dashboard http://{context.dashboard_url}" if context.dashboard_url else ""
    logger.info("Ray %s%s", f"joined at {address}" if address else "started", dashboard)
    data_context = ray.data.DataContext.get_current()
    for name, value in (config.get("data_context") or {}).items():
        setattr(data_context, name, value)
    return JOINED if address else LOCAL


@contextmanager
def loopback_only() -> Iterator[None]:
    """While it is open, a Ray that `ray.init` starts listens on 127.0.0.1 only, and a Ray at a
    loopback address is joined there.

    This is Ray's own single-machine mode, its default on macOS and Windows, where the
    node's address is the loopback address and every gRPC server of the node (GCS, raylet,
    object manager, each worker), its agents and its metrics exporters bind to it. On Linux,
    Ray turns it on with `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, read once, when `ray` is
    imported: the processes `ray.init` starts inherit the variable, and this process, which
    imported Ray earlier, gets Ray's constant set to match. Both are restored on leaving:
    the started Ray's processes keep the setting, and this process can still join a cluster
    later. (Without it every one of those servers listens on every interface, whatever
    address the node is given, and only the token keeps other machines out.)
    """
    from ray._private import ray_constants  # noqa: PLC0415 - Ray's switch has no public API

    variable = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    previous = os.environ.get(variable), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[variable] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if previous[0] is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous[0]
        ray_constants.ENABLE_RAY_CLUSTER = previous[1]


def joined_address(address: str) -> str:
    """The address `ray.init(address=...)` joins, in Ray's own order: `auto` is `RAY_ADDRESS`
    when set, else the Ray that `ray start` last started on this machine; any other address
    is itself."""
    if address != "auto":
        return address
    from ray._private.services import find_bootstrap_address  # noqa: PLC0415

    return os.environ.get("RAY_ADDRESS") or find_bootstrap_address(None) or address


def is_loopback(address: str) -> bool:
    """Whether a Ray address (``host:port``, ``ray://host:port``, ``auto``) names this machine's
    loopback interface."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_if_available() -> None:
    """Join with Ray's token where one is available and `RAY_AUTH_MODE` is not set.

    Ray 2.60 sends its token to a cluster it is told to join only in token mode, which it turns
    on by itself only for a cluster it finds on its own (`ray.init(address="auto")` without
    `RAY_ADDRESS`): given an address, a client in a fresh shell was refused by a cluster with
    token authentication (`make cluster-up`). This is Ray's own step for `auto`, for every
    join; an explicit `RAY_AUTH_MODE` is left as it is.
    """
    from ray._private.authentication.authentication_token_setup import (  # noqa: PLC0415
        maybe_enable_token_auth_if_token_available,
    )

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


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
    Ray and run code as this user. A local Ray listens on loopback only (`loopback_only`),
    which every user of this machine can reach: the token is what keeps them out, and
    everyone else out of a cluster (docs/reliability.md#security).
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
