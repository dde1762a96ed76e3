"""Checks around a forecast: warnings a user should see, and forecasts that must not be shown.

`LSTMForecaster.predict` calls `before_forecast` on its input and `after_forecast` on its output, so
the CLI, the Python API and the Space share every check:

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

from .data import (
    check_forecast_spacing,
    infer_step,
    max_missing_steps,
    series_steps,
    stamp_values,
    step_of,
)
from .features import warmup_rows
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


def _steps(parts: list[tuple[str | None, np.ndarray, dict]]) -> np.ndarray:
    """(series,) `step_of` of each series (vectorized: `data.series_steps`); NaT for series of one row."""
    lengths = np.array([len(stamps) for _, stamps, _ in parts], dtype=np.int64)
    if not len(parts):
        return np.full(0, np.timedelta64("NaT"))
    stamps = np.concatenate([stamps for _, stamps, _ in parts])
    ends = np.cumsum(lengths)
    return series_steps(stamps, ends - lengths, ends)


def _low_last_volume(parts: list[tuple[str | None, np.ndarray, dict]]) -> np.ndarray:
    """(series,) whether each series' last candle may look incomplete (`_incomplete` says for sure):
    one vectorized median over the series long enough, instead of one per series."""
    suspect = np.ones(len(parts), dtype=bool)
    long = [i for i, (_, _, a) in enumerate(parts) if "volume" in a and len(a["volume"]) >= INCOMPLETE_LOOKBACK + 1]
    if len(long) > 1:  # one series: `_incomplete` computes its one median
        block = np.stack([parts[i][2]["volume"][-INCOMPLETE_LOOKBACK - 1 :] for i in long])
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
    profile = getattr(model, "training_profile", None) or {}
    context = model.config.context_length
    quantity = _quantity(model.config.target)
    warnings: list[dict] = []
    dropped = []
    trained_symbols = _trained_symbols(profile)
    parts = series_arrays(df, ("volume", quantity))
    low_volume = _low_last_volume(parts)
    incomplete = [
        _incomplete(stamps, arrays.get("volume")) if suspect else None
        for (_, stamps, arrays), suspect in zip(parts, low_volume, strict=True)
    ]
    # The spacing of the rows the forecast will read: without a last candle that is dropped.
    read = [(s, t[:-1] if why and drop_incomplete else t, a) for (s, t, a), why in zip(parts, incomplete, strict=True)]
    gapped, short = forecast_spacing(model, read)
    if gapped and len(parts) == 1:
        symbol, error = next(iter(gapped.items()))
        raise ValueError(f"{symbol}: {error}" if isinstance(df.index, pd.MultiIndex) else error)
    if gapped and len(gapped) == len(parts):
        raise ValueError(f"no series can be forecast: {'; '.join(f'{s}: {e}' for s, e in gapped.items())}")
    for symbol, error in gapped.items():
        warnings.append(warning("gap", f"{symbol} is not forecast: {error}", symbol))
    if gapped:
        df = df.drop(index=list(gapped), level="symbol")
        kept = [i for i, part in enumerate(parts) if part[0] not in gapped]
        parts, incomplete = [parts[i] for i in kept], [incomplete[i] for i in kept]
    steps = _steps(parts) if profile.get("frequency") else None
    for i, ((symbol, stamps, arrays), why) in enumerate(zip(parts, incomplete, strict=True)):
        if symbol in short:
            warnings.append(warning("short_gap", short[symbol], symbol))
        if why and drop_incomplete:
            dropped.append((symbol, pd.Timestamp(stamps[-1]).tz_localize("UTC")))
            warnings.append(warning("dropped_incomplete", why + "; it was dropped", symbol))
            stamps, arrays = stamps[:-1], {c: v[:-1] for c, v in arrays.items()}
            steps[i] = step_of(stamps).to_timedelta64() if steps is not None and len(stamps) >= 2 else steps[i]
        elif why:
            warnings.append(
                warning(
                    "incomplete_candle",
                    why + "; drop it (predict(..., drop_incomplete=True)) to forecast from the last complete one",
                    symbol,
                )
            )
        name = f"{symbol}: " if symbol else ""
        if profile.get("frequency") and len(stamps) >= 2:
            trained, given = pd.Timedelta(profile["frequency"]), pd.Timedelta(steps[i])
            if trained != given:
                warnings.append(
                    warning(
                        "frequency",
                        f"{name}the data has one row every {_duration(given)}, the model was trained on one every "
                        f"{_duration(trained)}: its forecasts and their timestamps assume the data's own spacing",
                        symbol,
                    )
                )
        if trained_symbols and symbol is not None and symbol not in trained_symbols:
            warnings.append(
                warning(
                    "zero_shot",
                    f"{symbol} was not in the model's training data ({', '.join(trained_symbols)}): "
                    "a zero-shot forecast",
                    symbol,
                )
            )
            continue
        asset = _asset(profile, symbol)
        if asset and quantity in arrays and len(stamps):
            read = arrays[quantity][-context:]
            low, high = float(asset["min_close"]), float(asset["max_close"])
            if quantity == "close" and (read.min() < low or read.max() > high):
                warnings.append(
                    warning(
                        "price_range",
                        f"{name}the closes the forecast reads ({_price(read.min())} to {_price(read.max())}) lie "
                        f"outside the range training saw ({_price(low)} to {_price(high)})",
                        symbol,
                    )
                )
    single = single_asset_warning(model.config.features, [symbol for symbol, _, _ in parts], trained_symbols)
    if single:
        warnings.append(warning("single_asset_market", single, parts[0][0]))
    if dropped:
        df = _drop_rows(df, dropped)
    return df, warnings


def forecast_spacing(
    model, parts: list[tuple[str | None, np.ndarray, dict]]
) -> tuple[dict[str | None, str], dict[str | None, str]]:
    """The spacing of the rows a forecast from each series' last row reads (`data.check_forecast_spacing`).

    The one spacing check of a forecast: `before_forecast` calls it (through `predict`), and
    `LSTMForecaster.predict_quantiles` when called on its own. A series may miss at most
    `data.max_missing_steps(context_length)` steps (`CONTEXT_STEPS_PER_MISSING_STEP`) in the rows it
    reads; they are read as consecutive, as training reads its windows. Evenly spaced tails (nearly
    every series) are told apart with one `np.diff` each; only the others build an index.

    Parameters
    ----------
    model : LSTMForecaster
        The model (its features' warm-up and `context_length` say how many rows a forecast reads).
    parts : list of (symbol, stamps, arrays)
        The series, as `series_arrays` gives them.

    Returns
    -------
    (dict, dict)
        By symbol: the series that cannot be forecast, with the error naming the gap (too many missing
        steps, or a row off the grid of steps); and the series forecast across short gaps, with the
        `short_gap` warning's message (the missing dates, and how many rows are missing).
    """
    rows_read = warmup_rows(model.config.features) + model.config.context_length
    bound = max_missing_steps(model.config.context_length)
    steps = _steps(parts)
    gapped, short = {}, {}
    for (symbol, stamps, _), step in zip(parts, steps, strict=True):
        if len(stamps) < 2 or (np.diff(stamps[-rows_read:]) == step).all():
            continue
        index = pd.DatetimeIndex(stamps).tz_localize("UTC")
        try:
            gaps = check_forecast_spacing(index, rows_read, bound, pd.Timedelta(step))
        except ValueError as e:
            gapped[symbol] = str(e)
            continue
        if gaps:
            short[symbol] = _short_gap_message(symbol, gaps, pd.Timedelta(step), min(rows_read, len(stamps)), bound)
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


def _drop_rows(df: pd.DataFrame, rows: list[tuple[str | None, pd.Timestamp]]) -> pd.DataFrame:
    if isinstance(df.index, pd.MultiIndex):
        return df.drop(index=[(symbol, stamp) for symbol, stamp in rows])
    return df.drop(index=[stamp for _, stamp in rows])


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
    profile = getattr(model, "training_profile", None) or {}
    target = model.config.target
    quantity = _quantity(target)
    moves = profile.get("max_abs_log_move") if quantity == "close" else None
    last_of = {
        symbol: arrays[quantity][-1] for symbol, _, arrays in series_arrays(df, (quantity,)) if quantity in arrays
    }
    values = frame.to_numpy(dtype="float64")
    parts = (
        series_arrays(frame, ()) if isinstance(frame.index, pd.MultiIndex) else [(None, stamp_values(frame.index), {})]
    )
    lengths = np.array([len(stamps) for _, stamps, _ in parts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    step = np.arange(len(values)) - np.repeat(starts, lengths) + 1  # each row's step, 1..horizon
    bad = ~np.isfinite(values) | ((values <= 0) if quantity == "close" else (values < 0))
    flagged = bad.any(axis=1)
    lasts = np.array([last_of.get(symbol, np.nan) for symbol, _, _ in parts], dtype="float64")
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
        symbol, stamps = parts[i][0], parts[i][1]
        name = f" for {symbol}" if symbol else ""
        k, line, last = int(step[row]), values[row], float(lasts[i])
        stamp = stamps[k - 1]
        if bad[row].any():
            j = int(np.flatnonzero(bad[row])[0])
            kind = "price" if quantity == "close" else "volume"
            raise ValueError(
                f"forecast refused: the model forecast{name} a {kind} of {line[j]:,.2f} ({frame.columns[j]}) at step {k} "
                f"({_day(stamp)}), which is not a possible {kind}; this model does not fit this data "
                f"({_target_hint(target)})"
            )
        worst = int(np.argmax(np.abs(np.log(line / last))))
        move = float(np.log(line[worst] / last))
        raise ValueError(
            f"forecast refused: the model forecast{name} a move of {100 * math.expm1(move):+.1f} % in "
            f"{k} step{'s' if k > 1 else ''} ({frame.columns[worst]} {_price(line[worst])} from the last "
            f"close {_price(last)}), beyond any {k}-step move in its training data "
            f"(at most {100 * math.expm1(moves[k - 1]):.1f} %); this model does not fit this data"
        )
    frame.attrs["warnings"] = list(warnings)
    return frame


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
