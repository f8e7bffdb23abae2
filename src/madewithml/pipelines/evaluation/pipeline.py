"""The evaluation pipeline: holdout metrics (as served and by the most likely tag), slices, a
baseline, behavioural cases, plots, the comparison with the champion and the promotion.

The raw holdout goes through the same nodes as the training data; predictions come from the
logged model's own `predict` (`evaluated_model`: in `kedro run`, the version that training just
registered; on its own, `evaluation.model_uri` or the latest registered version). A promotion
moves the registry's champion alias to the evaluated version (`new_champion`).
"""

from kedro.pipeline import Pipeline, node, pipeline

from madewithml.data.quality import check_leakage
from madewithml.pipelines.data_processing.pipeline import prepared_projects

from .nodes import (
    build_report,
    check_behaviour,
    compare_with_champion,
    decide,
    describe_evaluated_model,
    fit_baseline,
    identify_holdout,
    plot_confusion_matrix,
    plot_per_class_f1,
    plot_threshold_curve,
    predict_baseline,
    predict_holdout,
    promote,
    report_metrics,
    score_baseline,
    score_champion,
    score_model,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Build the evaluation pipeline."""
    baseline = "params:evaluation.baseline"
    behaviour = "params:evaluation.behaviour"
    return pipeline(
        [
            prepared_projects("holdout", "holdout_projects"),
            node(
                check_leakage,
                ["holdout_projects", "projects", "params:evaluation.leakage"],
                "holdout_leakage",
                name="check_leakage",
            ),
            node(
                predict_holdout,
                ["holdout_projects", "evaluated_model"],
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
                score_model,
                [
                    "holdout_projects",
                    "holdout_predictions",
                    "class_to_index",
                    "params:data_processing.other_tag",
                ],
                "model_scores",
                name="score_model",
            ),
            node(
                score_baseline,
                ["holdout_projects", "baseline_predictions", "class_to_index"],
                "baseline_scores",
                name="score_baseline",
            ),
            node(
                describe_evaluated_model,
                "evaluated_model",
                "evaluated_model_info",
                name="describe_evaluated_model",
            ),
            node(identify_holdout, "holdout_projects", "holdout_identity", name="identify_holdout"),
            node(
                check_behaviour,
                ["evaluated_model", behaviour],
                "model_behaviour",
                name="check_behaviour",
            ),
            node(
                score_champion,
                [
                    "champion",
                    "champion_model",
                    "holdout_projects",
                    "class_to_index",
                    "params:data_processing.other_tag",
                    behaviour,
                ],
                ["champion_on_holdout", "champion_scores"],
                name="score_champion",
            ),
            node(
                decide,
                [
                    "model_scores",
                    "baseline_scores",
                    "model_behaviour",
                    "champion_on_holdout",
                    "holdout_identity",
                    "params:evaluation.min_holdout_rows",
                    "params:evaluation.promotion_margin",
                ],
                "promotion",
                name="decide_promotion",
            ),
            node(
                build_report,
                [
                    "evaluated_model_info",
                    "model_scores",
                    "baseline_scores",
                    "model_behaviour",
                    "promotion",
                    "holdout_leakage",
                ],
                "evaluation_report",
                name="build_report",
            ),
            node(
                compare_with_champion,
                ["evaluation_report", "champion_scores"],
                "comparison_report",
                name="compare_with_champion",
            ),
            node(report_metrics, "evaluation_report", "evaluation_metrics", name="log_metrics"),
            node(promote, "evaluation_report", "new_champion", name="promote"),
            node(
                plot_confusion_matrix,
                "model_scores",
                "confusion_matrix_plot",
                name="plot_confusion_matrix",
            ),
            node(
                plot_threshold_curve,
                [
                    "holdout_predictions",
                    "evaluated_model_info",
                    "class_to_index",
                    "params:data_processing.other_tag",
                ],
                "threshold_plot",
                name="plot_threshold_curve",
            ),
            node(
                plot_per_class_f1,
                ["model_scores", "baseline_scores"],
                "per_class_f1_plot",
                name="plot_per_class_f1",
            ),
        ],
        tags=["evaluation"],
    )
