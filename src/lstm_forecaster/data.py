"""Load OHLCV data from what users really bring, and cut it into training windows.

`load_ohlcv` accepts a CSV or Parquet file, a DataFrame, a `datasets.Dataset`, or a Hub dataset id,
and returns float64 columns `open, high, low, close, volume` (those present; `close` is required) on
a UTC `DatetimeIndex` named `timestamp`, oldest first. Several series (a list of sources, a folder,
a glob, or a table whose `symbol` column names several) give a panel indexed by `(symbol, timestamp)`:
see `lstm_forecaster.panel`.

Limits on what is read (a hostile file is refused before pandas parses it, in time linear in its
header): at most `MAX_COLUMNS` columns, no name repeated, a header line of at most
`MAX_HEADER_BYTES` bytes (`check_csv_header`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

OHLCV = ("open", "high", "low", "close", "volume")
TIME_COLUMNS = ("timestamp", "datetime", "date", "time", "open_time", "unix")
_HOUR_AM_PM = re.compile(r"^\d{4}-\d{2}-\d{2} \d{1,2}-[AP]M$")
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?")
PLAUSIBLE_YEARS = (1980, 2100)  # numeric timestamps outside [1980, 2100) are refused

MAX_COLUMNS = 256  # OHLCV exports hold 5 to 15 columns; pandas' handling of repeated names is quadratic
MAX_HEADER_BYTES = 16_384  # the header line, in bytes (UTF-8)

CONTEXT_STEPS_PER_MISSING_STEP = 10
"""The short-gap bound of a forecast (`max_missing_steps`): the rows a forecast reads (the features'
warm-up plus the context) may miss one step per this many steps of the context, in all (12 of 150 rows
for the default's context of 120 days; at least 1). `predict` reads them as consecutive, as training
does, with a `short_gap` warning; more missing steps, or a row off the grid, are refused (`gap`)."""


def sample_path() -> Path:
    """Path of the embedded sample: BTC-USD daily candles, 2014-09-17 to 2024-03-31 (Yahoo Finance)."""
    return Path(str(resources.files("lstm_forecaster") / "data" / "BTC-USD.csv"))


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (recorded in `training_args.json`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_ohlcv(source, *, revision: str | None = None, split: str = "train") -> pd.DataFrame:
    """Load OHLCV candles and normalise them: one series, or a panel of several.

    One source holding one series gives today's single-series frame. Several series give a panel
    (see `lstm_forecaster.panel.load_panel`): one long frame indexed by `(symbol, timestamp)`, each
    series cleaned as below. A panel comes from a list of sources, a folder, a glob (`"data/*.csv"`),
    a frame indexed by `(symbol, timestamp)`, or one table whose `symbol` column has several values.

    Parameters
    ----------
    source : str, Path, list, pd.DataFrame or datasets.Dataset
        A `.csv`/`.parquet` file, a DataFrame, a `datasets` dataset, a Hub dataset id (`user/name`),
        or, for a panel, a list of these, a folder or a glob.
    revision : str, optional
        Branch, tag or commit of a Hub dataset.
    split : str
        Split of a Hub dataset.

    Returns
    -------
    pd.DataFrame
        float64 columns among `open, high, low, close, volume`, indexed by UTC timestamps, oldest
        first, exact duplicate rows dropped; for a panel, indexed by `(symbol, timestamp)`.

    Raises
    ------
    ValueError
        For an unreadable file, a missing `close` or time column, non-numeric or non-positive prices,
        a high below its low, or two different candles at one timestamp.
    """
    from .panel import is_panel_source, load_panel, panel_from_table

    if is_clean_ohlcv(source):
        return source.copy(deep=False)  # already what this function returns: not normalised again
    if is_panel_source(source):
        return load_panel(source, revision=revision, split=split)
    raw = _read(source, revision=revision, split=split)
    symbol = next((c for c in raw.columns if _snake(c) == "symbol"), None)
    if symbol is not None and raw[symbol].nunique(dropna=False) > 1:
        return panel_from_table(source, raw)
    df = normalize_ohlcv(raw)
    if symbol is not None and raw[symbol].notna().any():
        df.attrs["symbol"] = str(raw[symbol].dropna().iloc[0])  # a one-asset file names its asset (guards.py)
    return df


CLEAN_MARK = "lstm_forecaster_clean"
"""`attrs` key `load_panel` sets on the panels it returns (a panel's frequencies are checked once, there)."""


def is_clean_ohlcv(df) -> bool:
    """Whether `df` is already a frame `load_ohlcv` returns, by a cheap check (no copy, no parsing).

    A single series: float64 columns, an ordered subset of `open, high, low, close, volume` with
    `close`, indexed by a strictly increasing UTC `DatetimeIndex` named `timestamp`, with positive
    prices, non-negative volume, no NaN and no high below its low. A panel: the same per series, under
    a `(symbol, timestamp)` index with each symbol's rows together and oldest first, and marked by
    `load_panel` (`CLEAN_MARK`). Anything else is normalised as usual.
    """
    from .forecast_rows import clean_arrays

    return clean_arrays(df) is not None


def _read(source, *, revision: str | None, split: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if hasattr(source, "to_pandas") and not isinstance(source, (str, Path)):
        return source.to_pandas()
    path = Path(source)
    if path.is_file():
        suffix = path.suffix.lower()
        try:
            if suffix in (".parquet", ".pq"):
                return pd.read_parquet(path)
            return _read_csv(path.read_bytes())
        except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
            raise ValueError(
                f"cannot read {path} as {'Parquet' if suffix in ('.parquet', '.pq') else 'CSV'}: {e}"
            ) from e
    if path.exists():
        raise ValueError(f"{path} is not a file; give a CSV or Parquet file")
    if isinstance(source, str) and _HUB_ID.match(source) and not source.endswith((".csv", ".parquet")):
        return _read_hub_dataset(source, revision=revision, split=split)
    raise ValueError(f"no such file: {source} (give a CSV or Parquet file, a DataFrame, or a Hub dataset id user/name)")


def _read_csv(raw: bytes) -> pd.DataFrame:
    text = raw.decode("utf-8-sig")
    first, _, rest = text.partition("\n")
    # Some exports (CryptoDataDownload) put a URL on the first line, before the header.
    if "," not in first or first.lower().startswith(("http", "www.")):
        text = rest
    if not text.strip():
        raise ValueError("the file has no rows")
    check_csv_header(text)
    return pd.read_csv(io.StringIO(text))


def check_csv_header(raw: bytes | str) -> list[str]:
    """Refuse an absurd CSV header before it is parsed; returns the column names.

    Linear in the header's length: the header line is split once with the `csv` module, whatever
    the rest of the file holds. `raw` is the file's content from its header line on (or the whole
    content: only the first line is read).

    Raises
    ------
    ValueError
        When the header line is longer than `MAX_HEADER_BYTES`, has more than `MAX_COLUMNS`
        columns, or repeats a name.
    """
    if isinstance(raw, bytes):
        end = raw.find(b"\n", 0, MAX_HEADER_BYTES + 1)
        line = raw[: end if end >= 0 else MAX_HEADER_BYTES + 1].decode("utf-8-sig", errors="replace")
    else:
        end = raw.find("\n", 0, MAX_HEADER_BYTES + 1)
        line = raw[: end if end >= 0 else MAX_HEADER_BYTES + 1]
    if len(line.encode("utf-8")) > MAX_HEADER_BYTES:
        raise ValueError(
            f"the CSV header line is longer than {MAX_HEADER_BYTES:,} bytes: not an OHLCV file "
            f"(accepted: at most {MAX_COLUMNS} columns such as timestamp, open, high, low, close, volume)"
        )
    names = next(csv.reader([line.rstrip("\r")]), [])
    if len(names) > MAX_COLUMNS:
        raise ValueError(
            f"the CSV header has {len(names):,} columns; at most {MAX_COLUMNS} are accepted "
            "(an OHLCV file needs timestamp, open, high, low, close, volume)"
        )
    counts = Counter(name.strip() for name in names)
    repeated = [(name, n) for name, n in counts.items() if n > 1]
    if repeated:
        name, n = repeated[0]
        raise ValueError(f"the CSV header repeats the column {name!r} ({n} times); give every column its own name")
    return names


def _read_hub_dataset(repo_id: str, *, revision: str | None, split: str) -> pd.DataFrame:
    import datasets
    from huggingface_hub import HfApi, constants

    # Resolve the revision to its commit first: a missing repo or revision is a clear error, and the
    # commit recorded (training_args.json, the model card) is exactly the one loaded.
    from .errors import require_hub

    require_hub()  # at once, not after the client's retries
    sha = None if constants.HF_HUB_OFFLINE else HfApi().dataset_info(repo_id, revision=revision).sha
    dataset = datasets.load_dataset(repo_id, revision=sha or revision, split=split)
    frame = dataset.to_pandas()
    frame.attrs["hub_dataset"] = {"id": repo_id, "revision": revision, "sha": sha, "split": split}
    return frame


def _snake(name) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def _single_level_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Columns with one level: a MultiIndex (yfinance's `(Price, Ticker)`) loses its levels of one value."""
    columns = df.columns
    if not isinstance(columns, pd.MultiIndex):
        return df
    constant = [i for i in range(columns.nlevels) if columns.get_level_values(i).nunique() == 1]
    varying = [i for i in range(columns.nlevels) if i not in constant]
    if len(varying) != 1:
        levels = ", ".join(str(name) for name in columns.names) if any(columns.names) else f"{columns.nlevels} levels"
        raise ValueError(
            f"the columns have several levels (a MultiIndex: {levels}) and more than one symbol or field varies; "
            "select one symbol first, e.g. df.xs('BTC-USD', axis=1, level='Ticker')"
        )
    df = df.copy()
    df.columns = columns.get_level_values(varying[0])
    return df


def _check_column_names(df: pd.DataFrame) -> None:
    """No column that is read (prices, volume, time) given twice, after normalising names such as 'Close'."""
    counts = Counter(df.columns)
    repeated = [name for name, n in counts.items() if n > 1 and name in (*OHLCV, *TIME_COLUMNS, "adj_close")]
    if repeated:
        raise ValueError(
            f"the column {repeated[0]!r} is given {counts[repeated[0]]} times (names are compared in lower "
            "snake case); keep one"
        )


def _rename_columns(df: pd.DataFrame) -> pd.DataFrame:
    df = _single_level_columns(df)
    if len(df.columns) > MAX_COLUMNS:
        raise ValueError(f"the data has {len(df.columns):,} columns; at most {MAX_COLUMNS} are accepted")
    df = df.rename(columns=_snake)
    _check_column_names(df)
    if "close" not in df.columns and "adj_close" in df.columns:
        df = df.rename(columns={"adj_close": "close"})
    if "volume" not in df.columns:
        # Exchange exports give volume in the base and in the quote asset ("Volume BTC",
        # "Volume USDT"): the first one listed is the base asset's.
        candidates = [c for c in df.columns if c.startswith("volume_")]
        if candidates:
            df = df.rename(columns={candidates[0]: "volume"})
    return df


def _parse_unix(values: pd.Series, column: str = "unix") -> pd.DatetimeIndex:
    """Numeric times: `YYYYMMDD` integers, else unix seconds, milliseconds, microseconds or nanoseconds.

    A number that is neither (an Excel serial date such as 45322, a count) is refused: read as unix
    seconds it would be a date in 1970. Plausible unix times fall in `PLAUSIBLE_YEARS`.
    """
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    if np.isnan(numbers).any():
        row = int(np.flatnonzero(np.isnan(numbers))[0])
        raise ValueError(f"column '{column}' has a non-numeric value {values.iloc[row]!r} at row {row}")
    dates = _yyyymmdd(numbers)
    if dates is not None:
        return dates
    # Seconds, milliseconds, microseconds and nanoseconds may be mixed in one file.
    seconds = np.select(
        [numbers > 1e17, numbers > 1e14, numbers > 1e11], [numbers / 1e9, numbers / 1e6, numbers / 1e3], numbers
    )
    low, high = (pd.Timestamp(f"{year}-01-01", tz="UTC").timestamp() for year in PLAUSIBLE_YEARS)
    bad = (seconds < low) | (seconds >= high)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = values.iloc[row]
        raise ValueError(
            f"column '{column}' has {value.item() if hasattr(value, 'item') else value!r} at row {row}: not a unix time from {PLAUSIBLE_YEARS[0]} "
            f"to {PLAUSIBLE_YEARS[1]} (seconds, ms, us or ns) nor a YYYYMMDD date; Excel serial dates are not "
            "accepted: export the dates as text (2024-01-31)"
        )
    return pd.DatetimeIndex(pd.to_datetime(seconds, unit="s", utc=True))


def _yyyymmdd(numbers: np.ndarray) -> pd.DatetimeIndex | None:
    """Integers such as 20240131 as UTC dates, when every value is one; None otherwise."""
    if not len(numbers) or (numbers != np.floor(numbers)).any() or numbers.min() < 1e7 or numbers.max() >= 1e8:
        return None
    parsed = pd.to_datetime(pd.Series(numbers.astype("int64")).astype(str), format="%Y%m%d", errors="coerce", utc=True)
    if parsed.isna().any():
        return None
    years = parsed.dt.year
    if years.min() < PLAUSIBLE_YEARS[0] or years.max() >= PLAUSIBLE_YEARS[1]:
        return None
    return pd.DatetimeIndex(parsed)


def _parse_dates(values: pd.Series, column: str) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
        return pd.DatetimeIndex(parsed)
    if pd.api.types.is_numeric_dtype(values):
        return _parse_unix(values, column)
    text = values.astype("string").str.strip()
    am_pm = text.str.match(_HOUR_AM_PM.pattern).fillna(False).to_numpy(dtype=bool)
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if am_pm.any():
        parsed[am_pm] = pd.to_datetime(text[am_pm], format="%Y-%m-%d %I-%p", utc=True, errors="coerce")
    if (~am_pm).any():
        parsed[~am_pm] = pd.to_datetime(text[~am_pm], format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column '{column}' has an unreadable timestamp {values.iloc[row]!r} at row {row}; "
            "accepted: ISO dates, 'YYYY-MM-DD HH-AM', YYYYMMDD, unix seconds or milliseconds"
        )
    return pd.DatetimeIndex(parsed)


def _date_and_time(dates: pd.Series, times: pd.Series) -> pd.DatetimeIndex:
    """Separate `date` and `time` columns (the time of day as HH:MM[:SS] or an HHMM integer), combined."""
    if pd.api.types.is_integer_dtype(times) and times.between(0, 2359).all() and (times % 100 < 60).all():
        text = times.astype("int64").map(lambda t: f"{t // 100:02d}:{t % 100:02d}")
    else:
        text = times.astype("string").str.strip()
    if not text.str.fullmatch(_TIME_OF_DAY.pattern).fillna(False).all():
        row = int(np.flatnonzero(~text.str.fullmatch(_TIME_OF_DAY.pattern).fillna(False).to_numpy(dtype=bool))[0])
        raise ValueError(
            f"columns 'date' and 'time' are both given, but 'time' holds {times.iloc[row]!r} at row {row}, not a time "
            "of day (HH:MM[:SS] or HHMM); keep one time column, or name the full timestamp column 'timestamp'"
        )
    day = _parse_dates(dates, "date")
    if (day != day.normalize()).any():
        row = int(np.flatnonzero(day != day.normalize())[0])
        raise ValueError(
            f"columns 'date' and 'time' are both given, but 'date' holds a time of day too ({dates.iloc[row]!r} at "
            f"row {row}); keep one time column"
        )
    text = text.where(text.str.count(":") == 2, text + ":00")
    return day + pd.to_timedelta(text.to_numpy(dtype=str))


def _timestamps(df: pd.DataFrame) -> pd.DatetimeIndex:
    if isinstance(df.index, pd.DatetimeIndex):
        index = df.index
        return index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
    if "unix" in df.columns:
        return _parse_unix(df["unix"])
    if "date" in df.columns and "time" in df.columns and not {"timestamp", "datetime"} & set(df.columns):
        return _date_and_time(df["date"], df["time"])
    for column in TIME_COLUMNS:
        if column in df.columns:
            return _parse_dates(df[column], column)
    raise ValueError(
        f"no time column; expected one of {', '.join(TIME_COLUMNS)} or a DatetimeIndex; "
        f"found: {', '.join(map(str, df.columns))}"
    )


def normalize_ohlcv(df: pd.DataFrame) -> pd.DataFrame:
    """Normalise names, timestamps, order and types of an OHLCV frame; see `load_ohlcv`."""
    attrs = dict(df.attrs)
    df = _rename_columns(df)
    if "close" not in df.columns:
        raise ValueError(f"missing column 'close'; found: {', '.join(map(str, df.columns)) or 'no columns'}")
    index = _timestamps(df)
    columns = [c for c in OHLCV if c in df.columns]
    out = pd.DataFrame(index=pd.DatetimeIndex(index, name="timestamp"))
    for column in columns:
        raw = df[column]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = "an empty value" if pd.isna(raw.iloc[row]) else f"a non-numeric value {raw.iloc[row]!r}"
            raise ValueError(
                f"column '{column}' has {value} at row {row} ({index[row]}); prices and volume must be numbers"
            )
        out[column] = values.to_numpy(dtype="float64")
    for column in columns:
        values = out[column].to_numpy()
        bad = values < 0 if column == "volume" else values <= 0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            kind = "negative" if column == "volume" else "non-positive"
            raise ValueError(f"column '{column}' has a {kind} value {values[row]} at {out.index[row]}")
    if "high" in out.columns and "low" in out.columns:
        bad = (out["high"] < out["low"]).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"high below low at {out.index[row]}: high {out['high'].iloc[row]} < low {out['low'].iloc[row]}"
            )
    out = out.sort_index(kind="stable")
    repeated = out.index.duplicated(keep="first")
    if repeated.any():
        # A repeated timestamp is the same candle again: exactly, or from an export that overlaps
        # two formats (rounded prices, revised volume). Keep its first row in the file's order.
        # Prices more than 1 % apart are different candles: an error.
        prices = [c for c in ("open", "high", "low", "close") if c in out.columns]
        first = out[prices][~repeated].reindex(out.index[repeated]).to_numpy()
        again = out[prices][repeated].to_numpy()
        differs = ~np.isclose(again, first, rtol=1e-2, atol=0.0).all(axis=1)
        if differs.any():
            stamp = out.index[repeated][int(np.flatnonzero(differs)[0])]
            raise ValueError(f"two different candles at {stamp}; keep one row per timestamp")
        out = out[~repeated]
    out.attrs = attrs
    return out


def utc_timestamp(value) -> pd.Timestamp:
    """A timestamp-like value as a UTC `pd.Timestamp` (naive values are taken as UTC)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def check_length(df: pd.DataFrame, needed: int, what: str) -> None:
    """Raise `ValueError` when `df` has fewer than `needed` rows."""
    if len(df) < needed:
        raise ValueError(f"too few rows: {len(df)} given, {what} needs at least {needed}")


def max_missing_steps(context_length: int) -> int:
    """Most steps the rows a forecast reads may miss in all: one per `CONTEXT_STEPS_PER_MISSING_STEP`
    steps of the context, and at least one (12 for a context of 120 days, 1 for one of 16)."""
    return max(1, int(context_length) // CONTEXT_STEPS_PER_MISSING_STEP)


def check_forecast_spacing(
    index: pd.DatetimeIndex, rows: int, max_missing: int, step: pd.Timedelta | None = None
) -> list[tuple[pd.Timestamp, pd.Timestamp, int]]:
    """The short gaps in the last `rows` timestamps; `ValueError` naming the gap for any other unevenness.

    A forecast reads the last `rows` rows (the features' warm-up plus `context_length`) as consecutive
    steps of the data's frequency (`infer_step`), as training reads its windows. Missing steps are
    accepted up to `max_missing` in all (`max_missing_steps`: a few exchange outage days among 150);
    more (a missing month), or a row off the grid of steps (one 13:37 row in daily data), would shift
    the forecast's inputs too far, and are refused.

    Returns
    -------
    list of (pd.Timestamp, pd.Timestamp, int)
        Each gap, oldest first: the row before it, the row after it, and the steps missing between.

    Raises
    ------
    ValueError
        Naming the first row off the grid (else the newest gap), the data's step and the rows up to which a
        forecast could be made instead.
    """
    step = infer_step(index) if step is None else step
    recent = index[-rows:] if 0 < rows < len(index) else index
    stamps = stamp_values(recent)
    spacing = (stamps[1:] - stamps[:-1]).astype("timedelta64[ns]").astype(np.int64)
    unit = int(step.value)
    off_grid = np.flatnonzero(spacing % unit != 0)
    missing = spacing // unit - 1
    gaps = np.flatnonzero(missing > 0)
    total = int(missing[gaps].sum())
    if not off_grid.size and total <= max_missing:
        return [(recent[i], recent[i + 1], int(missing[i])) for i in gaps]
    i = int(off_grid[0] if off_grid.size else gaps[-1])  # the first row off the grid, or the newest gap
    before, after = recent[i], recent[i + 1]
    if off_grid.size:
        why = f"the data's step is {step}, and a row off its grid of steps cannot be read as one"
    else:
        why = (
            f"the data's step is {step}: the last {rows} rows miss {total} steps, more than the {max_missing} "
            f"accepted (one per {CONTEXT_STEPS_PER_MISSING_STEP} steps of the context)"
        )
    raise ValueError(
        f"the rows a forecast reads are not evenly spaced: {after - before} from {before} to {after}, {why}; "
        f"fill the gap, or forecast from before it with rows up to {before}"
    )


def check_forecast_values(values: np.ndarray, central: np.ndarray, target: str) -> None:
    """Raise `ValueError` unless every forecast is finite and the central one a positive price (or volume).

    Parameters
    ----------
    values : np.ndarray
        (horizon, outputs) forecasts in price (or volume) units: all must be finite.
    central : np.ndarray
        (horizon,) the point forecast (the median, or the only output): must be positive. A lower
        quantile level below zero is left to the model's calibration.
    """
    values = np.asarray(values, dtype="float64")
    if not np.isfinite(values).all():
        raise ValueError(
            f"the model forecasts {values[~np.isfinite(values)].flat[0]}: not a number; its weights or scaler are broken"
        )
    central = np.asarray(central, dtype="float64")
    if (central <= 0).any():
        quantity = "volume" if target == "volume" else "price"
        raise ValueError(
            f"the model forecasts a {quantity} of {central[central <= 0].flat[0]}: not positive; "
            "its weights or scaler are broken, or the data is not what it was trained on (another asset's "
            "prices for a price-level model)"
        )


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The data's own frequency: the most common spacing between the last (up to 200) timestamps."""
    return step_of(stamp_values(index))


def series_steps(stamps: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`step_of` of every series `stamps[starts[i]:ends[i]]` of a stacked array, vectorized where a
    series' last (up to 201) steps are all equal (`timedelta64` values)."""
    lengths = ends - starts
    if not len(lengths) or lengths.max() < 2:
        return np.full(len(lengths), np.timedelta64("NaT"))
    span = np.arange(-min(201, int(lengths.max())), 0)
    take = np.maximum(ends[:, None] + span, starts[:, None])
    gaps = np.diff(stamps[take], axis=1)
    real = np.diff(take, axis=1) > 0
    regular = ((gaps == gaps[:, -1:]) | ~real).all(axis=1) & (lengths >= 2)
    steps = gaps[:, -1].copy()
    for i in np.flatnonzero(~regular):
        steps[i] = step_of(stamps[starts[i] : ends[i]]).to_timedelta64()
    return steps


def stamp_values(index: pd.DatetimeIndex) -> np.ndarray:
    """The timestamps of a `DatetimeIndex` as naive UTC `datetime64` values (a view, no copy)."""
    return index.asi8.view(f"datetime64[{index.unit}]")


def step_of(stamps: np.ndarray) -> pd.Timedelta:
    """`infer_step` of `datetime64` values (naive UTC), oldest first."""
    if len(stamps) < 2:
        raise ValueError("need at least 2 timestamps to infer the data's frequency")
    stamps = stamps[-201:]
    gaps = stamps[1:] - stamps[:-1]
    if (gaps == gaps[-1]).all():
        return pd.Timedelta(gaps[-1])
    steps, counts = np.unique(gaps, return_counts=True)
    return pd.Timedelta(steps[np.argmax(counts)])  # the shortest of the most common spacings


def future_targets(base: np.ndarray, horizon: int, target: str) -> np.ndarray:
    """(..., rows, horizon) targets of each row of `base` (rows along the last axis); NaN beyond the data."""
    n = base.shape[-1]
    ahead = np.full((*base.shape, horizon), np.nan)
    for k in range(1, horizon + 1):
        ahead[..., : n - k, k - 1] = base[..., k:]
    return np.log(ahead / base[..., None]) if target == "log_return" else ahead


def sliding_windows(values: np.ndarray, length: int) -> np.ndarray:
    """Every run of `length` consecutive rows of a (rows, features) array, as a read-only view.

    Returns an array of shape (rows - length + 1, length, features) that shares memory with
    `values`: memory grows with the rows, not rows x length.
    """
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (rows, features). Got shape {values.shape}.")
    if len(values) < length:
        raise ValueError(f"too few rows: {len(values)} given, a window needs {length}")
    return np.lib.stride_tricks.sliding_window_view(values, length, axis=0).transpose(0, 2, 1)


class Samples:
    """Features, targets and bases of one series, aligned row by row; windows are cut on demand.

    Row i is a forecast origin when it closes a full window (i >= context_length - 1). Its target for
    step k (1..horizon) is, for target `close`/`volume`, that column k rows later; for `log_return`,
    log(close[i + k] / close[i]). Targets beyond the data are NaN.

    Parameters
    ----------
    df : pd.DataFrame
        OHLCV rows from `load_ohlcv`.
    features, target, context_length, horizon
        As in `LSTMForecasterConfig`.
    check_last : int, optional
        Check only the last `check_last` rows of features for finite values (a forecast reads no
        other); default: every row.
    last_rows : int, optional
        Compute over the last `last_rows` rows of `df` only (`LSTMForecaster.rows_read`: with
        features of a fixed look-back, the rows a forecast reads give the same numbers as the whole
        series); default: every row.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        features: list[str],
        target: str,
        context_length: int,
        horizon: int,
        check_last: int | None = None,
        last_rows: int | None = None,
    ):
        from .features import Columns, warmup_rows

        quantity = "volume" if target == "volume" else "close"
        if quantity not in df.columns:
            raise ValueError(f"missing column '{quantity}' for target '{target}'; found: {', '.join(df.columns)}")
        check_length(
            df, warmup_rows(features) + context_length, f"context_length {context_length} plus the features' warm-up"
        )
        skipped = len(df) - last_rows if last_rows is not None and len(df) > last_rows else 0
        self._fill(Columns.of(df, skipped), df.index[skipped:], features, target, context_length, horizon, check_last)

    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        stamps: np.ndarray,
        features: list[str],
        target: str,
        context_length: int,
        horizon: int,
        check_last: int | None = None,
    ) -> Samples:
        """The samples of one series given as arrays: its float64 columns and naive UTC `datetime64` stamps
        (the rows of a `forecast_rows.ForecastRows`), with as many rows as the features' warm-up and one
        window at least; the same numbers as the constructor on a frame of these rows."""
        from .features import Columns

        samples = cls.__new__(cls)
        columns = Columns({"timestamp": stamps}, read=arrays.get, names=list(arrays))
        samples._fill(columns, stamps, features, target, context_length, horizon, check_last)
        return samples

    def _fill(self, columns, index, features, target, context_length, horizon, check_last) -> None:
        """Features of `columns` after the warm-up rows; `index` the rows' `DatetimeIndex`, or their naive
        UTC stamps (the index is then built when first read)."""
        from .features import check_finite, feature_array, warmup_rows

        quantity = "volume" if target == "volume" else "close"
        warmup = warmup_rows(features)
        values = feature_array(columns, features, warmup)
        if isinstance(index, pd.Index):
            self.index = index[warmup:]
        else:
            self._index, self._stamps = None, index[warmup:]
        checked = slice(-check_last, None) if check_last else slice(None)
        if not np.isfinite(values[checked]).all():
            check_finite(values[checked], features, self.index[checked])
        self._set(values, columns.column(quantity)[warmup:], target, context_length, horizon)

    @property
    def index(self) -> pd.DatetimeIndex:
        """The rows' UTC timestamps (after the features' warm-up)."""
        if self._index is None:
            self._index = pd.DatetimeIndex(self._stamps, name="timestamp").tz_localize("UTC")
        return self._index

    @index.setter
    def index(self, index: pd.DatetimeIndex) -> None:
        self._index = index

    def _set(self, features: np.ndarray, base: np.ndarray, target: str, context_length: int, horizon: int) -> None:
        self.features = np.ascontiguousarray(features)
        self.context_length = context_length
        self.horizon = horizon
        self.target = target
        # The real value of the target quantity at each row: the base of naive forecasts.
        self.base = base
        self._targets = None
        self._windows = sliding_windows(self.features, context_length)
        self._base_windows = sliding_windows(self.base[:, None], context_length)[..., 0]

    @property
    def targets(self) -> np.ndarray:
        """(rows, horizon) each row's targets (`future_targets`; NaN beyond the data), computed when first read."""
        if self._targets is None:
            self._targets = future_targets(self.base, self.horizon, self.target)
        return self._targets

    def __len__(self) -> int:
        return len(self.base)

    def origins(self, first: int = 0, last: int | None = None, complete: bool = True) -> np.ndarray:
        """Origin rows in [first, last] (inclusive), with full windows and, if `complete`, all targets known."""
        first = max(first, self.context_length - 1)
        last = len(self) - 1 if last is None else last
        if complete:
            last = min(last, len(self) - 1 - self.horizon)
        return np.arange(first, last + 1)

    def windows(self, origins: np.ndarray) -> np.ndarray:
        """Raw (batch, context_length, features) windows ending at `origins`.

        Consecutive origins (such as `origins()`) give a read-only view of the feature array, with no
        copy; any other selection copies only the selected windows.
        """
        rows = np.asarray(origins, dtype=np.int64) - (self.context_length - 1)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self._windows)):
            raise ValueError(
                f"origins must be rows {self.context_length - 1} to {len(self) - 1} (a full window before each); "
                f"got {int(rows.min()) + self.context_length - 1} to {int(rows.max()) + self.context_length - 1}"
            )
        if rows.ndim == 1 and rows.size and (np.diff(rows) == 1).all():
            return self._windows[rows[0] : rows[-1] + 1]
        return self._windows[rows]

    def base_windows(self, origins: np.ndarray) -> np.ndarray:
        """The target quantity's values over each window ending at `origins`: (batch, context_length)."""
        rows = np.asarray(origins, dtype=np.int64) - (self.context_length - 1)
        return self._base_windows[rows]

    def window_base(self, origins: np.ndarray) -> np.ndarray:
        """The target quantity's value at the first row of each window (base of `window` scaling)."""
        return self.base[np.asarray(origins) - (self.context_length - 1)]
