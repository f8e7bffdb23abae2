"""Validate, clean, split, label-encode and tokenize the raw projects."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
