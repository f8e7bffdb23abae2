"""The core that ships inside the logged model: text cleaning, tokenization, per-batch padding,
the classifier and the threshold rule (`Tagger`), and the MLflow pyfunc wrapper.

It imports no training, UI or pipeline code (no Ray, matplotlib, FastAPI, Kedro, scikit-learn):
the import-linter contracts in pyproject.toml enforce it, and the logged model's
requirements.txt lists exactly what these modules import.
"""
