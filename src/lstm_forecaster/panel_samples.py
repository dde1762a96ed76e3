"""Windows over a panel: `PanelSamples` stacks every series' features and cuts windows that never
cross from one series into the next; `PanelSamples.for_forecast` builds, in one pass over the
stacked series, only the rows a forecast from each series' last row reads.

`lstm_forecaster.panel` loads panels and splits them by date; it re-exports the names defined here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .data import (
    Samples,
    future_targets,
    infer_step,
    series_steps,
    sliding_windows,
    stamp_values,
)


class PanelSamples:
    """Features, targets and bases of every series of a panel, stacked row by row.

    Each series is a `Samples` (features computed on that series alone, except the market features,
    computed over the whole panel: `lstm_forecaster.market`); their arrays are stacked,
    so a row number addresses one row of one series. A forecast origin is a row whose window of
    `context_length` rows lies within its own series: windows never cross series boundaries, and
    `windows` returns views of the stacked feature array (memory grows with the rows, not rows x
    context_length). `WindowBatches`, `Scaler` and `LSTMForecaster.forecast_origins` read a
    `PanelSamples` as they read a `Samples`.

    Parameters
    ----------
    panel : pd.DataFrame
        A panel from `load_ohlcv`.
    features, target, context_length, horizon
        As in `LSTMForecasterConfig`.
    need_targets : bool
        Keep only series long enough for a window plus `horizon` targets (training); with False,
        long enough for one window (forecasting).
    check_last : int, optional
        As in `Samples`: check only each series' last `check_last` rows for finite features.

    Raises
    ------
    ValueError
        When a series has a gap longer than `context_length` steps, or no series is long enough.
        Shorter series are dropped with a warning naming them.
    """

    def __init__(
        self,
        panel: pd.DataFrame,
        features: list[str],
        target: str,
        context_length: int,
        horizon: int,
        need_targets: bool = True,
        check_last: int | None = None,
    ):
        from .features import warmup_rows
        from .market import with_market
        from .panel import _utc_values, is_panel, iter_series

        if not is_panel(panel):
            raise ValueError("PanelSamples needs a panel indexed by (symbol, timestamp); see load_ohlcv")
        panel = with_market(panel, features)  # the market features: over the whole panel given
        self.context_length = context_length
        self.horizon = horizon
        self.target = target
        needed = warmup_rows(features) + context_length + (horizon if need_targets else 0)
        series, names, short = [], [], []
        for symbol, frame in iter_series(panel):
            if len(frame) < needed:
                short.append(f"{symbol} ({len(frame)} rows)")
                continue
            check_gaps(frame, symbol, context_length)
            series.append(Samples(frame, features, target, context_length, horizon, check_last=check_last))
            names.append(symbol)
        what = f"{needed} rows (the features' warm-up, context_length {context_length}" + (
            f", horizon {horizon})" if need_targets else ")"
        )
        if not series:
            raise ValueError(f"no series is long enough: each needs at least {what}; got {', '.join(short)}")
        if short:
            warnings.warn(f"dropped series too short for {what}: {', '.join(short)}", stacklevel=2)
        self.symbols = names
        self._series = series
        lengths = np.array([len(s) for s in series])
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.lengths = lengths
        self.codes = np.repeat(np.arange(len(series)), lengths)
        self.positions = np.arange(lengths.sum()) - np.repeat(self.starts, lengths)
        self.features = np.ascontiguousarray(np.concatenate([s.features for s in series]))
        self.targets = np.concatenate([s.targets for s in series])
        self.base = np.concatenate([s.base for s in series])
        stamps = np.concatenate([_utc_values(s.index) for s in series])
        self.index = pd.DatetimeIndex(stamps, name="timestamp").tz_localize("UTC")
        self._windows = sliding_windows(self.features, context_length)

    @classmethod
    def for_forecast(
        cls, panel: pd.DataFrame, config, last_rows: int | None, check_last: int | None = None
    ) -> PanelSamples:
        """The samples a forecast from the last row of every series reads (`need_targets` False).

        The spacing of the rows a forecast reads is the caller's to check, once
        (`guards.forecast_spacing`, through `LSTMForecaster.predict`): short gaps are read as
        consecutive rows, as training reads its windows. With `last_rows` (`LSTMForecaster.rows_read`)
        and every series at least that long, the features of all series are computed at once over
        their last `last_rows` rows, stacked (series, rows): the same numbers as series by series over
        the whole history, in one pass instead of one per series. Gaps longer than the context are
        refused over those rows (`check_gaps`, as in training), and features checked for finite values
        over each series' last `check_last` rows (default `context_length`). Otherwise: the constructor.
        """
        from .features import Columns, check_finite, feature_array, warmup_rows
        from .market import with_market

        c = config
        panel = with_market(panel, c.features)  # over every row of every series given, before any is cut
        check_last = check_last or c.context_length
        index = panel.index
        codes = index.codes[0]
        cuts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        starts, ends = np.r_[0, cuts], np.r_[cuts, len(codes)]
        contiguous = len(starts) == len(np.unique(codes)) and len(codes) > 0
        lengths = ends - starts
        needed = warmup_rows(c.features) + c.context_length
        if not contiguous or last_rows is None or (lengths[lengths >= needed] < last_rows).any():
            samples = cls(panel, c.features, c.target, c.context_length, c.horizon, False, check_last)
            samples.steps = np.array([infer_step(s.index).to_timedelta64() for s in samples.series])
            return samples
        stamps = stamp_values(index.levels[1])[index.codes[1]]
        names = [str(n) for n in index.levels[0][codes[starts]]]
        steps = series_steps(stamps, starts, ends)
        short = [f"{n} ({length} rows)" for n, length in zip(names, lengths, strict=True) if length < needed]
        keep = np.flatnonzero(lengths >= needed)
        if not keep.size:
            raise ValueError(
                f"no series is long enough: each needs at least {needed} rows (the features' warm-up, "
                f"context_length {c.context_length}); got {', '.join(short)}"
            )
        if short:
            warnings.warn(
                f"dropped series too short for {needed} rows (the features' warm-up, context_length "
                f"{c.context_length}): {', '.join(short)}",
                stacklevel=3,
            )
        rows = ends[keep, None] - last_rows + np.arange(last_rows)
        quantity = "volume" if c.target == "volume" else "close"
        for column in (quantity, *(["close"] if quantity != "close" else [])):
            if column not in panel.columns:
                raise ValueError(
                    f"missing column '{column}' for target '{c.target}'; found: {', '.join(panel.columns)}"
                )
        columns = Columns({name: panel[name].to_numpy(dtype="float64")[rows] for name in panel.columns})
        columns.arrays["timestamp"] = stamps[rows]
        warmup = warmup_rows(c.features)
        values = feature_array(columns, c.features, warmup)
        tail = stamps[rows][:, warmup:]
        # Gaps longer than the context inside the rows read (`check_gaps`, series by series when one is found).
        missing = np.rint(np.diff(tail, axis=1) / steps[keep, None]).astype(np.int64) - 1
        for i in np.flatnonzero((missing > c.context_length).any(axis=1)):
            frame = pd.DataFrame(index=pd.DatetimeIndex(tail[i]).tz_localize("UTC"))
            check_gaps(frame, names[keep[i]], c.context_length)
        n, length = values.shape[:2]
        samples = cls.__new__(cls)
        samples.context_length, samples.horizon, samples.target = c.context_length, c.horizon, c.target
        samples.symbols = [names[i] for i in keep]
        samples.steps = steps[keep]
        samples._series = None
        samples.lengths = np.full(n, length)
        samples.starts = np.arange(n) * length
        samples.codes = np.repeat(np.arange(n), length)
        samples.positions = np.tile(np.arange(length), n)
        samples.features = np.ascontiguousarray(values.reshape(n * length, -1))
        base = columns.column(quantity)[:, warmup:]
        samples.targets = future_targets(base, c.horizon, c.target).reshape(n * length, c.horizon)
        samples.base = np.ascontiguousarray(base.reshape(-1))
        samples.index = pd.DatetimeIndex(tail.reshape(-1), name="timestamp").tz_localize("UTC")
        samples._windows = sliding_windows(samples.features, c.context_length)
        checked = min(check_last, length)
        for i in np.flatnonzero(~np.isfinite(values[:, -checked:]).all(axis=(1, 2))):
            try:
                check_finite(values[i, -checked:], c.features, samples.index[samples.starts[i] + length - checked :])
            except ValueError as e:
                raise ValueError(f"{names[keep[i]]}: {e}") from None
        return samples

    @property
    def series(self) -> list[Samples]:
        """The `Samples` of each series (views of the stacked arrays)."""
        if self._series is None:
            series = []
            for start, length in zip(self.starts, self.lengths, strict=True):
                part = Samples.__new__(Samples)
                part.index = self.index[start : start + length]
                part._set(
                    self.features[start : start + length],
                    self.base[start : start + length],
                    self.target,
                    self.context_length,
                    self.horizon,
                )
                series.append(part)
            self._series = series
        return self._series

    def __len__(self) -> int:
        return len(self.base)

    @property
    def series_codes(self) -> np.ndarray:
        """(rows,) the series number of every row."""
        return self.codes

    def origins(self, complete: bool = True) -> np.ndarray:
        """Rows that close a full window of their own series (and, if `complete`, have every target)."""
        ok = self.positions >= self.context_length - 1
        if complete:
            ok &= self.positions <= self.lengths[self.codes] - 1 - self.horizon
        return np.flatnonzero(ok)

    def last_origins(self) -> np.ndarray:
        """The last row of every series (the origin of a forecast beyond the data)."""
        return self.starts + self.lengths - 1

    def windows(self, origins: np.ndarray) -> np.ndarray:
        """Raw (batch, context_length, features) windows ending at `origins`, within their series."""
        origins = np.asarray(origins, dtype=np.int64)
        if origins.size and (self.positions[origins] < self.context_length - 1).any():
            bad = int(origins[self.positions[origins] < self.context_length - 1][0])
            raise ValueError(
                f"origin row {bad} ({self.symbols[self.codes[bad]]}, {self.index[bad]}) has fewer than "
                f"{self.context_length} rows of its own series before it"
            )
        rows = origins - (self.context_length - 1)
        if rows.ndim == 1 and rows.size and (np.diff(rows) == 1).all():
            return self._windows[rows[0] : rows[-1] + 1]
        return self._windows[rows]

    def window_base(self, origins: np.ndarray) -> np.ndarray:
        """The target quantity's value at the first row of each window (base of `window` scaling)."""
        return self.base[np.asarray(origins) - (self.context_length - 1)]

    def base_windows(self, origins: np.ndarray) -> np.ndarray:
        """The target quantity's values over each window ending at `origins`: (batch, context_length)."""
        rows = np.asarray(origins, dtype=np.int64) - (self.context_length - 1)
        return sliding_windows(self.base[:, None], self.context_length)[rows, :, 0]

    def symbol_of(self, rows: np.ndarray) -> np.ndarray:
        """The symbol of each row, as an object array."""
        return np.asarray(self.symbols, dtype=object)[self.codes[np.asarray(rows, dtype=np.int64)]]


