"""The monitoring pipeline (`kedro run --pipelines=monitoring`): a window of the request log
that `kedro serve` writes; its drift against the reference (the validation split as the
champion answers it), as a verdict, metrics and a figure; and the feedback queue, the projects
to label next."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    detect_drift,
    fit_reference_space,
    plot_drift,
    profile_reference,
    profile_window,
    queue_for_labelling,
    report_drift_metrics,
    select_window,
)


def create_pipeline(**kwargs) -> Pipeline:
    """`request_log` → `monitored_requests` (the window) → `drift_report`, `drift_metrics`,
    `drift_plot` and `feedback_queue` (a CSV)."""
    drift = "params:monitoring.drift"
    return pipeline(
        [
            node(
                select_window,
                ["request_log", "params:monitoring.window_days"],
                "monitored_requests",
                name="select_window",
            ),
            node(
                fit_reference_space,
                ["train_projects", drift],
                "reference_text_space",
                name="fit_reference_space",
            ),
            node(
                profile_reference,
                [
                    "val_projects",
                    "monitored_model",
                    "tokenizer",
                    "reference_text_space",
                    "params:encoder.max_length",
                ],
                "reference_profile",
                name="profile_reference",
            ),
            node(
                profile_window,
                [
                    "monitored_requests",
                    "tokenizer",
                    "reference_text_space",
                    "params:encoder.max_length",
                ],
                "window_profile",
                name="profile_window",
            ),
            node(
                detect_drift,
                [
                    "reference_profile",
                    "window_profile",
                    "monitored_requests",
                    "params:data_processing.other_tag",
                    drift,
                    "params:monitoring.window_days",
                ],
                "drift_report",
                name="detect_drift",
            ),
            node(report_drift_metrics, "drift_report", "drift_metrics", name="log_drift_metrics"),
            node(
                plot_drift,
                ["reference_profile", "window_profile", "drift_report"],
                "drift_plot",
                name="plot_drift",
            ),
            node(
                queue_for_labelling,
                [
                    "monitored_requests",
                    "params:data_processing.other_tag",
                    "params:monitoring.feedback.uncertain_below",
                    "params:monitoring.feedback.max_rows",
                ],
                "feedback_queue",
                name="queue_for_labelling",
            ),
        ],
        tags=["monitoring"],
    )
