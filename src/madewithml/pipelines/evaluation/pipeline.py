"""The evaluation pipeline: holdout metrics, slices, a baseline, plots and a promotion decision.

The raw holdout goes through the same nodes as the training data; predictions come from the
inference pipeline's nodes (or from an MLflow model given by `evaluation.model_uri`). The
decision is applied to the model registry by `madewithml.hooks.PromotionHook` after the run,
once the evaluated model has its registered version.
"""

from kedro.pipeline import Pipeline, node, pipeline

from madewithml.pipelines.data_processing.pipeline import preparation_nodes

from .nodes import (
    build_report,
    decide,
    describe_evaluated_model,
    fit_baseline,
    plot_confusion_matrix,
    plot_per_class_f1,
    plot_training_curves,
    predict_baseline,
    predict_holdout,
    report_metrics,
    score_predictions,
    score_slices,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Build the evaluation pipeline."""
    baseline = "params:evaluation.baseline"
    return pipeline(
        [
            *preparation_nodes("holdout", "holdout_projects", suffix="_holdout"),
            node(
                predict_holdout,
                [
                    "holdout_projects",
                    "model",
                    "tokenizer",
                    "class_to_index",
                    "mlflow_model",
                    "params:encoder.max_length",
                    "params:inference.batch_size",
                ],
                "holdout_predictions",
                name="predict_holdout",
            ),
            node(fit_baseline, ["train_projects", baseline], "baseline", name="fit_baseline"),
            node(
                predict_baseline,
                ["baseline", "holdout_projects", baseline],
                "baseline_predictions",
                name="predict_baseline",
            ),
            node(
                score_predictions,
                ["holdout_predictions", "class_to_index"],
                "model_scores",
                name="score_model",
            ),
            node(
                score_predictions,
                ["baseline_predictions", "class_to_index"],
                "baseline_scores",
                name="score_baseline",
            ),
            node(
                score_slices,
                ["holdout_projects", "holdout_predictions"],
                "slice_scores",
                name="score_slices",
            ),
            node(
                describe_evaluated_model,
                ["model_lineage", "mlflow_model"],
                "evaluated_model",
                name="describe_evaluated_model",
            ),
            node(
                decide,
                ["model_scores", "baseline_scores", "champion"],
                "promotion",
                name="decide_promotion",
            ),
            node(
                build_report,
                ["evaluated_model", "model_scores", "slice_scores", "baseline_scores", "promotion"],
                "evaluation_report",
                name="build_report",
            ),
            node(report_metrics, "evaluation_report", "evaluation_metrics", name="log_metrics"),
            node(
                plot_confusion_matrix,
                "model_scores",
                "confusion_matrix_plot",
                name="plot_confusion_matrix",
            ),
            node(
                plot_per_class_f1,
                ["model_scores", "baseline_scores"],
                "per_class_f1_plot",
                name="plot_per_class_f1",
            ),
            node(
                plot_training_curves,
                "training_history",
                "training_curves_plot",
                name="plot_training_curves",
            ),
        ],
        tags=["evaluation"],
    )
