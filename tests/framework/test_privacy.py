"""Nothing leaves the machine and nothing of Ray is open by default (issue 26): Kedro's telemetry
is off for the project whatever the environment, Ray collects no usage stats, and Ray's token is
this user's alone."""

from __future__ import annotations

import stat

import pytest
from factories import PROJECT_ROOT
from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks_entry_points
from kedro_telemetry.plugin import _check_for_telemetry_consent, telemetry_hook

from madewithml import settings
from madewithml.framework.ray_runtime import private_auth_token

TELEMETRY_SWITCHES = ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "GITHUB_REPOSITORY_OWNER")


def test_the_kedro_command_line_sends_no_telemetry_without_any_environment_variable(
    monkeypatch,
):
    """`kedro ...` from the activated venv: kedro-telemetry reads the project's .telemetry."""
    for name in TELEMETRY_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    assert _check_for_telemetry_consent(PROJECT_ROOT) is False


def test_a_session_anywhere_registers_no_telemetry_hook(monkeypatch):
    """A packaged run or a notebook outside the project has no .telemetry: settings.py keeps
    kedro-telemetry's session hooks out."""
    for name in TELEMETRY_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    with_telemetry = _create_hook_manager()
    _register_hooks_entry_points(with_telemetry, ())
    assert telemetry_hook in with_telemetry.get_plugins()  # installed: what is kept out
    manager = _create_hook_manager()
    _register_hooks_entry_points(manager, settings.DISABLE_HOOKS_FOR_PLUGINS)
    assert telemetry_hook not in manager.get_plugins()
    assert not [
        each
        for each in manager.hook.after_catalog_created.get_hookimpls()
        if each.plugin is telemetry_hook
    ]


@pytest.fixture
def token_path(tmp_path, monkeypatch):
    path = tmp_path / "home" / ".ray" / "auth_token"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    return path


def test_a_missing_ray_token_is_created_readable_by_this_user_only(token_path):
    assert private_auth_token() == token_path
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_path.parent.stat().st_mode) == 0o700
    token = token_path.read_text()
    assert len(token) == 64 and int(token, 16) >= 0  # 256 bits, as Ray's own tokens
    # Twice: the token is kept (a running Ray and the nodes that joined it use it).
    assert private_auth_token() == token_path
    assert token_path.read_text() == token


def test_an_existing_ray_token_is_left_as_it_is(token_path):
    token_path.parent.mkdir(parents=True)
    token_path.write_text("f" * 64)
    assert private_auth_token() == token_path
    assert token_path.read_text() == "f" * 64


def test_no_token_file_when_the_token_is_given_or_authentication_is_off(token_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "a" * 64)
    assert private_auth_token() is None
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert private_auth_token() is None
    assert not token_path.exists()


def test_a_ray_started_here_collects_no_usage_stats(ray_session):
    """`ray.init` (as `kedro run` and `kedro serve` start Ray, and this session did) turns Ray's
    usage stats off unless Ray is a nightly build."""
    from ray._common.usage import usage_lib  # noqa: PLC0415

    assert not usage_lib.is_nightly_wheel()
    assert usage_lib.usage_stats_enabled() is False


def test_the_cluster_nodes_are_started_without_usage_stats():
    """`make cluster-up` starts both nodes with `ray start`, which would otherwise ask."""
    makefile = (PROJECT_ROOT / "Makefile").read_text().replace("\\\n", " ")
    starts = [line for line in makefile.splitlines() if "/ray start " in line]
    assert len(starts) == 2, starts
    assert all("--disable-usage-stats" in line for line in starts), starts
