"""Bad parameters fail before any work, naming the parameter: the project's own parameters pass,
each broken one is reported by its full dotted name."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kedro.framework.project import settings as kedro_settings

from madewithml.parameters import ParameterError, validate_parameters


@pytest.fixture(scope="module")
def parameters(project_root) -> dict:
    loader = kedro_settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_root / "conf"), **kedro_settings.CONFIG_LOADER_ARGS
    )
    return loader["parameters"]


def test_the_project_parameters_are_valid(parameters):
    validate_parameters(parameters)


def test_the_catalogs_runtime_parameters_are_accepted(parameters, project_root):
    # Every `${runtime_params:...}` the catalog reads can be given with --params.
    import re  # noqa: PLC0415

    catalog = (project_root / "conf/base/catalog.yml").read_text()
    names = set(re.findall(r"runtime_params:([a-z_.]+)", catalog))
    assert names
    for name in names:
        value = RUNTIME_SAMPLES.get(name, "any/uri-or/path.csv")
        validate_parameters(_set(parameters, name, value))


# Runtime parameters that are not a path or URI: a value they accept.
RUNTIME_SAMPLES = {"inference.engine": "ray_data"}


CASES = [
    # (dotted parameter, bad value, words the message must hold)
    ("training.lr", -1e-4, "greater than 0"),
    ("training.lr", "fast", "valid number"),
    ("training.num_epochs", 0, "greater than or equal to 1"),
    ("training.batch_size", 2.5, "valid integer"),
    ("training.optimizer", "lion", "'adam', 'adamw' or 'sgd'"),
    ("training.dropout_p", 1.0, "less than 1"),
    ("training.ray_train.scaling.num_workers", 0, "greater than or equal to 1"),
    ("training.ray_train.scaling.use_gpu", "yes", "valid boolean"),
    ("training.ray_train.max_failures", -2, "greater than or equal to -1"),
    ("data_processing.test_size", 1.5, "less than 1"),
    ("data_processing.test_size", 0, "greater than 0"),
    ("data_processing.seed", -1, "greater than or equal to 0"),
    ("data_processing.accepted_tags", [], "at least 1 item"),
    ("data_processing.other_tag", "mlops", "must not be one of accepted_tags"),
    ("encoder.name", "/no/such/encoder", "does not exist"),
    ("encoder.max_length", 0, "greater than or equal to 8"),
    ("inference.threshold", 1.5, "less than or equal to 1"),
    ("inference.engine", "spark", "'pandas' or 'ray_data'"),
    ("inference.ray_data.batch_size", 0, "greater than or equal to 1"),
    ("inference.ray_data.concurrency", 0, "greater than or equal to 1"),
    ("inference.ray_data.num_cpus_per_actor", 0, "greater than 0"),
    ("inference.ray_data.actors", 2, "Extra inputs are not permitted"),
    ("evaluation.baseline.classifier", "forest", "'linear_svc' or 'logistic_regression'"),
    ("tuning.num_runs", 0, "greater than or equal to 1"),
    ("tuning.mode", "maximum", "'min' or 'max'"),
    ("tuning.metric", "accuracy", "'val_loss', 'val_f1' or 'train_loss'"),
    ("training.loss", "hinge", "'cross_entropy'"),
    ("training.pooling", "max", "'mean', 'cls' or 'pooler'"),
    ("tuning.scheduler.reduction_factor", 1, "greater than 1"),
    ("tuning.search_space", {}, "at least 1 item"),
    (
        "tuning.search_space.learning_rate",
        {"distribution": "uniform", "low": 0, "high": 1},
        "Input should be 'seed', 'batch_size'",
    ),
    (
        "tuning.search_space.num_epochs",
        {"distribution": "integer", "low": 1, "high": 3},
        "Input should be 'seed', 'batch_size'",
    ),
    ("tuning.search_space.lr.distribution", "normal", "'uniform', 'loguniform', 'integer' or"),
    ("tuning.search_space.lr.high", None, "needs low < high"),
    ("tuning.search_space.lr.low", 0, "needs low > 0"),
    ("training.learning_rate", 0.1, "Extra inputs are not permitted"),  # a misspelt key
    # the ReduceLROnPlateau and Ray-shuffle settings are gone: an old local conf is refused
    ("training.lr_factor", 0.8, "Extra inputs are not permitted"),
    ("training.lr_patience", 3, "Extra inputs are not permitted"),
    ("training.shuffle_buffer_size", 1024, "Extra inputs are not permitted"),
    ("training.head_lr", 0, "greater than 0"),
    ("training.class_weighting", "inverse", "'none' or 'balanced'"),
    ("training.lr_schedule", "cosine", "'linear' or 'constant'"),
    ("training.warmup_ratio", 1.0, "less than 1"),
    ("training.warmup_ratio", -0.1, "greater than or equal to 0"),
    ("training.bucket_window", 0, "greater than or equal to 1"),
    ("tfidf_model.blend_weight", 1.5, "less than or equal to 1"),
    ("tfidf_model.blend_weight", -0.1, "greater than or equal to 0"),
    ("tfidf_model.C", 0, "greater than 0"),
    ("tfidf_model.ngram_range", [1], "at least 2 items"),
    ("tfidf_model.ngram_range", [2, 1], "the smallest n-gram length comes first"),
    ("evaluation.baseline.ngram_range", [3, 1], "the smallest n-gram length comes first"),
    ("tfidf_model.min_df", 0, "greater than or equal to 1"),
    ("tfidf_model.max_features", 100, "Extra inputs are not permitted"),
    (
        "tuning.search_space.lr_factor",
        {"distribution": "uniform", "low": 0.1, "high": 0.9},
        "Input should be 'seed', 'batch_size'",
    ),
    # Issue 26: these passed a coerced copy, and the nodes got the raw value (a crash in Ray
    # 50 s later, or an encoder fed more tokens than it has positions).
    ("training.num_epochs", 2.0, "valid integer"),
    ("training.num_epochs", True, "valid integer"),
    ("training.lr", float("inf"), "finite number"),
    ("training.lr", float("nan"), "finite number"),
    ("data_processing.other_tag", "", "should match pattern"),
    ("data_processing.other_tag", "  ", "should match pattern"),
    ("data_processing.accepted_tags", ["mlops", ""], "should match pattern"),
    ("model_registry.name", "", "should match pattern"),
    ("encoder.max_length", 1024, "more than the 512 tokens encoder 'packaged:all-MiniLM-L6-v2'"),
    ("tuning.verbose", 1.0, "valid integer"),
]


def _set(parameters: dict, dotted: str, value) -> dict:
    changed = copy.deepcopy(parameters)
    *path, last = dotted.split(".")
    block = changed
    for key in path:
        block = block[key]
    block[last] = value
    return changed


@pytest.mark.parametrize(("name", "value", "words"), CASES, ids=[f"{c[0]}={c[1]}" for c in CASES])
def test_a_bad_parameter_is_named_with_the_reason(parameters, name, value, words):
    with pytest.raises(ParameterError) as error:
        validate_parameters(_set(parameters, name, value))
    lines = str(error.value).splitlines()
    reported = [line for line in lines[1:] if line.strip().startswith(name.split(".")[0])]
    # other_tag's rule is about the block, so it is reported without a parameter name
    assert any(words in line for line in lines), lines
    if (name, value) != ("data_processing.other_tag", "mlops"):
        named = [line.strip().split(":")[0] for line in reported]
        # by its full name, an item of it, or (a rule across fields) the block that holds it
        assert any(
            name == n or n.startswith(name + ".") or name.startswith(n + ".") and n.count(".") >= 2
            for n in named
        ), lines


def test_the_tests_fast_training_parameters_keep_to_the_contract(parameters, tmp_path):
    # tests/factories.py's training block: the same keys as conf/base's, and valid
    from factories import fast_training_params  # noqa: PLC0415

    from madewithml.parameters import Training  # noqa: PLC0415

    fast = fast_training_params(tmp_path)
    assert set(fast) == set(parameters["training"])
    Training.model_validate(fast)


def test_every_bad_parameter_is_reported_at_once(parameters):
    broken = _set(_set(parameters, "training.lr", -1), "data_processing.test_size", 2)
    with pytest.raises(ParameterError, match=r"(?s)data_processing\.test_size.*training\.lr"):
        validate_parameters(broken)


@pytest.mark.slow
def test_kedro_run_with_a_bad_parameter_stops_before_any_work(tmp_path):
    from factories import make_raw_projects  # noqa: PLC0415
    from kedro_project import copy_project, kedro, squashed, written_files  # noqa: PLC0415

    data_dir = tmp_path / "raw"
    data_dir.mkdir()
    make_raw_projects(6).to_csv(data_dir / "dataset.csv", index=False)
    project = copy_project(tmp_path / "project")
    bad = "--params=training.lr=-1,training.ray_train.scaling.num_workers=0"
    result = kedro(project, "run", "--pipelines=training", bad, data_dir=data_dir)
    assert result.returncode != 0
    output = squashed(result.stderr)
    assert squashed("training.lr: Input should be greater than 0 (got -1)") in output
    assert squashed("training.ray_train.scaling.num_workers:") in output
    assert written_files(project) == []
    if (project / "mlflow.db").exists():  # kedro-mlflow may set up its experiment first
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        experiments = [e.experiment_id for e in client.search_experiments()]
        assert client.search_runs(experiments) == []  # no MLflow run was opened


def _leaves(tree, path=()):
    """(dotted name, value) of every number and bool in a nested dict."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(tree, bool | int | float) and path:
        yield ".".join(path), tree


