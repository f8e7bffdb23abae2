"""The inference pipelines.

- `create_model_pipeline`: raw title + description → predicted tag and the probability of every
  tag. The same nodes clean and tokenize as in data_processing. kedro-mlflow logs this pipeline,
  with the trained model, tokenizer and class_to_index, as one MLflow pyfunc model; its
  `inference.threshold` stays a parameter of every prediction.
- `create_pipeline` (registered as `inference`): batch predictions of a logged model (the
  registry's champion by default) for a CSV of projects.
"""

from kedro.pipeline import Pipeline, node, pipeline

from madewithml.pipelines.data_processing.nodes import add_clean_text, tokenize_texts

from .nodes import apply_threshold, predict_projects, predict_tags, validate_inputs


def create_model_pipeline(**kwargs) -> Pipeline:
    """The body of the logged pyfunc model: `projects_to_predict` → `predictions`."""
    return pipeline(
        [
            node(
                validate_inputs,
                "projects_to_predict",
                "projects_to_predict_valid",
                name="validate_inputs",
            ),
            node(
                add_clean_text,
                ["projects_to_predict_valid", "params:data_processing.remove_stopwords"],
                "projects_to_predict_clean",
                name="clean_text_for_inference",
            ),
            node(
                tokenize_texts,
                ["projects_to_predict_clean", "tokenizer", "params:encoder.max_length"],
                "inference_model_input",
                name="tokenize_for_inference",
            ),
            node(
                predict_tags,
                [
                    "model",
                    "inference_model_input",
                    "class_to_index",
                    "params:inference.batch_size",
                ],
                "tag_probabilities",
                name="predict_tags",
            ),
            node(
                apply_threshold,
                [
                    "tag_probabilities",
                    "params:inference.threshold",
                    "params:data_processing.other_tag",
                ],
                "predictions",
                name="apply_threshold",
            ),
        ],
        tags=["inference"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Batch inference: `projects_to_predict` (a CSV) through `inference_model` (an MLflow
    model) → `batch_predictions`."""
    return pipeline(
        [
            node(
                predict_projects,
                ["inference_model", "projects_to_predict", "params:inference.threshold"],
                "batch_predictions",
                name="predict_projects",
            )
        ],
        tags=["inference", "batch_inference"],
    )
