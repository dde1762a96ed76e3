"""Named, causal features computed from an OHLCV frame.

Every feature at time t reads rows up to t only. Rows before a feature's look-back is full are
dropped by `compute_features`, never filled with later values.

Names are either fixed (`close`, `log_return`, `macd_hist`, ...) or a prefix with a window length
(`ema_7`, `rsi_14`, `volatility_14`, `return_mean_24`, `return_std_24`, `volume_ratio_24`).

Calendar features (`dow_sin`, `dow_cos`, `hour_sin`, `hour_cos`) read the row's own UTC timestamp
only: the day of the week (Monday 0) and the hour of the day as points on a circle, so Sunday sits
next to Monday and 23:00 next to 00:00. On daily rows the hour is constant (`hour_sin` 0, `hour_cos` 1).

Market features (`market_return`, `market_volatility`) describe the panel the model is given, not one
series: at each timestamp t, the mean log return at t of the panel's series, and the standard deviation
of that mean over the panel's last `MARKET_WINDOW` timestamps (`lstm_forecaster.market` computes them
over a panel and adds them as columns, which the kernels here read). A frame of one series is its own
market: `market_return` is its `log_return` and `market_volatility` its `volatility_30`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

FeatureFn = Callable[[pd.DataFrame], pd.Series]
WindowFeatureFn = Callable[[pd.DataFrame, int], pd.Series]

PRICE_COLUMNS = ("open", "high", "low", "close")


class Columns:
    """The OHLCV columns a feature reads, as float64 arrays, with shared intermediate results.

    Every kernel reads its inputs from here, so `log_return` (and each EMA of the close) is computed
    once per frame however many features use it. The arrays may be 1-D (one series, rows) or 2-D
    (series, rows), with time along the last axis: the kernels are elementwise along time, so a row's
    value is the same number in either layout.

    Parameters
    ----------
    arrays : dict of str to np.ndarray
        Column name to float64 values.
    frame : pd.DataFrame, optional
        A frame whose columns are read (and converted to float64) when first asked for.
    skip : int
        Rows at the start of `frame` left out.
    """

    def __init__(self, arrays: dict[str, np.ndarray], frame: pd.DataFrame | None = None, skip: int = 0):
        self.arrays = dict(arrays)
        self.frame = frame
        self.skip = skip
        self.cache: dict[tuple, np.ndarray] = {}

    @classmethod
    def of(cls, df: pd.DataFrame, skip: int = 0) -> Columns:
        """The columns of an OHLCV frame, from row `skip` on (read lazily, converted to float64 once)."""
        return cls({}, df, skip)

    def column(self, name: str) -> np.ndarray:
        """The float64 values of column `name`; `ValueError` naming the columns found when it is absent."""
        if name not in self.arrays:
            df = self.frame
            if df is None or name not in df.columns:
                found = list(self.arrays) if df is None else list(map(str, df.columns))
                raise ValueError(f"missing column '{name}'; found: {', '.join(found) or 'no columns'}")
            self.arrays[name] = df[name].to_numpy(dtype="float64")[self.skip :]
        return self.arrays[name]

    def has(self, name: str) -> bool:
        """Whether column `name` is given (as an array, or in the frame)."""
        return name in self.arrays or (self.frame is not None and name in self.frame.columns)

    def timestamps(self) -> np.ndarray:
        """The rows' timestamps as naive UTC `datetime64[s]` values (array `"timestamp"`, or the frame's index)."""
        if "timestamp" not in self.arrays:
            index = None if self.frame is None else self.frame.index
            if not isinstance(index, pd.DatetimeIndex):
                raise ValueError("calendar features need timestamps: a DatetimeIndex (UTC) on the rows")
            index = index.tz_convert("UTC").tz_convert(None) if index.tz is not None else index
            self.arrays["timestamp"] = index.to_numpy()[self.skip :]
        return self.arrays["timestamp"].astype("datetime64[s]")

    def shared(self, key: tuple, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """`compute()`, computed once per key."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


def _diff(x: np.ndarray) -> np.ndarray:
    """x_t - x_{t-1} along the last axis; NaN at the first row (as `pd.Series.diff`)."""
    out = np.empty_like(x)
    out[..., :1] = np.nan
    np.subtract(x[..., 1:], x[..., :-1], out=out[..., 1:])
    return out


