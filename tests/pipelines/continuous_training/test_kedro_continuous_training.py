"""`kedro run --pipelines=continuous_training` (`make retrain`) in a tiny project whose champion
answers the wrong tags (its classes saved in the wrong order): new labelled rows are merged
(repeats of the training data and holdout projects left out), the challenger beats the champion
and is promoted, with its comparison report and intake report in data/08_reporting and MLflow;
run again on the same data, the challenger only ties the new champion and is refused."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from factories import make_raw_projects, mislabelled, register_variant, write_raw_data
from kedro_project import kedro
from mlflow.tracking import MlflowClient

NAME = "madewithml-tagger"


@pytest.fixture(scope="module")
def retrained(tiny_champion_project, tmp_path_factory, ray_session):
    """Two `make retrain` runs after labelled rows arrive; each run's reports and aliases."""
    root = tmp_path_factory.mktemp("continuous_training")
    project = root / "project"
    shutil.copytree(tiny_champion_project, project, ignore=shutil.ignore_patterns("ray_results"))
    data_dir = write_raw_data(root / "raw")
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    bad = register_variant(project, root / "bad", mislabelled)
    client.set_registered_model_alias(NAME, "champion", bad)

    new = make_raw_projects(2, title="Incoming").assign(id=lambda f: f["id"] + 1000)
    holdout = pd.read_csv(data_dir / "holdout.csv")
    dataset = pd.read_csv(data_dir / "dataset.csv")
    incoming = pd.concat([new, holdout.head(1).assign(id=5000), dataset.head(1)], ignore_index=True)
    (project / "data/01_raw/incoming").mkdir(parents=True)
    incoming.to_csv(project / "data/01_raw/incoming/labelled.csv", index=False)

    runs = []
    for _ in range(2):
        # The synthetic projects are so easy that the baseline ties the tiny model: weakened.
        result = kedro(
            project,
            "run",
            "--pipelines=continuous_training",
            "--params=evaluation.baseline.C=1.0e-6",
            data_dir=data_dir,
            env={"RAY_ADDRESS": ray_session.get_runtime_context().gcs_address},
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        reports = project / "data/08_reporting"
        runs.append(
            {
                "evaluation": json.loads((reports / "evaluation.json").read_text()),
                "intake": json.loads((reports / "intake.json").read_text()),
                "comparison": (reports / "comparison.md").read_text(),
                "champion": str(client.get_model_version_by_alias(NAME, "champion").version),
                "stdout": result.stdout + result.stderr,
            }
        )
    return {"project": project, "client": client, "bad": bad, "new": new, "runs": runs}


def test_new_rows_are_merged_and_repeats_left_out(retrained):
    intake = retrained["runs"][0]["intake"]
    assert intake["added"]["ids"] == retrained["new"]["id"].tolist()
    assert intake["dropped"]["in_holdout"]["ids"] == [5000]
    assert intake["dropped"]["in_training_data"]["ids"] == [1]
    assert intake["training_rows_after"] == intake["training_rows_before"] + len(retrained["new"])
    project = retrained["project"]
    merged = pd.read_parquet(project / "data/02_intermediate/training_dataset.parquet")
    assert set(retrained["new"]["id"]) <= set(merged["id"]) and 5000 not in set(merged["id"])


def test_a_better_challenger_is_promoted_with_its_comparison_report(retrained):
    first = retrained["runs"][0]
    promotion = first["evaluation"]["promotion"]
    assert promotion["current_champion"]["version"] == retrained["bad"]
    assert promotion["promote"] is True
    challenger = first["evaluation"]["model"]["model_uri"].rsplit("/", 1)[1]
    assert first["champion"] == challenger != retrained["bad"]
    assert "**Decision: promoted.**" in first["comparison"]
    assert f"- Champion: version {retrained['bad']}" in first["comparison"]
    champion_f1 = promotion["current_champion"]["holdout_f1"]
    assert champion_f1 < first["evaluation"]["overall"]["f1"]
    assert (
        f"| f1 | {champion_f1:.4f} | {first['evaluation']['overall']['f1']:.4f} |"
        in (first["comparison"])
    )
    client = retrained["client"]
    run = client.get_run(first["evaluation"]["model"]["run_id"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"comparison.md", "intake.json", "evaluation.json"} <= artifacts
    assert run.data.metrics["intake.added_rows"] == len(retrained["new"])


def test_a_challenger_that_only_ties_the_champion_is_refused(retrained):
    first, second = retrained["runs"]
    promotion = second["evaluation"]["promotion"]
    assert promotion["promote"] is False
    assert "by more than evaluation.promotion_margin" in promotion["reason"]
    assert second["champion"] == first["champion"]  # the alias did not move
    assert "**Decision: not promoted.**" in second["comparison"]
