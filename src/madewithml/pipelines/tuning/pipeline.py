"""The tuning pipeline: model inputs → Ray Tune trials → the best hyperparameters."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import plot_trials, select_best_hyperparameters, tune_hyperparameters


def create_pipeline(**kwargs) -> Pipeline:
    """Build the tuning pipeline; its search node is tagged `ray` so the Ray hook starts Ray."""
    return pipeline(
        [
            node(
                tune_hyperparameters,
                [
                    "train_model_input",
                    "val_model_input",
                    "class_to_index",
                    "tokenizer",
                    "params:encoder.name",
                    "params:training",
                    "params:tuning",
                    "mlflow_run",
                ],
                ["tuning_trials", "tuning_history"],
                name="tune_hyperparameters",
                tags=["ray", "tune"],
            ),
            node(
                select_best_hyperparameters,
                ["tuning_trials", "params:tuning"],
                ["best_hyperparameters", "tuning_metrics"],
                name="select_best_hyperparameters",
            ),
            node(
                plot_trials,
                ["tuning_trials", "tuning_history", "params:tuning"],
                "tuning_plot",
                name="plot_trials",
            ),
        ],
        tags=["tuning"],
    )