def _rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last n values along the last axis, added oldest first (NaN before n rows, or with a NaN in them).

    Each window is summed in the same order wherever the series starts, so a row's value depends on
    its own n rows only: a forecast computing features over the last rows gets the same numbers as
    one computing them over the whole history.
    """
    rows = x.shape[-1]
    out = np.full(x.shape, np.nan)
    if rows < n:
        return out
    total = x[..., : rows - n + 1].copy()
    for j in range(1, n):
        total += x[..., j : rows - n + 1 + j]
    out[..., n - 1 :] = total
    return out


def _rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    return _rolling_sum(x, n) / n


def _rolling_std(x: np.ndarray, n: int) -> np.ndarray:
    """Sample standard deviation (n - 1) of the last n values, two-pass, window by window (see `_rolling_sum`)."""
    rows = x.shape[-1]
    out = np.full(x.shape, np.nan)
    if rows < n:
        return out
    m = rows - n + 1
    mean = _rolling_sum(x, n)[..., n - 1 :] / n
    squares = np.zeros(mean.shape)
    for j in range(n):
        d = x[..., j : m + j] - mean
        squares += d * d
    out[..., n - 1 :] = np.sqrt(squares / (n - 1))
    return out


def _ewm(x: np.ndarray, **kwargs) -> np.ndarray:
    """pandas' recursive EWM mean along the last axis (`adjust=False`), row by row of a 2-D array."""
    if x.ndim == 1:
        return pd.Series(x).ewm(adjust=False, **kwargs).mean().to_numpy()
    return np.stack([_ewm(row, **kwargs) for row in x]) if len(x) else x.copy()


def _ema(x: np.ndarray, span: int) -> np.ndarray:
    # Recursive EMA seeded with the first value; the first span-1 rows are warm-up.
    return _ewm(x, span=span, min_periods=span)


def _log_return(c: Columns) -> np.ndarray:
    return c.shared(("log_return",), lambda: _diff(np.log(c.column("close"))))


def _close_ema(c: Columns, span: int) -> np.ndarray:
    return c.shared(("ema", span), lambda: _ema(c.column("close"), span))


def _macd_hist(c: Columns) -> np.ndarray:
    macd = _close_ema(c, 12) - _close_ema(c, 26)
    return macd - _ewm(macd, span=9, min_periods=9)


