"""Export a trained forecaster to ONNX: the network on scaled windows, its scaler and config beside it.

The exported folder holds

- `model.onnx`: the network, from scaled windows `(batch, context_length, features)` to scaled
  forecasts `(batch, horizon, outputs)`, with a dynamic batch axis (PyTorch's `torch.export`-based
  exporter, ONNX opset `OPSET`);
- `config.json` and `scaler.json`: the model's, as in its model folder, to build the inputs and
  read the outputs;
- `README.md`: the input/output contract in words, with a runnable onnxruntime example.

Before the folder is renamed into place the exported graph is run in onnxruntime on a batch of
windows and compared with the PyTorch forward: an export that does not reproduce the network is
never written.

Examples
--------
    lstm-forecaster export --model runs/default --format onnx --output out/default-onnx

    from lstm_forecaster.export import export_onnx, onnx_session
    folder = export_onnx("runs/default", "out/default-onnx")
    session = onnx_session(folder)
    scaled = session.run(None, {"windows": windows})[0]

Needs the `export` extra: `pip install "lstm-forecaster[export]"` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .modeling import LSTMForecaster
from .output_folder import staged_folder
from .scaling import SCALER_NAME

FORMATS = ("onnx",)
ONNX_NAME = "model.onnx"
CONFIG_NAME = "config.json"
README_NAME = "README.md"
INPUT_NAME = "windows"
OUTPUT_NAME = "forecast"
# The default opset of torch's exporter (torch 2.13); onnxruntime >= 1.17 runs it.
OPSET = 20
# The exporter specialises sizes 0 and 1, so the example batch that traces a dynamic axis has 2 windows.
_EXAMPLE_BATCH = 2
_VERIFY_BATCH = 16
_VERIFY_ATOL = 1e-5


def _require_export_packages() -> None:
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ValueError(
            f"ONNX export needs {', '.join(missing)}: install the export extra, pip install 'lstm-forecaster[export]'"
        )


def onnx_session(folder: str | Path, threads: int = 1):
    """An onnxruntime CPU `InferenceSession` on `folder/model.onnx` (or on an `.onnx` file).

    Parameters
    ----------
    folder : str or Path
        A folder written by `export_onnx`, or the path of the `.onnx` file itself.
    threads : int
        Intra-op threads of the session (one by default: the models are small and sequential).
    """
    import onnxruntime as ort

    path = Path(folder)
    if path.is_dir():
        path = path / ONNX_NAME
    if not path.is_file():
        raise ValueError(f"no ONNX model at {path}: export one with `lstm-forecaster export --format onnx`")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's internal warnings (torchvision ops it skips, torch.export deprecations)."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _onnx_program(model: LSTMForecaster, opset: int):
    """Trace `model.forward` on scaled windows into an `onnx_ir.Model` with a dynamic batch axis."""
    config = model.config
    example = torch.zeros(_EXAMPLE_BATCH, config.context_length, len(config.features))
    batch = torch.export.Dim("batch")
    with _quiet_exporter():
        program = torch.onnx.export(
            model,
            (example,),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"x": {0: batch}},
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    program.model.producer_name = "lstm-forecaster"
    program.model.producer_version = __version__
    program.model.metadata_props.update(
        {
            "lstm_forecaster.config": json.dumps(_config_dict(model), sort_keys=True),
            "lstm_forecaster.input": f"{INPUT_NAME}: float32 (batch, {config.context_length}, {len(config.features)}) scaled windows",
            "lstm_forecaster.output": f"{OUTPUT_NAME}: float32 (batch, {config.horizon}, {config.num_outputs}) scaled forecasts",
            "lstm_forecaster.output_names": json.dumps(config.output_names),
        }
    )
    return program


def _config_dict(model: LSTMForecaster) -> dict:
    return dataclasses.asdict(model.config)


@torch.no_grad()
def verify_onnx(model: LSTMForecaster, path: str | Path, windows: np.ndarray, atol: float = _VERIFY_ATOL) -> float:
    """Largest absolute difference between onnxruntime and PyTorch on `windows`; raises above `atol`.

    Parameters
    ----------
    windows : np.ndarray
        (batch, context_length, features) float32 scaled windows.
    """
    expected = model(torch.from_numpy(windows)).numpy()
    actual = onnx_session(path).run(None, {INPUT_NAME: windows})[0]
    if actual.shape != expected.shape:
        raise RuntimeError(f"the ONNX model returned shape {actual.shape}, PyTorch {expected.shape}")
    difference = float(np.max(np.abs(actual - expected)))
    if not difference <= atol:
        raise RuntimeError(f"the ONNX model differs from PyTorch by {difference:.3g} (tolerance {atol:g})")
    return difference


def export_onnx(
    model: LSTMForecaster | str | Path,
    output: str | Path,
    *,
    revision: str | None = None,
    overwrite: bool = False,
    opset: int = OPSET,
) -> Path:
    """Export a trained model to an ONNX folder (`model.onnx`, `config.json`, `scaler.json`, `README.md`).

    Parameters
    ----------
    model : LSTMForecaster, str or Path
        A model with its fitted scaler, or a model folder or Hub repo id.
    output : str or Path
        Folder to write; written to a temporary folder beside it, checked in onnxruntime, then renamed.
        An existing non-empty folder is replaced only with `overwrite`.
    revision : str, optional
        Hub revision when `model` is a repo id.
    overwrite : bool
        Replace an existing `output` folder.
    opset : int
        ONNX opset of the default domain (18 to 23 with torch 2.13's exporter).

    Returns
    -------
    Path
        `output`.
    """
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give a folder name")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ValueError(f"--output {output} exists and is not empty; pass --overwrite to replace it")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 18 <= opset <= 23:
        raise ValueError(f"opset must be an integer from 18 to 23 (torch's exporter). Got {opset!r}.")
    _require_export_packages()
    if not isinstance(model, LSTMForecaster):
        from .hub import load_model

        model = load_model(model, revision=revision)
    scaler = model._require_scaler()
    model = model.to("cpu").float().eval()

    program = _onnx_program(model, opset)
    with staged_folder(output) as tmp:
        program.save(tmp / ONNX_NAME, external_data=False)
        config = model.config
        windows = np.random.default_rng(0).standard_normal(
            (_VERIFY_BATCH, config.context_length, len(config.features)), dtype=np.float32
        )
        verify_onnx(model, tmp / ONNX_NAME, windows)
        (tmp / CONFIG_NAME).write_text(json.dumps(_config_dict(model), indent=2, sort_keys=True) + "\n")
        scaler.save(tmp / SCALER_NAME)
        (tmp / README_NAME).write_text(contract(model, opset), encoding="utf-8")
    return output


def contract(model: LSTMForecaster, opset: int = OPSET) -> str:
    """The README of an exported folder: what goes into `model.onnx`, what comes out, how to read it."""
    config = model.config
    scaler = model._require_scaler()
    quantity = "volume" if config.target == "volume" else "close"
    features = ", ".join(f"`{name}`" for name in config.features)
    if scaler.mode == "standard":
        scale_in = "`(x - mean) / std` with each feature's `mean` and `std` in `scaler.json` (`features`)"
        scale_out = "`y * std + mean` with `target_params` of `scaler.json`"
    elif scaler.mode == "minmax":
        scale_in = "`(x - min) / (max - min)` with each feature's `min` and `max` in `scaler.json` (`features`)"
        scale_out = "`y * (max - min) + min` with `target_params` of `scaler.json`"
    elif scaler.mode == "window":
        scale_in = "every window divided by its own first row, minus 1 (`x / x[:, :1, :] - 1`)"
        scale_out = f"`(y + 1) * base`, where `base` is the window's first `{quantity}`"
    elif scaler.mode == "context":
        scale_in = (
            "each window normalised from its own context, nothing fitted: "
            "`x, sigma = Scaler.context_windows(raw_windows, closes)` (`lstm_forecaster.scaling`; "
            "`closes` are the same rows' closes, `sigma` each window's volatility)"
        )
        scale_out = (
            f"`y * sigma * sqrt(step)` for step 1 to {config.horizon} "
            "(`Scaler.unscale_target(y, scale=context_target_scale(sigma, horizon))`)"
        )
    else:
        scale_in = f"as `lstm_forecaster.scaling.Scaler.scale_windows` does for mode `{scaler.mode}`"
        scale_out = "`Scaler.unscale_target` (the parameters are in `scaler.json`)"
    if config.target == "log_return":
        to_units = (
            f"The unscaled value is the log return from the last observed `{quantity}` to each future step: "
            f"the forecast is `last_{quantity} * exp(value)`."
        )
    else:
        to_units = f"The unscaled value is the forecast `{config.target}` itself."
    if config.median_at_last:
        to_units += (
            f" The median (`q0.5`) is pinned to the last `{quantity}`: its scaled output is the scaled zero return."
        )
    if getattr(config, "calibrates", False):
        to_units += (
            f" `LSTMForecaster.predict` then recalibrates the quantiles from the model's own errors over the "
            f"last {config.calibration_window} origins whose outcome is known (`calibration: {config.calibration}`, "
            "`lstm_forecaster.calibration`); `model.onnx` gives the network's quantiles before that step."
        )
    if scaler.mode in ("standard", "minmax"):
        spread = "a zero `std`" if scaler.mode == "standard" else "`max == min`"
        note = f"A constant column ({spread}) is shifted but not divided."
    elif scaler.mode == "window":
        note = "Nothing is fitted: `scaler.json` records only the feature names."
    else:
        note = ""
    outputs = ", ".join(f"`{name}`" for name in config.output_names)
    return f"""# {config.cell.upper()} forecaster, exported to ONNX

Written by `lstm-forecaster export` (lstm-forecaster {__version__}, torch {torch.__version__}, ONNX opset {opset}).
`model.onnx` is the network alone, on scaled windows; `config.json` and `scaler.json` are the model's own.
Features, scaling and inverse scaling happen outside it, as below (the Python package does them in
`LSTMForecaster.predict`).

## Input

`{INPUT_NAME}`: float32, shape `(batch, {config.context_length}, {len(config.features)})`, any batch size:
the last {config.context_length} rows of the features {features}, oldest first (computed by
`lstm_forecaster.features` from OHLCV rows; each feature reads only rows up to its own), scaled with the
`{scaler.mode}` scaler fitted on the training split: {scale_in}. {note}

## Output

`{OUTPUT_NAME}`: float32, shape `(batch, {config.horizon}, {config.num_outputs})`: for each of the {config.horizon}
future step(s), the scaled target `{config.target}` for each output {outputs}
(quantile levels increase along the last axis and never cross). Unscale with {scale_out}.
{to_units}

## Run it

```python
import json
import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
scaler = json.load(open("scaler.json"))
windows = np.zeros((1, {config.context_length}, {len(config.features)}), dtype=np.float32)  # your scaled windows
forecast = session.run(None, {{"{INPUT_NAME}": windows}})[0]  # (1, {config.horizon}, {config.num_outputs})
```

The export was checked in onnxruntime against the PyTorch forward on {_VERIFY_BATCH} windows
(largest absolute difference at most {_VERIFY_ATOL:g}) before this folder was written.
"""


def export_command(args: argparse.Namespace) -> int:
    """`lstm-forecaster export`: write an ONNX folder beside nothing half-done."""
    if args.format not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}. Got {args.format!r}.")
    folder = export_onnx(args.model, args.output, revision=args.revision, overwrite=args.overwrite, opset=args.opset)
    print(f"wrote {folder / ONNX_NAME} (opset {args.opset}, dynamic batch) with {CONFIG_NAME}, {SCALER_NAME}")
    return 0
