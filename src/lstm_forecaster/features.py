"""Named, causal features computed from an OHLCV frame.

Every feature at time t reads rows up to t only. Rows before a feature's look-back is full are
dropped by `compute_features`, never filled with later values.

Names are either fixed (`close`, `log_return`, `macd_hist`, ...) or a prefix with a window length
(`ema_7`, `rsi_14`, `volatility_14`, `return_mean_24`, `return_std_24`, `volume_ratio_24`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

FeatureFn = Callable[[pd.DataFrame], pd.Series]
WindowFeatureFn = Callable[[pd.DataFrame, int], pd.Series]

PRICE_COLUMNS = ("open", "high", "low", "close")


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        raise ValueError(f"missing column '{name}'; found: {', '.join(map(str, df.columns)) or 'no columns'}")
    return df[name].astype("float64")


def _ema(series: pd.Series, span: int) -> pd.Series:
    # Recursive EMA seeded with the first value; the first span-1 rows are warm-up.
    return series.ewm(span=span, adjust=False, min_periods=span).mean()


def log_return(df: pd.DataFrame) -> pd.Series:
    """log(close_t / close_{t-1}); the first row has none."""
    return np.log(_column(df, "close")).diff()


def log_range(df: pd.DataFrame) -> pd.Series:
    """log(high_t / low_t): the candle's range, a causal volatility proxy."""
    return np.log(_column(df, "high") / _column(df, "low"))


def macd_hist(df: pd.DataFrame) -> pd.Series:
    """MACD histogram: (EMA12 - EMA26) minus its 9-period EMA (signal line)."""
    close = _column(df, "close")
    macd = _ema(close, 12) - _ema(close, 26)
    return macd - macd.ewm(span=9, adjust=False, min_periods=9).mean()


def ema(df: pd.DataFrame, n: int) -> pd.Series:
    """Exponential moving average of the close with span n (alpha = 2 / (n + 1))."""
    return _ema(_column(df, "close"), n)


def rsi(df: pd.DataFrame, n: int) -> pd.Series:
    """Relative strength index with Wilder's smoothing (alpha = 1 / n), in [0, 100].

    The smoothed gains and losses start at the first close-to-close change; the first n rows are
    warm-up. With no losses in the look-back the RSI is 100.
    """
    delta = _column(df, "close").diff()
    gain = delta.clip(lower=0.0).ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()
    loss = (-delta.clip(upper=0.0)).ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    return value.where(loss != 0.0, 100.0).where(gain.notna())


def volatility(df: pd.DataFrame, n: int) -> pd.Series:
    """Sample standard deviation of the last n log returns."""
    return log_return(df).rolling(n, min_periods=n).std()


def return_mean(df: pd.DataFrame, n: int) -> pd.Series:
    """Mean of the last n log returns."""
    return log_return(df).rolling(n, min_periods=n).mean()


def volume_ratio(df: pd.DataFrame, n: int) -> pd.Series:
    """Volume divided by its mean over the last n rows (this row included)."""
    volume = _column(df, "volume")
    return volume / volume.rolling(n, min_periods=n).mean()


FEATURES: dict[str, FeatureFn] = {
    **{name: (lambda df, _name=name: _column(df, _name)) for name in (*PRICE_COLUMNS, "volume")},
    "log_return": log_return,
    "log_range": log_range,
    "macd_hist": macd_hist,
}
"""Features without a parameter, by name."""

WINDOW_FEATURES: dict[str, WindowFeatureFn] = {
    "ema": ema,
    "rsi": rsi,
    "volatility": volatility,
    "return_mean": return_mean,
    "return_std": volatility,
    "volume_ratio": volume_ratio,
}
"""Features with a window length, by prefix: `ema_7` is `ema(df, 7)`."""

WINDOW_SCALABLE_PREFIXES = ("ema",)
WINDOW_SCALABLE = frozenset((*PRICE_COLUMNS, "volume"))
"""Features that are strictly positive (prices, volume); `ema_N` is too. Only these can be window-scaled."""

_WINDOW_NAME = re.compile(r"^([a-z_]+?)_(\d+)$")

# Rows consumed before the first complete value, for the fixed features.
_WARMUP = {"log_return": 1, "macd_hist": 26 + 9 - 2}


