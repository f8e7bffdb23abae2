"""Fine-tune the classifier with Ray Train."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
