"""Checks around a forecast: warnings a user should see, and forecasts that must not be shown.

`LSTMForecaster.predict` runs `before_forecast`'s checks on its input and `after_forecast`'s on its
output (as `check_rows` and `refuse_forecast`, on the arrays of `forecast_rows.ForecastRows`: every
check vectorized over the series of a panel), so the CLI, the Python API and the Space share every check:

- warnings, returned in `forecast.attrs["warnings"]` as a list of `{"code", "message", "symbol"}`:
  `frequency` (the data's spacing differs from the training data's), `zero_shot` (an asset that was
  not in training), `price_range` (the prices the forecast reads lie outside what training saw for that
  asset), `incomplete_candle` (the last candle's volume is far below the recent median: it is probably
  still forming), `dropped_incomplete` (that candle was dropped, `predict(drop_incomplete=True)`),
  `short_gap` (the rows the forecast reads miss a few steps, at most `data.max_missing_steps`: they
  are read as consecutive, as training reads its windows; the message names the missing dates and
  how many rows are missing), `gap` (one series of a panel is not forecast: its rows miss more
  steps than that, or hold a row off the grid of steps; for a single series this is an error) and
  `single_asset_market` (a model with market features given one series: its market is that series);
- refusals, a `ValueError` saying why: a forecast price that is not positive at any level, or a step's
  move larger than any move over as many steps in the model's training data. Such a forecast is never
  returned. (A central forecast that is not positive, or any that is not finite, is refused before,
  by `data.check_forecast_values` in `predict_quantiles`.)

What training saw (`training_profile`) is recorded under `profile` in `training_args.json` and read
back by `from_pretrained` (`load_profile`); folders without it skip the checks that need it.

Uploads (`check_upload`, `check_upload_rows`) are refused before they are parsed when they are not
CSV or Parquet, or too large.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .data import check_forecast_spacing, infer_step, max_missing_steps, stamp_values
from .features import warmup_rows
from .forecast_rows import ForecastRows
from .market import single_asset_warning

INCOMPLETE_FRACTION = 0.1
"""A last candle whose volume is below this fraction of the median of the `INCOMPLETE_LOOKBACK` before it
looks incomplete (a candle an hour into its day has about 1/24 of a day's volume)."""

INCOMPLETE_LOOKBACK = 20
"""Candles before the last one whose median volume is its reference."""

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""Largest upload read (50 MiB: about 20 years of hourly candles as CSV)."""

MAX_UPLOAD_ROWS = 1_000_000
"""Most rows an upload may hold (every candle of every asset)."""

PROFILE_KEY = "profile"
"""Key of `training_profile` in `training_args.json`."""

_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an Excel .xlsx workbook)",
    b"\xd0\xcf\x11\xe0": "an old Excel or Word document",
    b"\x1f\x8b": "a gzip archive",
}


# ----- the series of a frame -------------------------------------------------------------------------


def series_of(df: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """(symbol, rows) of each series: the groups of a `(symbol, timestamp)` panel, else the frame itself.

    A single series is named by `df.attrs["symbol"]` when its loader recorded one, else None.
    """
    if isinstance(df.index, pd.MultiIndex) and "symbol" in df.index.names:
        return [(str(symbol), rows.droplevel("symbol")) for symbol, rows in df.groupby(level="symbol", sort=False)]
    symbol = df.attrs.get("symbol")
    return [(str(symbol) if symbol else None, df)]


def series_arrays(df: pd.DataFrame, columns: tuple[str, ...]) -> list[tuple[str | None, np.ndarray, dict]]:
    """(symbol, timestamps, {column: values}) of each series, as NumPy views (no per-series frame).

    Timestamps are naive UTC `datetime64` values; only the named `columns` present in `df` are given.
    A panel's series are cut where the symbol changes (a panel from `load_ohlcv` holds each symbol's
    rows together); any other panel is split by `series_of`.
    """
    names = [c for c in columns if c in df.columns]
    if not (isinstance(df.index, pd.MultiIndex) and "symbol" in df.index.names):
        arrays = {c: df[c].to_numpy(dtype="float64") for c in names}
        return [(series_of(df)[0][0], stamp_values(df.index), arrays)]
    index = df.index
    level = index.names.index("symbol")
    codes = index.codes[level]
    cuts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    if len(cuts) + 1 != len(np.unique(codes)):
        return [
            (s, stamp_values(rows.index), {c: rows[c].to_numpy(dtype="float64") for c in names})
            for s, rows in series_of(df)
        ]
    stamps = stamp_values(index.levels[1 - level])[index.codes[1 - level]]
    values = {c: df[c].to_numpy(dtype="float64") for c in names}
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(codes)]
    symbols = [str(s) for s in index.levels[level][codes[starts]]] if len(codes) else []
    return [
        (symbol, stamps[a:b], {c: v[a:b] for c, v in values.items()})
        for symbol, a, b in zip(symbols, starts.tolist(), ends.tolist(), strict=True)
    ]


def _quantity(target: str) -> str:
    return "volume" if target == "volume" else "close"


# ----- what training saw ----------------------------------------------------------------------------


def training_profile(train_rows: pd.DataFrame, horizon: int, target: str) -> dict:
    """What the training rows hold, for the checks at predict time.

    Parameters
    ----------
    train_rows : pd.DataFrame
        The training split's OHLCV rows (a single series or a `(symbol, timestamp)` panel).
    horizon : int
        The model's horizon.
    target : str
        The model's target (`close`, `log_return` or `volume`).

    Returns
    -------
    dict
        `frequency` (the spacing, as a `pd.Timedelta` string), `assets` (per series: `symbol`, None for an
        unnamed single series, and the lowest and highest `close`) and `max_abs_log_move` (per step k,
        the largest |log(close[t + k] / close[t])| over the training rows of every asset; None for
        volume models). Plain JSON.
    """
    series = series_of(train_rows)
    assets, moves = [], np.zeros(horizon)
    for symbol, rows in series:
        close = rows["close"].to_numpy(dtype="float64")
        assets.append({"symbol": symbol, "min_close": float(close.min()), "max_close": float(close.max())})
        logs = np.log(close)
        for k in range(1, min(horizon, len(close) - 1) + 1):
            moves[k - 1] = max(moves[k - 1], float(np.abs(logs[k:] - logs[:-k]).max()))
    return {
        "frequency": str(infer_step(series[0][1].index)),
        "assets": assets,
        "max_abs_log_move": None if target == "volume" else [round(float(m), 6) for m in moves],
    }


def load_profile(path: str | Path | None) -> dict | None:
    """The `profile` of a `training_args.json`, or None when there is no file or it records none (old folders)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        args = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    profile = args.get(PROFILE_KEY) if isinstance(args, dict) else None
    return profile if isinstance(profile, dict) else None


