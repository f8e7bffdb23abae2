"""The pipeline registry: the composed pipelines, whole whether or not a run names them, and a run
that names its pipelines imports only what they need."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
from kedro.framework.project import pipelines

from madewithml.pipeline_registry import COMPOSITIONS

FOLDERS = [
    "continuous_training",
    "data_processing",
    "evaluation",
    "inference",
    "monitoring",
    "training",
    "tuning",
]


def _folder(name: str):
    return importlib.import_module(f"madewithml.pipelines.{name}").create_pipeline()


def _nodes(pipeline) -> set[str]:
    return {node.name for node in pipeline.nodes}


@pytest.fixture
def requested(project_root):
    """Ask the registry for some pipelines only, as `kedro run --pipelines=...` does."""

    def ask(names: list[str] | None) -> dict:
        pipelines.set_requested(names)
        return dict(pipelines.items())

    yield ask
    pipelines.set_requested(None)


def test_every_folder_and_composition_is_registered(requested):
    assert set(requested(None)) == {*FOLDERS, *COMPOSITIONS}


def test_the_composed_pipelines_are_made_of_their_folders(requested):
    everything = requested(None)
    data, train, evaluate, tune, intake = (
        _nodes(_folder(name))
        for name in ("data_processing", "training", "evaluation", "tuning", "continuous_training")
    )
    assert _nodes(everything["training"]) == data | train
    assert _nodes(everything["__default__"]) == data | train | evaluate
    assert _nodes(everything["tuning"]) == data | tune
    assert _nodes(everything["continuous_training"]) == intake | data | train | evaluate
    # continuous training processes the merged data, and evaluates what it trained
    composed = {node.name: node for node in everything["continuous_training"].nodes}
    reads_raw = [node.name for node in _folder("data_processing").nodes if "dataset" in node.inputs]
    assert reads_raw
    for name in reads_raw:
        assert "training_dataset" in composed[name].inputs, name
    assert "evaluated_model" not in everything["continuous_training"].inputs()


@pytest.mark.parametrize("name", [*COMPOSITIONS])
def test_a_named_pipeline_is_the_same_as_in_the_whole_registry(requested, name):
    whole = requested(None)[name]
    named = requested([name])
    assert name in named
    assert _nodes(named[name]) == _nodes(whole)
    # and its evaluation reads the model training registered, as in the whole registry
    assert named[name].inputs() == whole.inputs()


def _in_a_fresh_interpreter(script: str, **run) -> object:
    """What `script` prints last as JSON, run by a new Python (this one has imported everything
    already)."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        **run,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_naming_data_processing_imports_no_training_stack(project_root):
    """`kedro run --pipelines=data_processing` starts without importing Ray Train or the other
    pipelines (in a fresh interpreter: this one has imported them already)."""
    script = (
        "import json, sys\n"
        "from kedro.framework.project import pipelines\n"
        "from kedro.framework.startup import bootstrap_project\n"
        f"bootstrap_project({str(project_root)!r})\n"
        "pipelines.set_requested(['data_processing'])\n"
        "print(json.dumps([sorted(pipelines), sorted(sys.modules)]))\n"
    )
    registered, modules = _in_a_fresh_interpreter(script)
    assert registered == ["data_processing"]
    assert "ray.train" not in modules
    assert not [m for m in modules if m.startswith("madewithml.pipelines.training")]


def test_a_command_s_context_imports_no_pipeline(tmp_path):
    """A session made outside `kedro run` (a script, a notebook, `kedro predict`, `kedro serve`)
    creates its context, and this project's hooks check the parameters then: that check must not
    import the pipelines (`context.params` would import every registered one, as no run has said
    which it needs; `kedro run` says so before the context exists)."""
    from kedro_project import copy_project, kedro_env  # noqa: PLC0415

    project = copy_project(tmp_path / "project")
    script = (
        "import json, sys\n"
        "from kedro.framework.session import KedroSession\n"
        "from kedro.framework.startup import bootstrap_project\n"
        f"bootstrap_project({str(project)!r})\n"
        f"session = KedroSession.create({str(project)!r}, runtime_params={{'training.lr': 0.01}})\n"
        "session.load_context()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    modules = _in_a_fresh_interpreter(script, cwd=project, env=kedro_env(project, tmp_path))
    assert "madewithml.parameters" in modules  # the parameters were checked
    assert not [m for m in modules if m.startswith("madewithml.pipelines.")]


def test_after_a_run_that_named_one_pipeline_every_other_is_still_there(requested):
    """Kedro keeps a run's selection for the process (a notebook after
    `session.run(pipeline_names=["data_processing"])`): the others are built when asked for."""
    whole = {name: _nodes(p) for name, p in requested(None).items()}
    requested(["data_processing"])
    for name, nodes in whole.items():
        assert _nodes(pipelines[name]) == nodes, name
