"""What the repository holds: no credentials (in any tracked file, notebook outputs included),
and neither secrets nor data are tracked. The service's loopback default is checked on the
socket `kedro serve` binds (tests/e2e/test_commands.py); checkpoints load weights only
(tests/training/test_checkpoints.py)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

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


def secrets_in(paths: list) -> list[str]:
    """What the credentials scan finds: ``"<file>: <kind>"`` for every secret pattern in a
    file's text (a notebook's sources and outputs), pictures aside."""
    found = []
    for path in paths:
        if path.is_file() and path.suffix != ".png":
            text = _text(path)
            found += [
                f"{path.name}: {kind}" for kind, p in SECRET_PATTERNS.items() if re.search(p, text)
            ]
    return found


def test_the_credentials_scan_finds_every_kind_of_secret_wherever_it_is(tmp_path):
    import nbformat  # noqa: PLC0415
    from nbformat.v4 import new_code_cell, new_notebook, new_output  # noqa: PLC0415

    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    token = "ghp_" + "a1" * 18
    notebook = new_notebook(
        cells=[new_code_cell("print('ok')", outputs=[new_output("stream", text=f"key={key}")])]
    )
    nbformat.write(notebook, tmp_path / "leaky.ipynb")
    (tmp_path / "credentials.yml").write_text(f"github:\n  token: {token}\n")
    (tmp_path / "deploy.py").write_text("API_" + 'KEY = "abcdefghijklmnop1234"\n')
    (tmp_path / "key.pem").write_text("-----BEGIN RSA " + "PRIVATE KEY-----\nMII\n")
    (tmp_path / "clean.md").write_text("nothing to see: a password is set in conf/local\n")
    (tmp_path / "plot.png").write_bytes(key.encode())  # pictures are not text
    found = secrets_in(sorted(tmp_path.iterdir()))
    assert sorted(found) == [
        "credentials.yml: GitHub token",
        "credentials.yml: assigned secret",
        "deploy.py: assigned secret",
        "key.pem: private key",
        "leaky.ipynb: AWS access key id",  # in a cell's output, not its source
    ]


def test_no_credentials_are_tracked_by_git(project_root):
    files = _tracked_files(project_root)
    assert any(p.suffix == ".ipynb" for p in files)  # notebooks are scanned too
    assert not secrets_in(files)
    tracked = {str(p.relative_to(project_root)) for p in files}
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


def _make_targets(commands: str) -> list[str]:
    """The make targets `commands` (shell lines) call, in order."""
    return re.findall(r"^\s*make\s+([\w-]+)", commands, flags=re.MULTILINE)


def test_the_github_workflow_runs_the_same_make_targets_as_ci_and_retrains_with_make_retrain(
    project_root,
):
    """.github/workflows/ci.yml: its test job calls the make targets of .ci/run in the same
    order (so the two cannot drift apart), its retrain job `make retrain`, and each target
    exists in the Makefile; `make retrain` runs the continuous_training pipeline."""
    import yaml  # noqa: PLC0415

    workflow = yaml.safe_load((project_root / ".github/workflows/ci.yml").read_text())
    jobs = workflow["jobs"]
    ci = _make_targets((project_root / ".ci/run").read_text())
    assert ci == ["install", "lint", "audit", "test"]

    def steps(job: str) -> list[str]:
        return _make_targets("\n".join(step.get("run", "") for step in jobs[job]["steps"]))

    assert steps("test") == ci
    assert steps("retrain") == ["install", "retrain"]
    makefile = (project_root / "Makefile").read_text()
    defined = set(re.findall(r"^([\w-]+):", makefile, flags=re.MULTILINE))
    assert set(ci) | {"retrain"} <= defined
    retrain = makefile.split("\nretrain:", 1)[1].split("\n\n", 1)[0]
    assert "kedro run --pipelines=continuous_training" in retrain
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"pull_request", "workflow_dispatch", "repository_dispatch"} <= set(triggers)