def _asset(profile: dict, symbol: str | None) -> dict | None:
    """The training record of `symbol`: by name, or the only one when the model saw one unnamed series."""
    assets = [a for a in profile.get("assets") or [] if isinstance(a, dict)]
    named = [a for a in assets if a.get("symbol") == symbol] if symbol is not None else []
    if named:
        return named[0]
    if len(assets) == 1 and (symbol is None or assets[0].get("symbol") is None):
        return assets[0]
    return None


def _trained_symbols(profile: dict) -> list[str]:
    return [str(a["symbol"]) for a in profile.get("assets") or [] if isinstance(a, dict) and a.get("symbol")]


# ----- warnings before the forecast -----------------------------------------------------------------


def warning(code: str, message: str, symbol: str | None = None) -> dict:
    """One structured warning."""
    return {"code": code, "message": message, "symbol": symbol}


def _day(stamp) -> str:
    stamp = pd.Timestamp(stamp)
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.strftime("%Y-%m-%d %H:%M UTC")


def _price(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.6g}"


def incomplete_last_candle(rows: pd.DataFrame) -> str | None:
    """Why the last candle looks incomplete (its volume far below the recent median), or None."""
    if "volume" not in rows.columns:
        return None
    return _incomplete(stamp_values(rows.index), rows["volume"].to_numpy(dtype="float64"))


