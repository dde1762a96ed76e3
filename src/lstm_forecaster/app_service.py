"""What the Space does with a model, independent of the web page: data, forecasts as records, backtests.

`ForecastService` is what the page, the `/forecast` API endpoint and the MCP tool call. A forecast is
made per series (the series of a `(symbol, timestamp)` panel, or the single series of a file) through
`LSTMForecaster.predict`, so every guard of `guards.py` applies, and comes back as `Forecast` objects:
a table for the page, records for machines, a CSV file for download.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import guards
from .data import file_sha256, infer_step, load_ohlcv, sample_path, utc_timestamp
from .modeling import LSTMForecaster
from .panel import panel_path

BACKTEST_CACHE_SIZE = 8
"""Backtests kept in memory, one per distinct data file (by sha256)."""

OWN_DATES_FRACTION = 0.3
"""A backtest on a file that does not cover the model's held-out period uses the file's last 30 % of rows."""

FILES_KEPT = 64
"""Forecast CSV files kept on disk for download; older ones are deleted."""

SAMPLE_NAME = "the bundled BTC-USD daily sample"
PANEL_NAME = "the bundled daily panel of 8 coins"


def iso(stamp) -> str:
    """A timestamp as `YYYY-MM-DDTHH:MM:SSZ` (UTC)."""
    return pd.Timestamp(stamp).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def day(stamp) -> str:
    """A timestamp as a date, with the hour when it has one."""
    stamp = pd.Timestamp(stamp)
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.strftime("%Y-%m-%d %H:%M UTC")


def split_range(training_args: dict, split: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(first, last) timestamp of a split's rows, as `training.train` records them in `training_args.json`."""
    splits = training_args.get("splits")
    entry = splits.get(split) if isinstance(splits, dict) else None
    if not isinstance(entry, dict):
        return None
    start, end = entry.get("start", entry.get("first")), entry.get("end", entry.get("last"))
    if not start or not end:
        return None
    return utc_timestamp(start), utc_timestamp(end)


def _first_origin(training_args: dict, split: str) -> pd.Timestamp | None:
    """The first forecast origin of a split (its first origin whose targets all lie in it)."""
    entry = (training_args.get("splits") or {}).get(split) or {}
    return utc_timestamp(entry["first_origin"]) if entry.get("first_origin") else None


@dataclass
class Forecast:
    """The forecast of one series after its last row, in price (or volume) units.

    Args:
        symbol: The series' name (a panel's symbol), None for an unnamed single series.
        history: (rows,) the real target quantity (close or volume) up to the forecast's origin.
        frame: (horizon, columns) `model.predict` output: `forecast` and the `q{level}` columns.
        step: The data's spacing between rows.
        warnings: The `guards` warnings of this forecast.
    """

    symbol: str | None
    history: pd.Series
    frame: pd.DataFrame
    step: pd.Timedelta
    warnings: list[dict] = field(default_factory=list)

    @property
    def last(self) -> float:
        return float(self.history.iloc[-1])

    @property
    def levels(self) -> list[str]:
        return [c for c in self.frame.columns if c != "forecast"]

    def table(self) -> pd.DataFrame:
        """Every step and level: symbol, timestamp, step, forecast, `q{level}` columns, change from the last value (%).

        Values are rounded to 2 decimals, more for prices below 1,000 (six significant digits).
        """
        decimals = max(2, 5 - math.floor(math.log10(abs(self.last)))) if self.last else 6
        table = pd.DataFrame(
            {
                "symbol": self.symbol or "",
                "timestamp": [iso(t) for t in self.frame.index],
                "step": np.arange(1, len(self.frame) + 1),
            }
        )
        for column in ("forecast", *self.levels):
            table[column] = self.frame[column].to_numpy().round(decimals)
        table["change (%)"] = [round(100 * (v / self.last - 1), 3) for v in self.frame["forecast"]]
        return table

    def records(self) -> list[dict]:
        """One record per step: symbol, timestamp, step, forecast, one field per level, this series' warnings."""
        return [
            {
                "symbol": self.symbol,
                "timestamp": iso(stamp),
                "step": k,
                "forecast": float(row["forecast"]),
                **{level: float(row[level]) for level in self.levels},
                "warnings": [dict(w) for w in self.warnings],
            }
            for k, (stamp, row) in enumerate(self.frame.iterrows(), start=1)
        ]


