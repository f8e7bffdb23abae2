"""Search the training hyperparameters with Ray Tune over the Ray Train loop."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
