"""Ray on the network (issue 26): a Ray the project starts listens on loopback only, unless
conf/<env>/ray.yml says otherwise; a Ray at a loopback address is joined there; a cluster is
joined as Ray joins it; this process is left as it was."""

import os

import psutil
import pytest
import ray
from hypothesis import given, settings
from hypothesis import strategies as st
from ray._private import ray_constants, services
from servers import on_loopback

from madewithml.framework import ray_runtime
from madewithml.framework.ray_runtime import is_loopback, start_ray

VARIABLE = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR

loopback_hosts = st.one_of(
    st.just("localhost"),
    st.just("[::1]"),
    st.ip_addresses(v=4, network="127.0.0.0/8").map(str),
)
other_hosts = st.one_of(
    st.ip_addresses(v=4).filter(lambda ip: not ip.is_loopback).map(str),
    st.ip_addresses(v=6).filter(lambda ip: not ip.is_loopback).map(lambda ip: f"[{ip}]"),
    st.sampled_from(["head", "ray-head.internal", "10.0.0.7"]),
)
ports = st.integers(1, 65535)
schemes = st.sampled_from(["", "ray://"])


@given(scheme=schemes, host=loopback_hosts, port=ports)
def test_an_address_on_loopback_is_loopback(scheme, host, port):
    assert is_loopback(f"{scheme}{host}:{port}")


@given(scheme=schemes, host=other_hosts, port=ports)
def test_an_address_elsewhere_is_not(scheme, host, port):
    assert not is_loopback(f"{scheme}{host}:{port}")


def test_auto_is_not_an_address_on_loopback():
    assert not is_loopback("auto")


class _Started:
    dashboard_url = ""


addresses = st.one_of(
    st.none(),
    st.just("auto"),
    st.builds(lambda s, h, p: f"{s}{h}:{p}", schemes, loopback_hosts, ports),
    st.builds(lambda s, h, p: f"{s}{h}:{p}", schemes, other_hosts, ports),
)


@settings(max_examples=200, deadline=None)
@given(
    configured=addresses,
    environment=st.one_of(st.none(), addresses.filter(lambda a: a != "auto")),
    latest_started=st.one_of(st.none(), addresses.filter(lambda a: a not in (None, "auto"))),
    loopback_setting=st.sampled_from([True, False, "absent"]),
    tags=st.sets(st.sampled_from(["ray", "tune", "serve"])),
    variable_before=st.sampled_from([None, "1", "0"]),
    init_fails=st.booleans(),
)
def test_ray_init_runs_in_loopback_mode_exactly_when_it_should(
    configured, environment, latest_started, loopback_setting, tags, variable_before, init_fails
):
    """At `ray.init`, Ray's single-machine mode is on (its constant in this process, its variable
    for the processes Ray starts) exactly when a local Ray is started with `loopback_only` not
    false, or the Ray that is joined is at a loopback address (`auto` being `RAY_ADDRESS`, else
    the last `ray start` of this machine); afterwards, whether `ray.init` returned or raised,
    both are as they were."""
    config = {
        "init": {"num_cpus": 2, "address": configured},
        "init_by_tag": {"serve": {"include_dashboard": False}},
    }
    if loopback_setting != "absent":
        config["loopback_only"] = loopback_setting
    seen = []

    def init(**kwargs):
        seen.append((ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(VARIABLE), kwargs))
        if init_fails:
            raise ConnectionError("no Ray there")
        return _Started()

    constant = ray_constants.ENABLE_RAY_CLUSTER
    tokens = []
    with pytest.MonkeyPatch.context() as patch:  # Hypothesis: no function-scoped fixture
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", constant)  # put back whatever happens
        patch.setattr(ray, "is_initialized", lambda: False)
        patch.setattr(ray, "init", init)
        patch.setattr(ray_runtime, "private_auth_token", lambda: tokens.append("local"))
        patch.setattr(ray_runtime, "token_if_available", lambda: tokens.append("joined"))
        patch.setattr(services, "find_bootstrap_address", lambda temp_dir: latest_started)
        for name, value in ((VARIABLE, variable_before), ("RAY_ADDRESS", environment)):
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        if init_fails:
            with pytest.raises(ConnectionError):
                start_ray(config, tags)
        else:
            start_ray(config, tags)
        after = ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(VARIABLE)
    ((cluster_mode, variable, kwargs),) = seen
    address = configured or environment
    joined = (environment or latest_started or "auto") if address == "auto" else address
    expected = (not address and loopback_setting is not False) or (
        bool(address) and is_loopback(joined)
    )
    assert (cluster_mode is False and variable == "0") is expected, (address, loopback_setting)
    if not expected:
        assert (cluster_mode, variable) == (constant, variable_before)
    assert after == (constant, variable_before)
    assert ("num_cpus" in kwargs) is (not address)  # a cluster's own resources when joined
    # The token: written (readable by this user only) for a local Ray, used to join one.
    assert tokens == (["joined"] if address else ["local"])


def test_the_session_ray_listens_on_loopback_only(ray_session):
    """The tests' Ray, started by `start_ray` from conf/base/ray.yml as `kedro run` starts one
    (with the dashboard, as for tuning): every port of its processes and of this driver is on
    127.0.0.1. Without the loopback mode the GCS, the raylet, every worker and the agents
    listen on every interface."""
    ours = {os.getpid()} | {child.pid for child in psutil.Process().children(recursive=True)}
    listening = [
        each
        for each in psutil.net_connections("tcp")
        if each.status == psutil.CONN_LISTEN and each.pid in ours
    ]
    names = {psutil.Process(each.pid).name() for each in listening}
    assert {"gcs_server", "raylet"} <= names, names  # the test sees Ray's own servers
    beyond = [each for each in listening if not on_loopback(each.laddr.ip)]
    assert not beyond, [(psutil.Process(e.pid).name(), e.laddr) for e in beyond]
    assert ray_session.util.get_node_ip_address() == "127.0.0.1"