class ForecastService:
    """The loaded model and the data it is applied to; what the page, the API and the MCP tool call.

    Parameters
    ----------
    model : LSTMForecaster
        A trained model (with its scaler).
    training_args : dict
        Its `training_args.json` ({} when absent).
    """

    def __init__(self, model: LSTMForecaster, training_args: dict):
        self.model = model
        self.training_args = training_args
        self.config = model.config
        self.quantity = "volume" if self.config.target == "volume" else "close"
        # A model trained on the bundled panel forecasts its assets by default; any other, the BTC sample.
        panel = (training_args.get("data") or {}).get("kind") == "panel"
        self.default_path = panel_path() if panel else sample_path()
        self.default_name = PANEL_NAME if panel else SAMPLE_NAME
        self.default_data = load_ohlcv(self.default_path)
        self._backtests: dict[str, BacktestRun] = {}
        self._lock = threading.Lock()
        self._files_dir = Path(tempfile.mkdtemp(prefix="lstm-forecaster-files-"))
        weakref.finalize(self, shutil.rmtree, self._files_dir, True)  # removed with the service, or at exit
        self._file_count = 0

    # data

    def load_data(self, path: str | None, name: str | None = None) -> tuple[pd.DataFrame, str]:
        """The bundled data (path None: the panel for a model trained on it, else the BTC sample) or an
        uploaded CSV/Parquet; and a name for it.

        Error messages name the uploaded file by `name` (its name as uploaded), never the server's path.
        """
        if not path:
            return self.default_data, self.default_name
        name = name or Path(path).name
        try:
            guards.check_upload(path, name)
            df = load_ohlcv(path)
        except ValueError as e:
            message = str(e).replace(str(path), name)
            raise ValueError(message if message.startswith(name) else f"{name}: {message}") from e
        guards.check_upload_rows(df, name)
        return df, name

    def trained_symbols(self) -> list[str]:
        """The assets the model was trained on, by name (none for an unnamed single series)."""
        profile = getattr(self.model, "training_profile", None) or {}
        return [str(a["symbol"]) for a in profile.get("assets") or [] if isinstance(a, dict) and a.get("symbol")]

    @staticmethod
    def data_symbols(df: pd.DataFrame) -> list[str]:
        """The named series of `df` (none for an unnamed single series)."""
        return [symbol for symbol, _ in guards.series_of(df) if symbol]

    @staticmethod
    def default_asset(df: pd.DataFrame) -> str | None:
        """The asset shown first: the only series, else the longest one (of a panel)."""
        series = guards.series_of(df)
        return max(series, key=lambda pair: len(pair[1]))[0]

    def assets(self, df: pd.DataFrame | None = None) -> list[str]:
        """The asset picker's choices: the data's series first, then the other assets of training."""
        data = self.data_symbols(df) if df is not None else []
        return data + [s for s in self.trained_symbols() if s not in data]

    # forecast

    def forecast(
        self,
        df: pd.DataFrame,
        name: str,
        horizon: int | None = None,
        symbol: str | None = None,
        drop_incomplete: bool = False,
    ) -> list[Forecast]:
        """Forecast `horizon` steps after the last row of each series of `df`, or of the series `symbol` only.

        Of several series, one that `predict` refuses is left out, its reason added to the others'
        warnings (code `refused`, its symbol).

        Raises
        ------
        ValueError
            When `symbol` is not in the data, and for a refusal of `predict` of the only series (or of all).
        """
        series = guards.series_of(df)
        if symbol:
            chosen = [(s, rows) for s, rows in series if s == symbol]
            if not chosen:
                held = ", ".join(s for s, _ in series if s) or "one unnamed series"
                raise ValueError(f"{symbol} is not in {name} (it holds {held}): upload a file with {symbol}'s candles")
            series = chosen
        forecasts, refused = [], []
        for s, rows in series:
            rows = rows.copy()
            if s:
                rows.attrs["symbol"] = s
            try:
                frame = self.model.predict(rows, horizon=horizon, drop_incomplete=drop_incomplete)
            except ValueError as e:
                if len(series) == 1:
                    raise
                # One asset of several that cannot be forecast does not block the others: it is named.
                refused.append(guards.warning("refused", f"{s}: no forecast: {e}", s))
                continue
            history = rows[self.quantity]
            history = history[history.index < frame.index[0]]  # without a dropped incomplete candle
            forecasts.append(
                Forecast(
                    symbol=s,
                    history=history,
                    frame=frame,
                    step=infer_step(rows.index),
                    warnings=list(frame.attrs.get("warnings", [])),
                )
            )
        if not forecasts:
            raise ValueError(f"no asset of {name} can be forecast: " + "; ".join(w["message"] for w in refused))
        for forecast in forecasts:
            forecast.warnings += refused
        return forecasts

    def write_csv(self, forecasts: list[Forecast]) -> Path:
        """The tables of `forecasts` as one CSV file for download (its name: the asset and the last data day)."""
        table = pd.concat([f.table() for f in forecasts], ignore_index=True)
        first = forecasts[0]
        who = re.sub(r"[^A-Za-z0-9._-]+", "-", first.symbol) if len(forecasts) == 1 and first.symbol else "forecast"
        path = self._new_folder() / f"{who}-{first.history.index[-1].strftime('%Y-%m-%d')}.csv"
        table.to_csv(path, index=False)
        return path

    def _new_folder(self) -> Path:
        """A fresh folder for a file to download; the one `FILES_KEPT` folders older is removed."""
        with self._lock:
            self._file_count += 1
            folder = self._files_dir / str(self._file_count)
            old = self._files_dir / str(self._file_count - FILES_KEPT)
        folder.mkdir()
        shutil.rmtree(old, ignore_errors=True)
        return folder

    # backtest

    def backtest(self, path: str | None, name: str | None = None, symbol: str | None = None) -> BacktestRun:
        """Rolling-origin forecasts of the frozen model, its metrics beside the naive forecasts, and for a
        quantile model its comparison with the field's baselines (`backtest.backtest`) and a calibration plot.

        On data that covers the model's held-out (test) period, over that period. On a file that does
        not, over the file's own last `OWN_DATES_FRACTION` of rows. Baselines are fitted on the rows
        before the first origin only. Of a panel, one asset: `symbol`, else `default_asset`.
        """
        from .backtest import backtest
        from .backtest_plots import plot_calibration
        from .comparison import comparison_table
        from .evaluation import evaluate_backtest

        df, name = self.load_data(path, name)
        series = dict(guards.series_of(df))
        symbol = symbol or self.default_asset(df)
        if symbol not in series:
            raise ValueError(f"{symbol} is not in {name} (it holds {', '.join(s for s in series if s)})")
        df = series[symbol]
        if symbol:
            name = f"{symbol} in {name}"
        args = _asset_args(self.training_args, symbol)
        key = f"{file_sha256(path or self.default_path)}/{symbol}"
        with self._lock:
            cached = self._backtests.get(key)
        if cached is not None:
            return cached
        test, train = split_range(args, "test"), split_range(args, "train")
        start = (_first_origin(args, "test") or test[0]) if test else None
        if test and train and df.index[0] <= start <= df.index[-1]:
            last_origin = utc_timestamp(args["splits"]["test"]["last_origin"]) if _last_origin(args) else None
            fitted_until = train[1]
            note = f"Data: {name}, over the model's held-out period {day(start)} to {day(test[1])}."
            if path:
                note += " The model is run, frozen, on these rows over its held-out dates."
        else:
            first = int(len(df) * (1 - OWN_DATES_FRACTION))
            if first < 1:
                raise ValueError(f"{name} has too few rows for a backtest")
            start, last_origin, fitted_until = df.index[first], None, df.index[first - 1]
            note = (
                f"Data: {name}, which does not cover the model's held-out period: the frozen model is run "
                f"over the file's own last {100 * OWN_DATES_FRACTION:.0f} % of rows, from {day(start)} "
                "(baselines fitted on the rows before). The model may have seen these dates in training."
            )
        comparison = calibration = None
        if self.config.quantiles and self.config.target != "volume":
            result = backtest(self.model, df, start=start, end=last_origin)
            frame = result.frame.drop(columns="symbol")
            comparison = comparison_table(result.report["comparison"])
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            calibration = plot_calibration(result, self._files_dir / f"calibration-{digest}.png")
        else:
            frame = self.model.backtest(df, start=start)
            if last_origin is not None:
                frame = frame[frame["origin"] <= last_origin].reset_index(drop=True)
        if frame.empty:
            raise ValueError(f"{name} has no complete forecast from {day(start)}")
        history = df[self.quantity]
        report = evaluate_backtest(frame, history, fitted_until, self.config.quantiles)
        run = BacktestRun(frame, report, history, note, comparison, calibration)
        with self._lock:
            while len(self._backtests) >= BACKTEST_CACHE_SIZE:  # oldest first: dicts keep insertion order
                dropped = self._backtests.pop(next(iter(self._backtests)))
                if dropped.calibration is not None:
                    dropped.calibration.unlink(missing_ok=True)
            self._backtests[key] = run
        return run


