"""The contract of conf/base/parameters*.yml: types, ranges and allowed values, checked (by
`ParameterValidationHook`) before a run does any work, with errors that name the parameter."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from madewithml.data.encoder import encoder_max_length, resolve_encoder
from madewithml.training.epochs import TUNING_METRICS

Positive = Annotated[float, Field(gt=0)]
NonBlank = Annotated[str, Field(pattern=r"\S")]  # a name: at least one visible character
PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0)]


def _ordered(pair: list[int]) -> list[int]:
    if pair[0] > pair[1]:
        raise ValueError(f"the smallest n-gram length comes first: got {pair}")
    return pair


# [min_n, max_n] of scikit-learn's vectorizers: checked here, before any node runs.
NgramRange = Annotated[
    list[PositiveInt], Field(min_length=2, max_length=2), AfterValidator(_ordered)
]


# Strict: the nodes get the values as they are in conf and --params, so they must already be
# of the right type; nothing is coerced into passing (`2.0` or `true` is no number of epochs;
# an int passes where a float is expected). Floats are finite.
STRICT = ConfigDict(strict=True, allow_inf_nan=False)


class _Block(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", **STRICT)


class Encoder(_Block):
    name: str
    max_length: Annotated[int, Field(ge=8, le=4096)]

    @field_validator("name")
    @classmethod
    def _resolvable(cls, name: str) -> str:
        resolve_encoder(name)  # raises ValueError naming the encoder
        return name

    @field_validator("max_length")
    @classmethod
    def _within_the_encoders_positions(cls, max_length: int, info: ValidationInfo) -> int:
        name = info.data.get("name")  # absent when the name itself was refused
        limit = None if name is None else encoder_max_length(name)
        if limit is not None and max_length > limit:
            raise ValueError(f"more than the {limit} tokens encoder {name!r} takes")
        return max_length


class DataProcessing(_Block):
    accepted_tags: Annotated[list[NonBlank], Field(min_length=1)]
    other_tag: NonBlank
    remove_stopwords: StrictBool
    contradictory_labels: Literal["error", "majority", "drop"]
    test_size: Annotated[float, Field(gt=0, lt=1)]
    seed: Seed
    min_rows_per_class: Annotated[int, Field(ge=2)]


class Scaling(_Block):
    num_workers: PositiveInt
    use_gpu: StrictBool
    resources_per_worker: dict[str, Annotated[float, Field(ge=0)]] | None = None
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"


class RayTrain(_Block):
    scaling: Scaling
    storage_path: str
    checkpoints_to_keep: PositiveInt
    max_failures: Annotated[int, Field(ge=-1)]  # -1: retry forever (Ray's convention)
    keep_run_folder: StrictBool
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    progress_bar: Literal["auto"] | StrictBool


class Training(_Block):
    seed: Seed
    num_epochs: PositiveInt
    batch_size: PositiveInt
    loss: Literal["cross_entropy"]
    label_smoothing: Annotated[float, Field(ge=0, lt=1)]
    class_weighting: Literal["none", "balanced"]
    optimizer: Literal["adam", "adamw", "sgd"]
    lr: Positive
    head_lr: Positive
    weight_decay: Annotated[float, Field(ge=0)]
    lr_schedule: Literal["linear", "constant"]
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)]
    dropout_p: Annotated[float, Field(ge=0, lt=1)]
    pooling: Literal["mean", "cls", "pooler"]
    bucket_window: PositiveInt
    ray_train: RayTrain


class TfidfModelParams(_Block):
    blend_weight: Annotated[float, Field(ge=0, le=1)]
    C: Positive
    ngram_range: NgramRange
    min_df: PositiveInt


# The hyperparameters of the train loop (what Tune may search): every training field but where
# and how Ray runs it.
HYPERPARAMETERS = [name for name in Training.model_fields if name != "ray_train"]


class RayDataInference(_Block):
    """Batch inference on Ray Data: the actor pool of `map_batches`."""

    batch_size: PositiveInt
    concurrency: PositiveInt
    num_cpus_per_actor: Positive


Probability = Annotated[float, Field(ge=0, le=1)]


class Calibration(_Block):
    """How training calibrates the shipped model on the validation split."""

    temperature_scaling: StrictBool
    threshold: Literal["auto"] | Probability
    f1_tolerance: Annotated[float, Field(ge=0, lt=1)]
    reliability_bins: Annotated[int, Field(ge=2, le=100)]


class Inference(_Block):
    batch_size: PositiveInt
    precision: Literal["auto", "float32", "bfloat16"]
    threshold: Probability | None = None  # None: the model's own; a number overrides it
    ray_data: RayDataInference
    progress_rows: Annotated[int, Field(ge=0)]
    # Given only with --params, read by the catalog (conf/base/catalog.yml, runtime_params).
    input: str | None = None
    output: str | None = None
    model_uri: str | None = None
    engine: Literal["pandas", "ray_data"] | None = None


class Baseline(_Block):
    classifier: Literal["linear_svc", "logistic_regression"]
    analyzer: Literal["word", "char_wb"]
    ngram_range: NgramRange
    min_df: PositiveInt
    C: Positive
    seed: Seed
    remove_stopwords: StrictBool


def _one_slot(template: str) -> str:
    if template.count("{}") != 1:
        raise ValueError("a template has exactly one {} for the word that changes")
    return template


Template = Annotated[str, AfterValidator(_one_slot)]


class InvarianceCase(_Block):
    template: Template
    fill: Annotated[list[NonBlank], Field(min_length=2)]


class DirectionalCase(_Block):
    template: Template
    expected: Annotated[dict[NonBlank, NonBlank], Field(min_length=2)]


class MinimumFunctionalityCase(_Block):
    title: NonBlank
    expected: NonBlank


class Behaviour(_Block):
    """The behavioural cases every promoted model passes (madewithml.evaluation.behaviour)."""

    invariance: list[InvarianceCase] = []
    directional: list[DirectionalCase] = []
    minimum_functionality: list[MinimumFunctionalityCase] = []


class Evaluation(_Block):
    baseline: Baseline
    leakage: Literal["error", "warning"]
    min_holdout_rows: PositiveInt
    promotion_margin: Annotated[float, Field(ge=0, lt=1)]
    behaviour: Behaviour
    model_uri: str | None = None  # --params only, read by the catalog (mlflow_model)


Tunable = Literal[tuple(name for name in HYPERPARAMETERS if name != "num_epochs")]


class SearchDimension(_Block):
    """One searched hyperparameter: ``uniform`` / ``loguniform`` (low, high), ``integer`` (low
    and high included) or ``choice`` (values)."""

    distribution: Literal["uniform", "loguniform", "integer", "choice"]
    low: float | None = None
    high: float | None = None
    values: Annotated[list[Any], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> SearchDimension:
        if self.distribution == "choice":
            if self.values is None:
                raise ValueError("a choice needs `values`")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"a {self.distribution} distribution needs low < high")
        elif self.distribution == "loguniform" and self.low <= 0:
            raise ValueError("a loguniform distribution needs low > 0")
        return self


class Scheduler(_Block):
    grace_period: PositiveInt
    reduction_factor: Annotated[float, Field(gt=1)]


class Tuning(_Block):
    num_runs: PositiveInt
    max_concurrent_trials: PositiveInt
    metric: Literal[TUNING_METRICS]
    mode: Literal["min", "max"]
    n_initial_points: Annotated[int, Field(ge=0)]
    scheduler: Scheduler
    trial_resources: dict[str, Annotated[float, Field(ge=0)]]
    verbose: Annotated[int, Field(ge=0, le=3)] = 1  # Tune's verbosity
    # Keys: any training hyperparameter but num_epochs (the scheduler's budget).
    search_space: Annotated[dict[Tunable, SearchDimension], Field(min_length=1)]


class Feedback(_Block):
    uncertain_below: Probability
    max_rows: PositiveInt


class Drift(_Block):
    significance: Annotated[float, Field(gt=0, lt=1)]
    min_rows: Annotated[int, Field(ge=2)]
    embedding_dimensions: PositiveInt
    permutations: Annotated[int, Field(ge=99)]
    max_embedding_rows: Annotated[int, Field(ge=2)]
    seed: Seed


class Monitoring(_Block):
    model_uri: str | None = None  # --params only, read by the catalog (monitored_model)
    window_days: Positive
    drift: Drift
    feedback: Feedback


class ContinuousTraining(_Block):
    holdout_overlap: Literal["drop", "error"]


class ModelRegistry(BaseModel):
    model_config = ConfigDict(extra="allow", **STRICT)
    name: NonBlank


class Parameters(BaseModel):
    """Every parameter block; blocks this model does not know are left alone."""

    model_config = ConfigDict(extra="allow", **STRICT)
    encoder: Encoder
    data_processing: DataProcessing
    training: Training
    tfidf_model: TfidfModelParams
    calibration: Calibration
    inference: Inference
    evaluation: Evaluation
    tuning: Tuning
    monitoring: Monitoring
    continuous_training: ContinuousTraining
    model_registry: ModelRegistry

    @model_validator(mode="after")
    def _other_tag_is_not_accepted(self) -> Parameters:
        if self.data_processing.other_tag in self.data_processing.accepted_tags:
            raise ValueError("data_processing.other_tag must not be one of accepted_tags")
        return self

    @model_validator(mode="after")
    def _behaviour_expects_known_tags(self) -> Parameters:
        known = {*self.data_processing.accepted_tags, self.data_processing.other_tag}
        behaviour = self.evaluation.behaviour
        expected = [
            *(tag for case in behaviour.directional for tag in case.expected.values()),
            *(case.expected for case in behaviour.minimum_functionality),
        ]
        if unknown := sorted(set(expected) - known):
            raise ValueError(
                f"evaluation.behaviour expects tags the model cannot answer: {unknown} "
                f"(the tags are {sorted(known)})"
            )
        return self


class ParameterError(ValueError):
    """Raised for invalid parameters; the message has one line per parameter, by its full name."""


def validate_parameters(parameters: dict[str, Any]) -> None:
    """Raise `ParameterError` naming every invalid parameter (e.g. ``training.lr``)."""
    try:
        Parameters.model_validate(parameters)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"] if part != "[key]") or "parameters"
            given = problem.get("input")
            shown = "" if isinstance(given, dict) else f" (got {given!r})"
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"  {name}: {message}{shown}")
        raise ParameterError(
            "invalid parameters (conf/*/parameters*.yml or --params):\n" + "\n".join(lines)
        ) from None
