"""Batch inference on two engines, one prediction path: in process (pandas) and on Ray Data
(a lazy dataset streamed through a pool of actors) give the same file, the same predictions
and the same errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kedro.io.core import DatasetError
from kedro.pipeline import node, pipeline

from madewithml.core.inputs import InvalidInputError
from madewithml.datasets.engine_csv import EngineCSVDataset
from madewithml.framework import hooks
from madewithml.pipelines.inference.nodes import check_actor_pool, predict_projects, predict_table

# One title a spreadsheet would run as a formula: written escaped by both engines.
TITLES = ["BERT for search", "GAN faces", "=Feature store", "Speech to text", "Object tracking"]
DESCRIPTIONS = [
    "text ranking, with a comma",
    'image "synthesis"\nover two lines',
    "ml ops",
    "audio models",
    "video frames: état de l'art",
]


def _projects(rows: int) -> pd.DataFrame:
    """`rows` projects with unique ids, an extra column (kept) and awkward CSV cells."""
    return pd.DataFrame(
        {
            "id": range(100, 100 + rows),
            "title": [f"{TITLES[i % 5]} {i}" for i in range(rows)],
            "description": [DESCRIPTIONS[i % 5] for i in range(rows)],
            "source": [["github", None, "arxiv"][i % 3] for i in range(rows)],
        }
    )


def _run(model, source, target, engine, threshold, ray_data=None) -> pd.DataFrame:
    """What the pipeline does: load through the catalog's dataset, the node, save."""
    projects = EngineCSVDataset(filepath=str(source), engine=engine).load()
    result = predict_projects(model, projects, threshold, ray_data)
    EngineCSVDataset(filepath=str(target), engine=engine, save_args={"index": False}).save(result)
    return pd.read_csv(target)