def held_out_comparison_markdown(metrics: dict) -> str | None:
    """One line of `metrics.json`'s comparison with the field's baselines: the model's pooled pinball loss
    over EWMA(0.94)'s and GARCH(1,1)-t's on the held-out split, with the Diebold-Mariano p-values at
    step 1; None for a metrics.json without it (written before it existed, or a model it skipped)."""
    comparison = metrics.get("comparison") if isinstance(metrics, dict) else None
    versus = ((comparison or {}).get("pooled") or {}).get("model_vs") if isinstance(comparison, dict) else None
    if not isinstance(versus, dict):
        return None
    parts = []
    for who, label in (("ewma", "EWMA(0.94)"), ("garch", "GARCH(1,1)-t")):
        row = versus.get(who) or {}
        ratio = row.get("ratio_all")
        if isinstance(ratio, (int, float)):
            p = (row.get("dm_p_value") or [None])[0]
            dm = f", DM p = {p:.3f} at step 1" if isinstance(p, (int, float)) else ""
            parts.append(f"**{ratio:.3f}x** {label}'s{dm}")
    if not parts:
        return None
    assets = comparison.get("assets") or []
    pooled = f", geometric mean over {len(assets)} assets" if len(assets) > 1 else ""
    split = metrics.get("split", "test")
    return (
        f"**Held-out {split} split:** the model's pinball loss is "
        + " and ".join(parts)
        + f" (all steps{pooled}; below 1: the model is better; baselines fitted on the training split only)."
    )


def _asset_args(training_args: dict, symbol: str | None) -> dict:
    """The training record with the splits of one asset of a panel (its own dates), when recorded."""
    assets = (training_args.get("data") or {}).get("assets")
    own = assets.get(symbol) if isinstance(assets, dict) and symbol else None
    return {**training_args, "splits": own["splits"]} if isinstance(own, dict) and own.get("splits") else training_args


def _last_origin(training_args: dict) -> str | None:
    entry = (training_args.get("splits") or {}).get("test") or {}
    return entry.get("last_origin")


@dataclass
class BacktestRun:
    """One backtest as the page shows it.

    Args:
        frame: One row per origin and step (`model.backtest`'s columns).
        report: `evaluate_backtest`'s report (price-unit metrics beside the naive forecasts).
        history: The real series.
        note: Which data and dates, in words.
        comparison: Markdown of the model beside the field's baselines (quantile models), else None.
        calibration: PNG of the calibration plot (quantile models), else None.
    """

    frame: pd.DataFrame
    report: dict
    history: pd.Series
    note: str
    comparison: str | None
    calibration: Path | None
