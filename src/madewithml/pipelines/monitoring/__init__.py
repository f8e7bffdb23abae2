"""The monitoring pipeline: what the service answered, read back from the request log."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
