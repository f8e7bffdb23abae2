"""`kedro` on the command line, as a user runs it: on the real data, on a data folder that is not
there, and runs killed mid-write or started twice (bad raw data:
tests/pipelines/data_processing/test_bad_raw_data.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from factories import project_parameters
from kedro_project import copy_project, kedro, squashed, written_files

pytestmark = pytest.mark.real_data


def test_registry_lists_the_pipelines(tmp_path, real_data):
    result = kedro(copy_project(tmp_path), "registry", "list", data_dir=real_data)
    assert result.returncode == 0, result.stderr
    assert "__default__" in result.stdout
    assert "data_processing" in result.stdout


def test_data_processing_writes_model_inputs_and_class_to_index(tmp_path, real_data):
    project = copy_project(tmp_path)
    result = kedro(project, "run", "--pipelines=data_processing", data_dir=real_data)
    assert result.returncode == 0, result.stdout + result.stderr

    train = pd.read_parquet(project / "data/05_model_input/train_model_input.parquet")
    val = pd.read_parquet(project / "data/05_model_input/val_model_input.parquet")
    assert (len(train), len(val)) == (610, 154)
    assert set(train["target"]) == set(val["target"]) == {0, 1, 2, 3}
    class_to_index = json.loads((project / "data/05_model_input/class_to_index.json").read_text())
    assert class_to_index == {
        "computer-vision": 0,
        "mlops": 1,
        "natural-language-processing": 2,
        "other": 3,
    }


def test_unreadable_data_location_names_it_and_the_setting(tmp_path, real_data):
    project = copy_project(tmp_path)
    missing = tmp_path / "nowhere"
    result = kedro(project, "run", "--pipelines=data_processing", data_dir=missing)
    output = squashed(result.stdout + result.stderr)
    assert result.returncode != 0
    assert squashed(f"Could not read raw data from '{missing}/dataset.csv'") in output
    assert "MADEWITHML_DATA_DIR" in output
    assert written_files(project) == []


def test_default_run_trains_evaluates_and_reports_on_the_real_data(real_default_run):
    report = json.loads((real_default_run / "data/08_reporting/evaluation.json").read_text())
    assert report["overall"]["num_samples"] == 191  # the whole holdout
    assert set(report["per_class"]) == {
        "computer-vision",
        "mlops",
        "natural-language-processing",
        "other",
    }
    assert {"nlp_llm", "short_text"} == set(report["slices"])
    assert report["baseline"]["overall"]["num_samples"] == 191
    assert report["model"]["model_uri"] == "models:/madewithml-tagger/1"  # what training logged
    # no champion before: the model is promoted exactly when it beats the baseline
    better = report["overall"]["f1"] > report["baseline"]["overall"]["f1"]
    assert report["promotion"]["promote"] is better
    assert report["promotion"]["current_champion"] is None
    history = pd.read_csv(real_default_run / "data/08_reporting/training_history.csv")
    epochs = project_parameters("training")["params:training.num_epochs"]
    assert len(history) == epochs  # one row per epoch of conf/base


def test_the_default_model_as_served_answers_as_well_as_its_most_likely_tag(real_default_run):
    # The logged model's own threshold (chosen by calibration on validation) is what every
    # server answers with: it must cost little F1 and answer `other` about as often as it is.
    report = json.loads((real_default_run / "data/08_reporting/evaluation.json").read_text())
    served, most_likely = report["overall"]["f1"], report["most_likely"]["overall"]["f1"]
    assert served >= most_likely - 0.02, (served, most_likely)
    other = report["answered_other"]
    assert abs(other["served"] - other["true"]) <= 0.05, other
    calibration = json.loads((real_default_run / "data/08_reporting/calibration.json").read_text())
    assert report["model"]["threshold"] == pytest.approx(calibration["threshold"])
    assert calibration["after"]["ece"] < calibration["before"]["ece"]


def _start_data_processing(project, env, log):
    """`kedro run --pipelines=data_processing` in the background (its own session, so that a
    kill reaches its children), its output in `log`."""
    import subprocess  # noqa: PLC0415

    from kedro_project import KEDRO  # noqa: PLC0415

    with log.open("w") as output:
        return subprocess.Popen(
            [KEDRO, "run", "--pipelines=data_processing"],
            cwd=project,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill_while_a_table_is_being_written(project, env, log):
    """Start `kedro run --pipelines=data_processing` and SIGKILL it the moment a `.writing` table
    (a save in progress) appears. Returns the files being written that are left on disk."""
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import time  # noqa: PLC0415

    run = _start_data_processing(project, env, log)
    deadline = time.monotonic() + 300
    while run.poll() is None and time.monotonic() < deadline:
        if list((project / "data").rglob(".*.writing")):
            os.killpg(run.pid, signal.SIGKILL)  # the fault: killed mid-save, no clean-up
            break
        time.sleep(0.002)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL, f"not killed mid-run: {log.read_text()[-3000:]}"
    return list((project / "data").rglob(".*.writing"))


def test_a_run_killed_mid_write_leaves_no_table_that_loads_as_whole_and_the_next_run_starts_cleanly(
    tmp_path,
):
    """`kedro run` SIGKILLed while a table is being written (its hidden `.writing` file is on
    disk and incomplete): the table itself is not there, every table that is there loads whole,
    and the next run succeeds and clears the leftovers."""
    from factories import make_raw_projects  # noqa: PLC0415
    from kedro_project import kedro_env  # noqa: PLC0415

    data_dir = tmp_path / "raw"
    data_dir.mkdir()
    big = make_raw_projects(30_000)  # ~150,000 rows: writing a table takes a while
    big.assign(description=big["description"] * 4).to_csv(data_dir / "dataset.csv", index=False)
    project = copy_project(tmp_path / "project")
    env = kedro_env(project, data_dir)
    for attempt in range(5):  # until the kill lands while a save is in progress
        partials = _kill_while_a_table_is_being_written(
            project, env, tmp_path / f"run{attempt}.log"
        )
        if partials:
            break
    assert partials, "no kill landed during a save in 5 attempts"
    import pyarrow  # noqa: PLC0415

    tables = [partial for partial in partials if ".parquet" in partial.name]
    assert tables, partials  # data_processing's large saves are parquet tables
    for partial in tables:
        # mid-write: the file is still there and incomplete (empty, or no parquet footer yet:
        # not a vanished file), and the table it was becoming is absent (staged in the run's
        # .staging-<id>/ folder, or the table itself beside it)
        assert partial.is_file(), partial
        with pytest.raises(pyarrow.ArrowInvalid, match="footer|size is 0 bytes"):
            pd.read_parquet(partial)
        name = partial.name[1:].rsplit(".", 2)[0]
        folder = (
            partial.parent.parent if partial.parent.name.startswith(".staging-") else partial.parent
        )
        assert not (folder / name).exists(), folder / name
    for table in (project / "data").rglob("*"):
        if table.suffix in {".parquet", ".csv"} and not table.name.startswith("."):
            read = pd.read_parquet if table.suffix == ".parquet" else pd.read_csv
            assert len(read(table)) > 0, table  # whole, or not there at all
    # The next run, on less data (what it clears does not depend on it; the large run took
    # ~50 s of the suite), starts cleanly and clears the leftovers.
    small = make_raw_projects(60)
    small.to_csv(data_dir / "dataset.csv", index=False)
    again = kedro(project, "run", "--pipelines=data_processing", data_dir=data_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not list((project / "data").rglob(".*.writing"))
    assert not list((project / "data").rglob(".staging-*"))
    assert len(pd.read_parquet(project / "data/03_primary/projects.parquet")) == len(small)


def test_a_second_run_in_the_same_project_fails_at_once_and_spares_the_first(tmp_path):
    """Issue 26: a second `kedro run` deleted the first one's staging folder, and the first
    failed with FileNotFoundError on a hidden `.staging-...` path. Now the second fails before
    any work, naming the first, and the first finishes as if alone."""
    import time  # noqa: PLC0415

    from factories import make_raw_projects  # noqa: PLC0415
    from kedro_project import kedro_env  # noqa: PLC0415

    data_dir = tmp_path / "raw"
    data_dir.mkdir()
    big = make_raw_projects(20_000)  # data_processing takes a while on ~100,000 rows
    big.assign(description=big["description"] * 4).to_csv(data_dir / "dataset.csv", index=False)
    project = copy_project(tmp_path / "project")
    env = kedro_env(project, data_dir)
    lock = project / ".run.lock"
    first = _start_data_processing(project, env, tmp_path / "first.log")
    deadline = time.monotonic() + 300
    while not (lock.is_file() and lock.read_text()) and time.monotonic() < deadline:
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(0.05)
    second = kedro(project, "run", "--pipelines=data_processing", data_dir=data_dir)
    still_running = first.poll() is None
    assert first.wait(timeout=900) == 0, (tmp_path / "first.log").read_text()[-3000:]
    assert still_running, "the first run ended before the second started: make it longer"
    assert second.returncode != 0
    output = squashed(second.stdout + second.stderr)
    assert squashed(f"another kedro run is running in this project: pid {first.pid}") in output
    assert "FileNotFoundError" not in output
    assert len(pd.read_parquet(project / "data/03_primary/projects.parquet")) == len(big)
    assert not list((project / "data").rglob(".staging-*"))
    assert lock.read_text() == ""  # released (tests/framework/test_hooks.py: the next runs)
