"""The logged model: packaging a Tagger as an MLflow model, the registry, the one way to load a
model URI.
"""
