"""Resumable training checkpoints: safetensors + JSON, never a pickle.

`save_checkpoint` writes the model, best weights, optimizer state and shuffle generator into
`<output>.checkpoint/` after every epoch; `load_checkpoint` reads them back and `check_resumable`
refuses a checkpoint written for another recipe or other data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.utils.deterministic

from .recipe import TrainingConfig

CHECKPOINT_STATE = "state.safetensors"
CHECKPOINT_META = "state.json"


def checkpoint_dir(output_dir: Path) -> Path:
    """Where the resumable training state of `output_dir` lives: `.NAME.checkpoint/` beside it."""
    return output_dir.parent / f".{output_dir.name}.checkpoint"


def save_checkpoint(folder: Path, model, optimizer, best_state, shuffle: torch.Generator, meta: dict) -> None:
    """Write the training state atomically: tensors to safetensors, everything else to JSON."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best_state.items()})
    optim = optimizer.state_dict()
    optim_meta = {"param_groups": optim["param_groups"], "state": {}}
    for index, state in optim["state"].items():
        optim_meta["state"][str(index)] = {}
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
                optim_meta["state"][str(index)][key] = "tensor"
            else:
                optim_meta["state"][str(index)][key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = shuffle.get_state()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, folder / f"{CHECKPOINT_STATE}.tmp")
    (folder / f"{CHECKPOINT_META}.tmp").write_text(json.dumps({**meta, "optimizer": optim_meta}, indent=2) + "\n")
    os.replace(folder / f"{CHECKPOINT_STATE}.tmp", folder / CHECKPOINT_STATE)
    os.replace(folder / f"{CHECKPOINT_META}.tmp", folder / CHECKPOINT_META)


def load_checkpoint(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read a checkpoint written by `save_checkpoint`: (JSON meta, tensors)."""
    from safetensors.torch import load_file

    meta_path, state_path = folder / CHECKPOINT_META, folder / CHECKPOINT_STATE
    if not meta_path.is_file() or not state_path.is_file():
        raise ValueError(f"no checkpoint to resume from in {folder} (train without --resume first)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{meta_path} is not valid JSON: {e}") from e
    return meta, load_file(state_path)


def optimizer_state(meta: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state = {}
    for index, entries in meta["state"].items():
        state[int(index)] = {
            key: tensors[f"optimizer.{index}.{key}"] if value == "tensor" else value for key, value in entries.items()
        }
    return {"state": state, "param_groups": meta["param_groups"]}


def prefixed_tensors(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def check_resumable(meta: dict, recipe: TrainingConfig, source: dict) -> None:
    saved = meta.get("recipe", {})
    current = recipe.to_dict()
    for key in current:
        if key in ("epochs", "patience"):
            continue
        if saved.get(key) != current[key]:
            raise ValueError(
                f"cannot resume: the recipe's '{key}' differs from the checkpoint's ({saved.get(key)!r} there, "
                f"{current[key]!r} now); only epochs and patience may change"
            )
    for key in ("kind", "source", "sha256", "hub_dataset", "sources"):
        if meta.get("data", {}).get(key) != source.get(key):
            raise ValueError(
                f"cannot resume: the data differs from the checkpoint's ({key}: {meta.get('data', {}).get(key)!r})"
            )
