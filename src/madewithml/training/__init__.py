"""Training: the Ray Train worker loop, the TorchTrainer, Ray Tune, the TF-IDF fit, MLflow tracking
from the workers.
"""
