"""A forecast's input rows as NumPy arrays, read from the frame once (`LSTMForecaster.predict`).

`ForecastRows.of` takes anything `load_ohlcv` reads. A frame `load_ohlcv` already returned is checked
in one pass over its values (`clean_arrays`, what `data.is_clean_ohlcv` says) instead of being
normalised again, and that pass keeps the arrays the forecast reads: the values of every column, the
timestamps, and where each series starts and ends. A panel's series (each symbol's rows together,
oldest first) are slices `starts[i]:ends[i]` of the stacked arrays, so the checks of `guards` and the
features of `PanelSamples.for_forecast` read the last rows of every series as one (series, rows)
block (`ForecastRows.block`), never one series at a time, and no per-series frame is built.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from .data import CLEAN_MARK, OHLCV, series_steps, stamp_values

SMALL_FRAME = 100_000
"""Values (rows x columns) up to which a frame's columns are read in one copy (`column_values`)."""


def column_values(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The float64 values of each column of a frame: views of its own arrays for a large frame (no
    copy of millions of values), one copy of a small one (fewer calls into pandas)."""
    columns = df.columns.tolist()
    if len(df) * len(columns) > SMALL_FRAME:
        return {name: df[name].to_numpy(dtype="float64") for name in columns}
    values = df.to_numpy(dtype="float64")
    return {name: values[:, j] for j, name in enumerate(columns)}


def clean_arrays(df) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray] | None:
    """`(columns, stamps, cuts)` of a frame `load_ohlcv` already returned, else None (`data.is_clean_ohlcv`).

    Returns
    -------
    (dict, np.ndarray, np.ndarray) or None
        The float64 values of each column (`column_values`), the naive UTC `datetime64` timestamps
        (the `timestamp` level of a panel), and the rows where a panel's symbol changes (empty for one
        series).
    """
    if not isinstance(df, pd.DataFrame):
        return None
    columns = df.columns.tolist()
    if "close" not in columns or columns != [c for c in OHLCV if c in columns]:
        return None
    if any(dtype != np.float64 for dtype in df.dtypes):
        return None
    index = df.index
    if isinstance(index, pd.MultiIndex):
        if tuple(index.names) != ("symbol", "timestamp") or not df.attrs.get(CLEAN_MARK):
            return None
        levels = index.levels[1]
        if not isinstance(levels, pd.DatetimeIndex) or str(levels.tz) != "UTC":
            return None
        codes = index.codes[0]
        cuts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        # Each symbol's rows together: as many runs of one code as distinct codes.
        if len(codes) and len(np.unique(codes[np.r_[0, cuts]])) != len(cuts) + 1:
            return None
        stamps = stamp_values(levels)[index.codes[1]]
        spacing = np.diff(stamps)
        spacing[cuts - 1] = np.timedelta64(1)  # from one series to the next: any order
        if not (spacing > np.timedelta64(0)).all():
            return None
    else:
        if not isinstance(index, pd.DatetimeIndex) or index.name != "timestamp" or str(index.tz) != "UTC":
            return None
        if not (index.is_monotonic_increasing and index.is_unique):
            return None
        stamps, cuts = stamp_values(index), np.zeros(0, dtype=np.int64)
    values = column_values(df)
    if not len(df):
        return values, stamps, cuts
    for name, column in values.items():
        lowest = column.min()  # NaN when the column holds one
        if np.isnan(lowest) or (lowest < 0 if name == "volume" else lowest <= 0):
            return None
    if "high" in values and "low" in values and (values["high"] < values["low"]).any():
        return None
    return values, stamps, cuts


@dataclass(frozen=True)
class ForecastRows:
    """The rows of one series or a panel, as NumPy arrays; series left out or shortened by `guards`.

    Args:
        frame: The frame from `load_ohlcv` (as given, before anything was left out).
        columns: Its column names, in order.
        arrays: The float64 values of each column over every row of `frame`.
        stamps: (rows,) naive UTC `datetime64` timestamps.
        starts: (series,) first row of each series kept.
        ends: (series,) row after the last row of each series kept.
        symbols: (series,) each series' symbol; None for a single series that names none.
        panel: Whether `frame` is a `(symbol, timestamp)` panel.
        gapped: Symbols of the panel's series left out (`guards`: their rows are not evenly spaced).
        dropped: `(symbol, timestamp)` of each last candle dropped (`predict(drop_incomplete=True)`).
    """

    frame: pd.DataFrame
    columns: list[str]
    arrays: dict
    stamps: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    symbols: list
    panel: bool
    gapped: tuple = ()
    dropped: tuple = ()

    @classmethod
    def of(cls, source) -> ForecastRows:
        """The rows of anything `load_ohlcv` reads; a frame it already returned is not normalised again."""
        arrays = clean_arrays(source)
        if arrays is None:
            from .data import load_ohlcv

            return cls.read(load_ohlcv(source))
        return cls._build(source, *arrays)

    @classmethod
    def read(cls, df: pd.DataFrame) -> ForecastRows:
        """The rows of a frame from `load_ohlcv`, without checking it again."""
        index = df.index
        if isinstance(index, pd.MultiIndex):
            codes = index.codes[0]
            cuts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
            stamps = stamp_values(index.levels[1])[index.codes[1]]
        else:
            cuts, stamps = np.zeros(0, dtype=np.int64), stamp_values(index)
        return cls._build(df, column_values(df), stamps, cuts)

    @classmethod
    def _build(cls, df: pd.DataFrame, arrays: dict, stamps: np.ndarray, cuts: np.ndarray) -> ForecastRows:
        index = df.index
        panel = isinstance(index, pd.MultiIndex)
        if panel:
            codes = index.codes[0]
            if len(codes) and len(np.unique(codes[np.r_[0, cuts]])) != len(cuts) + 1:
                raise ValueError("a panel's series must each hold their rows together; see load_ohlcv")
            starts = np.r_[0, cuts].astype(np.int64) if len(codes) else np.zeros(0, dtype=np.int64)
            symbols = [str(s) for s in index.levels[0][codes[starts]]] if len(codes) else []
        else:
            starts = np.zeros(1, dtype=np.int64)
            symbol = df.attrs.get("symbol")
            symbols = [str(symbol) if symbol else None]
        ends = np.r_[starts[1:], len(stamps)].astype(np.int64)
        return cls(df, list(arrays), arrays, stamps, starts, ends, symbols, panel)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def lengths(self) -> np.ndarray:
        """(series,) rows of each series."""
        return self.ends - self.starts

    def column(self, name: str) -> np.ndarray | None:
        """The values of column `name` over every row (None when the frame has no such column)."""
        return self.arrays.get(name)

    def take(self, rows: int) -> np.ndarray:
        """(series, rows) row numbers of each series' last `rows` rows; a series with fewer repeats its first row."""
        return np.maximum(self.ends[:, None] - rows + np.arange(rows), self.starts[:, None])

    def block(self, values: np.ndarray, rows: int) -> np.ndarray:
        """(series, rows) of `values` (a column, or `stamps`) at each series' last `rows` rows (see `take`)."""
        return values[self.take(rows)]

    def last(self, values: np.ndarray) -> np.ndarray:
        """(series,) of `values` at each series' last row."""
        return values[self.ends - 1]

    def series_stamps(self, i: int) -> np.ndarray:
        """The timestamps of series `i`."""
        return self.stamps[self.starts[i] : self.ends[i]]

    def series_index(self, i: int) -> pd.DatetimeIndex:
        """The UTC `DatetimeIndex` of series `i` (for messages and the checks that read an index)."""
        return pd.DatetimeIndex(self.series_stamps(i)).tz_localize("UTC")

    @cached_property
    def steps(self) -> np.ndarray:
        """(series,) each series' step (`data.series_steps`; NaT for a series of one row)."""
        return series_steps(self.stamps, self.starts, self.ends)

    def evenly_spaced(self, rows: int, steps: np.ndarray | None = None) -> np.ndarray:
        """(series,) whether each series' last `rows` timestamps are evenly spaced (at least 2 of them):
        every spacing equal to `steps[i]`, or with None to each other."""
        cache = self.__dict__.setdefault("_spacings", {})
        if rows not in cache:
            take = self.take(rows)
            cache[rows] = (np.diff(self.stamps[take], axis=1), np.diff(take, axis=1) == 0)
        gaps, repeated = cache[rows]
        reference = gaps[:, -1:] if steps is None else np.asarray(steps)[:, None]
        return ((gaps == reference) | repeated).all(axis=1) & (self.lengths >= 2)

    def without(self, symbols) -> ForecastRows:
        """These rows without the series of `symbols` (left out for gaps)."""
        left_out = set(symbols)
        keep = [i for i, s in enumerate(self.symbols) if s not in left_out]
        return replace(
            self,
            starts=self.starts[keep],
            ends=self.ends[keep],
            symbols=[self.symbols[i] for i in keep],
            gapped=(*self.gapped, *[s for s in self.symbols if s in left_out]),
        )

    def without_last(self, mask: np.ndarray) -> ForecastRows:
        """These rows without the last row of each series where `mask` is True (an incomplete candle)."""
        picked = np.flatnonzero(mask)
        dropped = tuple(
            (self.symbols[i], pd.Timestamp(self.stamps[self.ends[i] - 1]).tz_localize("UTC")) for i in picked
        )
        return replace(self, ends=self.ends - np.asarray(mask, dtype=np.int64), dropped=(*self.dropped, *dropped))

    def to_frame(self) -> pd.DataFrame:
        """The frame of these rows: `frame` without the series and rows left out."""
        df = self.frame
        if self.gapped:
            df = df.drop(index=list(self.gapped), level="symbol")
        if self.dropped:
            if isinstance(df.index, pd.MultiIndex):
                df = df.drop(index=[(symbol, stamp) for symbol, stamp in self.dropped])
            else:
                df = df.drop(index=[stamp for _, stamp in self.dropped])
        return df
