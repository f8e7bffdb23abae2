"""Batch inference: a logged model over a table of projects."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
