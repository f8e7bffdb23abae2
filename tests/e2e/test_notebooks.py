"""notebooks/ and `kedro jupyter`: the notebooks are stored without outputs, and run top to bottom
in the kernel `kedro jupyter` installs, on a project copy in which `kedro run` ran on the real
data; `kedro jupyter lab` and `kedro jupyter notebook` start and offer that kernel."""

from __future__ import annotations

import os
import shutil
import urllib.request

import nbformat
import pytest
from browser import artifacts_dir, background_command, free_port, wait_for_json
from factories import PROJECT_ROOT
from kedro_project import KEDRO, copy_project, kedro, kedro_env

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "kedro_madewithml"  # the kernel `kedro jupyter setup|lab|notebook` installs


def test_there_are_an_exploration_and_a_model_notebook():
    assert {"exploration.ipynb", "model.ipynb"} <= {path.name for path in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebooks_are_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `make strip-notebooks`"


@pytest.fixture(scope="module")
def jupyter_data(tmp_path_factory, monkeypatch_module):
    """A private Jupyter data folder (kernels are installed there, not in the user's home)."""
    folder = tmp_path_factory.mktemp("jupyter")
    monkeypatch_module.setenv("JUPYTER_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


# What each notebook must show: the tagged cells (cell metadata "tags") and what they output.
EXPECTED = {
    "exploration.ipynb": [
        "figure:tag-shares",
        "figure:token-lengths",
        "figure:created-on",
        "table:near-duplicates",
        "table:telling-words",
        "figure:split",
    ],
    "model.ipynb": [
        "table:overall",
        "figure:per-class-f1",
        "figure:confusion-matrix",
        "figure:threshold",
        "figure:confidence",
        "figure:training-curves",
        "table:errors",
        "table:disagreements",
        "table:slices",
        "table:typed-examples",
        "table:request-log",
    ],
}


def _execute(name: str, project, real_data, jupyter_data, monkeypatch):
    """Run notebooks/<name> top to bottom in the Kedro kernel inside `project`; returns it."""
    from nbclient import NotebookClient  # noqa: PLC0415

    setup = kedro(project, "jupyter", "setup", data_dir=real_data)
    assert setup.returncode == 0, setup.stderr[-3000:]
    assert (jupyter_data / "kernels" / KERNEL / "kernel.json").is_file()
    folder = project / "notebooks"
    folder.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "notebooks" / name, folder / name)
    # The kernel inherits this environment: the copy's MLflow store and the real data.
    for variable, value in kedro_env(project, real_data).items():
        monkeypatch.setenv(variable, value)
    notebook = nbformat.read(folder / name, as_version=4)
    client = NotebookClient(
        notebook, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(folder)}}
    )
    try:
        client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    finally:
        nbformat.write(notebook, artifacts_dir() / f"executed-{name}")
    return notebook


def _shows_what_it_promises(notebook, name: str) -> None:
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    cells = {tag: cell for cell in notebook.cells for tag in cell.metadata.get("tags", [])}
    for tag in EXPECTED[name]:
        assert tag in cells, f"{name}: no cell tagged {tag}"
        kind = "image/png" if tag.startswith("figure:") else "text/html"
        data = [output.get("data", {}) for output in cells[tag].get("outputs", [])]
        assert any(kind in item for item in data), f"{name}: {tag} shows no {kind}"


@pytest.mark.real_data
def test_the_exploration_notebook_runs_data_processing_itself_on_a_fresh_project(
    tmp_path, real_data, jupyter_data, monkeypatch
):
    project = copy_project(tmp_path / "project")
    assert not (project / "data/05_model_input/val_model_input.parquet").exists()
    notebook = _execute("exploration.ipynb", project, real_data, jupyter_data, monkeypatch)
    _shows_what_it_promises(notebook, "exploration.ipynb")
    assert (project / "data/05_model_input/val_model_input.parquet").is_file()  # it ran it


@pytest.mark.real_data
def test_the_model_notebook_runs_on_the_model_kedro_run_evaluated(
    real_default_run, real_data, jupyter_data, monkeypatch
):
    notebook = _execute("model.ipynb", real_default_run, real_data, jupyter_data, monkeypatch)
    _shows_what_it_promises(notebook, "model.ipynb")
    printed = "".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )
    assert "model: models:/madewithml-tagger/1 " in printed  # the one model, named


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_kedro_jupyter_starts_with_the_kedro_kernel(app, tmp_path, jupyter_data):
    project = copy_project(tmp_path / "project")
    port, token = free_port(), "madewithml-test"
    command = [
        KEDRO,
        "jupyter",
        app,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI's container runs as root
    ]
    env = kedro_env(project, tmp_path)
    log = tmp_path / f"kedro-jupyter-{app}.log"
    with background_command(command, cwd=project, env=env, log=log) as process:
        url = f"http://127.0.0.1:{port}"
        specs = wait_for_json(
            f"{url}/api/kernelspecs?token={token}", timeout=120, process=process, log=log
        )
        assert specs["default"] == KERNEL
        assert specs["kernelspecs"][KERNEL]["spec"]["argv"][-2:] == ["--ext", "kedro.ipython"]
        page = "lab" if app == "lab" else "tree"
        with urllib.request.urlopen(f"{url}/{page}?token={token}", timeout=30) as response:
            assert response.status == 200
            assert "<html" in response.read().decode().lower()