def _mid_threshold(tagger, projects) -> float:
    """A threshold between the lowest and the highest top probability, so that some rows answer
    their most likely tag and the others `other`: the middle of the widest gap between two top
    probabilities of the middle half. It is no row's own probability (the median of an odd
    number of rows is one), which a Ray actor, summing in another order on one thread,
    computes a few ulps apart, putting that row on either side."""
    top = np.sort(tagger.predict_proba(projects).max(axis=1))
    middle = top[len(top) // 4 : 3 * len(top) // 4 + 1]
    widest = int(np.argmax(np.diff(middle)))
    return float((middle[widest] + middle[widest + 1]) / 2)


RAY_DATA = {"batch_size": 7, "concurrency": 2, "num_cpus_per_actor": 0.5}


@pytest.fixture(scope="module")
def renamed_model(tiny_tagger, tmp_path_factory):
    """`tiny_tagger` with its tags in reverse order, logged and loaded as a pyfunc model.

    The untrained tiny model finds `other` most likely everywhere, so that the threshold
    (which answers `other`) would change no prediction; renamed, its most likely tag is
    another one, and a threshold between its top probabilities splits the rows.
    """
    import mlflow  # noqa: PLC0415

    from madewithml.core.tagger import Tagger  # noqa: PLC0415
    from madewithml.shipping import packaging as model_logging  # noqa: PLC0415

    classes = list(reversed(tiny_tagger.classes))
    tagger = Tagger(
        tiny_tagger.classifier,
        tiny_tagger.tokenizer,
        classes,
        tiny_tagger.settings,
        tiny_tagger.tfidf_model,
    )
    folder = tmp_path_factory.mktemp("renamed_model") / "model"
    model_logging.save_model(tagger, folder)
    return tagger, mlflow.pyfunc.load_model(str(folder))


@pytest.fixture(scope="module")
def both(ray_session, renamed_model, tmp_path_factory):
    """43 projects through both engines at a threshold that splits them."""
    folder = tmp_path_factory.mktemp("engines")
    projects = _projects(43)
    projects.to_csv(folder / "projects.csv", index=False)
    tagger, model = renamed_model
    threshold = _mid_threshold(tagger, projects)
    outputs = {
        engine: _run(
            model, folder / "projects.csv", folder / f"{engine}.csv", engine, threshold, RAY_DATA
        )
        for engine in ("pandas", "ray_data")
    }
    return projects, threshold, outputs, folder


def test_both_engines_write_the_same_columns_rows_and_predictions(both, renamed_model):
    projects, threshold, outputs, _ = both
    pandas_out, ray_out = outputs["pandas"], outputs["ray_data"]
    tags = renamed_model[0].classes
    assert list(ray_out.columns) == list(pandas_out.columns)
    assert list(pandas_out.columns) == [*projects.columns, "prediction", *tags]
    assert ray_out["id"].tolist() == projects["id"].tolist()  # every row, in input order
    formulas = projects["title"].str.startswith("=")
    assert formulas.any()
    for out in (pandas_out, ray_out):  # CSV injection: escaped on save, by either engine
        assert out.loc[formulas, "title"].tolist() == ("'" + projects["title"][formulas]).tolist()
    pd.testing.assert_frame_equal(
        ray_out[list(projects.columns)], pandas_out[list(projects.columns)]
    )
    assert ray_out["prediction"].tolist() == pandas_out["prediction"].tolist()
    np.testing.assert_allclose(ray_out[tags], pandas_out[tags], atol=1e-6)
    # the threshold reached both: some rows are unsure (`other`), some are not
    unsure = pandas_out[tags].max(axis=1) < threshold
    assert unsure.any() and not unsure.all()
    assert (ray_out.loc[unsure, "prediction"] == "other").all()
    most_likely = pandas_out[tags].idxmax(axis=1)
    assert (most_likely != "other").all()  # so that the threshold shows
    assert (ray_out.loc[~unsure, "prediction"] == most_likely[~unsure]).all()


def test_the_ray_engine_reads_the_file_as_pandas_does(both):
    _, _, _, folder = both
    source = folder / "projects.csv"
    streamed = EngineCSVDataset(filepath=str(source), engine="ray_data").load().to_pandas()
    read = EngineCSVDataset(filepath=str(source), engine="pandas").load()
    assert list(streamed.columns) == list(read.columns)
    assert streamed["description"].tolist() == read["description"].tolist()  # quotes, newlines
    assert streamed["source"].isna().tolist() == read["source"].isna().tolist()  # missing cells


def _with_numeric_titles(projects: pd.DataFrame) -> pd.DataFrame:
    return projects.assign(title=range(len(projects)))  # a column of numbers reads as int


def _with_an_emoji_only_row(projects: pd.DataFrame) -> pd.DataFrame:
    projects = projects.copy()
    projects.loc[40, ["title", "description"]] = ["🚀🔥", "!!!"]
    return projects


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (
            _with_numeric_titles,
            # the first batch to fail names its own rows, whichever actor it reached
            r"projects_to_predict: column 'title' must be text, not int \(rows with id 1\d\d, ",
        ),
        (
            _with_an_emoji_only_row,
            r"no letter or digit in title and description \(rows with id 140\)",
        ),
    ],
)
def test_bad_rows_are_named_by_id_on_ray_data_and_nothing_is_written(
    ray_session, tiny_logged_model, tmp_path, spoil, message
):
    spoil(_projects(43)).to_csv(tmp_path / "projects.csv", index=False)
    _, model = tiny_logged_model
    with pytest.raises((InvalidInputError, DatasetError), match=message):
        _run(model, tmp_path / "projects.csv", tmp_path / "out.csv", "ray_data", 0.5, RAY_DATA)
    assert not (tmp_path / "out.csv").exists()
    assert not list(tmp_path.glob(".out.csv*"))  # no half-written file left behind


def test_an_empty_table_is_an_error_on_ray_data(ray_session, tiny_logged_model, tmp_path):
    (tmp_path / "projects.csv").write_text("id,title,description\n")
    _, model = tiny_logged_model
    with pytest.raises(DatasetError, match="has no rows"):
        _run(model, tmp_path / "projects.csv", tmp_path / "out.csv", "ray_data", 0.5, RAY_DATA)
    assert not (tmp_path / "out.csv").exists()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.integers(1, 23), batch=st.integers(1, 23), threshold=st.floats(0.25, 0.45))
