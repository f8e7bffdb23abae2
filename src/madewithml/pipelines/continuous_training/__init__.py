"""Continuous training's intake: new labelled rows merged into the training data."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
