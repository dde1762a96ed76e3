"""Panels: many OHLCV series in one long frame indexed by `(symbol, timestamp)`.

A panel is what `load_ohlcv` returns for several sources (a list of files or DataFrames, a folder, a
glob, or one table whose `symbol` column names several series). Each series is cleaned exactly as a
single file is (`normalize_ohlcv`); the panel adds the checks that only make sense across series:
one frequency for all, and a symbol repeated in two sources must repeat the same candles.

`PanelSamples` (in `panel_samples`, re-exported here) cuts training windows from every series without
ever crossing from one into the next, and `date_split` cuts train / validation / test at the same dates for every series.

Examples
--------
    from lstm_forecaster import load_ohlcv, panel_path
    panel = load_ohlcv(panel_path())                       # the bundled daily panel (8 coins)
    panel = load_ohlcv(["ETH.csv", "XRP.csv"])             # or a folder, or "data/*.csv"
    panel.loc["ETHUSDT"]                                   # one series, today's single-series frame
"""

from __future__ import annotations

import glob
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .data import (
    CLEAN_MARK,
    OHLCV,
    _read,
    _snake,
    file_sha256,
    infer_step,
    normalize_ohlcv,
    utc_timestamp,
)
from .panel_samples import PanelSamples, check_gaps, samples_for  # noqa: F401  (re-exported: windows over a panel)

SYMBOL = "symbol"
INDEX_NAMES = (SYMBOL, "timestamp")
PANEL_FILE = "panel.parquet"
_GLOB_CHARS = re.compile(r"[*?\[]")
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
_EXCHANGES = {
    "binance",
    "binanceus",
    "bitfinex",
    "bitstamp",
    "bybit",
    "coinbase",
    "gemini",
    "huobi",
    "kraken",
    "kucoin",
    "okx",
    "poloniex",
    "yahoo",
}
_FREQUENCY_TOKEN = re.compile(r"^(\d*(m|min|minute|h|hour|d|day|w|week)s?|hourly|daily|weekly|minutely)$", re.I)


def panel_path() -> Path:
    """Path of the embedded panel: daily candles of 8 coins (Parquet, long format).

    BTC-USD (Yahoo Finance, 2014-09-17 .. 2024-03-31) and ETHUSDT, XRPUSDT, TRXUSDT, LTCUSDT,
    DOGEUSDT, BCHUSDT, SOLUSDT (Binance spot, from 2017-2020 to 2025-03-15 or 2026-05-19). The
    Binance exports' newest row, the export day's possibly incomplete candle, is not included
    (`scripts/build_panel.py` builds the file from the raw exports).
    """
    return Path(str(resources.files("lstm_forecaster") / "data" / PANEL_FILE))


def bundled_panel_provenance() -> list[dict]:
    """The raw exports the embedded panel was built from: file, symbols and sha256 of each, as
    `scripts/build_panel.py` stored them in the Parquet metadata."""
    import json

    import pyarrow.parquet as pq

    metadata = pq.read_schema(panel_path()).metadata or {}
    raw = metadata.get(b"lstm_forecaster.sources")
    return json.loads(raw)["sources"] if raw else []


def is_panel(df) -> bool:
    """Whether `df` is a panel frame: indexed by `(symbol, timestamp)`."""
    return isinstance(df, pd.DataFrame) and isinstance(df.index, pd.MultiIndex) and tuple(df.index.names) == INDEX_NAMES


def is_panel_source(source) -> bool:
    """Whether `source` names several series by its form: a list, a folder, a glob, or a panel frame."""
    if isinstance(source, (list, tuple)):
        return True
    if isinstance(source, pd.DataFrame):
        return isinstance(source.index, pd.MultiIndex)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return True
        return not path.exists() and bool(_GLOB_CHARS.search(str(source)))
    return False


def symbol_from_name(path: str | Path) -> str:
    """A readable symbol from a file name: `Binance_ETHUSDT_d.csv` -> `ETHUSDT`, `BTC-USD.csv` -> `BTC-USD`.

    The stem is split on `_`; an exchange name in front (Binance, Coinbase, ...) and a frequency code
    at the end (`d`, `1h`, `daily`, ...) are dropped when something else remains.
    """
    stem = Path(path).name
    for suffix in _TABLE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    tokens = [t for t in stem.split("_") if t]
    while len(tokens) > 1 and _FREQUENCY_TOKEN.match(tokens[-1]):
        tokens.pop()
    while len(tokens) > 1 and tokens[0].lower() in _EXCHANGES:
        tokens.pop(0)
    return "_".join(tokens) or stem


