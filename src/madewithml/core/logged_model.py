"""The logged model's code (MLflow "models from code"): MLflow runs this file to build the model,
then calls `load_context` with the tagger's folder. Nothing else belongs here."""

from mlflow.models import set_model

from madewithml.core.pyfunc import TaggerModel

set_model(TaggerModel())