def available_features() -> list[str]:
    """Every accepted feature name (window features shown with their `_N` suffix)."""
    return [*FEATURES, *(f"{prefix}_N" for prefix in WINDOW_FEATURES)]


def _resolve(name: str) -> tuple[Callable[[pd.DataFrame], pd.Series], int]:
    if name in FEATURES:
        return FEATURES[name], _WARMUP.get(name, 0)
    match = _WINDOW_NAME.match(name)
    if match and match.group(1) in WINDOW_FEATURES:
        prefix, n = match.group(1), int(match.group(2))
        if n < 2:
            raise ValueError(f"feature '{name}' needs a window of at least 2. Got {n}.")
        fn = WINDOW_FEATURES[prefix]
        warmup = {"ema": n - 1, "volume_ratio": n - 1}.get(prefix, n)
        return (lambda df: fn(df, n)), warmup
    raise ValueError(f"unknown feature '{name}'; accepted: {', '.join(available_features())} (N a window length)")


def validate_feature_names(names: list[str]) -> None:
    """Raise `ValueError` naming the first unknown feature."""
    for name in names:
        _resolve(name)


def is_window_scalable(name: str) -> bool:
    """Whether a feature is strictly positive, so a window can be divided by its first value."""
    match = _WINDOW_NAME.match(name)
    return name in WINDOW_SCALABLE or bool(match and match.group(1) in WINDOW_SCALABLE_PREFIXES)


CONTEXT_KINDS = ("return", "price", "price_difference", "volume", "ratio", "bounded")
_CONTEXT_KIND = {
    **{name: "price" for name in PRICE_COLUMNS},
    "volume": "volume",
    "log_return": "return",
    "log_range": "return",
    "macd_hist": "price_difference",
}
_CONTEXT_KIND_PREFIX = {
    "ema": "price",
    "rsi": "bounded",
    "volatility": "return",
    "return_mean": "return",
    "return_std": "return",
    "volume_ratio": "ratio",
}


def context_kind(name: str) -> str:
    """How `context` scaling makes a feature scale-free (see `scaling.context_normalize`).

    `return`: a log return or a spread of them (divided by the context's volatility); `price`: a
    price level (log of it over the last close, divided by the volatility); `price_difference`: a
    difference of prices (over the last close, divided by the volatility); `volume`: a traded volume
    (over its context mean, minus 1); `ratio`: already a ratio around 1 (minus 1); `bounded`: an
    oscillator in [0, 100] (centred on 50, divided by 50).
    """
    if name in _CONTEXT_KIND:
        return _CONTEXT_KIND[name]
    match = _WINDOW_NAME.match(name)
    if match and match.group(1) in _CONTEXT_KIND_PREFIX:
        return _CONTEXT_KIND_PREFIX[match.group(1)]
    raise ValueError(f"unknown feature '{name}'; accepted: {', '.join(available_features())} (N a window length)")


def warmup_rows(names: list[str]) -> int:
    """Rows dropped at the start of a series before every named feature has a full look-back."""
    return max(_resolve(name)[1] for name in names)


def compute_features(df: pd.DataFrame, names: list[str], check_last: int | None = None) -> pd.DataFrame:
    """Compute the named features and drop the warm-up rows.

    Parameters
    ----------
    df : pd.DataFrame
        OHLCV rows, oldest first, as returned by `load_ohlcv`.
    names : list of str
        Feature names (see `available_features`).
    check_last : int, optional
        Refuse non-finite values in the last `check_last` rows only (the rows a forecast reads: a zero
        volume years back does not block it); default: in every row.

    Returns
    -------
    pd.DataFrame
        One float64 column per name, indexed like `df` minus the first `warmup_rows(names)` rows.
    """
    columns = {name: _resolve(name)[0](df) for name in names}
    frame = pd.DataFrame(columns, index=df.index).iloc[warmup_rows(names) :]
    checked = frame if check_last is None else frame.iloc[-check_last:]
    values = checked.to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"feature '{names[col]}' is not finite at {checked.index[row]} (value {values[row, col]}); "
            "check the input columns there (a zero volume or price gives an infinite ratio)"
        )
    return frame