def _low_last_volume(rows: ForecastRows) -> np.ndarray:
    """(series,) whether each series' last candle may look incomplete (`_incomplete` says for sure):
    one vectorized median over the series long enough, instead of one per series."""
    suspect = np.ones(len(rows), dtype=bool)
    volume = rows.column("volume")
    long = np.flatnonzero(rows.lengths >= INCOMPLETE_LOOKBACK + 1) if volume is not None else []
    if len(long) > 1:  # one series: `_incomplete` computes its one median
        block = rows.block(volume, INCOMPLETE_LOOKBACK + 1)[long]
        median = np.median(block[:, :-1], axis=1)
        suspect[long] = (median > 0) & (block[:, -1] < INCOMPLETE_FRACTION * median)
    return suspect


def _incomplete(stamps: np.ndarray, volume: np.ndarray | None) -> str | None:
    if volume is None or len(volume) < INCOMPLETE_LOOKBACK + 1:
        return None
    median = float(np.median(volume[-INCOMPLETE_LOOKBACK - 1 : -1]))
    last = float(volume[-1])
    if median <= 0 or last >= INCOMPLETE_FRACTION * median:
        return None
    return (
        f"the last candle ({_day(stamps[-1])}) looks incomplete: its volume {_price(last)} is "
        f"{100 * last / median:.1f} % of the median of the {INCOMPLETE_LOOKBACK} before it"
    )


def before_forecast(model, df: pd.DataFrame, drop_incomplete: bool = False) -> tuple[pd.DataFrame, list[dict]]:
    """Warnings about the data a forecast reads; with `drop_incomplete`, drop a last candle that looks incomplete.

    Parameters
    ----------
    model : LSTMForecaster
        The model; its `training_profile` (None for old folders) tells what training saw.
    df : pd.DataFrame
        OHLCV rows from `load_ohlcv` (a single series or a `(symbol, timestamp)` panel).
    drop_incomplete : bool
        Drop the last candle of each series whose volume says it is still forming.

    Returns
    -------
    (pd.DataFrame, list of dict)
        The rows to forecast from, and the warnings.
    """
    rows, warnings = check_rows(model, ForecastRows.read(df), drop_incomplete)
    return rows.to_frame(), warnings


