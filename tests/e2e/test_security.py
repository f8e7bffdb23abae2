"""What the project trusts: checkpoints load weights only, the service listens on loopback unless
told otherwise, and git holds no credentials."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from kedro.framework.project import settings


def test_the_service_listens_on_loopback_unless_told_otherwise(project_root):
    # The configured default; tests/serving/test_commands.py checks the socket `kedro serve`
    # really binds (127.0.0.1 by default, the --host given otherwise).
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_root / "conf"), **settings.CONFIG_LOADER_ARGS
    )
    assert loader["serving"]["serving"]["host"] == "127.0.0.1"


def test_the_credentials_scan_finds_a_secret_in_a_notebook(tmp_path):
    import nbformat  # noqa: PLC0415
    from nbformat.v4 import new_code_cell, new_notebook  # noqa: PLC0415

    path = tmp_path / "leaky.ipynb"
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    nbformat.write(new_notebook(cells=[new_code_cell(f"aws_key = '{key}'")]), path)
    assert re.search(SECRET_PATTERNS["AWS access key id"], _text(path))


SECRET_PATTERNS = {
    "AWS access key id": r"AKIA[0-9A-Z]{16}",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "GitHub token": r"gh[pousr]_[A-Za-z0-9]{36}",
    "assigned secret": r"(?i)(password|passwd|secret|token|api_key|apikey)[\"']?\s*[:=]\s*"
    r"[\"']?[A-Za-z0-9/+_\-]{16,}",
}


def _tracked_files(project_root) -> list:
    if shutil.which("git") is None or not (project_root / ".git").exists():
        pytest.skip("not a git checkout: nothing is tracked")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=project_root, capture_output=True, check=True
    ).stdout.decode()
    return [project_root / name for name in listed.split("\0") if name]


def _text(path) -> str:
    """What a tracked file says: a notebook's cell sources and outputs, any other file as text."""
    if path.suffix == ".ipynb":
        import nbformat  # noqa: PLC0415

        notebook = nbformat.read(path, as_version=4)
        parts = []
        for cell in notebook.cells:
            parts.append(cell.source)
            for output in cell.get("outputs", []):
                parts.append(
                    str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
                )
        return "\n".join(parts)
    return path.read_text(errors="replace")


def test_no_credentials_are_tracked_by_git(project_root):
    found = []
    files = [p for p in _tracked_files(project_root) if p.is_file() and p.suffix != ".png"]
    assert any(p.suffix == ".ipynb" for p in files)  # notebooks are scanned too
    for path in files:
        text = _text(path)
        found += [
            f"{path.name}: {name}" for name, p in SECRET_PATTERNS.items() if re.search(p, text)
        ]
    assert not found
    tracked = {str(p.relative_to(project_root)) for p in _tracked_files(project_root)}
    assert not [
        name
        for name in tracked
        if "credentials" in name or name.startswith("conf/local/") and not name.endswith(".gitkeep")
    ]


@pytest.mark.parametrize(
    "path",
    [
        "conf/local/credentials.yml",
        "conf/base/credentials.yml",
        "conf/local/mlflow.yml",
        "data/x.csv",
    ],
)
def test_secrets_and_data_are_ignored_by_git(project_root, path):
    _tracked_files(project_root)  # skips outside a git checkout
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=project_root, check=False)
    assert ignored.returncode == 0, f"{path} is not git-ignored"
