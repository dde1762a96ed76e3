"""Cross-asset features: the market return and volatility of the panel a model is given.

- `market_return` at timestamp t: the mean, over the panel's series with a row at t and a row
  before it, of their log returns at t (`log(close_t / close_prev)`, the series' own previous row, as
  `log_return`). A series' first row has no return and does not count.
- `market_volatility` at t: the sample standard deviation of `market_return` over the panel's last
  `features.MARKET_WINDOW` (30) timestamps up to t, t included (the timestamps at which any series
  has a row). NaN until 30 market returns are known.

Both read rows at or before t only, so they are causal: the values at t never change when rows after
t are added, changed or removed. They are computed over the panel the model is given: at training
over the training data's panel (every split: the value at t reads nothing after t), at predict time
over the panel passed to `predict`, in a backtest over the data given (and each walk-forward refit
over its own rows). A single series is its own market (`market_return` is its `log_return`,
`market_volatility` its `volatility_30`); `predict` then says so in `attrs["warnings"]` (code
`single_asset_market`).

`with_market` adds the two as columns (`features.MARKET_COLUMNS`) to a panel; every series cut from
it then carries its timestamps' market values, which the feature kernels read.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .data import stamp_values
from .features import MARKET_COLUMNS, MARKET_FEATURES, MARKET_WINDOW, _rolling_std

__all__ = ["market_frame", "single_asset_warning", "uses_market", "warn_single_asset", "with_market"]


def uses_market(features) -> bool:
    """Whether a feature list holds a market feature."""
    return any(name in MARKET_FEATURES for name in features)


def _market_rows(panel: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps, market_return, market_volatility, series counted) at each of the panel's timestamps,
    and the position of every row's timestamp among them."""
    index = panel.index
    # Series numbered by symbol name: the same order however the panel's levels were built.
    names = np.asarray([str(s) for s in index.levels[0]], dtype=object)
    codes = np.argsort(np.argsort(names, kind="stable"), kind="stable")[np.asarray(index.codes[0], dtype=np.int64)]
    stamps = stamp_values(index.levels[1])[index.codes[1]].astype("datetime64[ns]")
    close = panel["close"].to_numpy(dtype="float64")
    order = np.lexsort((stamps, codes))  # each series' rows together, oldest first
    logs = np.log(close[order])
    returns = np.full(len(order), np.nan)
    same = codes[order][1:] == codes[order][:-1]
    returns[1:] = np.where(same, logs[1:] - logs[:-1], np.nan)
    times, position = np.unique(stamps[order], return_inverse=True)
    counted = np.isfinite(returns)
    # Summed in symbol order at each timestamp: a shorter panel (rows up to t) adds the same numbers.
    total = np.bincount(position, weights=np.where(counted, returns, 0.0), minlength=len(times))
    count = np.bincount(position, weights=counted.astype("float64"), minlength=len(times))
    with np.errstate(invalid="ignore", divide="ignore"):
        market = np.where(count > 0, total / count, np.nan)
    volatility = _rolling_std(market, MARKET_WINDOW)
    rows = np.empty(len(order), dtype=np.int64)
    rows[order] = position
    return times, market, volatility, count.astype(np.int64), rows


def market_frame(panel: pd.DataFrame) -> pd.DataFrame:
    """The market of a panel at each of its timestamps (see the module docstring).

    Parameters
    ----------
    panel : pd.DataFrame
        A panel from `load_ohlcv` (indexed by `(symbol, timestamp)`, with a `close` column), or one series.

    Returns
    -------
    pd.DataFrame
        Indexed by timestamp (UTC, sorted): `market_return`, `market_volatility` and `assets` (the
        series whose return at that timestamp was averaged).
    """
    panel = _as_panel(panel)
    times, market, volatility, count, _ = _market_rows(panel)
    index = pd.DatetimeIndex(times, name="timestamp").tz_localize("UTC")
    return pd.DataFrame({"market_return": market, "market_volatility": volatility, "assets": count}, index=index)


def with_market(panel: pd.DataFrame, features) -> pd.DataFrame:
    """`panel` with the market columns (`features.MARKET_COLUMNS`) added, when `features` use them.

    Every row gets the market values at its own timestamp, computed over the whole panel given. A
    frame without a market feature, or one series, is returned as it is (one series is its own market).
    """
    if not uses_market(features) or not _is_panel(panel):
        return panel
    if "close" not in panel.columns:
        raise ValueError(f"market features need column 'close'; found: {', '.join(map(str, panel.columns))}")
    _, market, volatility, _, rows = _market_rows(panel)
    out = panel.copy(deep=False)
    out[MARKET_COLUMNS["market_return"]] = market[rows]
    out[MARKET_COLUMNS["market_volatility"]] = volatility[rows]
    return out


def single_asset_warning(features, symbols: list[str | None], trained: list[str] | None = None) -> str | None:
    """The message of the `single_asset_market` warning when a forecast's market is one series, else None."""
    if not uses_market(features) or len(symbols) != 1:
        return None
    name = f" ({symbols[0]})" if symbols[0] else ""
    used = ", ".join(name for name in MARKET_FEATURES if name in features)
    panel = f"; the model was trained on a panel of {len(trained)} assets" if trained and len(trained) > 1 else ""
    return (
        f"{used} computed from one asset{name}: the data holds a single series, so its market is the series "
        f"itself{panel}; give the panel (several assets) for the cross-asset features"
    )


def warn_single_asset(features, df: pd.DataFrame) -> None:
    """`warnings.warn` the `single_asset_warning` of training data that holds one series."""
    if not uses_market(features):
        return
    panel = _is_panel(df)
    names = [str(s) for s in df.index.get_level_values(0).unique()] if panel else [df.attrs.get("symbol")]
    message = single_asset_warning(features, names)
    if message:
        warnings.warn(message, stacklevel=3)


def _is_panel(df) -> bool:
    from .panel import is_panel

    return is_panel(df)


def _as_panel(df: pd.DataFrame) -> pd.DataFrame:
    if _is_panel(df):
        return df
    return pd.concat({"series": df}, names=["symbol"])
