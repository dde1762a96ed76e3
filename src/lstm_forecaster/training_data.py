"""The data a recipe trains on: loading, chronological splits, the scaler fit, the batches.

`load_training_data` reads the recipe's source (a CSV/Parquet file, a Hub dataset or the bundled
panel) and its windows; `split_samples` cuts the origins chronologically into train / validation /
test (`chronological_split` for one series, `panel_split` for a panel); `fit_scaler` fits on the
training rows only; `WindowBatches` gathers the shuffled training windows by index. The
`data_record` / `split_ranges` helpers describe the data and splits for `training_args.json`.

Examples
--------
    from lstm_forecaster.panel import samples_for
    from lstm_forecaster.recipe import load_recipe
    from lstm_forecaster.training_data import load_training_data, split_samples
    recipe = load_recipe("configs/default.yaml")
    df, source = load_training_data(recipe)
    split = split_samples(df, samples_for(df, recipe.model), recipe)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.utils.deterministic

from .configuration import LSTMForecasterConfig
from .data import Samples, file_sha256, infer_step, load_ohlcv, sample_path, utc_timestamp
from .panel import (
    PanelSamples,
    PanelSplit,
    bundled_panel_provenance,
    check_split_origins,
    date_split,
    is_panel,
    panel_path,
    pooled_cut_dates,
)
from .recipe import BUNDLED_PANEL, TrainingConfig
from .scaling import Scaler, context_normalize, context_volatility


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


def _range(index: pd.DatetimeIndex) -> dict[str, str]:
    return {"start": index[0].isoformat(), "end": index[-1].isoformat()}


def data_record(df: pd.DataFrame, source: dict, samples, split) -> dict:
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


def training_rows(df: pd.DataFrame, samples, split) -> pd.DataFrame:
    """The training split's rows: of one series, or of every series of a panel that was trained on."""
    if isinstance(split, PanelSplit):
        stamps, symbols = df.index.get_level_values("timestamp"), df.index.get_level_values("symbol")
        return df[(stamps < split.validation_start) & symbols.isin(samples.symbols)]
    return df[df.index <= samples.index[split.train_last]]


def split_dates(split: PanelSplit) -> dict:
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


def split_ranges(df: pd.DataFrame, samples: Samples | PanelSamples, split: Split | PanelSplit) -> dict:
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