def test_cutting_the_table_into_batches_changes_no_prediction(
    renamed_model, rows, batch, threshold
):
    """What the Ray engine relies on: predicting batch by batch (any batch size, as the actors
    do) gives what predicting the whole table does."""
    _, model = renamed_model
    projects = _projects(rows)
    whole = predict_table(model, projects, threshold)
    batched = pd.concat(
        [
            predict_table(model, projects.iloc[i : i + batch], threshold)
            for i in range(0, rows, batch)
        ]
    )
    tags = [c for c in whole.columns if c not in [*projects.columns, "prediction"]]
    np.testing.assert_allclose(batched[tags], whole[tags], atol=1e-6)
    top = whole[tags].max(axis=1)
    away_from_threshold = (top - threshold).abs() > 1e-5  # a float tie may fall either way
    assert (
        batched.loc[away_from_threshold, "prediction"]
        == whole.loc[away_from_threshold, "prediction"]
    ).all()


def test_the_dataset_says_when_it_requires_ray(tmp_path):
    assert not EngineCSVDataset(filepath=str(tmp_path / "a.csv")).requires_ray
    assert EngineCSVDataset(filepath=str(tmp_path / "a.csv"), engine="ray_data").requires_ray
    with pytest.raises(DatasetError, match="engine must be one of"):
        EngineCSVDataset(filepath=str(tmp_path / "a.csv"), engine="spark")


def test_the_pandas_engine_is_the_atomic_csv_dataset(tmp_path):
    dataset = EngineCSVDataset(filepath=str(tmp_path / "a.csv"), save_args={"index": False})
    dataset.save(_projects(3))
    pd.testing.assert_frame_equal(dataset.load(), pd.read_csv(tmp_path / "a.csv"))
    assert dataset.load()["id"].tolist() == [100, 101, 102]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


class _Catalog:
    def __init__(self, datasets):
        self._datasets = datasets

    def get(self, name):
        return self._datasets.get(name)


@pytest.mark.parametrize(("engine", "started"), [("pandas", False), ("ray_data", True)])
def test_ray_is_started_only_for_the_ray_data_engine(monkeypatch, tmp_path, engine, started):
    calls = []
    monkeypatch.setattr(hooks, "start_ray", lambda config, tags: calls.append(tags) or None)
    hook = hooks.RayHook()
    inference = pipeline([node(lambda x: x, "projects", "predictions")])  # no `ray` tag
    datasets = {
        name: EngineCSVDataset(filepath=str(tmp_path / f"{name}.csv"), engine=engine)
        for name in ("projects", "predictions")
    }
    hook.before_pipeline_run({}, inference, _Catalog(datasets))
    assert bool(calls) is started


def test_an_actor_pool_that_leaves_no_cpu_for_reading_is_refused():
    check_actor_pool(2, 0.5, cluster_cpus=2)  # the default on 2 cores
    check_actor_pool(7, 1, cluster_cpus=8)
    with pytest.raises(ValueError, match=r"2 actors × 1 CPU = 2 CPUs, and Ray has 2"):
        check_actor_pool(2, 1, cluster_cpus=2)  # would wait for ever: nothing reads the file


def test_batch_inference_over_its_own_output_is_refused_by_column(renamed_model, tmp_path):
    """Issue 26: the output fed back in gave two `prediction` columns, and pandas read the stale
    one first. Any column the answer will have (`prediction` or a tag) is refused by name."""
    _, model = renamed_model
    _projects(5).to_csv(tmp_path / "projects.csv", index=False)
    _run(model, tmp_path / "projects.csv", tmp_path / "once.csv", "pandas", 0.5)
    with pytest.raises(InvalidInputError, match=r"\['prediction'\] are the answer's own"):
        _run(model, tmp_path / "once.csv", tmp_path / "twice.csv", "pandas", 0.5)
    tagged = _projects(5).assign(mlops=1.0)  # a tag's name, without `prediction`
    with pytest.raises(InvalidInputError, match=r"\['mlops'\] are the answer's own"):
        predict_table(model, tagged, 0.5)
    assert not (tmp_path / "twice.csv").exists()
