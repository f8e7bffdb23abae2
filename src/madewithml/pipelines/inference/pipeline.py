"""The inference pipeline: raw title + description → predicted tag and probabilities.

The same nodes clean and tokenize as in data_processing. kedro-mlflow logs this pipeline, with
the trained model, tokenizer and class_to_index, as one MLflow pyfunc model.
"""

from kedro.pipeline import Pipeline, node, pipeline

from madewithml.pipelines.data_processing.nodes import add_clean_text, tokenize_texts

from .nodes import predict_tags, validate_inputs


def create_pipeline(**kwargs) -> Pipeline:
    """Build the inference pipeline."""
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
                "predictions",
                name="predict_tags",
            ),
        ],
        tags=["inference"],
    )
