"""The one typed configuration of an LSTM/GRU forecaster, validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import __version__
from .features import is_window_scalable, validate_feature_names

TARGETS = ("close", "log_return", "volume")
CELLS = ("lstm", "gru")
SCALINGS = ("minmax", "standard", "window", "context")
CALIBRATIONS = ("conformal", "none")

LEGACY_DEFAULTS = {"calibration": "none"}
"""Keys added to config.json after a model may have been saved, with the value that a config.json
without the key means (what such a model did when it was written). A missing key not listed here
takes the dataclass default."""


@dataclass
class LSTMForecasterConfig:
    """Architecture, inputs and outputs of an `LSTMForecaster`.

    Written to `config.json` by `save_pretrained` and rebuilt from it by `from_pretrained`.

    Args:
        features: Names of the input features, each a key of the feature registry
            (`lstm_forecaster.features.available_features()`), e.g. `["close", "ema_7", "rsi_14"]`.
        target: What the network predicts. `close`: the close price; `log_return`: the log return from
            the last observed close to each future step (forecasts are compounded back into prices);
            `volume`: the traded volume.
        context_length: Number of past rows the network reads for one forecast.
        horizon: Number of future steps forecast at once.
        cell: Recurrent cell, `lstm` or `gru`.
        hidden_size: Hidden units, one int for every layer or a list with one size per layer.
        num_layers: Number of stacked recurrent layers (must match a list `hidden_size`).
        dropout: Dropout probability between recurrent layers.
        bidirectional: Whether every recurrent layer reads the window in both directions.
        quantiles: None for a point forecast, or increasing levels in (0, 1) such as
            `[0.1, 0.5, 0.9]`; the network then outputs one non-crossing value per level.
        median_at_last: For quantile models with a 0.5 level and target `log_return`: pin the median
            to the last observed close (a zero return) and let the network forecast only the spread
            of the other levels around it. Daily crypto returns carry almost no predictable
            direction, so a learned median mostly adds noise to the point forecast; pinned, the
            point forecast is the naive one and the network's work is the intervals.
        scaling: `minmax` or `standard` (fitted on the training split only), or `window`:
            every window divided by its own first value, minus 1 (the target de-normalized with
            that window's base). `window` needs strictly positive features (prices, volume, EMAs).
            `context` (target `log_return`): every window normalised from its own context only
            (returns divided by the context's EWMA volatility sigma, prices relative to the last
            close, volume relative to its context mean; see `scaling.context_normalize`), the target
            of step k divided by sigma x sqrt(k). Nothing is fitted on any asset, so a new asset
            needs no refit. The classical forecast is part of the model: the network emits a
            residual around fixed standardized quantiles (fitted on the training split, saved in
            the weights as `baseline`), and a zero residual forecasts exactly
            last close x exp(sigma x sqrt(k) x baseline quantile).
        calibration: `conformal` (quantile models with target `log_return`): at predict time,
            every level of every step is shifted by the empirical quantile of the model's own
            errors (in units of its interval width) over the last `calibration_window` origins
            whose outcome is known at the forecast origin (causal); the median is kept. `none`:
            the network's quantiles as they are.
        calibration_window: Number of recent origins the calibration reads, per step.
        package_version: Version of `lstm-forecaster` that wrote the config.
    """

    features: list[str] = field(default_factory=lambda: ["log_return"])
    target: str = "log_return"
    context_length: int = 30
    horizon: int = 1
    cell: str = "lstm"
    hidden_size: int | list[int] = 64
    num_layers: int = 1
    dropout: float = 0.0
    bidirectional: bool = False
    quantiles: list[float] | None = None
    median_at_last: bool = False
    scaling: str = "standard"
    calibration: str = "conformal"
    calibration_window: int = 250
    package_version: str = __version__

    def __post_init__(self) -> None:
        if isinstance(self.features, str) or not isinstance(self.features, (list, tuple)):
            raise ValueError(f"features must be a list of feature names. Got {self.features!r}.")
        self.features = list(self.features)
        if not self.features:
            raise ValueError("features must name at least one feature. Got [].")
        if len(set(self.features)) != len(self.features):
            raise ValueError(f"features must not repeat a name. Got {self.features}.")
        validate_feature_names(self.features)
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}. Got {self.target!r}.")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}. Got {self.cell!r}.")
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}. Got {self.scaling!r}.")
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {', '.join(CALIBRATIONS)}. Got {self.calibration!r}.")
        for name in ("context_length", "horizon", "num_layers", "calibration_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Got {value!r}.")
        sizes = self.hidden_size if isinstance(self.hidden_size, (list, tuple)) else [self.hidden_size]
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"hidden_size must be a positive integer or a list of them. Got {self.hidden_size!r}.")
        if isinstance(self.hidden_size, (list, tuple)):
            self.hidden_size = list(self.hidden_size)
            if len(self.hidden_size) != self.num_layers:
                raise ValueError(
                    f"hidden_size lists one size per layer: {len(self.hidden_size)} sizes for "
                    f"num_layers={self.num_layers}. Got {self.hidden_size}."
                )
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise ValueError(f"dropout must be a number in [0, 1). Got {self.dropout!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1). Got {self.dropout!r}.")
        self.dropout = float(self.dropout)
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"bidirectional must be true or false. Got {self.bidirectional!r}.")
        if self.quantiles is not None:
            levels = self.quantiles
            if isinstance(levels, (int, float)) or not isinstance(levels, (list, tuple)) or not levels:
                raise ValueError(f"quantiles must be None or a non-empty list of levels in (0, 1). Got {levels!r}.")
            if any(isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 < q < 1.0 for q in levels):
                raise ValueError(f"quantiles must be levels strictly between 0 and 1. Got {levels!r}.")
            if any(b <= a for a, b in zip(levels[:-1], levels[1:], strict=True)):
                raise ValueError(f"quantiles must be strictly increasing. Got {levels!r}.")
            self.quantiles = [float(q) for q in levels]
        if not isinstance(self.median_at_last, bool):
            raise ValueError(f"median_at_last must be true or false. Got {self.median_at_last!r}.")
        if self.median_at_last and (self.target != "log_return" or self.median_index is None):
            raise ValueError(
                "median_at_last needs target 'log_return' and a 0.5 level among the quantiles. "
                f"Got target {self.target!r}, quantiles {self.quantiles!r}."
            )
        if self.scaling == "window":
            bad = [f for f in self.features if not is_window_scalable(f)]
            if bad:
                raise ValueError(
                    f"scaling 'window' divides each window by its first value, so features must be strictly "
                    f"positive; {', '.join(bad)} can be zero or negative. Accepted: open, high, low, close, volume, ema_N."
                )
            if self.target == "log_return":
                raise ValueError("scaling 'window' applies to price or volume targets; target 'log_return' is not one.")

        if self.scaling == "context":
            if self.target != "log_return":
                raise ValueError(
                    f"scaling 'context' forecasts log returns scaled by the context's volatility; it needs "
                    f"target 'log_return'. Got {self.target!r}."
                )
            if self.context_length < 3:
                raise ValueError(
                    f"scaling 'context' needs context_length >= 3 to measure a volatility. Got {self.context_length}."
                )

    @property
    def calibrates(self) -> bool:
        """Whether predict recalibrates the intervals (`calibration` on a log-return quantile model)."""
        return self.calibration == "conformal" and bool(self.quantiles) and self.target == "log_return"

    @property
    def hidden_sizes(self) -> list[int]:
        """One hidden size per layer."""
        if isinstance(self.hidden_size, list):
            return list(self.hidden_size)
        return [self.hidden_size] * self.num_layers

    @property
    def num_outputs(self) -> int:
        """Values the network emits per horizon step (1, or one per quantile level)."""
        return len(self.quantiles) if self.quantiles else 1

    @property
    def output_names(self) -> list[str]:
        """Column names of a forecast: `forecast`, or one `q{level}` per quantile level."""
        if not self.quantiles:
            return ["forecast"]
        return [quantile_column(q) for q in self.quantiles]

    @property
    def median_index(self) -> int | None:
        """Index of the 0.5 level among the quantiles, if there is one."""
        if not self.quantiles:
            return None
        for i, q in enumerate(self.quantiles):
            if math.isclose(q, 0.5):
                return i
        return None


def quantile_column(level: float) -> str:
    """Column name of a quantile level: 0.1 -> `q0.1`."""
    return f"q{level:g}"
