"""The Ray hook: when it starts Ray, with what, and that it stops what it started."""

import pytest
import ray
from kedro.pipeline import node, pipeline

from madewithml.framework.hooks import RayHook


def _identity(x):
    return x


class _Context:
    def __init__(self, config):
        self.config_loader = {"ray": config}


def _hook(config, monkeypatch, initialized=False):
    calls = {"init": [], "shutdown": 0}
    monkeypatch.setattr(ray, "is_initialized", lambda: initialized)
    monkeypatch.setattr(ray, "init", lambda **kw: calls["init"].append(kw) or _Ray())
    monkeypatch.setattr(
        ray, "shutdown", lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1)
    )
    hook = RayHook()
    hook.after_context_created(_Context(config))
    return hook, calls


class _Ray:
    dashboard_url = ""


RAY_PIPELINE = pipeline([node(_identity, "a", "b", tags=["ray"])])
PLAIN_PIPELINE = pipeline([node(_identity, "a", "b")])
CONFIG = {"init": {"address": None, "num_cpus": 2, "include_dashboard": False}}


def test_no_ray_for_pipelines_without_ray_nodes(monkeypatch):
    hook, calls = _hook(CONFIG, monkeypatch)
    hook.before_pipeline_run({}, PLAIN_PIPELINE)
    hook.after_pipeline_run()
    assert calls == {"init": [], "shutdown": 0}