def iter_series(panel: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each `(symbol, single-series frame)` of a panel, in the panel's order."""
    for symbol in panel.index.get_level_values(SYMBOL).unique():
        yield symbol, panel.xs(symbol, level=SYMBOL)


def symbols(panel: pd.DataFrame) -> list[str]:
    """The symbols of a panel, in order."""
    return list(panel.index.get_level_values(SYMBOL).unique())


# ----- loading -------------------------------------------------------------------------------------


@dataclass
class _Part:
    """One series read from one source, cleaned."""

    symbol: str
    frame: pd.DataFrame
    origin: str
    record: dict


def load_panel(source, *, revision: str | None = None, split: str = "train") -> pd.DataFrame:
    """Load several OHLCV series into one long frame indexed by `(symbol, timestamp)`.

    Parameters
    ----------
    source : list, str, Path or pd.DataFrame
        A list of sources (files, DataFrames, Hub dataset ids), a folder (its `.csv`/`.parquet`
        files), a glob such as `"data/*.csv"`, or one table (file, DataFrame, `datasets.Dataset`,
        Hub dataset id) with a `symbol` column, or a frame already indexed by `(symbol, timestamp)`.
    revision, split
        Revision and split of Hub datasets.

    Returns
    -------
    pd.DataFrame
        float64 columns among `open, high, low, close, volume` (those every series has), indexed by
        `(symbol, timestamp)`, each series oldest first and cleaned as `load_ohlcv` cleans one file.
        The symbol is the source's `symbol` column, else the file name (`symbol_from_name`), else
        `series_N`. `attrs["sources"]` lists every source: its kind (`file`, `hub`, `dataframe`,
        `dataset`), `source` (path or id), `sha256` (files) and the `symbols` it holds.

    Raises
    ------
    ValueError
        For a source that cannot be read or cleaned (naming the symbol and the source), series of
        different frequencies, or one symbol with different candles at one timestamp in two sources.
    """
    parts: list[_Part] = []
    for position, item in enumerate(_expand(source)):
        try:
            parts.extend(_read_parts(item, position, revision=revision, split=split))
        except ValueError as e:
            if isinstance(source, (str, Path)) and Path(source).is_dir():
                raise ValueError(
                    f"{source} is not a file; give a CSV or Parquet file, or a folder whose .csv and .parquet "
                    f"files all read as OHLCV: {e}"
                ) from e
            raise
    if not parts:
        raise ValueError(f"no series in {source!r}; give CSV or Parquet files, a folder, a glob or a long DataFrame")
    return _assemble(parts)


def panel_from_table(source, raw: pd.DataFrame) -> pd.DataFrame:
    """A panel from one table already read from `source`, whose `symbol` column names several series."""
    panel = _assemble(_read_parts(source, 0, raw=raw))
    if raw.attrs.get("hub_dataset"):  # one Hub dataset: recorded, and reloaded, as such
        panel.attrs["hub_dataset"] = dict(raw.attrs["hub_dataset"])
    return panel


def _expand(source) -> list:
    """The individual sources named by `source`."""
    if isinstance(source, (list, tuple)):
        if not source:
            raise ValueError("an empty list of sources; give at least one file or DataFrame")
        out = []
        for item in source:
            if isinstance(item, (list, tuple)):
                raise ValueError(f"a list of sources must hold files or DataFrames, not nested lists. Got {item!r}.")
            out.extend(_expand(item) if _is_folder_or_glob(item) else [item])
        return out
    if _is_folder_or_glob(source):
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _TABLE_SUFFIXES)
            if not files:
                raise ValueError(f"folder {path} holds no .csv or .parquet file")
            return files
        files = sorted(Path(p) for p in glob.glob(str(source)) if Path(p).is_file())
        if not files:
            raise ValueError(f"no file matches {source}")
        return files
    return [source]


def _is_folder_or_glob(source) -> bool:
    if not isinstance(source, (str, Path)):
        return False
    path = Path(source)
    return path.is_dir() or (not path.exists() and bool(_GLOB_CHARS.search(str(source))))


