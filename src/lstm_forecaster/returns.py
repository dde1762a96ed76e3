"""One series' closes as log prices, origins as row positions, and the realized returns from them.

Shared by the baselines, the metrics' callers and the strategies: the target everywhere is the log
return from the close at an origin ``o`` to the close ``h`` rows later, ``log(p[o + h] / p[o])``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .metrics import _as_1d

__all__ = ["check_horizon", "future_returns", "log_prices", "resolve_positions"]


def log_prices(prices: Any) -> np.ndarray:
    """Validate a 1-D series of strictly positive finite prices and return its logarithm."""
    return np.log(_as_1d(prices, "prices", positive=True))


def check_horizon(horizon: Any) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1; got {horizon!r}.")
    return int(horizon)


def resolve_positions(prices: Any, origins: Any = None, train_end: Any = None) -> tuple[np.ndarray | None, int | None]:
    """Turn origins and the end of the training split into row positions.

    Parameters
    ----------
    prices : array-like or pandas.Series
        The series. Timestamps are accepted only when it is a Series with a DatetimeIndex.
    origins : array-like of int or of timestamps, optional
        Origin rows (positions ``0..n-1``) or origin timestamps (each must be in the index).
    train_end : int or timestamp, optional
        An int is the number of training rows (``train_size``); a timestamp is the last training
        row, inclusive.

    Returns
    -------
    origins : numpy.ndarray of int or None
    train_size : int or None
    """
    n = len(prices)
    index = prices.index if isinstance(prices, pd.Series) and isinstance(prices.index, pd.DatetimeIndex) else None
    pos = None
    if origins is not None:
        raw = np.atleast_1d(np.asarray(origins))
        if raw.size and not np.issubdtype(raw.dtype, np.integer):
            if index is None:
                raise ValueError(
                    "origins must be integer row positions unless prices is a Series with a DatetimeIndex; "
                    f"got {raw[:3].tolist()}."
                )
            stamps = pd.DatetimeIndex(raw)
            if (stamps.tz is None) != (index.tz is None):
                raise ValueError(f"origins and the prices' index disagree on time zones ({stamps.tz} vs {index.tz}).")
            pos = index.get_indexer(stamps)
            if np.any(pos < 0):
                raise ValueError(f"origin {stamps[pos < 0][0]} is not a row of prices' index.")
        else:
            pos = raw.astype(int)
            if np.any((pos < 0) | (pos >= n)):
                bad = pos[(pos < 0) | (pos >= n)][0]
                raise ValueError(f"origin position {bad} is outside the series of {n} rows (0..{n - 1}).")
    size = None
    if train_end is not None:
        if isinstance(train_end, (int, np.integer)) and not isinstance(train_end, bool):
            size = int(train_end)
        elif index is not None:
            size = int(index.searchsorted(pd.Timestamp(train_end), side="right"))
        else:
            raise ValueError(f"train_end must be a row count unless prices has a DatetimeIndex; got {train_end!r}.")
        if not 2 <= size <= n:
            raise ValueError(f"the training split must hold 2..{n} rows of the series; got {size}.")
    return pos, size


def future_returns(prices: Any, origins: Any, horizon: int) -> np.ndarray:
    """Realized log returns from each origin to steps ``1..horizon``.

    Parameters
    ----------
    prices : array-like, shape (n,)
        Strictly positive closes, oldest first.
    origins : array-like of int, shape (m,)
        Origin rows.
    horizon : int
        Number of steps ``H``.

    Returns
    -------
    numpy.ndarray, shape (m, H)
        ``log(p[o + h] / p[o])``; NaN where ``o + h`` is past the end of the series.
    """
    lp = log_prices(prices)
    h = check_horizon(horizon)
    pos, _ = resolve_positions(prices, origins)
    target = pos[:, None] + np.arange(1, h + 1)[None, :]
    out = np.full(target.shape, np.nan)
    inside = target < lp.size
    out[inside] = lp[target[inside]] - np.broadcast_to(lp[pos][:, None], target.shape)[inside]
    return out
