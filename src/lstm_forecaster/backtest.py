"""Rolling-origin backtests of a model on any data, beside the field's baselines, with a trading evaluation.

A backtest is the model's own :meth:`~lstm_forecaster.LSTMForecaster.backtest` (``predict`` at every
origin, batched) from ``start`` to the end of the data (or ``end``), for one series or a panel. Every
forecast is turned into log returns from the close at its origin, so assets of any price level pool,
and set beside the baselines of :mod:`lstm_forecaster.baselines` (naive, constant quantile,
EWMA(0.94), GARCH(1,1)-t) on exactly the same ``(origin, step)`` points. The baselines are fitted
**only on the rows up to the first origin** of the block they forecast, then frozen; the model is used
as given (frozen).

Example::

    from lstm_forecaster import LSTMForecaster, load_ohlcv
    from lstm_forecaster.backtest import backtest

    model = LSTMForecaster.from_pretrained("runs/default")
    result = backtest(model, load_ohlcv("candles.csv"), start="2025-01-01", strategy="long-flat")
    print(result.markdown())
    result.save("reports/bt")          # report.json, report.md, plots
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .baselines import BASELINES, baseline_quantiles
from .comparison import comparison_report, comparison_table
from .evaluation import quantile_column
from .output_folder import staged_folder
from .strategy import STRATEGIES, positions, strategy_report, strategy_table

__all__ = [
    "COMPARISON_KEY",
    "BacktestResult",
    "backtest",
    "compare_frame",
    "held_out_comparison",
    "score_backtest",
    "series_of",
]

SINGLE = "series"
"""Symbol given to a single (non-panel) series."""

COMPARISON_KEY = "comparison"
"""Key of ``metrics.json`` holding the held-out comparison with the field's baselines (:func:`compare_frame`);
``comparison_skipped`` holds, instead, why a model was not compared (volume or point forecasts)."""


def series_of(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split an OHLCV frame into ``{symbol: frame indexed by timestamp}`` (one entry for a single series)."""
    if isinstance(df.index, pd.MultiIndex):
        if "symbol" not in df.index.names:
            raise ValueError(f"a panel must be indexed by (symbol, timestamp); got index levels {df.index.names}.")
        return {str(s): part.droplevel("symbol") for s, part in df.groupby(level="symbol", sort=False)}
    if "symbol" in df.columns:
        return {str(s): part.drop(columns="symbol") for s, part in df.groupby("symbol", sort=False)}
    return {SINGLE: df}


def _step(parts: dict[str, pd.DataFrame]) -> pd.Timedelta:
    """The data's spacing: the median gap between rows of its longest series."""
    index = max(parts.values(), key=len).index
    return pd.Series(index[1:] - index[:-1]).median()


def _periods_per_year(index: pd.DatetimeIndex) -> float:
    step = pd.Series(index[1:] - index[:-1]).median()
    return float(pd.Timedelta(days=365) / step)


