"""The monitoring pipeline (`kedro run --pipelines=monitoring`): a window of the request log
that `kedro serve` writes, and from it the feedback queue, the projects to label next."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import queue_for_labelling, select_window


def create_pipeline(**kwargs) -> Pipeline:
    """`request_log` → `monitored_requests` (the window) → `feedback_queue` (a CSV)."""
    return pipeline(
        [
            node(
                select_window,
                ["request_log", "params:monitoring.window_days"],
                "monitored_requests",
                name="select_window",
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
