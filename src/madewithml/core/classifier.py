"""The model: a transformer encoder, dropout and a linear head over the pooled output.

Saved as ``model.safetensors`` (weights only) and ``model_config.json`` (the arguments and the
encoder's architecture), so a checkpoint loads without the original encoder folder and without
unpickling anything.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model_config.json"
# How the classifier answers (a setting of the shipped model, `inference.precision`).
PRECISIONS = ("auto", "float32", "bfloat16")


def _native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX): without it, PyTorch
    emulates bfloat16, slower than float32."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def inference_dtype(precision: str, device: torch.device | str) -> torch.dtype:
    """The dtype the classifier answers in: ``float32``, ``bfloat16``, or ``auto``: bfloat16 on
    a CPU that computes it natively (1.8× float32's throughput there, measured in
    docs/benchmarks.md), float32 on any other CPU and on a GPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "auto":
        native = torch.device(device).type == "cpu" and _native_bfloat16()
        return torch.bfloat16 if native else torch.float32
    return getattr(torch, precision)


def _mean(output: Any, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(output.last_hidden_state.dtype)
    summed = (output.last_hidden_state * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1.0)


# The pooling names are checked by the parameter contract (madewithml.parameters.Training).
_POOLINGS = {
    "mean": _mean,
    "cls": lambda output, attention_mask: output.last_hidden_state[:, 0],
    "pooler": lambda output, attention_mask: output.pooler_output,
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the architecture (not the weights)."""

    num_classes: int
    dropout_p: float = 0.5
    pooling: str = "mean"
    encoder_config: dict[str, Any] = field(default_factory=dict)


class TagClassifier(nn.Module):
    """Encoder → pooling (mean over tokens, [CLS], or BERT's pooler) → dropout → linear."""

    def __init__(self, config: ModelConfig, encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        if encoder is None:
            encoder_config = AutoConfig.for_model(**config.encoder_config)
            encoder = AutoModel.from_config(
                encoder_config, add_pooling_layer=config.pooling == "pooler"
            )
        self.encoder = encoder
        self.dropout = nn.Dropout(config.dropout_p)
        self.head = nn.Linear(encoder.config.hidden_size, config.num_classes)

    @classmethod
    def from_encoder(
        cls, encoder_path: str, num_classes: int, dropout_p: float, pooling: str
    ) -> TagClassifier:
        """A new classifier on top of pretrained encoder weights (a local folder or hub id)."""
        encoder = AutoModel.from_pretrained(encoder_path, add_pooling_layer=pooling == "pooler")
        config = ModelConfig(
            num_classes=num_classes,
            dropout_p=dropout_p,
            pooling=pooling,
            encoder_config=json.loads(encoder.config.to_json_string()),  # as saved
        )
        return cls(config, encoder)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (batch, num_classes)."""
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return self.head(self.dropout(_POOLINGS[self.config.pooling](output, attention_mask)))

    def for_inference(self, precision: str) -> TagClassifier:
        """The classifier that answers at `precision` (`inference_dtype`): itself in float32,
        else a copy in that dtype (this one keeps its float32 weights, which `save` writes)."""
        dtype = inference_dtype(precision, self.head.weight.device)
        if dtype == self.head.weight.dtype:
            return self
        return copy.deepcopy(self).to(dtype).eval()

    @torch.inference_mode()
    def predict_proba(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> np.ndarray:
        """Class probabilities, shape (batch, num_classes), on the model's device (CPU or GPU);
        the model is put in eval mode."""
        self.eval()
        device = self.head.weight.device
        logits = self(input_ids.to(device), attention_mask.to(device))
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    def save(self, folder: str | Path) -> None:
        """Write the weights (safetensors) and the config (JSON) into `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            name: tensor.detach().cpu().contiguous() for name, tensor in self.state_dict().items()
        }
        save_file(state, folder / WEIGHTS_FILE)
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2))

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> TagClassifier:
        """Rebuild from `save`'s files: JSON and tensors only, nothing is unpickled."""
        folder = Path(folder)
        config = ModelConfig(**json.loads((folder / CONFIG_FILE).read_text()))
        model = cls(config)
        model.load_state_dict(load_file(folder / WEIGHTS_FILE, device=device))
        return model.to(device).eval()