@dataclass
class BacktestResult:
    """Everything a backtest measured.

    Attributes
    ----------
    report : dict
        JSON-able: ``data`` (per symbol: rows, first and last origin, baselines' fit range),
        ``horizon``, ``levels``, ``series_without_origins`` (series of the data with no origin in the
        period, e.g. one that ends before ``start``), ``refit_every`` and ``refits``, ``comparison``
        (:func:`~lstm_forecaster.comparison.comparison_report`) and, with a strategy, ``strategy``
        (per symbol, :func:`~lstm_forecaster.strategy.strategy_report`).
    frame : pandas.DataFrame
        The model's backtest frame (``symbol``, ``origin``, ``step``, ``timestamp``, ``base``,
        ``actual``, ``forecast``, ``q<level>``), in price units.
    forecasts : dict
        ``{symbol: {name: (n, H, L) log-return quantiles}}`` of the model and every baseline.
    actual : dict
        ``{symbol: (n, H)}`` realized log returns.
    origins : dict
        ``{symbol: DatetimeIndex}`` of the origins.
    closes : dict
        ``{symbol: close Series}`` of the data.
    """

    report: dict[str, Any]
    frame: pd.DataFrame
    forecasts: dict[str, dict[str, np.ndarray]]
    actual: dict[str, np.ndarray]
    origins: dict[str, pd.DatetimeIndex]
    closes: dict[str, pd.Series]
    weights: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def markdown(self) -> str:
        """The tables a person reads: the comparison and, with a strategy, its results per symbol."""
        rep = self.report
        parts = [
            f"# Backtest: {len(rep['data'])} series, {rep['n_origins']} origins, horizon {rep['horizon']}",
            "",
            "Every origin from the start to the end of the data; "
            + (
                "the model and the baselines refitted at each block's first origin on the rows up to it"
                if rep.get("refits")
                else "a frozen model; baselines fitted only on the rows up to the first origin, then frozen"
            )
            + "; losses on log returns from the close at each origin.",
            "",
            comparison_table(rep["comparison"]),
        ]
        if rep.get("series_without_origins"):
            parts += [f"Series with no origin in the period: {', '.join(rep['series_without_origins'])}.", ""]
        if rep.get("refits"):
            parts += [
                f"## Walk-forward: a refit every {rep['refit_every']} origins, each trained on data before its block",
                "",
                "| refit | origins | first origin | last origin | trained on | validation | epochs |",
                "| ---: | ---: | --- | --- | --- | --- | ---: |",
            ]
            for r in rep["refits"]:
                parts.append(
                    f"| {r['refit']} | {r['origins']} | {r['first_origin'][:10]} | {r['last_origin'][:10]} | "
                    f"{str(r['train']['start'])[:10]} to {str(r['train']['end'])[:10]} | "
                    f"{str(r['validation']['start'])[:10]} to {str(r['validation']['end'])[:10]} | {r['epochs']} |"
                )
            parts.append("")
        for symbol, st in rep.get("strategy", {}).items():
            parts += [f"## Strategy on {symbol}", "", strategy_table(st)]
        return "\n".join(parts)

    def save(self, folder: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write ``report.json``, ``report.md`` and the plots into ``folder``, all or nothing.

        The files are written to a temp folder beside ``folder`` and renamed into place; an existing
        non-empty ``folder`` is replaced only with ``overwrite``.
        """
        from .backtest_plots import write_plots

        target = Path(folder)
        if target.exists() and not target.is_dir():
            raise ValueError(f"output {target} is a file; give a folder name.")
        if target.exists() and any(target.iterdir()) and not overwrite:
            raise ValueError(f"output folder {target} exists and is not empty; pass overwrite=True (--overwrite).")
        with staged_folder(target) as tmp:
            (tmp / "report.json").write_text(json.dumps(self.report, indent=2, allow_nan=False) + "\n")
            (tmp / "report.md").write_text(self.markdown())
            write_plots(self, tmp)
        return target


def _levels_of(model: Any) -> list[float]:
    config = getattr(model, "config", None)
    levels = list(getattr(config, "quantiles", None) or [])
    if not levels:
        raise ValueError(
            "the model has no quantiles (config.quantiles is empty): the backtest compares quantile forecasts "
            "with the quantile baselines; train a quantile recipe."
        )
    if getattr(config, "target", "close") == "volume":
        raise ValueError("the model forecasts volume; the backtest and its strategies need a price forecast.")
    return [float(q) for q in levels]


def _check_period(df: dict[str, pd.DataFrame], start: Any, end: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    first = min(part.index[0] for part in df.values())
    last = max(part.index[-1] for part in df.values())
    out = []
    for name, value in (("start", start), ("end", end)):
        if value is None:
            out.append(None)
            continue
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
        if ts > last:
            raise ValueError(f"--{name} {ts.date()} is after the data's end ({last}).")
        if ts < first:
            raise ValueError(f"--{name} {ts.date()} is before the data's first row ({first}).")
        out.append(ts)
    if out[0] is not None and out[1] is not None and out[1] < out[0]:
        raise ValueError(f"--end {out[1].date()} is before --start {out[0].date()}.")
    return out[0], out[1]


def _symbol_arrays(
    frame: pd.DataFrame, levels: list[float], horizon: int
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    """Origins, bases, actual log returns (n, H) and model log-return quantiles (n, H, L) of one symbol."""
    frame = frame.sort_values(["origin", "step"], kind="stable")
    origins = pd.DatetimeIndex(frame["origin"].drop_duplicates())
    n = len(origins)
    if len(frame) != n * horizon or not np.array_equal(frame["step"].to_numpy(), np.tile(np.arange(1, horizon + 1), n)):
        raise ValueError(f"the model's backtest frame must hold steps 1..{horizon} for every origin.")
    base = frame["base"].to_numpy(float).reshape(n, horizon)[:, 0]
    actual = np.log(frame["actual"].to_numpy(float).reshape(n, horizon) / base[:, None])
    names = [quantile_column(q) for q in levels]
    q = frame[names].to_numpy(float).reshape(n, horizon, len(levels))
    return origins, base, actual, np.log(q / base[:, None, None])


def _frozen_frame(model: Any, df: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    frame = model.backtest(df, start=start)
    if frame.empty:
        raise ValueError(f"no origin from {start} has a full window and known targets; give an earlier --start.")
    first = pd.Timestamp(frame["origin"].min())
    if start is not None and first - start > _step(series_of(df)):
        raise ValueError(
            f"--start {start.date()} is before the data's first full window: the first origin with "
            f"{getattr(model.config, 'context_length', '?')} rows of context (and the features' warm-up) is {first}."
        )
    if end is not None:
        frame = frame[frame["origin"] <= end]
        if frame.empty:
            raise ValueError(f"no origin between --start and --end {end.date()}.")
    return frame


def _block_baselines(
    close: pd.Series,
    pos: np.ndarray,
    stamps: pd.DatetimeIndex,
    blocks: list[pd.Timestamp],
    horizon: int,
    levels: list[float],
    names: list[str],
    symbol: str,
    train_end: pd.Timestamp | None = None,
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Baselines fitted at the start of each block on the rows up to its first origin, forecasting the block
    (with ``train_end``: one fit on the rows up to it, forecasting every origin)."""
    if train_end is not None:
        edges = np.array([0, len(stamps)])
    else:
        edges = np.searchsorted(np.asarray(stamps), np.asarray(pd.DatetimeIndex(blocks)), side="left")
        edges = np.unique(np.append(edges, len(stamps)))
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    fits = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi <= lo:
            continue
        # the rows up to the block's first origin (or up to train_end), nothing later
        fit_rows = int(pos[lo]) + 1 if train_end is None else int(close.index.searchsorted(train_end, side="right"))
        try:
            per = baseline_quantiles(close.to_numpy(), pos[lo:hi], fit_rows, horizon, levels, names=names)
        except ValueError as exc:
            raise ValueError(f"{symbol}: {exc} (baselines fitted on the rows up to {stamps[lo]})") from None
        for n in names:
            out[n].append(per[n])
        fits.append({"start": close.index[0].isoformat(), "end": close.index[fit_rows - 1].isoformat()})
    return {n: np.concatenate(v) for n, v in out.items()}, fits


def _score(
    frame: pd.DataFrame,
    parts: dict[str, pd.DataFrame],
    levels: list[float],
    horizon: int,
    names: list[str],
    blocks: list[pd.Timestamp] | None,
    train_end: pd.Timestamp | None = None,
) -> tuple[dict, dict, dict, dict, dict]:
    """Per symbol of a backtest frame: the model's and the baselines' log-return quantiles, the outcomes."""
    forecasts, actual, origins, closes, data = {}, {}, {}, {}, {}
    for symbol, rows in frame.groupby("symbol", sort=False):
        if symbol not in parts:
            raise ValueError(f"the model's backtest names symbol {symbol!r}, which is not in the data {sorted(parts)}.")
        close = parts[symbol]["close"].astype(float)
        stamps, base, y, q_model = _symbol_arrays(rows, levels, horizon)
        pos = close.index.get_indexer(stamps)
        if np.any(pos < 0) or not np.allclose(close.to_numpy()[pos], base, rtol=1e-9, atol=0):
            raise ValueError(f"{symbol}: the model's base values are not the data's closes at the origins.")
        per, fits = _block_baselines(close, pos, stamps, blocks, horizon, levels, names, symbol, train_end)
        forecasts[symbol] = {"model": q_model, **per}
        actual[symbol], origins[symbol], closes[symbol] = y, stamps, close
        data[symbol] = {
            "origins": int(len(stamps)),
            "first_origin": stamps[0].isoformat(),
            "last_origin": stamps[-1].isoformat(),
            "baselines_fitted_on": fits[0] if len(fits) == 1 else fits,
        }

    return forecasts, actual, origins, closes, data


def compare_frame(
    frame: pd.DataFrame,
    df: pd.DataFrame,
    levels: Sequence[float],
    train_end: Any = None,
    baselines: Sequence[str] = BASELINES,
) -> dict[str, Any]:
    """The model-vs-baselines comparison of a model's backtest frame (e.g. ``evaluate``'s test frame).

    Parameters
    ----------
    frame : pandas.DataFrame
        ``model.backtest(...)``'s frame (``origin``, ``step``, ``base``, ``actual``, ``q<level>``; a
        ``symbol`` column for a panel), in price units; every origin with steps ``1..H``.
    df : pandas.DataFrame
        The OHLCV data the frame was made from (one series or a panel).
    levels : sequence of float
        The model's quantile levels.
    train_end : timestamp-like, optional
        Last row of the training split: the baselines are fitted on each series' rows up to it (the
        honest setting of a held-out evaluation). Default: the rows up to each series' first origin.
    baselines : sequence of str

    Returns
    -------
    dict
        :func:`~lstm_forecaster.comparison.comparison_report` of the model (as ``"model"``) beside every
        baseline, per asset, per step and pooled, with ``baselines_fitted_on`` per asset added.
    """
    levels = [float(q) for q in levels]
    parts = series_of(df)
    frame = frame.copy()
    if "symbol" not in frame.columns:
        frame.insert(0, "symbol", SINGLE if len(parts) == 1 else next(iter(parts)))
    frame["symbol"] = frame["symbol"].astype(str)
    if train_end is not None:
        train_end = pd.Timestamp(train_end)
        train_end = train_end.tz_localize("UTC") if train_end.tz is None else train_end.tz_convert("UTC")
    horizon = int(frame["step"].max())
    blocks = [pd.Timestamp(frame["origin"].min())]
    forecasts, actual, origins, _, data = _score(frame, parts, levels, horizon, list(baselines), blocks, train_end)
    report = comparison_report(actual, forecasts, levels, origins={s: list(o) for s, o in origins.items()})
    report["baselines_fitted_on"] = {s: d["baselines_fitted_on"] for s, d in data.items()}
    _finite(report)
    return report


def held_out_comparison(
    config: Any, frame: pd.DataFrame, df: pd.DataFrame, train_end: Any, symbols: Sequence[str] | None = None
) -> dict[str, Any]:
    """What ``metrics.json`` records of a held-out evaluation beside the field's baselines.

    Parameters
    ----------
    config : LSTMForecasterConfig
        The model's config (its ``quantiles`` and ``target`` decide whether it can be compared).
    frame : pandas.DataFrame
        The model's backtest frame on the evaluated split (price units; a ``symbol`` column for a panel).
    df : pandas.DataFrame
        The data the frame was made from.
    train_end : timestamp-like
        Last row of the training split (inclusive): every baseline is fitted on each series' rows up
        to it, then frozen.
    symbols : sequence of str, optional
        Of a panel, the assets to compare (those the held-out evaluation scored); default all.

    Returns
    -------
    dict
        ``{"comparison": compare_frame(...)}``, or ``{"comparison_skipped": reason}`` for a model whose
        forecasts cannot be set beside the price baselines (volume target, point forecasts, forecasts
        without a finite log return).
    """
    if not getattr(config, "quantiles", None):
        return {"comparison_skipped": "a point model: the field's baselines are compared on quantile forecasts"}
    if getattr(config, "target", "close") == "volume":
        return {"comparison_skipped": "a volume model: the field's baselines forecast the close"}
    if symbols is not None and "symbol" in frame.columns:
        frame = frame[frame["symbol"].astype(str).isin([str(s) for s in symbols])]
    try:
        report = compare_frame(frame, df, config.quantiles, train_end=train_end)
    except ValueError as exc:
        return {"comparison_skipped": f"the baselines could not be set beside this model: {exc}"}
    return {COMPARISON_KEY: report}


def backtest(
    model: Any,
    df: pd.DataFrame,
    start: Any = None,
    end: Any = None,
    strategy: str | None = None,
    cost_bps: float | Sequence[float] = (0.0, 10.0, 25.0),
    baselines: Sequence[str] = BASELINES,
    refit_every: int | None = None,
    recipe: Any = None,
    progress: bool | None = None,
    **rule: float,
) -> BacktestResult:
    """Rolling-origin evaluation from ``start`` to the end of the data, frozen or with refits.

    Parameters
    ----------
    model : LSTMForecaster or None
        A quantile model (its ``backtest`` gives the forecasts; calibration as in ``predict``).
        Ignored (may be None) with ``refit_every``.
    df : pandas.DataFrame
        OHLCV rows from :func:`~lstm_forecaster.load_ohlcv`: one series or a panel indexed by
        ``(symbol, timestamp)``.
    start, end : timestamp-like, optional
        First and last origin (default: the first full window, the last origin whose targets are
        known). Within the data's dates.
    strategy : {"long-flat", "vol-target"}, optional
        Also run this trading rule on the model's forecasts and on the EWMA baseline's, beside
        buy-and-hold, at every cost level of ``cost_bps``.
    cost_bps : float or sequence of float, default (0, 10, 25)
        Costs per unit of turnover, in basis points.
    baselines : sequence of str
        Which baselines (default all; ``naive`` and ``ewma`` are required).
    refit_every : int, optional
        Walk forward: retrain ``recipe`` on the data before every block of this many origin dates
        (:mod:`lstm_forecaster.walkforward`). The baselines are refitted at the same dates.
    recipe : TrainingConfig or path, optional
        The recipe of the refits.
    progress : bool, optional
        Progress bar over the refits (default: when stderr is a terminal).
    **rule
        ``threshold``, ``target_vol``, ``max_leverage`` of the strategy.

    Returns
    -------
    BacktestResult
    """
    names = _check_rule(strategy, baselines)  # before any refit is trained
    parts = series_of(df)
    start_ts, end_ts = _check_period(parts, start, end)
    if refit_every is None:
        levels = _levels_of(model)
        frame = _frozen_frame(model, df, start_ts, end_ts)
        blocks, refits = [pd.Timestamp(frame["origin"].min())], None
    else:
        from .walkforward import walk_forward

        frame, blocks, refits, levels = walk_forward(recipe, df, parts, start_ts, end_ts, refit_every, progress)
    return score_backtest(frame, df, levels, blocks, refits, refit_every, strategy, cost_bps, names, **rule)


def score_backtest(
    frame: pd.DataFrame,
    df: pd.DataFrame,
    levels: Sequence[float],
    blocks: list[pd.Timestamp],
    refits: list[dict[str, Any]] | None = None,
    refit_every: int | None = None,
    strategy: str | None = None,
    cost_bps: float | Sequence[float] = (0.0, 10.0, 25.0),
    baselines: Sequence[str] = BASELINES,
    **rule: float,
) -> BacktestResult:
    """Score a model's backtest frame beside the baselines (refitted at every date of ``blocks``), and
    run a trading rule on it: the second half of :func:`backtest`.

    One walk-forward frame (the costly part: a training per refit) can so be scored with every
    strategy: ``frame, blocks, refits, levels = walk_forward(...)``, then ``score_backtest(frame, df,
    levels, blocks, refits, refit_every, strategy=...)`` per rule.
    """
    names, levels = _check_rule(strategy, baselines), [float(q) for q in levels]
    parts = series_of(df)
    frame = frame.copy()
    if "symbol" not in frame.columns:
        frame.insert(0, "symbol", SINGLE if len(parts) == 1 else next(iter(parts)))
    frame["symbol"] = frame["symbol"].astype(str)
    horizon = int(frame["step"].max())

    forecasts, actual, origins, closes, data = _score(frame, parts, levels, horizon, names, blocks)
    missing = [s for s in parts if s not in forecasts]
    comparison = comparison_report(actual, forecasts, levels, origins={s: list(o) for s, o in origins.items()})
    report: dict[str, Any] = {
        "horizon": horizon,
        "levels": levels,
        "n_origins": int(sum(len(o) for o in origins.values())),
        "refit_every": refit_every,
        "refits": refits,
        "data": data,
        "series_without_origins": missing,
        "comparison": comparison,
    }
    result = BacktestResult(report, frame.reset_index(drop=True), forecasts, actual, origins, closes)
    if strategy is not None:
        report["strategy"] = {}
        for symbol in forecasts:
            close = closes[symbol]
            pos = close.index.get_indexer(origins[symbol])
            ppy = _periods_per_year(close.index)
            pair = {"model": forecasts[symbol]["model"], "ewma": forecasts[symbol]["ewma"]}
            st = strategy_report(close.to_numpy(), pair, levels, strategy, pos, cost_bps, ppy, **rule)
            st["first_origin"], st["last_origin"] = origins[symbol][0].isoformat(), origins[symbol][-1].isoformat()
            report["strategy"][symbol] = st
            result.weights[symbol] = {
                n: positions(strategy, q, levels, periods_per_year=ppy, **rule) for n, q in pair.items()
            }
    _finite(report)
    return result


def _check_rule(strategy: str | None, baselines: Sequence[str]) -> list[str]:
    """The baselines' names, once the strategy is known and the references are among them."""
    if strategy is not None and strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; accepted: {', '.join(STRATEGIES)}.")
    names = list(baselines)
    if "naive" not in names or "ewma" not in names:
        raise ValueError(f"the baselines must include 'naive' and 'ewma' (the references); got {names}.")
    return names


def _finite(report: dict[str, Any]) -> None:
    """Replace non-finite floats (a division by a zero loss) by None, in place, so the JSON is valid."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    report.update(walk(report))