def _rsi(c: Columns, n: int) -> np.ndarray:
    delta = c.shared(("delta",), lambda: _diff(c.column("close")))
    gain = _ewm(np.maximum(delta, 0.0), alpha=1.0 / n, min_periods=n)
    loss = _ewm(-np.minimum(delta, 0.0), alpha=1.0 / n, min_periods=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    return np.where(np.isnan(gain), np.nan, np.where(loss != 0.0, value, 100.0))


def _volatility(c: Columns, n: int) -> np.ndarray:
    return c.shared(("volatility", n), lambda: _rolling_std(_log_return(c), n))


def _volume_ratio(c: Columns, n: int) -> np.ndarray:
    volume = c.column("volume")
    with np.errstate(divide="ignore", invalid="ignore"):
        return volume / _rolling_mean(volume, n)


def _seconds(c: Columns) -> np.ndarray:
    return c.shared(("seconds",), lambda: c.timestamps().astype("int64"))


def _day_of_week(c: Columns) -> np.ndarray:
    """0 (Monday) to 6 (Sunday); 1970-01-01 was a Thursday."""
    return ((np.floor_divide(_seconds(c), 86400) + 3) % 7).astype("float64")


def _hour_of_day(c: Columns) -> np.ndarray:
    """0 to 23, the UTC hour the row starts in."""
    return np.floor_divide(np.mod(_seconds(c), 86400), 3600).astype("float64")


def _on_circle(values: np.ndarray, period: float, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return fn(2.0 * np.pi * values / period)


MARKET_WINDOW = 30
"""Timestamps of market returns whose standard deviation is `market_volatility`."""
MARKET_FEATURES = ("market_return", "market_volatility")
"""Features of the whole panel at each timestamp (see `lstm_forecaster.market`)."""
MARKET_COLUMNS = {name: f"__{name}" for name in MARKET_FEATURES}
"""The columns `market.with_market` adds to a panel, by feature: the panel's values at each row's timestamp."""


def _market(c: Columns, name: str, own: Callable[[Columns], np.ndarray]) -> np.ndarray:
    """The panel's market feature at each row when the frame carries it, else the series' own (one series)."""
    return c.column(MARKET_COLUMNS[name]) if c.has(MARKET_COLUMNS[name]) else own(c)


_KERNELS: dict[str, Callable[[Columns], np.ndarray]] = {
    **{name: (lambda c, _name=name: c.column(_name)) for name in (*PRICE_COLUMNS, "volume")},
    "log_return": _log_return,
    "log_range": lambda c: np.log(c.column("high") / c.column("low")),
    "macd_hist": _macd_hist,
    "dow_sin": lambda c: _on_circle(_day_of_week(c), 7.0, np.sin),
    "dow_cos": lambda c: _on_circle(_day_of_week(c), 7.0, np.cos),
    "hour_sin": lambda c: _on_circle(_hour_of_day(c), 24.0, np.sin),
    "hour_cos": lambda c: _on_circle(_hour_of_day(c), 24.0, np.cos),
    "market_return": lambda c: _market(c, "market_return", _log_return),
    "market_volatility": lambda c: _market(c, "market_volatility", lambda c: _volatility(c, MARKET_WINDOW)),
}
CALENDAR_FEATURES = ("dow_sin", "dow_cos", "hour_sin", "hour_cos")
"""Features of the row's timestamp alone: sin and cos of 2 pi day_of_week / 7 and of 2 pi hour / 24 (UTC)."""
_WINDOW_KERNELS: dict[str, Callable[[Columns, int], np.ndarray]] = {
    "ema": _close_ema,
    "rsi": _rsi,
    "volatility": _volatility,
    "return_mean": lambda c, n: _rolling_mean(_log_return(c), n),
    "return_std": _volatility,
    "volume_ratio": _volume_ratio,
}
_RECURSIVE = frozenset(("macd_hist", "ema", "rsi"))
"""Features (names or prefixes) whose value reads the whole history (EWM recursions), not a fixed look-back."""


def _series(kernel: Callable[[Columns], np.ndarray], df: pd.DataFrame) -> pd.Series:
    return pd.Series(kernel(Columns.of(df)), index=df.index)


def log_return(df: pd.DataFrame) -> pd.Series:
    """log(close_t / close_{t-1}); the first row has none."""
    return _series(_log_return, df)


def log_range(df: pd.DataFrame) -> pd.Series:
    """log(high_t / low_t): the candle's range, a causal volatility proxy."""
    return _series(_KERNELS["log_range"], df)


def macd_hist(df: pd.DataFrame) -> pd.Series:
    """MACD histogram: (EMA12 - EMA26) minus its 9-period EMA (signal line)."""
    return _series(_macd_hist, df)


def ema(df: pd.DataFrame, n: int) -> pd.Series:
    """Exponential moving average of the close with span n (alpha = 2 / (n + 1))."""
    return _series(lambda c: _close_ema(c, n), df)


def rsi(df: pd.DataFrame, n: int) -> pd.Series:
    """Relative strength index with Wilder's smoothing (alpha = 1 / n), in [0, 100].

    The smoothed gains and losses start at the first close-to-close change; the first n rows are
    warm-up. With no losses in the look-back the RSI is 100.
    """
    return _series(lambda c: _rsi(c, n), df)


def volatility(df: pd.DataFrame, n: int) -> pd.Series:
    """Sample standard deviation of the last n log returns."""
    return _series(lambda c: _volatility(c, n), df)


def return_mean(df: pd.DataFrame, n: int) -> pd.Series:
    """Mean of the last n log returns."""
    return _series(lambda c: _rolling_mean(_log_return(c), n), df)


def volume_ratio(df: pd.DataFrame, n: int) -> pd.Series:
    """Volume divided by its mean over the last n rows (this row included)."""
    return _series(lambda c: _volume_ratio(c, n), df)


_CALENDAR_DOCS = {
    "dow_sin": "sin(2 pi d / 7), d the UTC day of the week (Monday 0).",
    "dow_cos": "cos(2 pi d / 7), d the UTC day of the week (Monday 0).",
    "hour_sin": "sin(2 pi h / 24), h the UTC hour of the day.",
    "hour_cos": "cos(2 pi h / 24), h the UTC hour of the day.",
}


_MARKET_DOCS = {
    "market_return": "The mean over the panel's series of their log returns at t (of one series: its log return).",
    "market_volatility": (
        f"Sample standard deviation of `market_return` over the panel's last {MARKET_WINDOW} timestamps "
        f"(of one series: its volatility_{MARKET_WINDOW})."
    ),
}


def _named_feature(name: str, doc: str) -> FeatureFn:
    def feature(df: pd.DataFrame) -> pd.Series:
        return _series(_KERNELS[name], df)

    feature.__name__, feature.__doc__ = name, doc
    return feature


FEATURES: dict[str, FeatureFn] = {
    **{name: (lambda df, _name=name: _series(_KERNELS[_name], df)) for name in (*PRICE_COLUMNS, "volume")},
    "log_return": log_return,
    "log_range": log_range,
    "macd_hist": macd_hist,
    **{name: _named_feature(name, _CALENDAR_DOCS[name]) for name in CALENDAR_FEATURES},
    **{name: _named_feature(name, _MARKET_DOCS[name]) for name in MARKET_FEATURES},
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
_WARMUP = {"log_return": 1, "macd_hist": 26 + 9 - 2, "market_return": 1, "market_volatility": MARKET_WINDOW}


def available_features() -> list[str]:
    """Every accepted feature name (window features shown with their `_N` suffix)."""
    return [*FEATURES, *(f"{prefix}_N" for prefix in WINDOW_FEATURES)]


def _resolve(name: str) -> tuple[Callable[[Columns], np.ndarray], int, bool]:
    """(kernel, warm-up rows, recursive) of a feature name."""
    if name in FEATURES:
        return _KERNELS[name], _WARMUP.get(name, 0), name in _RECURSIVE
    match = _WINDOW_NAME.match(name)
    if match and match.group(1) in WINDOW_FEATURES:
        prefix, n = match.group(1), int(match.group(2))
        if n < 2:
            raise ValueError(f"feature '{name}' needs a window of at least 2. Got {n}.")
        kernel = _WINDOW_KERNELS[prefix]
        warmup = {"ema": n - 1, "volume_ratio": n - 1}.get(prefix, n)
        return (lambda c: kernel(c, n)), warmup, prefix in _RECURSIVE
    raise ValueError(f"unknown feature '{name}'; accepted: {', '.join(available_features())} (N a window length)")


def validate_feature_names(names: list[str]) -> None:
    """Raise `ValueError` naming the first unknown feature."""
    for name in names:
        _resolve(name)


def is_window_scalable(name: str) -> bool:
    """Whether a feature is strictly positive, so a window can be divided by its first value."""
    match = _WINDOW_NAME.match(name)
    return name in WINDOW_SCALABLE or bool(match and match.group(1) in WINDOW_SCALABLE_PREFIXES)


CONTEXT_KINDS = ("return", "price", "price_difference", "volume", "ratio", "bounded", "calendar")
_CONTEXT_KIND = {
    **{name: "price" for name in PRICE_COLUMNS},
    "volume": "volume",
    "log_return": "return",
    "log_range": "return",
    "macd_hist": "price_difference",
    **{name: "calendar" for name in CALENDAR_FEATURES},
    **{name: "return" for name in MARKET_FEATURES},
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

    `return`: a log return or a spread of them, the market's included (divided by the context's
    volatility, the asset's own); `price`: a
    price level (log of it over the last close, divided by the volatility); `price_difference`: a
    difference of prices (over the last close, divided by the volatility); `volume`: a traded volume
    (over its context mean, minus 1); `ratio`: already a ratio around 1 (minus 1); `bounded`: an
    oscillator in [0, 100] (centred on 50, divided by 50); `calendar`: already in [-1, 1] and free of
    any scale (passed through unchanged).
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


def history_rows(names: list[str]) -> int | None:
    """Rows before row t that the features at row t read: `warmup_rows`, or None when one of them is a
    recursion over the whole history (`ema_N`, `rsi_N`, `macd_hist`).

    With a fixed look-back, features computed over any tail of a series that holds these rows are
    the same numbers as over the whole series (`compute_features` sums every window in one order).
    """
    resolved = [_resolve(name) for name in names]
    return None if any(recursive for _, _, recursive in resolved) else max(warmup for _, warmup, _ in resolved)


def feature_array(columns: Columns, names: list[str], start: int = 0) -> np.ndarray:
    """The named features of `columns` from row `start` on (warm-up rows, if kept, are NaN).

    Returns
    -------
    np.ndarray
        float64 (..., rows - start, features), time along the second-to-last axis; a new array.
    """
    return np.stack([np.asarray(_resolve(name)[0](columns), dtype="float64")[..., start:] for name in names], axis=-1)


def check_finite(values: np.ndarray, names: list[str], index: pd.Index) -> None:
    """Refuse a non-finite value of a (rows, features) array, naming the feature and the row's timestamp."""
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"feature '{names[col]}' is not finite at {index[row]} (value {values[row, col]}); "
            "check the input columns there (a zero volume or price gives an infinite ratio)"
        )


def compute_feature_values(
    df: pd.DataFrame, names: list[str], check_last: int | None = None
) -> tuple[np.ndarray, pd.Index]:
    """The (rows, features) array and index of `compute_features`, without building a DataFrame."""
    values = feature_array(Columns.of(df), names, warmup_rows(names))
    index = df.index[warmup_rows(names) :]
    checked = slice(-check_last, None) if check_last else slice(None)
    check_finite(values[checked], names, index[checked])
    return values, index


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
    values, index = compute_feature_values(df, names, check_last)
    return pd.DataFrame(values, index=index, columns=list(names))
