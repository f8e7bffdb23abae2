"""The MLflow model registry: which registered version a model URI means."""

from __future__ import annotations

from typing import Any


def pinned_model_uri(model_uri: str) -> str:
    """``models:/<name>@<alias>`` and ``models:/<name>/latest`` as the version they point to now
    (``models:/<name>/<version>``), so that a report names, and a service keeps serving, one
    version; any other URI as it is."""
    if not model_uri.startswith("models:/"):
        return model_uri
    from mlflow.exceptions import MlflowException  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    reference = model_uri.removeprefix("models:/")
    client = MlflowClient()
    try:
        if "@" in reference:
            name, alias = reference.split("@", 1)
            return f"models:/{name}/{client.get_model_version_by_alias(name, alias).version}"
        name, _, version = reference.rpartition("/")
        if version == "latest" and name:
            versions = client.search_model_versions(f"name='{name}'")
            if not versions:
                raise ValueError(f"no model version behind {model_uri!r}: {name!r} has none")
            return f"models:/{name}/{max(int(v.version) for v in versions)}"
    except MlflowException as error:
        raise ValueError(
            f"no model version behind {model_uri!r}: {str(error).splitlines()[0]}. `kedro run` "
            "registers a version and sets the alias when evaluation promotes it; or pass "
            "another model URI."
        ) from error
    return model_uri


def model_version(model_uri: str) -> dict[str, str | None]:
    """`model_name` and `model_version` of a registry URI pinned to a version
    (`models:/<name>/<version>`, as `pinned_model_uri` makes it); None for other URIs."""
    name, _, version = model_uri.removeprefix("models:/").rpartition("/")
    if model_uri.startswith("models:/") and name and version.isdigit():
        return {"model_name": name, "model_version": version}
    return {"model_name": None, "model_version": None}


def registered_version(client: Any, name: str, model_uri: str, run_id: str | None) -> str | None:
    """The version of the registered model `name` behind `model_uri` (``models:/<name>/<n>``,
    an alias, ``latest``), or else the newest version logged by `run_id`; None when none."""
    pinned = pinned_model_uri(model_uri) if model_uri.startswith(f"models:/{name}") else ""
    prefix = f"models:/{name}/"
    if pinned.startswith(prefix) and pinned.removeprefix(prefix).isdigit():
        return pinned.removeprefix(prefix)
    if not run_id:
        return None
    versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    newest = max((int(v.version) for v in versions), default=None)
    return None if newest is None else str(newest)
