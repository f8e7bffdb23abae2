"""A run's files are staged, read back and committed together, or rolled back; one run at a
time holds the project's lock."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def test_in_a_run_saves_are_staged_read_back_and_committed_together(tmp_path):
    import pandas as pd  # noqa: PLC0415

    from madewithml.datasets import AtomicCSVDataset, RunTransaction  # noqa: PLC0415

    table = AtomicCSVDataset(filepath=str(tmp_path / "t" / "table.csv"), save_args={"index": False})
    table.save(pd.DataFrame({"a": [1]}))  # outside a run: written at once
    transaction = RunTransaction.begin()
    try:
        table.save(pd.DataFrame({"a": [2]}))
        assert pd.read_csv(tmp_path / "t" / "table.csv")["a"].tolist() == [1]  # not yet
        assert table.load()["a"].tolist() == [2]  # later nodes of the run read the new one
        names = {p.name for p in (tmp_path / "t").iterdir()}
        assert names == {"table.csv", f".staging-{transaction.id}"}
        transaction.commit()
    finally:
        RunTransaction.active = None
    assert pd.read_csv(tmp_path / "t" / "table.csv")["a"].tolist() == [2]
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["table.csv"]
    assert table.load()["a"].tolist() == [2]


def test_a_rolled_back_run_leaves_files_and_folders_as_they_were(tmp_path, tiny_encoder):
    import pandas as pd  # noqa: PLC0415
    from transformers import AutoTokenizer  # noqa: PLC0415

    from madewithml.datasets import AtomicCSVDataset, RunTransaction, TokenizerDataset  # noqa: PLC0415

    table = AtomicCSVDataset(filepath=str(tmp_path / "table.csv"), save_args={"index": False})
    folder = TokenizerDataset(filepath=str(tmp_path / "tokenizer"))
    table.save(pd.DataFrame({"a": [1]}))
    folder.save(AutoTokenizer.from_pretrained(tiny_encoder))
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "tokenizer").iterdir()}
    transaction = RunTransaction.begin()
    table.save(pd.DataFrame({"a": [2]}))
    folder.save(AutoTokenizer.from_pretrained(tiny_encoder))
    promoted = []
    transaction.on_commit(lambda: promoted.append(True))
    transaction.rollback()
    assert RunTransaction.active is None and promoted == []
    assert table.load()["a"].tolist() == [1]
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "tokenizer").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv", "tokenizer"]


def test_an_mlflow_artifact_of_a_run_is_logged_under_its_own_name(tmp_path):
    import mlflow  # noqa: PLC0415
    from kedro_mlflow.io.artifacts import MlflowArtifactDataset  # noqa: PLC0415

    from madewithml.datasets import RunTransaction  # noqa: PLC0415

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    dataset = MlflowArtifactDataset(
        dataset={
            "type": "madewithml.datasets.AtomicJSONDataset",
            "filepath": str(tmp_path / "r.json"),
        },
        artifact_path="reports",
    )
    try:
        with mlflow.start_run() as run:
            transaction = RunTransaction.begin()
            dataset.save({"f1": 0.9})  # staged locally, logged from there
            transaction.commit()
        client = mlflow.MlflowClient()
        logged = [a.path for a in client.list_artifacts(run.info.run_id, "reports")]
        assert logged == ["reports/r.json"]
        assert json.loads((tmp_path / "r.json").read_text()) == {"f1": 0.9}
    finally:
        RunTransaction.active = None
        mlflow.set_tracking_uri(None)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["acquire", "release"]), st.integers(0, 3)), max_size=25
    )
)
def test_at_most_one_run_holds_the_lock_whatever_the_order(tmp_path_factory, steps):
    """Issue 26 (a second run deleted the first one's staging), as a property: four would-be
    runs acquiring and releasing in any order. An acquire succeeds exactly when no other run
    holds the lock, and otherwise names the one that does; a release by a run that does not
    hold it changes nothing."""
    from madewithml.datasets import RunInProgressError, RunLock  # noqa: PLC0415

    path = tmp_path_factory.mktemp("lock") / "data" / ".run.lock"
    locks = [RunLock(path) for _ in range(4)]
    holder = None  # the model: which run holds the lock
    try:
        for step, run in steps:
            if step == "release":
                locks[run].release()
                if holder == run:
                    holder = None
            elif holder is None:
                locks[run].acquire(f"run {run}")
                holder = run
            elif holder == run:
                continue  # a run does not take its own lock twice (the hook takes it once)
            else:
                with pytest.raises(RunInProgressError, match=f", run {holder}\\. Wait"):
                    locks[run].acquire(f"run {run}")
    finally:
        for lock in locks:
            lock.release()
