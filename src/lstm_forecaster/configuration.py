"""The one typed configuration of an LSTM/GRU forecaster, validated once, and its `config.json`.

Limits (checked in `__post_init__`, before the network allocates anything; a `config.json` is
refused beyond them with one line):

=========================  ==========================================================
`MAX_LAYERS`               16 stacked recurrent layers
`MAX_HIDDEN_SIZE`          4,096 units per layer
`MAX_CONTEXT_LENGTH`       10,000 rows read per forecast
`MAX_HORIZON`              1,000 steps forecast at once
`MAX_QUANTILES`            99 quantile levels
`MAX_FEATURES`             256 input features
`MAX_ENSEMBLE`             32 members of an ensemble
`MAX_PARAMETERS`           50 million weights (200 MB of float32) in all, every member counted
`MAX_CONFIG_BYTES`         1 MB for `config.json`, checked before it is parsed
`MAX_CONFIG_DEPTH`         3 levels of JSON nesting (an object of lists of numbers)
=========================  ==========================================================

Keys of `config.json` (`read_config_file`): every field of `LSTMForecasterConfig` must be there,
except a key listed in `ADDED_KEYS` when the folder was written by a version older than the one
that introduced it; it then takes that version's documented default.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from . import __version__
from .features import is_window_scalable, validate_feature_names

TARGETS = ("close", "log_return", "volume")
CELLS = ("lstm", "gru")
SCALINGS = ("minmax", "standard", "window", "context")
CALIBRATIONS = ("conformal", "none")
HEADS = ("last", "attention")

MAX_LAYERS = 16
MAX_HIDDEN_SIZE = 4096
MAX_CONTEXT_LENGTH = 10_000
MAX_HORIZON = 1000
MAX_QUANTILES = 99
MAX_FEATURES = 256
MAX_ENSEMBLE = 32
MAX_PARAMETERS = 50_000_000
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_DEPTH = 3
MAX_CALIBRATION_WINDOW = 100_000
_LIMITS = {
    "num_layers": MAX_LAYERS,
    "context_length": MAX_CONTEXT_LENGTH,
    "horizon": MAX_HORIZON,
    "calibration_window": MAX_CALIBRATION_WINDOW,
}

# Keys of config.json added after the first release of the format, with the first package version
# whose folders always carry them and the default that older folders mean.
#
#   key: (since, default)    a folder with package_version < since may omit the key: it takes
#                            `default`; from `since` on, a missing key is an error.
#
# Adding a field to LSTMForecasterConfig: bump `__version__` (lstm_forecaster/__init__.py), add the
# key here with the new version and the default that reproduces the old behaviour, and keep the
# golden folders (tests/golden/) loading.
ADDED_KEYS: dict[str, tuple[str, object]] = {
    "median_at_last": ("0.1.1", False),  # d509275; the 0.1.0 golden folder has no such key
    "head": ("0.2.0", "last"),  # attention pooling arrived in the second release
    # Calibration at predict time (0.2.1); older folders forecast without it.
    "calibration": ("0.2.1", "none"),
    "calibration_window": ("0.2.1", 250),
    "ensemble": ("0.2.2", 1),  # ensembles of seeds arrived in 0.2.2; older folders hold one network
}


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
        head: What the output layer reads: `last`, the final state of the last recurrent layer (of
            each direction), or `attention`, a learned additive-attention average of that layer's
            outputs over every step of the window.
        ensemble: Number of member networks (1: a single network). Members are trained from seeds
            `seed`, `seed + 1`, ... on the same batches and saved together in one `model.safetensors`
            (keys `members.K.*`); a forecast averages the members' quantiles level by level (in
            target units, before calibration), then sorts them so the levels never cross. At most
            `MAX_ENSEMBLE`.
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
    head: str = "last"
    calibration: str = "conformal"
    calibration_window: int = 250
    ensemble: int = 1
    package_version: str = __version__

    def __post_init__(self) -> None:
        if isinstance(self.features, str) or not isinstance(self.features, (list, tuple)):
            raise ValueError(f"features must be a list of feature names. Got {_short(self.features)}.")
        self.features = list(self.features)
        if not self.features:
            raise ValueError("features must name at least one feature. Got [].")
        if len(self.features) > MAX_FEATURES:
            raise ValueError(f"features must name at most {MAX_FEATURES} features. Got {len(self.features):,}.")
        if not all(isinstance(name, str) for name in self.features):
            raise ValueError(f"features must be a list of feature names (strings). Got {_short(self.features)}.")
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
            if value > _LIMITS[name]:
                raise ValueError(f"{name} must be at most {_LIMITS[name]:,}. Got {value:,}.")
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, int) or self.ensemble < 1:
            raise ValueError(
                f"ensemble must be a whole number of members from 1 (a single network) to {MAX_ENSEMBLE}. "
                f"Got {self.ensemble!r}."
            )
        if self.ensemble > MAX_ENSEMBLE:
            raise ValueError(f"ensemble must be at most {MAX_ENSEMBLE} members. Got {self.ensemble:,}.")
        sizes = self.hidden_size if isinstance(self.hidden_size, (list, tuple)) else [self.hidden_size]
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"hidden_size must be a positive integer or a list of them. Got {self.hidden_size!r}.")
        if max(sizes, default=0) > MAX_HIDDEN_SIZE:
            raise ValueError(f"hidden_size must be at most {MAX_HIDDEN_SIZE:,} per layer. Got {max(sizes):,}.")
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
            if len(levels) > MAX_QUANTILES:
                raise ValueError(f"quantiles must hold at most {MAX_QUANTILES} levels. Got {len(levels):,}.")
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
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}. Got {self.head!r}.")
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
        if self.num_parameters > MAX_PARAMETERS:
            raise ValueError(
                f"this architecture has {self.num_parameters:,} parameters; at most {MAX_PARAMETERS:,} are accepted "
                "(lower hidden_size, num_layers or horizon)"
            )

    @property
    def num_parameters(self) -> int:
        """Number of weights the network (every member of an ensemble) will have, computed without allocating it."""
        gates = 4 if self.cell == "lstm" else 3
        directions = 2 if self.bidirectional else 1
        total, size_in = 0, len(self.features)
        for size in self.hidden_sizes:
            total += directions * gates * size * (size_in + size + 2)
            size_in = size * directions
        if self.head == "attention":  # AttentionPooling: a square projection with bias, a score vector
            total += size_in * size_in + size_in + size_in
        outputs = self.horizon * self.num_outputs
        return self.ensemble * (total + size_in * outputs + outputs)

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


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _version_tuple(version: object, path) -> tuple[int, int, int]:
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", version) if isinstance(version, str) else None
    if not match:
        raise ValueError(f"{path}: package_version must be a version such as '0.1.0'. Got {_short(version)}.")
    return tuple(int(part) for part in match.groups())


def _depth(value, limit: int) -> int:
    """Nesting depth of a parsed JSON value, counted only up to `limit + 1`."""
    if isinstance(value, (dict, list)) and limit >= 0:
        items = value.values() if isinstance(value, dict) else value
        return 1 + max((_depth(item, limit - 1) for item in items), default=0)
    return 0


def read_config_file(path: str | Path) -> LSTMForecasterConfig:
    """Read and check a `config.json`: size, JSON, shape and keys, before anything is built from it.

    Raises
    ------
    ValueError
        Naming the file: larger than `MAX_CONFIG_BYTES`, not valid JSON, not an object, nested
        deeper than `MAX_CONFIG_DEPTH`, a missing key (see `ADDED_KEYS`), or a value beyond the
        limits of `LSTMForecasterConfig`.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"{path} is {size:,} bytes; a config.json is at most {MAX_CONFIG_BYTES:,} bytes")
    try:
        data = json.loads(path.read_bytes())
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply (at most {MAX_CONFIG_DEPTH} levels)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    return config_from_dict(data, path)