def check_rows(model, rows: ForecastRows, drop_incomplete: bool = False) -> tuple[ForecastRows, list[dict]]:
    """`before_forecast` on the arrays of a frame (`ForecastRows`): the rows to forecast from, and the warnings.

    Every check is vectorized over the series; only the series a warning names cost a Python step.
    """
    profile = getattr(model, "training_profile", None) or {}
    context = model.config.context_length
    quantity = _quantity(model.config.target)
    warnings: list[dict] = []
    trained_symbols = _trained_symbols(profile)
    volume = rows.column("volume")
    found = {}  # series -> why its last candle looks incomplete
    for i in np.flatnonzero(_low_last_volume(rows)) if volume is not None else ():
        why = _incomplete(rows.series_stamps(i), volume[rows.starts[i] : rows.ends[i]])
        if why:
            found[int(i)] = why
    incomplete = np.zeros(len(rows), dtype=bool)
    incomplete[list(found)] = True
    # The spacing of the rows the forecast will read: without a last candle that is dropped.
    gapped, short = forecast_spacing(model, rows.without_last(incomplete) if drop_incomplete and found else rows)
    if gapped and len(rows) == 1:
        symbol, error = next(iter(gapped.items()))
        raise ValueError(f"{symbol}: {error}" if rows.panel else error)
    if gapped and len(gapped) == len(rows):
        raise ValueError(f"no series can be forecast: {'; '.join(f'{s}: {e}' for s, e in gapped.items())}")
    for symbol, error in gapped.items():
        warnings.append(warning("gap", f"{symbol} is not forecast: {error}", symbol))
    if gapped:
        kept = [i for i, symbol in enumerate(rows.symbols) if symbol not in gapped]
        rows, incomplete = rows.without(gapped), incomplete[kept]
        found = {k: found[i] for k, i in enumerate(kept) if i in found}
    n = len(rows)
    flagged = incomplete.copy()
    if found and drop_incomplete:
        rows = rows.without_last(incomplete)
    symbols = rows.symbols
    shorted = np.array([s in short for s in symbols], dtype=bool) if short else np.zeros(n, dtype=bool)
    flagged |= shorted
    trained_step = pd.Timedelta(profile["frequency"]) if profile.get("frequency") else None
    if trained_step is not None:
        steps = rows.steps
        differs = (rows.lengths >= 2) & (steps != trained_step.to_timedelta64())
        flagged |= differs
    zero_shot = np.zeros(n, dtype=bool)
    if trained_symbols:
        known = set(trained_symbols)
        zero_shot = np.array([s is not None and s not in known for s in symbols], dtype=bool)
        flagged |= zero_shot
    by_symbol, only = _assets_by_symbol(profile)
    outside = np.zeros(n, dtype=bool)
    values = rows.column(quantity)
    if quantity == "close" and values is not None and (by_symbol or only):
        assets = [_asset_of(by_symbol, only, s) for s in symbols]
        has = np.array([bool(a) for a in assets], dtype=bool) & ~zero_shot & (rows.lengths > 0)
        if has.any():
            read = rows.block(values, context)
            low_read, high_read = read.min(axis=1), read.max(axis=1)
            low = np.array([float(a["min_close"]) if a else np.nan for a in assets])
            high = np.array([float(a["max_close"]) if a else np.nan for a in assets])
            outside = has & ((low_read < low) | (high_read > high))
            flagged |= outside
    for i in np.flatnonzero(flagged):
        symbol = symbols[i]
        if shorted[i]:
            warnings.append(warning("short_gap", short[symbol], symbol))
        why = found.get(int(i))
        if why and drop_incomplete:
            warnings.append(warning("dropped_incomplete", why + "; it was dropped", symbol))
        elif why:
            warnings.append(
                warning(
                    "incomplete_candle",
                    why + "; drop it (predict(..., drop_incomplete=True)) to forecast from the last complete one",
                    symbol,
                )
            )
        name = f"{symbol}: " if symbol else ""
        if trained_step is not None and differs[i]:
            given = pd.Timedelta(steps[i])
            warnings.append(
                warning(
                    "frequency",
                    f"{name}the data has one row every {_duration(given)}, the model was trained on one every "
                    f"{_duration(trained_step)}: its forecasts and their timestamps assume the data's own spacing",
                    symbol,
                )
            )
        if zero_shot[i]:
            warnings.append(
                warning(
                    "zero_shot",
                    f"{symbol} was not in the model's training data ({', '.join(trained_symbols)}): "
                    "a zero-shot forecast",
                    symbol,
                )
            )
        elif outside[i]:
            asset = _asset_of(by_symbol, only, symbol)
            low, high = float(asset["min_close"]), float(asset["max_close"])
            warnings.append(
                warning(
                    "price_range",
                    f"{name}the closes the forecast reads ({_price(low_read[i])} to {_price(high_read[i])}) lie "
                    f"outside the range training saw ({_price(low)} to {_price(high)})",
                    symbol,
                )
            )
    single = single_asset_warning(model.config.features, symbols, trained_symbols)
    if single:
        warnings.append(warning("single_asset_market", single, symbols[0]))
    return rows, warnings


def _assets_by_symbol(profile: dict) -> tuple[dict, dict | None]:
    """The training records by symbol (the first of each), and the only one when training saw one (`_asset`)."""
    assets = [a for a in profile.get("assets") or [] if isinstance(a, dict)]
    by_symbol: dict = {}
    for a in assets:
        by_symbol.setdefault(a.get("symbol"), a)
    return by_symbol, assets[0] if len(assets) == 1 else None


def _asset_of(by_symbol: dict, only: dict | None, symbol: str | None) -> dict | None:
    """`_asset` from `_assets_by_symbol`'s lookups."""
    if symbol is not None and symbol in by_symbol:
        return by_symbol[symbol]
    if only is not None and (symbol is None or only.get("symbol") is None):
        return only
    return None