def samples_for(
    df: pd.DataFrame, config, need_targets: bool = True, check_last: int | None = None
) -> Samples | PanelSamples:
    """`Samples` of a single-series frame, or `PanelSamples` of a panel, for an `LSTMForecasterConfig`."""
    from .panel import is_panel

    c = config
    if is_panel(df):
        return PanelSamples(
            df, c.features, c.target, c.context_length, c.horizon, need_targets=need_targets, check_last=check_last
        )
    return Samples(df, c.features, c.target, c.context_length, c.horizon, check_last=check_last)


def check_gaps(frame: pd.DataFrame, symbol: str, context_length: int) -> None:
    """Raise `ValueError` when a series misses more than `context_length` consecutive steps."""
    if len(frame) < 2:
        return
    step = infer_step(frame.index)
    from .panel import _utc_values

    missing = np.rint(np.diff(_utc_values(frame.index)) / step.to_timedelta64()).astype(np.int64) - 1
    bad = np.flatnonzero(missing > context_length)
    if bad.size:
        row = int(bad[0]) + 1
        raise ValueError(
            f"symbol {symbol} misses {int(missing[row - 1])} steps of {step} before row {row} "
            f"({frame.index[row - 1].date()} to {frame.index[row].date()}), more than the context of "
            f"{context_length} steps; accepted: gaps up to {context_length} missing steps. Split the series "
            "into two symbols, or fill the gap."
        )