def config_from_dict(data, source="config.json") -> LSTMForecasterConfig:
    """Build the config of a parsed `config.json`; missing keys are errors except as `ADDED_KEYS` allows."""
    if not isinstance(data, dict):
        raise ValueError(f"{source} must hold a JSON object of the config's keys. Got {type(data).__name__}.")
    if _depth(data, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH:
        raise ValueError(f"{source} is nested too deeply (at most {MAX_CONFIG_DEPTH} levels)")
    names = [f.name for f in fields(LSTMForecasterConfig)]
    if "package_version" not in data:
        raise ValueError(f"{source} has no package_version: not written by lstm-forecaster")
    written_by = _version_tuple(data["package_version"], source)
    values = {name: data[name] for name in names if name in data}
    missing = []
    for name in names:
        if name in data:
            continue
        since, default = ADDED_KEYS.get(name, (None, None))
        if since is not None and written_by < _version_tuple(since, "ADDED_KEYS"):
            values[name] = default
        else:
            missing.append(name)
    if missing:
        raise ValueError(
            f"{source} lacks the key{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(written by lstm-forecaster {data['package_version']}, which always writes them)"
        )
    return LSTMForecasterConfig(**values)


def quantile_column(level: float) -> str:
    """Column name of a quantile level: 0.1 -> `q0.1`."""
    return f"q{level:g}"
