"""Evaluate a trained model on the holdout, against a baseline, and decide its promotion."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
