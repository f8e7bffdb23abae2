"""madewithml: tag machine-learning projects from their title and description."""

__version__ = "0.1.0"
