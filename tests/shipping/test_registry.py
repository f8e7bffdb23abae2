"""Promotion (`RegisteredModelAliasDataset.save`) and URI pinning against a real (sqlite) MLflow
model registry."""

import mlflow
import pytest
from kedro.io import DatasetError
from mlflow.tracking import MlflowClient

from madewithml.datasets import RegisteredModelAliasDataset
from madewithml.evaluation.promotion import decide_promotion
from madewithml.shipping.registry import pinned_model_uri

NAME, ALIAS = "madewithml-tagger", "champion"


@pytest.fixture
def registry(tmp_path):
    """Versions 1 and 2 of the registered model, logged by two runs."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.create_experiment("e", artifact_location=str(tmp_path / "mlruns"))
    client.create_registered_model(NAME)
    runs = []
    for _ in range(2):
        run = client.create_run(experiment)
        client.create_model_version(NAME, f"runs:/{run.info.run_id}/model", run.info.run_id)
        runs.append(run.info.run_id)
    yield client, runs
    mlflow.set_tracking_uri(None)


HOLDOUT = {"rows": 191, "digest": "a" * 64}


def _promotion(
    model_uri: str | None,
    run_id: str | None,
    promote: bool,
    f1: float = 0.95,
    expected: str | None = None,
    holdout: dict = HOLDOUT,
):
    return {
        "promote": promote,
        "model_uri": model_uri,
        "run_id": run_id,
        "holdout_f1": f1,
        "holdout": holdout,
        "expected_champion": expected,
        "reason": "r",
    }


def _champion() -> RegisteredModelAliasDataset:
    return RegisteredModelAliasDataset(name=NAME, alias=ALIAS)


@pytest.mark.parametrize(
    ("model_uri", "expected"),
    [(f"models:/{NAME}/1", "1"), (f"models:/{NAME}/2", "2"), (f"models:/{NAME}/latest", "2")],
)
def test_promotes_the_version_named_by_the_evaluated_uri(registry, model_uri, expected):
    client, _ = registry
    _champion().save(_promotion(model_uri, None, True, 0.951))
    version = client.get_model_version_by_alias(NAME, ALIAS)
    assert str(version.version) == expected
    assert float(version.tags["holdout_f1"]) == pytest.approx(0.951)
    assert _champion().load() == {
        "version": expected,
        "run_id": version.run_id,
        "holdout_f1": 0.951,
        "holdout_digest": "a" * 64,
        "holdout_rows": 191,
    }


def test_promotes_the_version_logged_by_the_evaluated_run(registry):
    client, runs = registry
    _champion().save(_promotion(f"runs:/{runs[0]}/model", runs[0], True))
    assert str(client.get_model_version_by_alias(NAME, ALIAS).version) == "1"


def test_no_promotion_leaves_the_registry_alone(registry):
    client, runs = registry
    _champion().save(_promotion(f"models:/{NAME}/2", runs[1], False))
    assert client.get_registered_model(NAME).aliases == {}
    assert _champion().load() == {}


def test_an_unregistered_model_cannot_be_promoted(registry):
    client, _ = registry
    with pytest.raises(DatasetError, match="not a registered version of 'madewithml-tagger'"):
        _champion().save(_promotion("runs:/not-a-run/model", "not-a-run", True))
    assert client.get_registered_model(NAME).aliases == {}


def test_the_recorded_f1_is_exact_so_the_champion_does_not_beat_itself(registry):
    f1 = 0.9077764777106105
    _champion().save(_promotion(f"models:/{NAME}/1", None, True, f1))
    champion = _champion().load()
    assert champion["holdout_f1"] == f1
    assert decide_promotion(f1, 0.5, champion["holdout_f1"], 191, 100)["promote"] is False


def test_pinned_model_uri_resolves_aliases_and_latest_and_keeps_other_uris(registry):
    client, _ = registry
    client.set_registered_model_alias(NAME, ALIAS, "1")
    assert pinned_model_uri(f"models:/{NAME}@{ALIAS}") == f"models:/{NAME}/1"
    assert pinned_model_uri(f"models:/{NAME}/latest") == f"models:/{NAME}/2"
    assert pinned_model_uri(f"models:/{NAME}/1") == f"models:/{NAME}/1"
    assert pinned_model_uri("runs:/abc/model") == "runs:/abc/model"
    with pytest.raises(ValueError, match=f"no model version behind 'models:/{NAME}@gone'"):
        pinned_model_uri(f"models:/{NAME}@gone")


def test_overlapping_promotions_keep_the_better_champion(registry):
    """Issue 26: two evaluations decided against the same champion (none); the later commit
    replaced the better one (0.999) with a worse one (0.969). Now the alias moves only if the
    champion is still the one the decision beat, or the new one is beaten on the same holdout."""
    client, _ = registry
    _champion().save(_promotion(f"models:/{NAME}/1", None, True, 0.999, expected=None))
    _champion().save(_promotion(f"models:/{NAME}/2", None, True, 0.969, expected=None))
    assert str(client.get_model_version_by_alias(NAME, ALIAS).version) == "1"
    # The other order: the later one beats the earlier on the same holdout, and takes over.
    client.delete_registered_model_alias(NAME, ALIAS)
    _champion().save(_promotion(f"models:/{NAME}/2", None, True, 0.969, expected=None))
    _champion().save(_promotion(f"models:/{NAME}/1", None, True, 0.999, expected=None))
    assert str(client.get_model_version_by_alias(NAME, ALIAS).version) == "1"
    # A champion that moved to one measured on another holdout is not overwritten blindly.
    elsewhere = {"rows": 191, "digest": "b" * 64}
    _champion().save(_promotion(f"models:/{NAME}/2", None, True, 0.5, "1", holdout=elsewhere))
    assert str(client.get_model_version_by_alias(NAME, ALIAS).version) == "2"
    _champion().save(_promotion(f"models:/{NAME}/1", None, True, 0.99, expected="1"))
    assert str(client.get_model_version_by_alias(NAME, ALIAS).version) == "2"


def test_promotions_racing_in_threads_leave_the_best_champion(registry):
    """Ten promotions decided against no champion, committed at once: the lock makes each
    read-and-move atomic, so the best of them is the champion."""
    import threading  # noqa: PLC0415

    client, _ = registry
    scores = [0.90 + i / 100 for i in range(10)]
    start = threading.Barrier(len(scores))

    def commit(f1: float, version: str) -> None:
        start.wait()
        _champion().save(_promotion(f"models:/{NAME}/{version}", None, True, f1, expected=None))

    threads = [
        threading.Thread(target=commit, args=(f1, "2" if f1 == max(scores) else "1"))
        for f1 in scores
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    champion = _champion().load()
    assert champion["version"] == "2" and champion["holdout_f1"] == max(scores)
