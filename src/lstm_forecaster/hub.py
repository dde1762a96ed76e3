"""Publishing and versioning on the Hugging Face Hub; loading by folder or repo id."""

from __future__ import annotations

from pathlib import Path

from .modeling import LSTMForecaster


def load_model(model: str | Path, revision: str | None = None) -> LSTMForecaster:
    """Load a model from a local folder or a Hub repo id at a revision (tag, branch or commit)."""
    path = Path(model)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{model} is a file; give a model folder or a Hub repo id")
    if not path.exists() and (str(model).startswith((".", "/")) or str(model).count("/") != 1):
        raise ValueError(f"no model folder {model} (and it is not a Hub repo id user/name)")
    return LSTMForecaster.from_pretrained(str(model), revision=revision)
