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


@pytest.mark.real_data
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_in_the_kedro_kernel_on_the_real_data(
    path, real_default_run, real_data, jupyter_data, monkeypatch
):
    from nbclient import NotebookClient  # noqa: PLC0415

    setup = kedro(real_default_run, "jupyter", "setup", data_dir=real_data)
    assert setup.returncode == 0, setup.stderr[-3000:]
    assert (jupyter_data / "kernels" / KERNEL / "kernel.json").is_file()
    folder = real_default_run / "notebooks"
    folder.mkdir(exist_ok=True)
    shutil.copy(path, folder / path.name)
    # The kernel inherits this environment: the copy's MLflow store and the real data.
    for name, value in kedro_env(real_default_run, real_data).items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(folder / path.name, as_version=4)
    client = NotebookClient(
        notebook, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(folder)}}
    )
    try:
        client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    finally:
        nbformat.write(notebook, artifacts_dir() / f"executed-{path.name}")
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    tables = [output for output in outputs if "text/html" in output.get("data", {})]
    assert len(figures) >= 2 and len(tables) >= 3, (len(figures), len(tables))
    assert not [output for output in outputs if output.get("output_type") == "error"]


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