def test_local_ray_with_the_configured_arguments_then_shutdown(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    hook, calls = _hook(CONFIG, monkeypatch)
    hook.before_pipeline_run({}, RAY_PIPELINE)
    assert calls["init"] == [{"address": None, "num_cpus": 2, "include_dashboard": False}]
    hook.after_pipeline_run()
    hook.after_pipeline_run()  # a second call does nothing more
    assert calls["shutdown"] == 1


def test_ray_address_joins_a_cluster_without_local_resources(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    hook, calls = _hook(CONFIG, monkeypatch)
    hook.before_pipeline_run({}, RAY_PIPELINE)
    assert calls["init"] == [{"address": "ray://head:10001", "include_dashboard": False}]


def test_ray_is_shut_down_when_the_pipeline_fails(monkeypatch):
    hook, calls = _hook(CONFIG, monkeypatch)
    hook.before_pipeline_run({}, RAY_PIPELINE)
    hook.on_pipeline_error()
    assert calls["shutdown"] == 1


def test_a_running_ray_is_used_and_left_running(monkeypatch):
    hook, calls = _hook(CONFIG, monkeypatch, initialized=True)
    hook.before_pipeline_run({}, RAY_PIPELINE)
    hook.after_pipeline_run()
    assert calls == {"init": [], "shutdown": 0}


def test_init_by_tag_overrides_init_for_pipelines_with_that_tag(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = {**CONFIG, "init_by_tag": {"tune": {"include_dashboard": True}}}
    tune_pipeline = pipeline([node(_identity, "a", "b", tags=["ray", "tune"])])

    hook, calls = _hook(config, monkeypatch)
    hook.before_pipeline_run({}, RAY_PIPELINE)
    hook.after_pipeline_run()
    hook.before_pipeline_run({}, tune_pipeline)
    assert [kw["include_dashboard"] for kw in calls["init"]] == [False, True]


def test_the_projects_ray_config_turns_the_dashboard_on_for_tuning(project_root):
    from kedro.framework.project import pipelines  # noqa: PLC0415

    from madewithml.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS  # noqa: PLC0415

    loader = CONFIG_LOADER_CLASS(str(project_root / "conf"), **CONFIG_LOADER_ARGS)
    config = loader["ray"]
    tags = set().union(*(n.tags for n in pipelines["tuning"].nodes))
    assert config["init"]["include_dashboard"] is False
    assert "tune" in tags and config["init_by_tag"]["tune"]["include_dashboard"] is True


@pytest.mark.slow
def test_a_real_kedro_run_starts_its_own_ray_and_leaves_nothing_of_it_running(
    tiny_encoder, tmp_path
):
    """No RAY_ADDRESS: the hook starts a local Ray for the training node (conf/base/ray.yml) and
    shuts it down after the run; every Ray process it started is gone."""
    import textwrap  # noqa: PLC0415

    import psutil  # noqa: PLC0415
    from factories import make_raw_projects  # noqa: PLC0415
    from kedro_project import copy_project, kedro  # noqa: PLC0415
    from servers import alive, ray_processes  # noqa: PLC0415

    data_dir = tmp_path / "raw"
    data_dir.mkdir()
    make_raw_projects(6).to_csv(data_dir / "dataset.csv", index=False)
    project = copy_project(tmp_path / "project")
    (project / "conf/local/parameters_test.yml").write_text(
        textwrap.dedent(
            f"""\
            encoder: {{name: {tiny_encoder}, max_length: 32}}
            training: {{num_epochs: 1, batch_size: 8}}
            """
        )
    )
    before = ray_processes()
    result = kedro(
        project, "run", "--pipelines=training", data_dir=data_dir, env={"RAY_ADDRESS": ""}
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Ray started" in result.stderr  # the hook's own Ray, not the session's
    assert "Ray joined" not in result.stderr
    left = alive(ray_processes() - before)
    assert not left, [psutil.Process(p).cmdline() for p in left]


def test_no_node_starts_an_engine_or_touches_files():
    """Nodes are pure: no ray.init/shutdown, no mlflow run management, no open() of files;
    hooks and datasets own those (checked on the source of every pipelines/*/nodes.py)."""
    import ast  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    import madewithml.pipelines  # noqa: PLC0415

    forbidden = {
        ("ray", "init"),
        ("ray", "shutdown"),
        ("mlflow", "start_run"),
        ("mlflow", "end_run"),
        ("mlflow", "set_tracking_uri"),
        ("mlflow", "log_artifact"),
    }
    found = []
    modules = sorted(Path(madewithml.pipelines.__file__).parent.glob("*/nodes.py"))
    assert len(modules) == 7  # one per pipeline folder
    for module in modules:
        for call in ast.walk(ast.parse(module.read_text())):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            named = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            if named and (func.value.id, func.attr) in forbidden:
                found.append(f"{module.parent.name}: {func.value.id}.{func.attr}")
            if isinstance(func, ast.Name) and func.id == "open":
                found.append(f"{module.parent.name}: open")
    assert not found


@pytest.fixture
def staged_run(tmp_path):
    """A run begun by the `TransactionHook`, which has saved a table over the previous run's
    and asked for an action once it commits: (hook, dataset, path, actions done)."""
    import pandas as pd  # noqa: PLC0415

    from madewithml.datasets import AtomicCSVDataset, RunTransaction  # noqa: PLC0415
    from madewithml.framework.hooks import TransactionHook  # noqa: PLC0415

    path = tmp_path / "layer" / "table.csv"
    path.parent.mkdir()
    pd.DataFrame({"run": ["previous"]}).to_csv(path, index=False)
    dataset, done, hook = AtomicCSVDataset(filepath=str(path)), [], TransactionHook()
    hook.before_pipeline_run({"project_path": str(tmp_path / "project")})
    dataset.save(pd.DataFrame({"run": ["this one"]}))
    RunTransaction.active.on_commit(lambda: done.append("alias moved"))
    yield hook, dataset, path, done
    RunTransaction.active = None


def test_the_transaction_hook_commits_a_run_that_succeeds(staged_run):
    import pandas as pd  # noqa: PLC0415

    from madewithml.datasets import RunTransaction  # noqa: PLC0415

    hook, dataset, path, done = staged_run
    assert pd.read_csv(path)["run"].tolist() == ["previous"]  # staged until the run ends
    assert dataset.load()["run"].tolist() == ["this one"]  # later nodes read what was staged
    hook.after_pipeline_run()
    assert pd.read_csv(path)["run"].tolist() == ["this one"]
    assert done == ["alias moved"] and RunTransaction.active is None
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]  # nothing staged is left


def test_the_transaction_hook_rolls_back_a_run_that_fails(staged_run):
    import pandas as pd  # noqa: PLC0415

    from madewithml.datasets import RunTransaction  # noqa: PLC0415

    hook, dataset, path, done = staged_run
    hook.on_pipeline_error()
    assert pd.read_csv(path)["run"].tolist() == ["previous"]
    assert dataset.load()["run"].tolist() == ["previous"]
    assert done == [] and RunTransaction.active is None
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]


def test_a_second_run_in_the_project_fails_at_once_naming_the_first(staged_run, tmp_path):
    """Issue 26: a second `kedro run` deleted the first one's staging folder. While a run is
    open, another fails before it begins, naming the first; once it ends, the next may run."""
    import os  # noqa: PLC0415

    from madewithml.datasets import RunInProgressError, RunTransaction  # noqa: PLC0415
    from madewithml.framework.hooks import TransactionHook  # noqa: PLC0415

    hook, *_ = staged_run
    first = RunTransaction.active
    project = {"project_path": str(tmp_path / "project"), "pipeline_names": ["training"]}
    with pytest.raises(
        RunInProgressError, match=rf"another kedro run is running .*pid {os.getpid()}"
    ):
        TransactionHook().before_pipeline_run(project)
    assert RunTransaction.active is first  # the first run's transaction is untouched
    hook.after_pipeline_run()
    second = TransactionHook()
    second.before_pipeline_run(project)
    lock = (tmp_path / "project" / ".run.lock").read_text()
    assert f"pid {os.getpid()}" in lock and "pipelines ['training']" in lock
    second.on_pipeline_error()


def test_a_killed_run_leaves_no_lock_behind(tmp_path):
    """The lock is the operating system's: a run killed with SIGKILL holds it no more."""
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from madewithml.datasets import RunInProgressError, RunLock  # noqa: PLC0415

    path = tmp_path / "data" / ".run.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from madewithml.datasets import RunLock\n"
            f"lock = RunLock(Path({str(path)!r}))\n"
            "lock.acquire('held'); print('held', flush=True)\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInProgressError, match=f"pid {holder.pid}, held"):
            RunLock(path).acquire("second")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = RunLock(path)
    lock.acquire("after the kill")
    lock.release()
