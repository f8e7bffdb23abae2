"""Predict tags for raw projects (title + description) with a trained model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