def forecast_spacing(model, rows: ForecastRows) -> tuple[dict[str | None, str], dict[str | None, str]]:
    """The spacing of the rows a forecast from each series' last row reads (`data.check_forecast_spacing`).

    The one spacing check of a forecast: `check_rows` calls it (through `predict`), and
    `LSTMForecaster.predict_quantiles` when called on its own. A series may miss at most
    `data.max_missing_steps(context_length)` steps (`CONTEXT_STEPS_PER_MISSING_STEP`) in the rows it
    reads; they are read as consecutive, as training reads its windows. Evenly spaced tails (nearly
    every series) are told apart in one vectorized comparison; only the others build an index.

    Parameters
    ----------
    model : LSTMForecaster
        The model (its features' warm-up and `context_length` say how many rows a forecast reads).
    rows : ForecastRows
        The series.

    Returns
    -------
    (dict, dict)
        By symbol: the series that cannot be forecast, with the error naming the gap (too many missing
        steps, or a row off the grid of steps); and the series forecast across short gaps, with the
        `short_gap` warning's message (the missing dates, and how many rows are missing).
    """
    rows_read = warmup_rows(model.config.features) + model.config.context_length
    bound = max_missing_steps(model.config.context_length)
    steps = rows.steps
    gapped, short = {}, {}
    for i in np.flatnonzero(~(rows.evenly_spaced(rows_read, steps) | (rows.lengths < 2))):
        symbol, step = rows.symbols[i], pd.Timedelta(steps[i])
        try:
            gaps = check_forecast_spacing(rows.series_index(i), rows_read, bound, step)
        except ValueError as e:
            gapped[symbol] = str(e)
            continue
        if gaps:
            short[symbol] = _short_gap_message(symbol, gaps, step, min(rows_read, int(rows.lengths[i])), bound)
    return gapped, short


def _short_gap_message(
    symbol: str | None, gaps: list[tuple[pd.Timestamp, pd.Timestamp, int]], step: pd.Timedelta, rows: int, bound: int
) -> str:
    missing = sum(n for _, _, n in gaps)
    dates = []
    for before, _, n in gaps:
        first, last = before + step, before + step * n
        dates.append(_day(first) if n == 1 else f"{_day(first)} to {_day(last)}")
    name = f"{symbol}: " if symbol else ""
    return (
        f"{name}{missing} row{'s' if missing != 1 else ''} missing among the {rows} the forecast reads "
        f"({', '.join(dates)}): read as consecutive steps of {_duration(step)}, as training reads its windows "
        f"(at most {bound} missing are accepted, more is refused)"
    )


