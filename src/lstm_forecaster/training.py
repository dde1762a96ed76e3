"""Train a recipe into a complete model folder, honestly: chronological splits, test read once.

A *recipe* (`TrainingConfig`, a YAML file in `configs/`) holds the model's architecture (the
`model:` mapping, an `LSTMForecasterConfig`) and how to train it. `train` reads it top to bottom:

1. load the data and cut it chronologically into train / validation / test rows;
2. fit the scaler on the training rows only;
3. train with AdamW (or Adam), a warm-up + cosine learning-rate schedule, gradient clipping, a seeded
   shuffle, under Hugging Face Accelerate (CPU, one GPU with bf16 autocast, or several processes via
   `accelerate launch`);
4. after every epoch, estimate the validation loss, keep the best weights, stop early when it stops
   improving, and save a resumable checkpoint (safetensors + JSON, never a pickle); an ensemble
   (`model.ensemble` > 1) trains its members side by side, each on its own loss, clipped gradient
   and best epoch, so each is the network its seed would train alone;
5. restore the best weights and read the test split once: a rolling-origin backtest scored beside
   the naive baselines (`evaluation.evaluate_backtest`);
6. write the model folder (config, weights, scaler, training_args.json, metrics.json, plots, model
   card) to a temporary folder, then rename it into place.

Examples
--------
    lstm-forecaster train --config configs/default.yaml --output runs/default
    accelerate launch --multi_gpu --num_processes 2 scripts/train.py --cpu --config configs/default.yaml --output runs/ddp

    from lstm_forecaster.training import load_recipe, train
    folder = train(load_recipe("configs/default.yaml"), "runs/default")
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.utils.deterministic
import yaml

from . import __version__
from .configuration import LSTMForecasterConfig
from .data import Samples, file_sha256, infer_step, load_ohlcv, sample_path, utc_timestamp
from .guards import PROFILE_KEY, training_profile
from .market import warn_single_asset
from .modeling import LSTMForecaster, combine_members
from .output_folder import claim_output, staged_folder
from .panel import (
    PanelSamples,
    PanelSplit,
    bundled_panel_provenance,
    check_split_origins,
    date_split,
    is_panel,
    panel_path,
    pooled_cut_dates,
    samples_for,
)
from .scaling import Scaler, context_normalize, context_volatility

OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "constant")
LOSSES = ("mse", "pinball")
HEAD_INITS = ("default", "baseline", "persistence")
LOSS_WEIGHTINGS = ("none", "inverse_volatility")
MIXED_PRECISIONS = ("auto", "no", "bf16", "fp16")
_SETUP_KEYS = (
    "train_fraction",
    "validation_fraction",
    "batch_size",
    "optimizer",
    "learning_rate",
    "weight_decay",
    "lr_schedule",
    "warmup_steps",
    "min_lr_ratio",
    "grad_clip",
    "patience",
    "loss",
    "loss_on_all_steps",
    "head_init",
    "loss_weighting",
    "volatility_window",
)
BUNDLED_PANEL = "panel"  # the recipe's `data: panel`: the embedded daily panel
CHECKPOINT_STATE = "state.safetensors"
CHECKPOINT_META = "state.json"
TRAINING_ARGS = "training_args.json"
METRICS = "metrics.json"
FORECAST_PLOT = "forecast.png"
PERCENT_CHANGE_PLOT = "percent_change.png"


# ----- the recipe -----------------------------------------------------------------------------------


@dataclass
class TrainingConfig:
    """A training recipe: the model's architecture and how to train and evaluate it.

    Args:
        model: The architecture, inputs and outputs (`LSTMForecasterConfig`; in YAML, the `model:` mapping).
        name: Short name of the recipe, used in the model card.
        description: One or two sentences on what the recipe reproduces.
        data: OHLCV source: a CSV/Parquet path (relative paths are read from the current directory) or
            a Hub dataset id `user/name`; for a panel of several series, a list of them, a folder, a
            glob (`"data/*.csv"`), or `panel`: the bundled daily panel of 8 coins (`panel_path()`).
            None: the bundled BTC-USD daily sample.
        data_revision: Revision of a Hub dataset.
        start: First timestamp of the data to use (e.g. `2018-02-10`); None: from the first row.
        end: Last timestamp of the data to use; None: to the last row.
        train_fraction: Share of the rows, oldest first, in the training split. For a panel the
            rows of every series are pooled and sorted by time, and the cut is a date: the same for
            every series.
        validation_fraction: Share of the rows after them in the validation split (early stopping and
            best-checkpoint selection); the remaining rows are the test split, read once at the end.
        validation_start: First timestamp of the validation split (e.g. `2023-01-01`), for every
            series; with `test_start`, replaces the fractions. None: cut by the fractions.
        test_start: First timestamp of the test split, for every series (after `validation_start`).
        epochs: Maximum number of passes over the training windows.
        batch_size: Windows per optimisation step (per process under `accelerate launch`).
        optimizer: `adamw` (decoupled weight decay) or `adam`.
        learning_rate: Peak learning rate.
        weight_decay: Weight decay (decoupled for `adamw`, L2 for `adam`).
        lr_schedule: `cosine` (decay to `min_lr_ratio` x the peak over all epochs) or `constant`.
        warmup_steps: Steps of linear warm-up before the schedule.
        min_lr_ratio: Final learning rate of the cosine schedule, as a fraction of the peak.
        grad_clip: Largest global gradient norm; 0 turns clipping off.
        patience: Epochs without a better validation loss before stopping; 0 never stops early.
        loss: `mse` on the scaled target (point forecasts) or `pinball` (mean quantile loss over the
            model's quantile levels).
        loss_on_all_steps: Train on the forecast made at every time step of a window, not only the
            last one (the PyTorch OHLCV system). Validation always scores the last step.
        head_init: `default` (PyTorch's init); `baseline`: zero weights and biases set to the training
            targets' mean (point) or empirical quantiles, so training starts at the constant forecast;
            `persistence` (target `log_return` only): the same, shifted so that the median (point:
            the forecast) is a zero return, i.e. the last close.
        loss_weighting: `none`, or `inverse_volatility`: each window's loss divided by the standard
            deviation of the last `volatility_window` log returns of the target quantity at its origin
            (weights normalised to mean 1 over the training windows), so calm periods count as much as
            turbulent ones. Applies to training and to the validation loss.
        volatility_window: Returns in the volatility of `inverse_volatility` weighting.
        seed: Seeds weights, dropout and the shuffle; same seed and data give the same weights on CPU.
        mixed_precision: `auto` (bf16 on a GPU that has it, else full precision), `no`, `bf16`, `fp16`.
    """

    model: LSTMForecasterConfig = field(default_factory=LSTMForecasterConfig)
    name: str = "lstm-forecaster"
    description: str = ""
    data: str | list[str] | None = None
    data_revision: str | None = None
    start: str | None = None
    end: str | None = None
    train_fraction: float = 0.7
    validation_fraction: float = 0.15
    validation_start: str | None = None
    test_start: str | None = None
    epochs: int = 50
    batch_size: int = 64
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    patience: int = 10
    loss: str = "mse"
    loss_on_all_steps: bool = False
    head_init: str = "default"
    loss_weighting: str = "none"
    volatility_window: int = 30
    seed: int = 0
    mixed_precision: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = model_config_from_dict(self.model)
        if not isinstance(self.model, LSTMForecasterConfig):
            raise ValueError(f"model must be a mapping of LSTMForecasterConfig fields. Got {self.model!r}.")
        for name in ("name", "description"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string. Got {getattr(self, name)!r}.")
        if isinstance(self.data, (list, tuple)):
            if not self.data or not all(isinstance(item, str) for item in self.data):
                raise ValueError(
                    f"data must be a path, a Hub id, a non-empty list of them, or null. Got {self.data!r}."
                )
            self.data = list(self.data)
        elif self.data is not None and not isinstance(self.data, str):
            raise ValueError(f"data must be a path, a Hub id, a list of them, or null. Got {self.data!r}.")
        if self.data_revision is not None and not isinstance(self.data_revision, str):
            raise ValueError(f"data_revision must be a string or null. Got {self.data_revision!r}.")
        for name in ("start", "end", "validation_start", "test_start"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                setattr(self, name, utc_timestamp(value).isoformat())
            except (TypeError, ValueError) as e:
                raise ValueError(
                    f"{name} must be a date or timestamp such as 2018-02-10, or null. Got {value!r}."
                ) from e
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(f"start must be before end. Got start {self.start}, end {self.end}.")
        if (self.validation_start is None) != (self.test_start is None):
            raise ValueError(
                "validation_start and test_start go together (dates of the splits) or are both null (the "
                f"fractions cut). Got validation_start {self.validation_start}, test_start {self.test_start}."
            )
        if self.validation_start is not None and self.validation_start >= self.test_start:
            raise ValueError(
                f"validation_start must be before test_start. Got {self.validation_start} and {self.test_start}."
            )
        for name, low, high in (("train_fraction", 0.0, 1.0), ("validation_fraction", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
                raise ValueError(f"{name} must be a number strictly between {low:g} and {high:g}. Got {value!r}.")
            setattr(self, name, float(value))
        if self.train_fraction + self.validation_fraction >= 1.0:
            raise ValueError(
                f"train_fraction + validation_fraction must leave rows for the test split (sum < 1). "
                f"Got {self.train_fraction} + {self.validation_fraction}."
            )
        integers = (
            ("epochs", 1),
            ("batch_size", 1),
            ("warmup_steps", 0),
            ("patience", 0),
            ("seed", 0),
            ("volatility_window", 2),
        )
        for name, smallest in integers:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
                raise ValueError(f"{name} must be an integer >= {smallest}. Got {value!r}.")
        for name in ("learning_rate", "weight_decay", "min_lr_ratio", "grad_clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number. Got {value!r}.")
            setattr(self, name, float(value))
        if self.learning_rate == 0:
            raise ValueError("learning_rate must be positive. Got 0.")
        for name, accepted in (
            ("optimizer", OPTIMIZERS),
            ("lr_schedule", SCHEDULES),
            ("loss", LOSSES),
            ("head_init", HEAD_INITS),
            ("loss_weighting", LOSS_WEIGHTINGS),
            ("mixed_precision", MIXED_PRECISIONS),
        ):
            if getattr(self, name) not in accepted:
                raise ValueError(f"{name} must be one of {', '.join(accepted)}. Got {getattr(self, name)!r}.")
        if not isinstance(self.loss_on_all_steps, bool):
            raise ValueError(f"loss_on_all_steps must be true or false. Got {self.loss_on_all_steps!r}.")
        if self.loss == "pinball" and not self.model.quantiles:
            raise ValueError("loss 'pinball' needs quantile levels: set model.quantiles, e.g. [0.1, 0.5, 0.9].")
        if self.loss == "mse" and self.model.quantiles:
            raise ValueError(
                f"model.quantiles {self.model.quantiles} need loss 'pinball'; loss 'mse' is for point forecasts."
            )
        if self.head_init == "persistence" and self.model.target != "log_return":
            raise ValueError(
                f"head_init 'persistence' needs target 'log_return' (a zero return); got {self.model.target!r}."
            )
        if self.loss_on_all_steps and self.model.bidirectional:
            raise ValueError("loss_on_all_steps needs a one-directional network (model.bidirectional: false).")
        if self.loss_on_all_steps and self.model.head != "last":
            raise ValueError(
                f"loss_on_all_steps needs model.head: last (the head at every step). Got {self.model.head!r}."
            )

    @property
    def test_fraction(self) -> float:
        """Share of the rows, newest last, in the test split."""
        return 1.0 - self.train_fraction - self.validation_fraction

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-ready dict; `recipe_from_dict` reads it back."""
        out = dataclasses.asdict(self)
        out["model"] = {k: v for k, v in dataclasses.asdict(self.model).items() if k != "package_version"}
        return out


def model_config_from_dict(values: dict) -> LSTMForecasterConfig:
    """An `LSTMForecasterConfig` from a mapping; unknown keys raise `ValueError` naming them."""
    if not isinstance(values, dict):
        raise ValueError(f"model must be a mapping of LSTMForecasterConfig fields. Got {values!r}.")
    accepted = [f.name for f in dataclasses.fields(LSTMForecasterConfig) if f.name != "package_version"]
    unknown = [k for k in values if k not in accepted]
    if unknown:
        raise ValueError(f"unknown key 'model.{unknown[0]}' in the recipe; accepted under model: {', '.join(accepted)}")
    return LSTMForecasterConfig(**values)


def recipe_from_dict(values: dict) -> TrainingConfig:
    """A `TrainingConfig` from a mapping; unknown keys raise `ValueError` naming the key and the accepted ones."""
    if not isinstance(values, dict):
        raise ValueError(f"a recipe must be a mapping of keys to values. Got {type(values).__name__}.")
    accepted = [f.name for f in dataclasses.fields(TrainingConfig)]
    unknown = [k for k in values if k not in accepted]
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}' in the recipe; accepted: {', '.join(accepted)}")
    values = dict(values)
    values["model"] = model_config_from_dict(values.get("model", {}) or {})
    return TrainingConfig(**values)


def load_recipe(path: str | Path) -> TrainingConfig:
    """Read a recipe from a YAML (or JSON) file.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it is not YAML, or names an unknown key or a bad value.
    """
    path = Path(path)
    values = read_recipe_file(path)
    values.pop("search", None)  # the search space of `lstm-forecaster tune`
    try:
        return recipe_from_dict(values)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


def read_recipe_file(path: str | Path) -> dict:
    """The mapping a recipe file holds (YAML or JSON), before any key is checked.

    Raises `FileNotFoundError` for a missing file and `ValueError` naming the file when it is not
    YAML or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such recipe file", str(path))
    try:
        values = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read recipe {path}: {str(e).splitlines()[0]}") from e
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of keys to values. Got {type(values).__name__}.")
    return dict(values)


# ----- data and splits ------------------------------------------------------------------------------


@dataclass
class Split:
    """Chronological split of one series, in rows of its `Samples` (after the features' warm-up).

    Rows `0..train_last` are training rows, `train_last + 1..validation_last` validation rows, the
    rest test rows. Each split's origins are the forecast origins whose every target lies in it
    (a validation origin may read training rows as input: they are its past).
    """

    train_last: int
    validation_last: int
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    @property
    def train_rows(self) -> np.ndarray:
        """Rows of the training split (the scaler's rows)."""
        return np.arange(self.train_last + 1)


def split_samples(df: pd.DataFrame, samples: Samples | PanelSamples, recipe: TrainingConfig) -> Split | PanelSplit:
    """The recipe's chronological split: `chronological_split` for one series, `panel_split` for a panel."""
    if isinstance(samples, PanelSamples):
        return panel_split(df, samples, recipe)
    return chronological_split(df, samples, recipe)


def panel_split(df: pd.DataFrame, samples: PanelSamples, recipe: TrainingConfig) -> PanelSplit:
    """Cut every series of a panel at the same dates: the recipe's `validation_start` and `test_start`,
    else the dates that put the fractions of the pooled rows of `df` before them (`pooled_cut_dates`)."""
    if recipe.validation_start is not None:
        return date_split(samples, recipe.validation_start, recipe.test_start, how="dates")
    timestamps = df.index.get_level_values("timestamp")
    validation_start, test_start = pooled_cut_dates(timestamps, recipe.train_fraction, recipe.validation_fraction)
    return date_split(samples, validation_start, test_start, how="fractions")


def chronological_split(df: pd.DataFrame, samples: Samples, recipe: TrainingConfig) -> Split:
    """Cut `df` by row count (train, validation, test fractions), then map the cuts onto `samples`.

    The cuts are taken on the raw rows, so every recipe with the same data and fractions has the same
    test period whatever its features' warm-up. With the recipe's `validation_start` and
    `test_start`, the cuts are those dates instead.
    """
    n = len(df)
    if recipe.validation_start is not None:
        train_end = _last_before(df.index, recipe.validation_start, "validation_start")
        validation_end = _last_before(df.index, recipe.test_start, "test_start")
    else:
        train_end = df.index[max(int(round(n * recipe.train_fraction)) - 1, 0)]
        validation_end = df.index[max(int(round(n * (recipe.train_fraction + recipe.validation_fraction))) - 1, 0)]
    train_last = int(samples.index.searchsorted(train_end, side="right")) - 1
    validation_last = int(samples.index.searchsorted(validation_end, side="right")) - 1
    horizon = samples.horizon
    split = Split(
        train_last=train_last,
        validation_last=validation_last,
        train=samples.origins(0, train_last - horizon),
        validation=samples.origins(train_last, validation_last - horizon),
        test=samples.origins(validation_last),
    )
    check_split_origins(
        split,
        f"with {len(df)} rows, context_length {samples.context_length}, horizon {horizon} and fractions "
        f"{recipe.train_fraction:g}/{recipe.validation_fraction:g}/{recipe.test_fraction:g}; give more rows",
    )
    return split


def _last_before(index: pd.DatetimeIndex, date: str, name: str) -> pd.Timestamp:
    before = index[index < utc_timestamp(date)]
    if before.empty:
        raise ValueError(f"{name} {date} is before the data's first row ({index[0]}); move it later")
    return before[-1]


def fit_scaler(samples: Samples | PanelSamples, split: Split | PanelSplit, config: LSTMForecasterConfig) -> Scaler:
    """The scaler of `config.scaling`, fitted on the training split's rows and targets only
    (for a panel: the training rows of every series, pooled)."""
    rows = split.train_rows
    stamps = samples.index[rows]
    return Scaler.fit(
        config.scaling,
        config.features,
        config.target,
        samples.features[rows],
        samples.targets[split.train],
        fitted_on={"start": stamps.min().isoformat(), "end": stamps.max().isoformat(), "rows": len(rows)},
    )


def load_training_data(
    recipe: TrainingConfig, data=None, data_revision: str | None = None
) -> tuple[pd.DataFrame, dict]:
    """Load the recipe's data (or `data`), and describe where it came from for `training_args.json`.

    Returns
    -------
    (pd.DataFrame, dict)
        The OHLCV rows between the recipe's `start` and `end`, and
        `{"kind": "sample"|"file"|"hub"|"dataframe", "source", "sha256", ...}`.
    """
    df, source = _load_source(recipe, data, data_revision)
    return select_rows(df, recipe.start, recipe.end), source


def select_rows(df: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    """Rows of `df` from `start` to `end` (inclusive; None: unbounded); `ValueError` when none are left."""
    if start is None and end is None:
        return df
    stamps = df.index.get_level_values("timestamp") if is_panel(df) else df.index
    first = utc_timestamp(start) if start is not None else stamps.min()
    last = utc_timestamp(end) if end is not None else stamps.max()
    selected = df[(stamps >= first) & (stamps <= last)]
    if selected.empty:
        raise ValueError(
            f"no rows between start {start} and end {end}; the data runs from {stamps.min()} to {stamps.max()}"
        )
    return selected


def _load_source(recipe: TrainingConfig, data, data_revision: str | None) -> tuple[pd.DataFrame, dict]:
    data = recipe.data if data is None else data
    revision = data_revision if data_revision is not None else recipe.data_revision
    if isinstance(data, str) and data == BUNDLED_PANEL:
        path = panel_path()
        df = load_ohlcv(path)
        return df, {
            "kind": "panel",
            "source": f"lstm_forecaster/data/{path.name}",
            "sha256": file_sha256(path),
            "sources": [{**record, "source": f"lstm_forecaster/data/{path.name}"} for record in _sources(df)],
            "built_from": bundled_panel_provenance(),
        }
    if data is None:
        path = sample_path()
        return load_ohlcv(path), {
            "kind": "sample",
            "source": "lstm_forecaster/data/BTC-USD.csv",
            "sha256": file_sha256(path),
        }
    if isinstance(data, pd.DataFrame):
        df = load_ohlcv(data)
        hub = df.attrs.get("hub_dataset")
        if hub:
            return df, {"kind": "hub", "source": hub.get("id"), "hub_dataset": dict(hub)}
        return df, {"kind": "dataframe", "source": "an in-memory DataFrame", "sha256": _frame_sha256(df)}
    df = load_ohlcv(data, revision=revision)
    hub = df.attrs.get("hub_dataset")
    if hub:
        return df, {"kind": "hub", "source": hub.get("id"), "hub_dataset": dict(hub)}
    if is_panel(df):
        source = [str(item) for item in data] if isinstance(data, (list, tuple)) else str(data)
        record = {"kind": "files", "source": source, "sources": _sources(df)}
        if isinstance(source, str) and Path(source).is_file():
            record["sha256"] = file_sha256(source)
        return df, record
    path = Path(data)
    if path.resolve() == sample_path().resolve():
        return df, {"kind": "sample", "source": "lstm_forecaster/data/BTC-USD.csv", "sha256": file_sha256(path)}
    return df, {"kind": "file", "source": str(data), "sha256": file_sha256(path)}


def _sources(panel: pd.DataFrame) -> list[dict]:
    """Every source of a panel (kind, path, sha256, symbols), as `load_ohlcv` recorded them."""
    return [dict(record) for record in panel.attrs.get("sources", [])]


def _frame_sha256(df: pd.DataFrame) -> str:
    import hashlib

    digest = hashlib.sha256(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return digest.hexdigest()


# ----- tensors, losses, schedule --------------------------------------------------------------------


class WindowBatches:
    """Scaled training windows gathered by index arithmetic from one pre-built tensor per series.

    For `minmax`/`standard` scaling the (rows, features) matrix and the (rows, horizon) targets are
    scaled once; a batch is `x[rows]` with `rows = origin - context_length + 1 + arange(context_length)`.
    For `window` scaling the raw rows are gathered and each window divided by its own first row; for
    `context` scaling the raw rows and closes are gathered and each window normalised from its own
    context (`scaling.context_normalize`), its targets divided by sigma x sqrt(step).
    Memory grows with the rows, never rows x context_length.

    Parameters
    ----------
    samples, scaler
        The series and its fitted scaler.
    device : torch.device
        Where the tensors live.
    weights : np.ndarray, optional
        (rows,) loss weight of each origin row (see `volatility_weights`).
    """

    def __init__(self, samples: Samples, scaler: Scaler, device: torch.device, weights: np.ndarray | None = None):
        self.context_length = samples.context_length
        self.window = scaler.mode == "window"
        self.context = scaler.mode == "context"
        self.feature_names = list(scaler.feature_names)
        self.device = device
        self.offsets = torch.arange(-self.context_length + 1, 1, device=device)
        targets = np.nan_to_num(samples.targets, nan=0.0)  # rows without a target are never gathered
        if self.window or self.context:
            self.x = torch.from_numpy(samples.features).to(device)  # float64, scaled per batch
            self.y = torch.from_numpy(targets).to(device)
            self.base = torch.from_numpy(samples.base.copy()).to(device)
        else:
            self.x = torch.from_numpy(scaler.scale_windows(samples.features[None])[0]).to(device)
            self.y = torch.from_numpy(scaler.scale_target(targets)).to(device)
        self.w = None if weights is None else torch.from_numpy(weights.astype("float32")).to(device)

    def weights(self, origins: torch.Tensor) -> torch.Tensor | None:
        """(batch,) loss weights at `origins`, or None when the loss is unweighted."""
        return None if self.w is None else self.w[origins]

    def __call__(self, origins: torch.Tensor, all_steps: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows and targets at `origins`.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            x (batch, context_length, features) float32 and y (batch, horizon) float32, or with
            `all_steps` y (batch, context_length, horizon): the targets of every row of the window.
        """
        rows = origins[:, None] + self.offsets
        x = self.x[rows]
        if self.context:
            if all_steps:
                raise ValueError("context scaling scores the last step only (loss_on_all_steps: false)")
            x, sigma = context_normalize(x, self.base[rows], self.feature_names)
            return x, self._context_targets(origins, sigma)
        if self.window:
            x = (x / x[:, :1, :] - 1.0).float()
        return x, self.targets(origins, all_steps)

    def _context_targets(self, origins: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(1, self.y.shape[1] + 1, dtype=self.y.dtype, device=self.device)
        return (self.y[origins] / (sigma[:, None] * steps.sqrt())).float()

    def targets(self, origins: torch.Tensor, all_steps: bool = False) -> torch.Tensor:
        """Scaled targets at `origins` (see `__call__`), without gathering the windows."""
        rows = origins[:, None] + self.offsets
        if self.context:
            return self._context_targets(origins, context_volatility(self.base[rows]))
        y = self.y[rows] if all_steps else self.y[origins]
        if self.window:
            base = self.base[rows[:, 0]].view(-1, *([1] * (y.ndim - 1)))
            y = (y / base - 1.0).float()
        return y


def volatility_weights(samples: Samples, window: int, train_origins: np.ndarray) -> np.ndarray:
    """Loss weight of every row: 1 / (std of the last `window` log returns of the target quantity).

    Causal (a row's weight reads rows up to it); normalised to mean 1 over `train_origins`; rows
    without two returns yet, or with a zero standard deviation, get weight 1.

    Returns
    -------
    np.ndarray
        (rows,) float64 weights.
    """
    series = pd.Series(np.log(samples.base))
    if isinstance(samples, PanelSamples):  # each series' own returns, never across two series
        codes = samples.series_codes
        returns = series.groupby(codes).diff()
        sigma = returns.groupby(codes).rolling(window, min_periods=2).std().droplevel(0).sort_index().to_numpy()
    else:
        returns = series.diff()
        sigma = returns.rolling(window, min_periods=2).std().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = 1.0 / sigma
    weights[~np.isfinite(weights)] = np.nan
    weights /= np.nanmean(weights[train_origins])
    return np.nan_to_num(weights, nan=1.0)


def compute_loss(
    prediction: torch.Tensor, target: torch.Tensor, quantiles: torch.Tensor | None, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error, or the mean pinball loss over quantile levels; optionally weighted per window.

    Parameters
    ----------
    prediction : torch.Tensor
        (batch, ..., horizon, outputs) scaled forecasts.
    target : torch.Tensor
        (batch, ..., horizon) scaled targets.
    quantiles : torch.Tensor, optional
        (outputs,) quantile levels; None for MSE.
    weights : torch.Tensor, optional
        (batch,) weight of each window's loss.
    """
    prediction = prediction.float()
    if quantiles is None:
        per_point = (prediction[..., 0] - target) ** 2
    else:
        error = target[..., None] - prediction
        per_point = torch.maximum(quantiles * error, (quantiles - 1.0) * error)
    if weights is None:
        return per_point.mean()
    return (weights * per_point.flatten(1).mean(dim=1)).mean()


def quantiles_of(recipe: TrainingConfig, device) -> torch.Tensor | None:
    """The pinball loss's quantile levels as a tensor, or None for MSE."""
    return torch.tensor(recipe.model.quantiles, device=device) if recipe.loss == "pinball" else None


def get_lr(step: int, total_steps: int, recipe: TrainingConfig) -> float:
    """Learning rate at optimisation step `step`: linear warm-up, then constant or cosine decay."""
    if step < recipe.warmup_steps:
        return recipe.learning_rate * (step + 1) / (recipe.warmup_steps + 1)
    if recipe.lr_schedule == "constant":
        return recipe.learning_rate
    progress = min((step - recipe.warmup_steps) / max(total_steps - recipe.warmup_steps, 1), 1.0)
    min_lr = recipe.learning_rate * recipe.min_lr_ratio
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (recipe.learning_rate - min_lr)


@torch.no_grad()
def init_head_at_baseline(model: LSTMForecaster, scaled_targets: np.ndarray, center: np.ndarray | None = None) -> None:
    """Zero the head's weights and set its biases to the training targets' mean or quantiles.

    The network then starts at the constant forecast of the training split; for quantile models the
    bias of level j > 0 is the inverse softplus of the gap between consecutive empirical quantiles
    (the head emits the lowest level and positive increments).

    Parameters
    ----------
    scaled_targets : np.ndarray
        (windows, horizon) scaled targets of the training origins.
    center : np.ndarray, optional
        (horizon,) scaled value the median (point models: the forecast) starts at instead, the
        other levels keeping their distance to the median; e.g. the scaled zero return.
    """
    config = model.config
    bias = np.zeros((config.horizon, config.num_outputs))
    if config.quantiles:
        levels = np.quantile(scaled_targets, config.quantiles, axis=0).T  # (horizon, outputs)
        if center is not None:
            median = np.quantile(scaled_targets, 0.5, axis=0)
            levels = levels - median[:, None] + np.asarray(center)[:, None]
        gaps = np.maximum(np.diff(levels, axis=1), 1e-4)
        gaps = gaps + np.log(-np.expm1(-gaps))  # inverse of softplus
        m = config.median_index
        if config.median_at_last:
            # Output j < m is the gap above level j, output j > m the gap below it (see forward).
            bias[:, :m], bias[:, m + 1 :] = gaps[:, :m], gaps[:, m:]
        else:
            bias[:, 0] = levels[:, 0]
            bias[:, 1:] = gaps
    else:
        bias[:, 0] = scaled_targets.mean(axis=0) if center is None else center
    for network in model.networks:  # every member of an ensemble
        network.head.weight.zero_()
        network.head.bias.copy_(torch.from_numpy(bias.reshape(-1)).to(network.head.bias))


@torch.no_grad()
def fit_baseline(model: LSTMForecaster, standardized_targets: np.ndarray) -> None:
    """Set a `context` model's baseline from the training targets and zero its head.

    The baseline is, per step, the empirical quantiles (point models: the mean) of the training
    targets standardized by their context volatility x sqrt(step); with `median_at_last` the levels
    are shifted so the median is 0. With the head at zero the model then forecasts exactly
    last close x exp(sigma x sqrt(step) x baseline): training starts at the classical forecast.

    Parameters
    ----------
    standardized_targets : np.ndarray
        (windows, horizon) standardized targets of the training origins.
    """
    config = model.config
    targets = np.asarray(standardized_targets, dtype="float64")
    if config.quantiles:
        levels = np.quantile(targets, config.quantiles, axis=0).T  # (horizon, outputs)
        m = config.median_index if config.median_index is not None else 0
        if config.median_at_last:
            levels = levels - levels[:, m : m + 1]
        for j in range(m + 1, levels.shape[1]):  # strictly increasing, away from the anchor level
            levels[:, j] = np.maximum(levels[:, j], levels[:, j - 1] + 1e-4)
        for j in range(m - 1, -1, -1):
            levels[:, j] = np.minimum(levels[:, j], levels[:, j + 1] - 1e-4)
    else:
        levels = targets.mean(axis=0)[:, None]
    for network in model.networks:  # every member of an ensemble
        network.baseline.copy_(torch.from_numpy(levels).to(network.baseline))
        network.head.weight.zero_()
        network.head.bias.zero_()


def estimate_loss(
    model, batches: WindowBatches, origins: torch.Tensor, quantiles, accelerator, batch_size: int = 4096
) -> float:
    """Mean loss of the last-step forecast over `origins`, in eval mode (no dropout)."""
    return estimate_losses(model, batches, origins, quantiles, accelerator, batch_size)[0]


@torch.no_grad()
def estimate_losses(
    model, batches: WindowBatches, origins: torch.Tensor, quantiles, accelerator, batch_size: int = 4096
) -> tuple[float, list[float]]:
    """`estimate_loss` of a network and, from the same forward pass, of each member of an ensemble.

    Returns
    -------
    (float, list of float)
        The (combined) model's mean loss, and each member's (`[loss]` for a single network): the
        numbers `estimate_loss` gives the model and each of `model.networks`, bit for bit, at half
        the cost of an ensemble's validation.
    """
    was_training = model.training
    model.eval()
    ensemble = model.config.ensemble > 1
    total, count = 0.0, 0
    member_totals = [0.0] * len(model.networks)
    for start in range(0, len(origins), batch_size):
        chunk = origins[start : start + batch_size]
        x, y = batches(chunk)
        weights = batches.weights(chunk)
        with accelerator.autocast():
            prediction = model(x, members=True) if ensemble else model(x)
        if ensemble:
            for k, member_prediction in enumerate(prediction):
                member_totals[k] += compute_loss(member_prediction, y, quantiles, weights).item() * len(x)
            prediction = combine_members(prediction)
        total += compute_loss(prediction, y, quantiles, weights).item() * len(x)
        count += len(x)
    model.train(was_training)
    members = [t / count for t in member_totals] if ensemble else [total / count]
    return total / count, members


@torch.no_grad()
def seed_members(model: LSTMForecaster, seed: int) -> None:
    """Initialise member k of an ensemble from seed `seed + k`, as a single network seeded so would be.

    Member 0 therefore starts from the same weights as the recipe trained with `ensemble: 1`.
    """
    for k, member in enumerate(model.networks):
        torch.manual_seed(seed + k)
        for module in member.modules():  # in construction order: the draws of `LSTMForecaster(config)`
            if module is not member and hasattr(module, "reset_parameters"):
                module.reset_parameters()


# ----- checkpoints (safetensors + JSON, never a pickle) ----------------------------------------------


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


def _optimizer_state(meta: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state = {}
    for index, entries in meta["state"].items():
        state[int(index)] = {
            key: tensors[f"optimizer.{index}.{key}"] if value == "tensor" else value for key, value in entries.items()
        }
    return {"state": state, "param_groups": meta["param_groups"]}


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


# ----- training -------------------------------------------------------------------------------------


def train(
    recipe: TrainingConfig | str | Path,
    output_dir: str | Path,
    data=None,
    *,
    data_revision: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    cpu: bool = False,
    progress: bool | None = None,
    evaluate_split: str = "test",
    recipe_file: str | None = None,
    on_epoch=None,
    compare_baselines: bool = True,
    member_threads: int | None = None,
) -> Path:
    """Train a recipe and write a complete model folder.

    Parameters
    ----------
    recipe : TrainingConfig, str or Path
        The recipe, or the path of its YAML file.
    output_dir : str or Path
        Model folder to write. It is written to a temporary folder beside it, then renamed, so it
        is either complete or absent.
    data : str, Path or pd.DataFrame, optional
        OHLCV data overriding the recipe's `data` (a file, a Hub dataset id, or a DataFrame; a
        DataFrame from a Hub dataset keeps its `attrs["hub_dataset"]`).
    data_revision : str, optional
        Revision of a Hub dataset.
    resume : bool
        Continue from the checkpoint kept beside `output_dir` (`.NAME.checkpoint/`) up to
        `recipe.epochs`; the recipe must otherwise match the checkpoint's. Replaces `output_dir`.
    overwrite : bool
        Replace an existing `output_dir`.
    cpu : bool
        Train on the CPU even when a GPU is present.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    evaluate_split : str
        `test` (the default: the held-out split, read once), or `validation` to score the validation
        split instead, for choosing a recipe without looking at the test split.
    recipe_file : str, optional
        The recipe's file name, recorded in `training_args.json`.
    on_epoch : callable, optional
        Called on every process after each epoch with that epoch's `history` entry (`epoch`,
        `train_loss`, `val_loss`, ...); an exception it raises stops training and propagates (the
        tuner reports the validation loss to Optuna here and prunes a bad trial).
    compare_baselines : bool
        Set the evaluated split beside the field's baselines (`metrics.json`'s `comparison`, GARCH fits
        included); the tuner's trials and the walk-forward's refits, which score only their own figures,
        turn it off.
    member_threads : int, optional
        Run an ensemble's members' forward and backward passes in this many threads, one member per
        thread at a time (`ensemble_step`): the same numbers bit for bit. Used only where it can be: one
        CPU process, no mixed precision, no dropout; elsewhere the members run one after the other.
        Default: the cores this process may use over torch's threads (`auto_member_threads`), so one
        torch thread on 2 cores trains two members at once (1.97x per step, benchmarks/README.md).

    Returns
    -------
    Path
        `output_dir`.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    wall_start = time.perf_counter()
    if isinstance(recipe, (str, Path)):
        recipe_file = recipe_file or str(recipe)
        recipe = load_recipe(recipe)
    if member_threads is None:
        member_threads = auto_member_threads()
    if isinstance(member_threads, bool) or not isinstance(member_threads, int) or member_threads < 1:
        raise ValueError(f"member_threads must be a whole number of threads, 1 or more. Got {member_threads!r}.")
    if evaluate_split not in ("test", "validation"):
        raise ValueError(f"evaluate_split must be 'test' or 'validation'. Got {evaluate_split!r}.")
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output {output_dir} is a file; give a folder name")
    if output_dir.exists() and not (overwrite or resume):
        raise ValueError(f"--output {output_dir} exists; pass --overwrite to replace it, or choose another folder")
    state_dir = checkpoint_dir(output_dir)
    config = recipe.model

    accelerator = Accelerator(cpu=cpu, mixed_precision=_mixed_precision(recipe.mixed_precision, cpu))
    device = accelerator.device
    lock = claim_output(output_dir, replace=overwrite or resume) if accelerator.is_main_process else None
    # Deterministic kernels, without filling every new tensor with NaN first (that debugging aid
    # costs about 6 % of the CPU step time and does not change the results).
    deterministic = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    pool, threads_used = None, 1  # the members' threads (member_threads)
    try:
        # 1. data, chronological split
        df, source = load_training_data(recipe, data, data_revision)
        warn_single_asset(config.features, df)  # market features of one series: its own
        samples = samples_for(df, config)  # PanelSamples for a panel
        split = split_samples(df, samples, recipe)

        # 2. scaler on the training rows only
        index = samples.index
        scaler = fit_scaler(samples, split, config)

        # 3. model, optimizer, state
        set_seed(recipe.seed)
        model = LSTMForecaster(config)
        if config.ensemble > 1:
            seed_members(model, recipe.seed)
        model = model.to(device)
        model.scaler = scaler
        weights = None
        if recipe.loss_weighting == "inverse_volatility":
            weights = volatility_weights(samples, recipe.volatility_window, split.train)
        batches = WindowBatches(samples, scaler, device, weights)
        train_origins = torch.from_numpy(split.train).to(device)
        validation_origins = torch.from_numpy(split.validation).to(device)
        baseline_val = None
        if config.scaling == "context":
            fit_baseline(model, batches.targets(train_origins).double().cpu().numpy())
            baseline_val = estimate_loss(model, batches, validation_origins, quantiles_of(recipe, device), accelerator)
        elif recipe.head_init in ("baseline", "persistence"):
            zero = scaler.scale_target(np.zeros(config.horizon)) if recipe.head_init == "persistence" else None
            init_head_at_baseline(model, batches.targets(train_origins).double().cpu().numpy(), center=zero)
        optimizer_class = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
        optimizer = optimizer_class(model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
        shuffle = torch.Generator().manual_seed(recipe.seed)
        quantiles = quantiles_of(recipe, device)

        start_epoch, step, best_val, best_epoch, bad_epochs, history = 1, 0, math.inf, 0, 0, []
        best_state = copy.deepcopy(model.state_dict())
        if baseline_val is not None:
            best_val = baseline_val  # trained weights are kept only where they beat the baseline
        # An ensemble keeps each member's own best epoch (the baseline where it never beats it), so
        # every member is the network its seed would train alone.
        member_best, member_epochs = [best_val] * config.ensemble, [0] * config.ensemble
        resumed_from = None
        if resume:
            meta, tensors = load_checkpoint(state_dir)
            _check_resumable(meta, recipe, source)
            model.load_state_dict(_prefixed(tensors, "model."))
            best_state = _prefixed(tensors, "best.")
            optimizer.load_state_dict(_optimizer_state(meta["optimizer"], tensors))
            torch.set_rng_state(tensors["rng.torch"])
            shuffle.set_state(tensors["rng.shuffle"])
            start_epoch, step = meta["epoch"] + 1, meta["step"]
            best_val, best_epoch, bad_epochs, history = (
                meta["best_val_loss"],
                meta["best_epoch"],
                meta["bad_epochs"],
                meta["history"],
            )
            resumed_from = meta["epoch"]
            member_best = meta.get("member_best_val_loss", member_best)
            member_epochs = meta.get("member_best_epoch", member_epochs)
        model, optimizer = accelerator.prepare(model, optimizer)
        raw_model = accelerator.unwrap_model(model)

        world, rank = accelerator.num_processes, accelerator.process_index
        per_process = len(split.train) // world
        steps_per_epoch = math.ceil(per_process / recipe.batch_size)
        total_steps = recipe.epochs * steps_per_epoch
        show = accelerator.is_main_process and (sys.stderr.isatty() if progress is None else progress)
        bar = tqdm(total=total_steps, initial=step, disable=not show, desc=recipe.name, unit="step", dynamic_ncols=True)
        last_val = f"{history[-1]['val_loss']:.4f}" if history else "n/a"
        if member_threads > 1 and _members_can_run_in_threads(config, accelerator):
            from concurrent.futures import ThreadPoolExecutor

            threads_used = min(member_threads, config.ensemble)
            pool = ThreadPoolExecutor(threads_used, thread_name_prefix="member")

        # 4. the loop: an epoch of steps, then the validation loss, the best weights, a checkpoint
        stopped_early = bool(recipe.patience) and bad_epochs >= recipe.patience
        for epoch in range(start_epoch, recipe.epochs + 1):
            if stopped_early:
                break
            model.train()
            epoch_start = time.perf_counter()
            order = torch.randperm(len(split.train), generator=shuffle)[: per_process * world][rank::world].to(device)
            running = torch.zeros((), device=device)
            for start in range(0, per_process, recipe.batch_size):
                lr = get_lr(step, total_steps, recipe)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                origins = train_origins[order[start : start + recipe.batch_size]]
                x, y = batches(origins, all_steps=recipe.loss_on_all_steps)
                if pool is not None:
                    optimizer.zero_grad(set_to_none=True)
                    loss = ensemble_step(
                        raw_model, x, y, quantiles, batches.weights(origins), recipe.loss_on_all_steps, pool
                    )
                else:
                    with accelerator.autocast():
                        prediction = model(x, all_steps=recipe.loss_on_all_steps, members=True)
                    if config.ensemble > 1:
                        # Each member on its own loss: the gradient of the sum is each member's own.
                        losses = [compute_loss(p, y, quantiles, batches.weights(origins)) for p in prediction]
                        loss = torch.stack(losses).sum()
                    else:
                        loss = compute_loss(prediction, y, quantiles, batches.weights(origins))
                    optimizer.zero_grad(set_to_none=True)
                    accelerator.backward(loss)
                if recipe.grad_clip > 0 and config.ensemble > 1:
                    accelerator.unscale_gradients()
                    for network in raw_model.networks:  # each member clipped as if trained alone
                        torch.nn.utils.clip_grad_norm_(network.parameters(), recipe.grad_clip)
                elif recipe.grad_clip > 0:
                    accelerator.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                optimizer.step()
                if config.ensemble > 1:
                    loss = loss / config.ensemble  # the running loss: the members' mean
                running += loss.detach()
                step += 1
                bar.update(1)
                if show and step % 25 == 0:  # the running training loss of this epoch, every 25 steps
                    seen = start // recipe.batch_size + 1
                    bar.set_postfix(train=f"{running.item() / seen:.4f}", val=last_val, refresh=False)
            train_seconds = time.perf_counter() - epoch_start
            train_loss = running.item() / steps_per_epoch
            val_loss, member_losses = estimate_losses(raw_model, batches, validation_origins, quantiles, accelerator)
            if not math.isfinite(val_loss):
                raise FloatingPointError(f"the validation loss is {val_loss} at epoch {epoch}; lower learning_rate")
            if config.ensemble > 1:
                improved = False
                for k, (network, loss_k) in enumerate(zip(raw_model.networks, member_losses, strict=True)):
                    if loss_k < member_best[k]:
                        member_best[k], member_epochs[k], improved = loss_k, epoch, True
                        best_state.update(
                            {f"members.{k}.{n}": v.detach().clone() for n, v in network.state_dict().items()}
                        )
                if improved:
                    best_val, best_epoch, bad_epochs = min(best_val, val_loss), epoch, 0
                else:
                    bad_epochs += 1
            elif val_loss < best_val:
                best_val, best_epoch, bad_epochs = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in raw_model.state_dict().items()}
            else:
                bad_epochs += 1
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "lr": lr,
                    "train_seconds": train_seconds,
                    "windows": per_process * world,
                }
            )
            last_val = f"{val_loss:.4f}"
            bar.set_postfix(train=f"{train_loss:.4f}", val=last_val, best=f"{best_val:.4f}@{best_epoch}")
            if accelerator.is_main_process:
                meta = {
                    "recipe": recipe.to_dict(),
                    "data": source,
                    "epoch": epoch,
                    "step": step,
                    "best_val_loss": best_val,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "history": history,
                    **(
                        {"member_best_val_loss": member_best, "member_best_epoch": member_epochs}
                        if config.ensemble > 1
                        else {}
                    ),
                }
                save_checkpoint(state_dir, raw_model, optimizer, best_state, shuffle, meta)
            accelerator.wait_for_everyone()
            if on_epoch is not None:
                on_epoch(history[-1])
            if recipe.patience and bad_epochs >= recipe.patience:
                stopped_early = True
                break
        bar.close()
        epochs_run = history[-1]["epoch"] if history else 0
        kept = "baseline" if baseline_val is not None and best_epoch == 0 else "trained"

        # 5. the best weights, then the test split, read once
        raw_model.load_state_dict(best_state)
        if config.ensemble > 1:  # the members' best weights, combined: the ensemble's validation loss
            best_val = estimate_loss(raw_model, batches, validation_origins, quantiles, accelerator)
        model = raw_model.to("cpu").float().eval()
        model.scaler = scaler
        if not accelerator.is_main_process:
            accelerator.wait_for_everyone()
            return output_dir
        if isinstance(split, PanelSplit):
            frame, report, plotted = _evaluate_panel(model, df, samples, split, evaluate_split)
            raw_frame = model.backtest(
                df,
                samples=samples,
                origins=split.test if evaluate_split == "test" else split.validation,
                calibrate=False,
            )
        else:
            first_origin = split.test[0] if evaluate_split == "test" else split.validation[0]
            frame = model.backtest(df, start=index[first_origin], samples=samples)
            raw_frame = model.backtest(df, start=index[first_origin], samples=samples, calibrate=False)
            if evaluate_split == "validation":
                frame = frame[frame["timestamp"] <= index[split.validation_last]].reset_index(drop=True)
                raw_frame = raw_frame[raw_frame["timestamp"] <= index[split.validation_last]].reset_index(drop=True)
            history_series = df["volume" if config.target == "volume" else "close"]
            from .evaluation import evaluate_backtest

            report = evaluate_backtest(frame, history_series, index[split.train_last], config.quantiles)
            plotted = (None, frame, history_series)
        report = {"split": evaluate_split, **report}
        report.update(model_extras(model, frame, raw_frame, kept if baseline_val is not None else None))
        if compare_baselines:
            report.update(
                field_comparison(
                    model, frame, df, split if isinstance(split, PanelSplit) else index[split.train_last], report
                )
            )

        # 6. the model folder, written whole then renamed
        training_args = {
            "recipe": recipe.name,
            "config": recipe_file,
            "data": _data_record(df, source, samples, split),
            "splits": _split_ranges(df, samples, split),
            **({"split_dates": _split_dates(split)} if isinstance(split, PanelSplit) else {}),
            # What training saw, for the checks at predict time (guards.py).
            PROFILE_KEY: training_profile(_training_rows(df, samples, split), config.horizon, config.target),
            "evaluated_split": evaluate_split,
            "seed": recipe.seed,
            "epochs": recipe.epochs,
            "epochs_run": epochs_run,
            "best_epoch": best_epoch,
            "best_val_loss": best_val,
            **({"member_best_epochs": member_epochs, "member_val_losses": member_best} if config.ensemble > 1 else {}),
            "stopped_early": stopped_early,
            **({"baseline_val_loss": baseline_val, "kept": kept} if baseline_val is not None else {}),
            "resumed_from_epoch": resumed_from,
            **{key: getattr(recipe, key) for key in _SETUP_KEYS},
            "parameters": model.num_parameters(),
            "package_version": __version__,
            "torch_version": torch.__version__,
            "accelerate_version": _version("accelerate"),
            "python_version": platform.python_version(),
            "device": _describe_device(device),
            "num_processes": world,
            "mixed_precision": accelerator.mixed_precision,
            "torch_threads": torch.get_num_threads(),
            "member_threads": threads_used,
            "wall_seconds": round(time.perf_counter() - wall_start, 3),
            "recipe_config": recipe.to_dict(),
            "history": history,
        }
        _write_folder(output_dir, model, plotted, report, training_args, recipe)
        accelerator.wait_for_everyone()
        return output_dir
    finally:
        if pool is not None:
            pool.shutdown()
        torch.use_deterministic_algorithms(deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = fill
        if lock is not None:
            lock.release()


def auto_member_threads() -> int:
    """Threads for an ensemble's members: the cores this process may use, over torch's intra-op threads."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, torch.get_num_threads()))


def _members_can_run_in_threads(config: LSTMForecasterConfig, accelerator) -> bool:
    """Whether `ensemble_step` gives the sequential step's numbers: an ensemble in one CPU process
    without mixed precision (no gradient scaler, no gradient all-reduce) and without dropout (the
    threads would draw its masks from the one generator in a varying order)."""
    return (
        config.ensemble > 1
        and accelerator.num_processes == 1
        and accelerator.device.type == "cpu"
        and accelerator.mixed_precision == "no"
        and not (config.dropout > 0 and config.num_layers > 1)
    )


def ensemble_step(model: LSTMForecaster, x, y, quantiles, weights, all_steps: bool, pool) -> torch.Tensor:
    """An ensemble's training forward and backward with member k's forward, loss and backward in a
    thread of `pool`; returns the members' losses summed, as the sequential step does.

    Each member's loss reaches its own parameters only, so the gradients are those of the summed loss
    bit for bit (`tests/test_ensemble.py`); PyTorch releases the GIL inside its kernels and runs
    concurrent backward passes on separate graphs.
    """

    def member_step(member: LSTMForecaster) -> torch.Tensor:
        loss = compute_loss(member(x, all_steps), y, quantiles, weights)
        loss.backward()
        return loss.detach()

    return torch.stack(list(pool.map(member_step, model.members))).sum()


def _mixed_precision(value: str, cpu: bool) -> str:
    if value != "auto":
        return value
    if not cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def _check_resumable(meta: dict, recipe: TrainingConfig, source: dict) -> None:
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


def _range(index: pd.DatetimeIndex) -> dict[str, str]:
    return {"start": index[0].isoformat(), "end": index[-1].isoformat()}


def _evaluate_panel(model: LSTMForecaster, df: pd.DataFrame, samples: PanelSamples, split: PanelSplit, which: str):
    """Backtest of a panel on the `which` split's origins, its report, and (symbol, frame, series) to plot:
    the asset with the most points."""
    from .panel_evaluation import evaluate_panel_backtest

    config = model.config
    frame = model.backtest(df, samples=samples, origins=split.test if which == "test" else split.validation)
    report = evaluate_panel_backtest(frame, df, split.validation_start, config.quantiles, config.target)
    symbol = max(report["symbols"], key=lambda s: report["assets"][s]["n_points"])
    rows = frame[frame["symbol"] == symbol].drop(columns="symbol").reset_index(drop=True)
    history = df.xs(symbol, level="symbol")["volume" if config.target == "volume" else "close"]
    return frame, report, (symbol, rows, history)


def _data_record(df: pd.DataFrame, source: dict, samples, split) -> dict:
    """`training_args.json`'s `data`: the source and its range; for a panel, every asset's range and splits."""
    if not isinstance(split, PanelSplit):
        return {**source, **_range(df.index), "rows": len(df), "frequency": str(infer_step(df.index))}
    stamps = df.index.get_level_values("timestamp")
    assets = {}
    for code, symbol in enumerate(samples.symbols):
        rows = df.xs(symbol, level="symbol").index
        assets[symbol] = {**_range(rows), "rows": len(rows), "splits": _panel_ranges(samples, split, code)}
    dropped = sorted(set(df.index.get_level_values("symbol")) - set(samples.symbols))
    return {
        **source,
        "start": stamps.min().isoformat(),
        "end": stamps.max().isoformat(),
        "rows": len(df),
        "frequency": str(infer_step(samples.series[0].index)),
        "symbols": list(samples.symbols),
        **({"dropped_symbols": dropped} if dropped else {}),
        "assets": assets,
    }


def _training_rows(df: pd.DataFrame, samples, split) -> pd.DataFrame:
    """The training split's rows: of one series, or of every series of a panel that was trained on."""
    if isinstance(split, PanelSplit):
        stamps, symbols = df.index.get_level_values("timestamp"), df.index.get_level_values("symbol")
        return df[(stamps < split.validation_start) & symbols.isin(samples.symbols)]
    return df[df.index <= samples.index[split.train_last]]


def _split_dates(split: PanelSplit) -> dict:
    return {
        "validation_start": split.validation_start.isoformat(),
        "test_start": split.test_start.isoformat(),
        "how": split.how,
    }


def _panel_ranges(samples: PanelSamples, split: PanelSplit, code: int | None = None) -> dict:
    """Rows and origins of each split of a panel (of one series when `code` is given)."""
    index = samples.index
    keep = np.ones(len(index), dtype=bool) if code is None else samples.codes == code
    bounds = {
        "train": index < split.validation_start,
        "validation": (index >= split.validation_start) & (index < split.test_start),
        "test": index >= split.test_start,
    }
    out = {}
    for name, origins in (("train", split.train), ("validation", split.validation), ("test", split.test)):
        rows = index[keep & bounds[name]]
        origins = origins[keep[origins]]
        entry: dict[str, Any] = {"rows": len(rows), "origins": len(origins)}
        if len(rows):
            entry.update({"start": rows.min().isoformat(), "end": rows.max().isoformat()})
        if len(origins):
            stamps = index[origins]
            entry.update({"first_origin": stamps.min().isoformat(), "last_origin": stamps.max().isoformat()})
        out[name] = entry
    return out


def _split_ranges(df: pd.DataFrame, samples: Samples | PanelSamples, split: Split | PanelSplit) -> dict:
    if isinstance(split, PanelSplit):
        return _panel_ranges(samples, split)
    index = samples.index
    train_end = index[split.train_last]
    validation_end = index[split.validation_last]
    rows = {
        "train": df.index[df.index <= train_end],
        "validation": df.index[(df.index > train_end) & (df.index <= validation_end)],
        "test": df.index[df.index > validation_end],
    }
    out = {}
    for name, origins in (("train", split.train), ("validation", split.validation), ("test", split.test)):
        out[name] = {
            **_range(rows[name]),
            "rows": len(rows[name]),
            "origins": len(origins),
            "first_origin": index[origins[0]].isoformat(),
            "last_origin": index[origins[-1]].isoformat(),
        }
    return out


def _describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({platform.processor() or platform.machine()})"


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


# ----- the model folder -----------------------------------------------------------------------------


def _units(target: str) -> str:
    return "volume" if target == "volume" else "price"


def write_evaluation(
    folder: Path, frame: pd.DataFrame, history: pd.Series, report: dict, title: str, target: str
) -> None:
    """Write `metrics.json`, `forecast.png`, `percent_change.png` and, for several steps, the forecast
    plot of the farthest step (`forecast_step{H}.png`) into an existing folder."""
    from .evaluation import plot_forecast, plot_percent_change

    (folder / METRICS).write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    plot_forecast(
        frame,
        history,
        folder / FORECAST_PLOT,
        title=f"{title}: forecast vs actual ({report['split']} split)",
        units=_units(target),
    )
    plot_percent_change(frame, folder / PERCENT_CHANGE_PLOT, step=1, units=_units(target))
    last = int(frame["step"].max())
    if last > 1:  # the farthest step too: multi-step models are shown at steps 1 and H
        plot_forecast(
            frame,
            history,
            folder / last_step_plot(last),
            step=last,
            title=f"{title}: forecast vs actual {last} steps ahead ({report['split']} split)",
            units=_units(target),
        )


def last_step_plot(horizon: int) -> str:
    """File name of the forecast plot at the farthest step of a multi-step model."""
    return f"forecast_step{horizon}.png"


def _write_folder(output_dir: Path, model, plotted, report, training_args, recipe: TrainingConfig) -> None:
    """Write the model folder; `plotted` is (symbol or None, backtest frame, real series) of the plots."""
    symbol, frame, history = plotted
    title = recipe.name if symbol is None else f"{recipe.name}, {symbol}"
    with staged_folder(output_dir) as tmp:
        model.save_pretrained(tmp)
        (tmp / TRAINING_ARGS).write_text(json.dumps(training_args, indent=2, allow_nan=False) + "\n")
        write_evaluation(tmp, frame, history, report, title, recipe.model.target)
        (tmp / "README.md").write_text(_model_card(model, training_args, report), encoding="utf-8")


def _model_card(model: LSTMForecaster, training_args: dict, report: dict) -> str:
    from .card import render_model_card

    parts = {
        "config": model.config,
        "training_args": training_args,
        "metrics": report,
        "plots": sorted(  # the order render_model_card finds them in a folder
            [FORECAST_PLOT, PERCENT_CHANGE_PLOT]
            + ([last_step_plot(model.config.horizon)] if model.config.horizon > 1 else [])
        ),
    }
    return render_model_card(parts)


# ----- the command line -----------------------------------------------------------------------------


def train_command(args: argparse.Namespace) -> int:
    """`lstm-forecaster train`: train a recipe, print the held-out metrics, optionally push to the Hub."""
    from .evaluation import metrics_table

    push_to = getattr(args, "push_to_hub", None)
    if push_to:
        from . import hub

        hub.check_push_access(push_to)  # a missing or refused token fails before training, not after
    recipe = load_recipe(args.config)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    if overrides:
        recipe = recipe_from_dict({**recipe.to_dict(), **overrides})
    folder = train(
        recipe,
        args.output,
        data=args.data,
        data_revision=args.data_revision,
        resume=args.resume,
        overwrite=args.overwrite,
        cpu=getattr(args, "cpu", False),
        recipe_file=args.config,
        member_threads=getattr(args, "member_threads", None),
    )
    from accelerate import PartialState

    if not PartialState().is_main_process:  # the other processes of a multi-process launch
        return 0
    report = json.loads((folder / METRICS).read_text())
    print(f"wrote {folder}")
    print(metrics_table(report), end="")
    if push_to:
        print(hub.describe_push(hub.push_folder(folder, repo_id=push_to, tag=args.tag, private=args.private)))
    return 0


# ----- evaluating a saved model ---------------------------------------------------------------------


def read_training_args(model_id: str | Path, revision: str | None = None) -> dict:
    """`training_args.json` of a model folder or Hub repo."""
    path = Path(model_id) / TRAINING_ARGS
    if Path(model_id).is_dir():
        if not path.is_file():
            raise ValueError(
                f"{model_id} has no {TRAINING_ARGS}: evaluate needs the splits recorded by `lstm-forecaster train`"
            )
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            path = Path(hf_hub_download(str(model_id), TRAINING_ARGS, revision=revision))
        except EntryNotFoundError as e:
            raise ValueError(
                f"{model_id} has no {TRAINING_ARGS}: evaluate needs the splits recorded by `lstm-forecaster train`"
            ) from e
    try:
        args = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(args, dict) or not isinstance(args.get("splits"), dict) or "test" not in args["splits"]:
        raise ValueError(f"{TRAINING_ARGS} of {model_id} records no test split (key 'splits.test')")
    return args


def recorded_data(training_args: dict, data=None, data_revision: str | None = None) -> pd.DataFrame:
    """The data to evaluate on: `data` if given, else the data recorded in `training_args.json`.

    Prints a warning on stderr when the recorded file's sha256 no longer matches.
    """
    if data is not None:
        return load_ohlcv(data, revision=data_revision)
    recorded = training_args.get("data") or {}
    kind, source = recorded.get("kind"), recorded.get("source")
    if kind == "sample":
        return load_ohlcv(sample_path())
    if kind == "panel":
        return load_ohlcv(panel_path())
    if kind == "files" and source:
        _warn_changed(recorded.get("sources") or [])
        return load_ohlcv(source)
    if kind == "hub":
        hub = recorded.get("hub_dataset") or {}
        return load_ohlcv(source, revision=hub.get("revision"), split=hub.get("split") or "train")
    if kind == "file" and source:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"the model was trained on {source}, which is not here; pass --data")
        if recorded.get("sha256") and file_sha256(path) != recorded["sha256"]:
            print(
                f"warning: {source} changed since training (sha256 differs); evaluating on it as it is now",
                file=sys.stderr,
            )
        return load_ohlcv(path)
    raise ValueError("the model's training data was not recorded as a file or Hub dataset; pass --data")


def _warn_changed(sources: list[dict]) -> None:
    for record in sources:
        path = Path(str(record.get("source")))
        if record.get("sha256") and path.is_file() and file_sha256(path) != record["sha256"]:
            print(
                f"warning: {path} changed since training (sha256 differs); evaluating on it as it is now",
                file=sys.stderr,
            )


@dataclass
class HeldOutEvaluation:
    """What `evaluate_model` measured: the report, the backtest frame, the real series and the model.

    For a panel model, `frame` and `history` are those of the asset the plots show (the one with the
    most test points); the report covers every asset.
    """

    report: dict
    frame: pd.DataFrame
    history: pd.Series
    model: LSTMForecaster


def evaluate_model(
    model_id: str | Path, revision: str | None = None, data=None, data_revision: str | None = None
) -> HeldOutEvaluation:
    """Recompute the held-out metrics of a trained model on the test split recorded at training.

    Every origin from the recorded first test origin to the end of the data is scored (with the
    training data, exactly the points of `metrics.json`; with newer data, the newer points too).

    Returns
    -------
    HeldOutEvaluation
        The `evaluate_backtest` report (with `split: "test"`), the backtest frame, the real series
        and the loaded model.
    """
    from .evaluation import evaluate_backtest
    from .hub import load_model

    model = load_model(model_id, revision=revision)
    training_args = read_training_args(model_id, revision)
    recipe = training_args.get("recipe_config") or {}
    df = select_rows(recorded_data(training_args, data, data_revision), recipe.get("start"), recipe.get("end"))
    dates = training_args.get("split_dates")
    if isinstance(dates, dict):
        if not is_panel(df):
            raise ValueError(
                f"{model_id} was trained on a panel (several series cut at {dates.get('test_start')}); "
                "pass a panel as --data: several files, a folder, a glob or a table with a symbol column"
            )
        samples = model.samples(df)
        split = date_split(samples, dates["validation_start"], dates["test_start"], how=dates.get("how", "dates"))
        full, report, (_, frame, history) = _evaluate_panel(model, df, samples, split, "test")
        raw = model.backtest(df, samples=samples, origins=split.test, calibrate=False)
        report = {"split": "test", **report, **model_extras(model, full, raw, training_args.get("kept"))}
        report.update(field_comparison(model, full, df, split, report))
        return HeldOutEvaluation(report, frame, history, model)
    splits = training_args["splits"]
    try:
        first_origin = pd.Timestamp(splits["test"]["first_origin"])
        train_end = pd.Timestamp(splits["train"]["end"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{TRAINING_ARGS} of {model_id} has no readable test start or train end: {e}") from e
    if df.index[-1] <= first_origin:
        raise ValueError(
            f"the data ends at {df.index[-1]}, before the recorded test split starts ({first_origin}); pass newer data"
        )
    if df.index[0] > train_end:
        raise ValueError(
            f"the data starts at {df.index[0]}, after the training split ended ({train_end}); the baselines need the training rows"
        )
    frame = model.backtest(df, start=first_origin)
    if frame.empty:
        raise ValueError(f"no complete test forecast from {first_origin} in the data (ends {df.index[-1]})")
    history = df["volume" if model.config.target == "volume" else "close"]
    report = {"split": "test", **evaluate_backtest(frame, history, train_end, model.config.quantiles)}
    raw = model.backtest(df, start=first_origin, calibrate=False)
    report.update(model_extras(model, frame, raw, training_args.get("kept")))
    report.update(field_comparison(model, frame, df, train_end, report))
    return HeldOutEvaluation(report, frame, history, model)


def model_extras(model: LSTMForecaster, frame: pd.DataFrame, raw_frame: pd.DataFrame, kept: str | None) -> dict:
    """What `metrics.json` adds for scale-free and calibrated models: `kept` (`baseline` or `trained`,
    for `context` scaling) and `calibration` (coverage and pinball per step before and after)."""
    from .calibration import calibration_report

    out: dict[str, Any] = {} if kept is None else {"kept": kept}
    if model.config.calibrates:
        out["calibration"] = calibration_report(raw_frame, frame, model.config)
    return out


def field_comparison(
    model: LSTMForecaster, frame: pd.DataFrame, df: pd.DataFrame, train_end: PanelSplit | pd.Timestamp, report: dict
) -> dict:
    """`metrics.json`'s comparison of the evaluated split with the field's baselines (naive, constant
    quantile, EWMA(0.94), GARCH(1,1)-t), each fitted on the training rows only: `backtest.held_out_comparison`.

    `train_end` is the last training timestamp, or a panel's split (its training rows: those before
    `validation_start`, in every asset); of a panel, the assets `report` scored are compared.
    """
    from .backtest import held_out_comparison

    if isinstance(train_end, PanelSplit):  # the latest row before validation_start, of any asset
        stamps = df.index.get_level_values("timestamp")
        before = stamps[stamps < train_end.validation_start]
        if before.empty:
            return {
                "comparison_skipped": f"no training row before {train_end.validation_start} to fit the baselines on"
            }
        train_end = before.max()
    return held_out_comparison(model.config, frame, df, train_end, symbols=report.get("symbols"))


def write_evaluation_folder(output: str | Path, frame, history, report: dict, title: str, target: str) -> Path:
    """Write `metrics.json` and the plots into `output` (created if needed), all or nothing."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give a folder name")
    with staged_folder(output, merge=True) as tmp:
        write_evaluation(tmp, frame, history, report, title, target)
    return output
