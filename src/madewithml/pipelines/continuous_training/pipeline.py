"""Continuous training's intake: incoming labelled files → validated, deduplicated against the
training data and each other, checked against the holdout → the merged training data.

On its own it only merges; the registered `continuous_training` pipeline (pipeline_registry)
runs it before data_processing (on the merged data), training and evaluation, which promotes
the challenger only if it beats the champion.
"""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import merge_incoming, report_intake_metrics


def create_pipeline(**kwargs) -> Pipeline:
    """Build continuous training's intake pipeline."""
    return pipeline(
        [
            node(
                merge_incoming,
                [
                    "dataset",
                    "incoming",
                    "holdout",
                    "params:data_processing.remove_stopwords",
                    "params:continuous_training.holdout_overlap",
                ],
                ["training_dataset", "intake_report"],
                name="merge_incoming",
            ),
            node(
                report_intake_metrics, "intake_report", "intake_metrics", name="log_intake_metrics"
            ),
        ],
        tags=["continuous_training"],
    )