def _duration(step: pd.Timedelta) -> str:
    seconds = int(step.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return str(step)


# ----- refusals after the forecast ------------------------------------------------------------------


def after_forecast(model, df: pd.DataFrame, frame: pd.DataFrame, warnings: list[dict]) -> pd.DataFrame:
    """Refuse a forecast that cannot be right; else attach the warnings as `frame.attrs["warnings"]`.

    Parameters
    ----------
    model : LSTMForecaster
        The model that forecast.
    df : pd.DataFrame
        The rows it forecast from (output of `before_forecast`).
    frame : pd.DataFrame
        `predict`'s output: `forecast` and the `q{level}` columns, by future timestamp (and symbol).
    warnings : list of dict
        From `before_forecast`.

    Raises
    ------
    ValueError
        When a forecast value is not positive (a price) or negative (a volume), or a step's move from the
        last close is larger than any move over as many steps in the training data.
    """
    quantity = _quantity(model.config.target)
    last_of = {
        symbol: arrays[quantity][-1] for symbol, _, arrays in series_arrays(df, (quantity,)) if quantity in arrays
    }
    if isinstance(frame.index, pd.MultiIndex):
        parts = series_arrays(frame, ())
        lasts = [last_of.get(symbol, np.nan) for symbol, _, _ in parts]
    else:  # one series, named (`attrs["symbol"]`) or not
        name = next(iter(last_of), None)
        parts, lasts = [(name, stamp_values(frame.index), {})], [last_of.get(name, np.nan)]
    refuse_forecast(
        model,
        frame.to_numpy(dtype="float64"),
        np.array(lasts, dtype="float64"),
        np.array([len(stamps) for _, stamps, _ in parts], dtype=np.int64),
        lambda i: parts[i][:2],
        frame.columns,
    )
    frame.attrs["warnings"] = list(warnings)
    return frame


def refuse_forecast(model, values, lasts, lengths, describe, columns) -> None:
    """The refusals of `after_forecast`, on arrays: `ValueError` for a forecast that cannot be right.

    Parameters
    ----------
    model : LSTMForecaster
        The model that forecast.
    values : np.ndarray
        (rows, columns) float64 forecast values, series after series, each series' steps in order.
    lasts : np.ndarray
        (series,) the last value of the forecast quantity of each series (NaN: no move check).
    lengths : np.ndarray
        (series,) rows of each series in `values`.
    describe : callable
        `describe(i)`: `(symbol, future timestamps)` of series i, for the message (called only to refuse;
        symbol None: unnamed).
    columns : sequence of str
        The names of the columns of `values`.
    """
    profile = getattr(model, "training_profile", None) or {}
    target = model.config.target
    quantity = _quantity(target)
    moves = profile.get("max_abs_log_move") if quantity == "close" else None
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    step = np.arange(len(values)) - np.repeat(starts, lengths) + 1  # each row's step, 1..horizon
    bad = ~np.isfinite(values) | ((values <= 0) if quantity == "close" else (values < 0))
    flagged = bad.any(axis=1)
    if moves:
        last = np.repeat(lasts, lengths)
        limit = np.zeros(len(values))
        within = step <= len(moves)
        limit[within] = np.asarray(moves, dtype="float64")[step[within] - 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            worst = np.abs(np.log(values / last[:, None])).max(axis=1)
        checked = (limit > 0) & np.isfinite(last) & (last != 0)
        flagged |= checked & (worst > limit)
    if flagged.any():
        row = int(np.flatnonzero(flagged)[0])
        i = int(np.searchsorted(starts, row, side="right") - 1)
        symbol, stamps = describe(i)
        name = f" for {symbol}" if symbol else ""
        k, line, last = int(step[row]), values[row], float(lasts[i])
        stamp = stamps[k - 1]
        if bad[row].any():
            j = int(np.flatnonzero(bad[row])[0])
            kind = "price" if quantity == "close" else "volume"
            raise ValueError(
                f"forecast refused: the model forecast{name} a {kind} of {line[j]:,.2f} ({columns[j]}) at step {k} "
                f"({_day(stamp)}), which is not a possible {kind}; this model does not fit this data "
                f"({_target_hint(target)})"
            )
        worst = int(np.argmax(np.abs(np.log(line / last))))
        move = float(np.log(line[worst] / last))
        raise ValueError(
            f"forecast refused: the model forecast{name} a move of {100 * math.expm1(move):+.1f} % in "
            f"{k} step{'s' if k > 1 else ''} ({columns[worst]} {_price(line[worst])} from the last "
            f"close {_price(last)}), beyond any {k}-step move in its training data "
            f"(at most {100 * math.expm1(moves[k - 1]):.1f} %); this model does not fit this data"
        )


def _target_hint(target: str) -> str:
    if target == "close":
        return "a price-level model reads prices in the units it was trained on; give it data of the same asset"
    return "check that the data is the asset and frequency the model was trained on"


# ----- uploads --------------------------------------------------------------------------------------


def check_upload(path: str | Path, name: str | None = None) -> None:
    """Refuse, before parsing, an upload that is too large or is not a CSV or Parquet file.

    Raises
    ------
    ValueError
        Naming the file (by `name`, its name as uploaded) and what would be accepted.
    """
    path = Path(path)
    name = name or path.name
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise ValueError(
            f"{name} is {size / 2**20:,.1f} MiB; uploads are limited to {MAX_UPLOAD_BYTES / 2**20:,.0f} MiB: "
            "give fewer rows (the forecast reads only the last ones)"
        )
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PAR1"):
        return
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            raise ValueError(f"{name} is {kind}, not a CSV or Parquet file of OHLCV candles")
    if b"\x00" in head:
        raise ValueError(f"{name} is a binary file, not a CSV or Parquet file of OHLCV candles")


def check_upload_rows(df: pd.DataFrame, name: str) -> None:
    """Refuse an upload with more than `MAX_UPLOAD_ROWS` rows."""
    if len(df) > MAX_UPLOAD_ROWS:
        raise ValueError(
            f"{name} has {len(df):,} rows; uploads are limited to {MAX_UPLOAD_ROWS:,}: "
            "give fewer rows (the forecast reads only the last ones)"
        )