def _describe(item) -> tuple[str, dict]:
    """A short name of a source for messages, and its record for `attrs["sources"]`."""
    if isinstance(item, pd.DataFrame):
        return "a DataFrame", {"kind": "dataframe"}
    if hasattr(item, "to_pandas") and not isinstance(item, (str, Path)):
        return "a datasets.Dataset", {"kind": "dataset"}
    path = Path(item)
    if path.is_file():
        return str(item), {"kind": "file", "source": str(item), "sha256": file_sha256(path)}
    return str(item), {"kind": "hub", "source": str(item)}


def _read_parts(
    item, position: int, *, revision: str | None = None, split: str = "train", raw: pd.DataFrame | None = None
) -> list[_Part]:
    name, record = _describe(item)
    if raw is not None:
        pass
    elif isinstance(item, pd.DataFrame) and isinstance(item.index, pd.MultiIndex):
        raw = item.reset_index()
    else:
        raw = _read(item, revision=revision, split=split)
    if raw.attrs.get("hub_dataset"):
        record["hub_dataset"] = dict(raw.attrs["hub_dataset"])
    column = next((c for c in raw.columns if _snake(c) == SYMBOL), None)
    if column is None:
        symbol = symbol_from_name(item) if isinstance(item, (str, Path)) else f"series_{position}"
        groups = [(symbol, raw)]
    else:
        labels = raw[column]
        if labels.isna().any():
            row = int(np.flatnonzero(labels.isna().to_numpy())[0])
            raise ValueError(f"{name}: column '{column}' is empty at row {row}; every row needs its symbol")
        labels = labels.astype(str).str.strip()
        groups = [(symbol, rows.drop(columns=[column])) for symbol, rows in raw.groupby(labels, sort=False)]
    parts = []
    for symbol, rows in groups:
        try:
            frame = normalize_ohlcv(rows)
        except ValueError as e:
            raise ValueError(f"symbol {symbol} (from {name}): {e}") from e
        parts.append(_Part(symbol, frame, name, {**record, "position": position}))
    return parts


def _assemble(parts: list[_Part]) -> pd.DataFrame:
    by_symbol: dict[str, list[_Part]] = {}
    for part in parts:
        by_symbol.setdefault(part.symbol, []).append(part)
    series = {symbol: _merge(symbol, group) for symbol, group in by_symbol.items()}
    _check_frequencies(series)
    columns = [c for c in OHLCV if all(c in frame.columns for frame in series.values())]
    dropped = sorted({c for frame in series.values() for c in frame.columns} - set(columns))
    if dropped:
        lacking = [s for s, f in series.items() if not set(dropped) <= set(f.columns)]
        warnings.warn(
            f"column(s) {', '.join(dropped)} dropped from the panel: {', '.join(lacking)} lack(s) them",
            stacklevel=3,
        )
    panel = pd.concat(
        [frame[columns] for frame in series.values()], keys=list(series), names=list(INDEX_NAMES), sort=False
    )
    sources: list[dict] = []
    for part in parts:
        same = next((r for r in sources if r["position"] == part.record["position"]), None)
        if same is None:
            sources.append({**part.record, "symbols": [part.symbol]})
        elif part.symbol not in same["symbols"]:
            same["symbols"].append(part.symbol)
    for record in sources:
        del record["position"]
    panel.attrs = {"sources": sources, CLEAN_MARK: True}
    return panel


def _merge(symbol: str, group: list[_Part]) -> pd.DataFrame:
    """One series from the parts that carry its symbol: the same candle repeated is kept once."""
    frame = group[0].frame
    for part in group[1:]:
        other = part.frame
        shared = frame.index.intersection(other.index)
        if len(shared):
            prices = [c for c in ("open", "high", "low", "close") if c in frame.columns and c in other.columns]
            a = frame.loc[shared, prices].to_numpy()
            b = other.loc[shared, prices].to_numpy()
            differs = ~np.isclose(b, a, rtol=1e-2, atol=0.0).all(axis=1)
            if differs.any():
                row = int(np.flatnonzero(differs)[0])
                stamp = shared[row]
                raise ValueError(
                    f"symbol {symbol} has two different candles at {stamp}: close {a[row, -1]} in "
                    f"{group[0].origin}, {b[row, -1]} in {part.origin}; a symbol may repeat across sources "
                    "only with the same candles (prices within 1 %)"
                )
        frame = pd.concat([frame, other[~other.index.isin(shared)]]).sort_index(kind="stable")
    return frame


