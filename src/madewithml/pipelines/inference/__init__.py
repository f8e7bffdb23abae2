"""Inference: the logged model's pipeline, and batch predictions of a logged model."""

from .pipeline import create_model_pipeline, create_pipeline

__all__ = ["create_model_pipeline", "create_pipeline"]