@pytest.fixture(scope="module")
def typed_leaves(parameters) -> list[tuple[str, object]]:
    """Every number and bool the contract knows, with the type it holds after validation (an
    int given for a float field comes out a float)."""
    from madewithml.parameters import Parameters  # noqa: PLC0415

    validated = Parameters.model_validate(parameters).model_dump(
        include=set(Parameters.model_fields)
    )
    return sorted(_leaves(validated))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_number_passes_as_another_type(parameters, typed_leaves, data):
    """A property over every numeric and boolean parameter: a bool where a number is expected,
    a float where an integer is, a number where a bool is, and NaN or an infinity anywhere are
    refused by the parameter's full name (issue 26: `num_epochs=2.0`, `num_epochs=true` and
    `lr=inf` passed)."""
    name, value = data.draw(st.sampled_from(typed_leaves), label="parameter")
    if isinstance(value, bool):
        wrong = data.draw(st.sampled_from([int(value), float(value), str(value).lower()]))
    elif isinstance(value, int):
        wrong = data.draw(st.sampled_from([float(value), value + 0.5, True, False]))
    else:
        wrong = data.draw(st.sampled_from([float("nan"), float("inf"), float("-inf"), True]))
    with pytest.raises(ParameterError) as error:
        validate_parameters(_set(parameters, name, wrong))
    assert any(line.strip().startswith(name) for line in str(error.value).splitlines()), (
        name,
        wrong,
        str(error.value),
    )