def _check_frequencies(series: dict[str, pd.DataFrame]) -> None:
    steps = {}
    for symbol, frame in series.items():
        if len(frame) < 2:
            raise ValueError(f"symbol {symbol} has {len(frame)} row; a series needs at least 2 to know its frequency")
        steps[symbol] = infer_step(frame.index)
    distinct = sorted(set(steps.values()))
    if len(distinct) > 1:
        first = next(iter(steps))
        odd = next(s for s, step in steps.items() if step != steps[first])
        listing = ", ".join(f"{s} every {step}" for s, step in steps.items())
        raise ValueError(
            f"the series disagree in frequency: {odd} has a candle every {steps[odd]}, {first} every "
            f"{steps[first]} ({listing}); a panel holds series of one frequency"
        )


def _utc_values(index: pd.DatetimeIndex) -> np.ndarray:
    """UTC timestamps as naive datetime64 values (sortable, subtractable)."""
    return index.tz_convert("UTC").tz_convert(None).to_numpy() if index.tz is not None else index.to_numpy()


# ----- one clock for the splits --------------------------------------------------------------------


@dataclass
class PanelSplit:
    """Train / validation / test origins of a panel, cut at the same dates for every series.

    Training rows are those before `validation_start`, validation rows those from it to before
    `test_start`, test rows the rest. An origin belongs to a split when every one of its targets lies
    in that split's rows (a validation origin may read training rows as input: they are its past).
    """

    validation_start: pd.Timestamp
    test_start: pd.Timestamp
    how: str
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    train_rows: np.ndarray


def pooled_cut_dates(
    timestamps: pd.DatetimeIndex, train_fraction: float, validation_fraction: float
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Validation and test start dates that put the given shares of all rows, pooled, before them.

    The rows of every series are pooled and sorted by time; with n rows, the training rows are the
    first `round(n * train_fraction)` (all rows at or before that row's timestamp), the validation
    rows the next ones up to `round(n * (train + validation))`. For one series these are the cuts of
    `chronological_split`.
    """
    stamps = np.sort(_utc_values(pd.DatetimeIndex(timestamps)))
    n = len(stamps)
    train_end = stamps[max(int(round(n * train_fraction)) - 1, 0)]
    validation_end = stamps[max(int(round(n * (train_fraction + validation_fraction))) - 1, 0)]
    after_train = stamps[stamps > train_end]
    after_validation = stamps[stamps > validation_end]
    if not len(after_train) or not len(after_validation):
        raise ValueError(
            f"the fractions {train_fraction:g}/{validation_fraction:g} leave no rows after the training or "
            "validation split; lower them"
        )
    return pd.Timestamp(after_train[0]).tz_localize("UTC"), pd.Timestamp(after_validation[0]).tz_localize("UTC")


def date_split(samples: PanelSamples, validation_start, test_start, how: str = "dates") -> PanelSplit:
    """Cut every series of `samples` at the same dates.

    Parameters
    ----------
    samples : PanelSamples
    validation_start, test_start : timestamp-like
        First timestamp of the validation rows and of the test rows, for every series.
    how : str
        How the dates were chosen (`dates` from the recipe, or `fractions` of the pooled rows),
        recorded in `training_args.json`.

    Raises
    ------
    ValueError
        When test_start is not after validation_start, or a split has fewer than 3 origins in all.
    """
    validation_start, test_start = utc_timestamp(validation_start), utc_timestamp(test_start)
    if test_start <= validation_start:
        raise ValueError(
            f"test_start must be after validation_start. Got validation_start {validation_start}, test_start {test_start}."
        )
    h = samples.horizon
    complete = samples.origins(complete=True)
    first_target = samples.index[complete + 1]
    last_target = samples.index[complete + h]
    split = PanelSplit(
        validation_start=validation_start,
        test_start=test_start,
        how=how,
        train=complete[last_target < validation_start],
        validation=complete[(first_target >= validation_start) & (last_target < test_start)],
        test=complete[first_target >= test_start],
        train_rows=np.flatnonzero(samples.index < validation_start),
    )
    check_split_origins(
        split,
        f"over {len(samples.symbols)} series with validation_start {validation_start.date()} and test_start "
        f"{test_start.date()} (context_length {samples.context_length}, horizon {h}); move the dates or give more rows",
    )
    return split


def check_split_origins(split, detail: str) -> None:
    """Raise `ValueError` unless the train, validation and test splits each hold at least 3 origins.

    `detail` ends the message: what the split was cut from and what to change.
    """
    for name in ("train", "validation", "test"):
        origins = getattr(split, name)
        if len(origins) < 3:
            raise ValueError(f"too few rows: the {name} split has {len(origins)} forecast origins {detail}")
