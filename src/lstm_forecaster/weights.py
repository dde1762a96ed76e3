"""Checks of `model.safetensors`: its header against the network before loading, its values after.

A truncated file, a file of another architecture or a file that is not safetensors at all is
refused with one line naming the file and what differs (`check_safetensors_file`), before any
tensor is read; weights that are NaN or infinite are refused once loaded (`check_finite_weights`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

# safetensors dtype names and their sizes in bytes.
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit


def read_safetensors_header(path: str | Path) -> dict:
    """The JSON header of a safetensors file, checked against the file's size.

    Raises
    ------
    ValueError
        When the file is shorter than its header says, the header is not JSON, or a tensor's bytes
        lie beyond the end of the file.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path} is not a safetensors file: {size} bytes, shorter than its 8-byte header length")
        length = int.from_bytes(head, "little")
        if length > min(_MAX_HEADER_BYTES, size - 8):
            raise ValueError(
                f"{path} is truncated or not a safetensors file: its header claims {length:,} bytes, "
                f"the file has {size:,}"
            )
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"{path} is not a safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a safetensors file: its header is not a JSON object")
    data_bytes = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise ValueError(f"{path} is not a valid safetensors file: tensor {name!r} has no data_offsets")
        if offsets[1] > data_bytes:
            raise ValueError(
                f"{path} is truncated: tensor {name!r} ends at byte {offsets[1]:,} of the data, the file holds {data_bytes:,}"
            )
    return header


def check_safetensors_file(path: str | Path, model: torch.nn.Module) -> None:
    """Raise `ValueError` unless the file holds exactly the tensors of `model`, with their shapes.

    Only the header is read; the tensors are loaded afterwards by the Hub mixin.
    """
    header = read_safetensors_header(path)
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = [
            f"missing {', '.join(missing[:3])}" if missing else "",
            f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
        ]
        raise ValueError(f"{path} does not match config.json's architecture: {'; '.join(p for p in parts if p)}")
    for name, shape in expected.items():
        entry = tensors[name]
        got = tuple(entry.get("shape", ()))
        if got != shape:
            raise ValueError(
                f"{path} does not match config.json: tensor {name} has shape {list(got)}, the config needs {list(shape)}"
            )
        dtype = entry.get("dtype")
        begin, end = entry["data_offsets"]
        if dtype not in _DTYPE_BYTES or end - begin != math.prod(shape) * _DTYPE_BYTES[dtype]:
            raise ValueError(f"{path} is corrupt: tensor {name} ({dtype}) does not hold {math.prod(shape):,} values")


def check_finite_weights(model: torch.nn.Module, source: str | Path) -> None:
    """Raise `ValueError` naming the first parameter that holds a NaN or an infinite value."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ValueError(f"{source}: the weights {name} hold {bad} NaN or infinite value(s); refused")
