"""Honest held-out evaluation of forecasts in price (or volume) units.

Everything here works on a *backtest frame*: a :class:`pandas.DataFrame` with one row per
rolling-origin forecast point ``(origin, step)``:

``origin``
    tz-aware UTC timestamp of the last observed row of the input window.
``step``
    integer horizon step, ``1..H``.
``timestamp``
    the target time of that step.
``base``
    the last *real* observed value of the target quantity at the origin (the close at the origin).
``actual``
    the real value at ``timestamp``.
``forecast``
    the model's point forecast, in the same units as ``actual``.
``q<level>``
    optional, one column per quantile level, named ``f"q{level:g}"`` (``q0.1``, ``q0.5``, ``q0.9``).

Every metric of the model is reported beside naive baselines computed on exactly the same points,
causally from the real series (a baseline at an origin reads only values at or before that origin),
with every fitted statistic taken from the training split only.

This module depends only on numpy, pandas, scipy, :mod:`lstm_forecaster.metrics` (the metric
functions, re-exported here) and (lazily, for plots) matplotlib; it imports no model code, so the
model code can call into it.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# The metric functions live in metrics.py; they are re-exported here so existing imports keep working.
from .metrics import (
    _as_1d,
    _check_levels,
    _dm_from_differential,
    diebold_mariano,
    direction_metrics,
    interval_coverage,
    mae,
    mape,
    mase,
    pinball_loss,
    quantile_column,
    rmse,
)

__all__ = [
    "REQUIRED_COLUMNS",
    "baseline_forecasts",
    "comparison_section",
    "diebold_mariano",
    "direction_metrics",
    "evaluate_backtest",
    "interval_coverage",
    "mae",
    "mape",
    "mase",
    "metrics_table",
    "pinball_loss",
    "plot_forecast",
    "plot_percent_change",
    "quantile_column",
    "rmse",
    "validate_backtest_frame",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("origin", "step", "timestamp", "base", "actual", "forecast")
"""Columns every backtest frame must carry."""

POINT_BASELINES: tuple[str, ...] = ("naive_last", "drift", "moving_average")
QUANTILE_BASELINES: tuple[str, ...] = ("constant_quantile", "rolling_volatility")


# --------------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------------


def validate_backtest_frame(frame: pd.DataFrame, quantiles: Sequence[float] | None = None) -> list[float]:
    """Check a backtest frame against the input contract.

    Parameters
    ----------
    frame : pandas.DataFrame
        Backtest frame (see the module docstring for its columns).
    quantiles : sequence of float, optional
        Quantile levels whose ``q<level>`` columns must be present.

    Returns
    -------
    list of float
        The validated quantile levels (empty when ``quantiles`` is None).

    Raises
    ------
    ValueError
        If a required column is missing, ``base``/``actual``/``forecast`` or a quantile column holds
        NaN or infinity, ``step`` is not a positive integer, ``origin`` or ``timestamp`` are not
        datetimes, a target timestamp is not after its origin, an ``(origin, step)`` pair repeats, or
        the quantile levels are outside (0, 1) or unsorted.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"backtest frame must be a pandas DataFrame; got {type(frame).__name__}.")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"backtest frame is missing column(s) {missing}; required: {list(REQUIRED_COLUMNS)}; "
            f"found: {[str(c) for c in frame.columns]}."
        )
    if len(frame) == 0:
        raise ValueError("backtest frame has no rows; at least one (origin, step) point is needed.")
    for col in ("base", "actual", "forecast"):
        _as_1d(frame[col].to_numpy(), f"column {col!r}")
    for col in ("origin", "timestamp"):
        if not pd.api.types.is_datetime64_any_dtype(frame[col]):
            raise ValueError(f"column {col!r} must hold datetimes (tz-aware UTC); got dtype {frame[col].dtype}.")
        if frame[col].isna().any():
            raise ValueError(f"column {col!r} holds missing timestamps (NaT).")
    steps = np.asarray(frame["step"], dtype=float)
    if not np.all(np.isfinite(steps)) or np.any(steps < 1) or np.any(steps != np.round(steps)):
        bad = frame["step"][~(np.isfinite(steps) & (steps >= 1) & (steps == np.round(steps)))]
        raise ValueError(f"column 'step' must hold integers >= 1; got {bad.iloc[0]!r} (and {len(bad) - 1} more).")
    not_after = frame["timestamp"] <= frame["origin"]
    if not_after.any():
        row = frame[not_after].iloc[0]
        raise ValueError(
            f"column 'timestamp' must be after 'origin'; got timestamp {row['timestamp']} for origin {row['origin']}."
        )
    if frame.duplicated(["origin", "step"]).any():
        dup = frame[frame.duplicated(["origin", "step"])].iloc[0]
        raise ValueError(f"(origin, step) pairs must be unique; ({dup['origin']}, {dup['step']}) repeats.")
    if quantiles is None:
        return []
    levels = _check_levels(quantiles)
    names = [quantile_column(q) for q in levels]
    missing_q = [n for n in names if n not in frame.columns]
    if missing_q:
        found = [str(c) for c in frame.columns if str(c).startswith("q")]
        raise ValueError(
            f"backtest frame is missing quantile column(s) {missing_q} for levels {levels}; "
            f'columns are named f"q{{level:g}}"; quantile columns found: {found}.'
        )
    for name in names:
        _as_1d(frame[name].to_numpy(), f"column {name!r}")
    return levels


def _utc_index(index: pd.Index, name: str) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"{name} must have a DatetimeIndex; got {type(index).__name__}.")
    if index.tz is None:
        raise ValueError(f"{name} index must be tz-aware (UTC); got a naive DatetimeIndex.")
    return index.tz_convert("UTC")


def _utc_timestamp(value: Any, name: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts is pd.NaT or pd.isna(ts):
        raise ValueError(f"{name} must be a timestamp; got {value!r}.")
    if ts.tz is None:
        raise ValueError(f"{name} must be tz-aware (UTC); got naive {ts}.")
    return ts.tz_convert("UTC")


def _utc_values(column: pd.Series, name: str) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(column)
    if idx.tz is None:
        raise ValueError(f"column {name!r} must be tz-aware (UTC); got naive timestamps.")
    return idx.tz_convert("UTC")


def _check_history(history: pd.Series) -> tuple[pd.DatetimeIndex, np.ndarray]:
    if not isinstance(history, pd.Series):
        raise ValueError(f"history must be a pandas Series; got {type(history).__name__}.")
    index = _utc_index(history.index, "history")
    if index.has_duplicates:
        raise ValueError(f"history index has duplicate timestamps, e.g. {index[index.duplicated()][0]}.")
    if not index.is_monotonic_increasing:
        raise ValueError("history index must be sorted oldest first.")
    values = _as_1d(history.to_numpy(), "history")
    return index, values


# --------------------------------------------------------------------------------------------------
# baselines
# --------------------------------------------------------------------------------------------------


def _log_returns(values: np.ndarray, name: str = "history") -> np.ndarray:
    if np.any(values <= 0):
        first = int(np.flatnonzero(values <= 0)[0])
        raise ValueError(
            f"{name} must be strictly positive for the log-return baselines (drift, quantiles); "
            f"got {values[first]} at position {first}."
        )
    return np.diff(np.log(values))


def baseline_forecasts(
    frame: pd.DataFrame,
    history: pd.Series,
    train_end: pd.Timestamp,
    quantiles: Sequence[float] | None = None,
    window: int = 20,
    vol_window: int = 30,
) -> dict[str, pd.DataFrame]:
    """Naive forecasts on the same ``(origin, step)`` points as a backtest frame.

    Every baseline at an origin reads only ``history`` values at or before that origin (causal), and
    every fitted statistic (the quantiles of returns) is computed on ``history[:train_end]`` only.
    Log returns are ``r_t = log(y_t / y_{t-1})`` between consecutive rows of ``history``.

    Point baselines (``forecast`` column):

    ``naive_last``
        ``base`` (no change; in price units this is also the zero-return forecast).
    ``drift``
        ``base * exp(step * mu)``, ``mu`` the mean log return of ``history`` up to the origin
        (0 when the origin is the first row).
    ``moving_average``
        mean of the last ``window`` values of ``history`` up to and including the origin (fewer when
        the history is shorter).

    Quantile baselines (``forecast`` and one ``q<level>`` column per level), only with
    ``quantiles``. A ``step``-ahead return is taken as ``sqrt(step)`` times a one-step return
    (square-root-of-time scaling: exact for independent, identically distributed, driftless
    returns, an approximation otherwise; the same rule is used for every step so the baselines stay
    simple and reproducible):

    ``constant_quantile``
        ``base * exp(sqrt(step) * Q_level(r_train))`` where ``r_train`` are the one-step log returns
        whose both ends lie at or before ``train_end``.
    ``rolling_volatility``
        ``base * exp(sqrt(step) * sigma(origin) * Q_level(z_train))``. ``sigma(t)`` is the sample
        standard deviation of the last ``vol_window`` log returns up to ``t``; ``z_t = r_t /
        sigma(t-1)`` are returns standardized by the volatility known *before* them (causal), and
        ``Q_level(z_train)`` their empirical quantile over the training split.

    The point forecast of a quantile baseline is its median: the same formula at level 0.5.

    Parameters
    ----------
    frame : pandas.DataFrame
        Backtest frame (see the module docstring).
    history : pandas.Series
        Real series of the target quantity on a tz-aware DatetimeIndex, oldest first, strictly
        positive, covering every origin.
    train_end : pandas.Timestamp
        Last timestamp of the training split (tz-aware). Every origin must be at or after it.
    quantiles : sequence of float, optional
        Quantile levels; adds the quantile baselines.
    window : int, default 20
        Length of the moving average.
    vol_window : int, default 30
        Length of the trailing volatility window, in returns.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``naive_last``, ``drift``, ``moving_average`` and, with quantiles, ``constant_quantile`` and
        ``rolling_volatility``; each indexed like ``frame``.

    Raises
    ------
    ValueError
        On a malformed frame or history, an origin before ``train_end`` or before the first history
        row, non-positive history values, or too little training data for the quantile baselines.
    """
    levels = validate_backtest_frame(frame, quantiles)
    for name, value, smallest in (("window", window, 1), ("vol_window", vol_window, 2)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < smallest:
            raise ValueError(f"{name} must be an integer >= {smallest}; got {value!r}.")
    index, values = _check_history(history)
    train_end = _utc_timestamp(train_end, "train_end")
    origins = _utc_values(frame["origin"], "origin")
    if origins.min() < train_end:
        raise ValueError(
            f"origin {origins.min()} precedes train_end {train_end}: the baselines are for held-out "
            "evaluation, and their training statistics would see the future of that origin."
        )
    pos = index.searchsorted(origins, side="right") - 1
    if np.any(pos < 0):
        raise ValueError(f"history starts at {index[0]}, after origin {origins.min()}; it must cover every origin.")
    used = values[: int(pos.max()) + 1]
    returns = _log_returns(used)
    base = frame["base"].to_numpy(dtype=float)
    step = frame["step"].to_numpy(dtype=float)

    def _frame(forecast: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        data = {"forecast": forecast}
        data.update(extra or {})
        return pd.DataFrame(data, index=frame.index)

    out: dict[str, pd.DataFrame] = {"naive_last": _frame(base.copy())}

    # drift: mean log return up to each origin, from cumulative sums (returns r_1..r_pos).
    csum = np.concatenate([[0.0], np.cumsum(returns)])
    mu = np.where(pos > 0, csum[pos] / np.maximum(pos, 1), 0.0)
    out["drift"] = _frame(base * np.exp(step * mu))

    # moving average of the last `window` values up to and including the origin.
    vsum = np.concatenate([[0.0], np.cumsum(used)])
    start = np.maximum(pos + 1 - int(window), 0)
    out["moving_average"] = _frame((vsum[pos + 1] - vsum[start]) / (pos + 1 - start))

    if not levels:
        return out

    lv = np.asarray(levels)
    names = [quantile_column(q) for q in levels]
    scale = np.sqrt(step)
    n_train = int(index.searchsorted(train_end, side="right"))  # rows at or before train_end
    train_returns = returns[: max(n_train - 1, 0)]
    if train_returns.size < 2:
        raise ValueError(
            f"history[:train_end] gives {train_returns.size} log return(s); the quantile baselines need at least 2."
        )
    q_const = np.quantile(train_returns, lv)
    med_const = float(np.quantile(train_returns, 0.5))
    out["constant_quantile"] = _frame(
        base * np.exp(scale * med_const),
        {name: base * np.exp(scale * q) for name, q in zip(names, q_const, strict=True)},
    )

    # sigma[k]: std of returns[k - vol_window + 1 .. k], i.e. known at history row k + 1.
    sigma = pd.Series(returns).rolling(int(vol_window), min_periods=int(vol_window)).std(ddof=1)
    sigma = sigma.to_numpy()
    # z for return k (row k + 1) uses sigma[k - 1] (up to row k): standardized by past volatility.
    z = returns[1:] / sigma[:-1]
    z_train = z[: max(n_train - 2, 0)]
    z_train = z_train[np.isfinite(z_train)]
    if z_train.size < 2:
        raise ValueError(
            f"history[:train_end] has {n_train} rows; the rolling-volatility baseline needs more "
            f"than {int(vol_window) + 2} training rows (vol_window={vol_window})."
        )
    sigma_origin = np.where(pos >= 1, sigma[np.maximum(pos - 1, 0)], np.nan)
    if not np.all(np.isfinite(sigma_origin)):
        first = origins[~np.isfinite(sigma_origin)][0]
        raise ValueError(
            f"origin {first} has fewer than {vol_window} log returns before it in history; the "
            "rolling-volatility baseline needs them."
        )
    q_z = np.quantile(z_train, lv)
    med_z = float(np.quantile(z_train, 0.5))
    out["rolling_volatility"] = _frame(
        base * np.exp(scale * sigma_origin * med_z),
        {name: base * np.exp(scale * sigma_origin * q) for name, q in zip(names, q_z, strict=True)},
    )
    return out


# --------------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Convert numpy scalars to Python ones; non-finite floats become None (valid JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _or_none(func: Any, *args: Any) -> float | None:
    try:
        return func(*args)
    except ValueError:
        return None


def _point_metrics(actual: np.ndarray, pred: np.ndarray, naive: np.ndarray) -> dict[str, Any]:
    return {
        "mae": mae(actual, pred),
        "rmse": rmse(actual, pred),
        "mape": _or_none(mape, actual, pred),
        "mase": _or_none(mase, actual, pred, naive),
    }


def _quantile_metrics(actual: np.ndarray, qpred: np.ndarray, levels: list[float]) -> dict[str, Any]:
    return {
        "pinball": pinball_loss(actual, qpred, levels),
        "coverage": interval_coverage(actual, qpred[:, 0], qpred[:, -1]) if len(levels) > 1 else None,
        "nominal_coverage": levels[-1] - levels[0] if len(levels) > 1 else None,
        "calibration": {quantile_column(q): float(np.mean(actual <= qpred[:, j])) for j, q in enumerate(levels)},
    }


def evaluate_backtest(
    frame: pd.DataFrame,
    history: pd.Series,
    train_end: pd.Timestamp,
    quantiles: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Rolling-origin evaluation of a backtest frame beside naive baselines on the same points.

    Every origin in the frame and every horizon step enter the metrics; all numbers are in the units
    of ``actual`` (price or volume), except MAPE (percent) and MASE (ratio).

    Parameters
    ----------
    frame : pandas.DataFrame
        Backtest frame (see the module docstring).
    history : pandas.Series
        Real series of the target quantity (tz-aware DatetimeIndex, oldest first).
    train_end : pandas.Timestamp
        Last timestamp of the training split; baseline statistics use ``history[:train_end]`` only.
    quantiles : sequence of float, optional
        Quantile levels of the model; adds the ``quantile`` section.

    Returns
    -------
    dict
        JSON-serialisable (plain ``int``/``float``/``str``/``None``):

        * ``n_points``, ``n_origins``, ``horizon`` (largest step), ``first_origin``,
          ``last_timestamp``, ``train_end`` (ISO strings);
        * ``models``: ``model``, ``naive_last``, ``drift``, ``moving_average``, each with ``mae``,
          ``rmse``, ``mape`` (percent; None if an actual is 0) and ``mase`` (MAE relative to
          ``naive_last`` on the same points);
        * ``direction``: :func:`direction_metrics` for ``model``, ``drift`` and ``moving_average``
          (a forecast that never moves from the base, like ``naive_last``, is not scored);
        * ``diebold_mariano``: ``statistic``, ``p_value``, ``baseline`` ("naive_last"), ``loss``,
          ``horizon``, ``n``. Squared-error loss; with one step the differential is taken per point,
          with several steps it is the per-origin mean over steps, tested with ``horizon = H``
          (overlapping targets make consecutive origins correlated). Negative: the model is better.
          None values when fewer than 3 origins;
        * ``quantile`` (only with ``quantiles``): ``model``, ``constant_quantile``,
          ``rolling_volatility``, each with ``pinball``, ``coverage`` (between the lowest and
          highest level), ``nominal_coverage`` and ``calibration`` (share of actuals at or below
          each level);
        * ``by_step``: one entry per step with ``step``, ``n``, ``mae``, ``naive_mae``, ``mase``,
          ``direction_accuracy``.
    """
    levels = validate_backtest_frame(frame, quantiles)
    baselines = baseline_forecasts(frame, history, train_end, levels or None)
    actual = frame["actual"].to_numpy(dtype=float)
    base = frame["base"].to_numpy(dtype=float)
    naive = baselines["naive_last"]["forecast"].to_numpy()
    preds = {"model": frame["forecast"].to_numpy(dtype=float)}
    preds.update({name: baselines[name]["forecast"].to_numpy() for name in POINT_BASELINES})

    models = {name: _point_metrics(actual, pred, naive) for name, pred in preds.items()}
    # A forecast that never moves from the base (naive_last, or a model whose median is pinned to the
    # last value) predicts no direction, so it gets no direction score rather than "always down".
    direction = {
        name: direction_metrics(base, actual, preds[name])
        for name in ("model", "drift", "moving_average")
        if np.any(preds[name] != base)
    }

    origins = _utc_values(frame["origin"], "origin")
    steps = frame["step"].to_numpy(dtype=int)
    horizon = int(steps.max())
    loss_diff = (actual - preds["model"]) ** 2 - (actual - naive) ** 2
    per_origin = (
        pd.Series(loss_diff).groupby(np.asarray(origins), sort=True).mean().to_numpy()
        if horizon > 1
        else loss_diff[np.argsort(np.asarray(origins), kind="stable")]
    )
    dm_h = horizon if horizon < per_origin.size else 1
    if per_origin.size >= 3:
        statistic, p_value = _dm_from_differential(per_origin, dm_h)
    else:
        statistic, p_value = None, None
    dm = {
        "statistic": statistic,
        "p_value": p_value,
        "baseline": "naive_last",
        "loss": "squared error",
        "horizon": dm_h,
        "n": int(per_origin.size),
        "identical": bool(np.array_equal(preds["model"], naive)),
    }

    by_step = []
    for s in np.unique(steps):
        m = steps == s
        by_step.append(
            {
                "step": int(s),
                "n": int(m.sum()),
                "mae": mae(actual[m], preds["model"][m]),
                "naive_mae": mae(actual[m], naive[m]),
                "mase": _or_none(mase, actual[m], preds["model"][m], naive[m]),
                "direction_accuracy": (
                    direction_metrics(base[m], actual[m], preds["model"][m])["accuracy"]
                    if "model" in direction
                    else None
                ),
            }
        )

    report: dict[str, Any] = {
        "n_points": len(frame),
        "n_origins": len(np.unique(np.asarray(origins))),
        "horizon": horizon,
        "first_origin": origins.min().isoformat(),
        "last_timestamp": _utc_values(frame["timestamp"], "timestamp").max().isoformat(),
        "train_end": _utc_timestamp(train_end, "train_end").isoformat(),
        "models": models,
        "direction": direction,
        "diebold_mariano": dm,
    }
    if levels:
        names = [quantile_column(q) for q in levels]
        quantile = {"model": _quantile_metrics(actual, frame[names].to_numpy(float), levels)}
        for name in QUANTILE_BASELINES:
            quantile[name] = _quantile_metrics(actual, baselines[name][names].to_numpy(), levels)
        report["quantile"] = quantile
    report["by_step"] = by_step
    return _plain(report)


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    value = float(value)
    if percent:
        return f"{100 * value:.1f} %"
    if abs(value) >= 100:
        return f"{value:,.2f}"
    if abs(value) >= 1:
        return f"{value:.3f}"
    return f"{value:.4g}"


def describe_diebold_mariano(dm: dict[str, Any], level: float = 0.05) -> str:
    """The Diebold-Mariano result of a report in plain words: which forecast had the lower loss, and
    whether the difference is significant at `level`; identical forecasts are said to be identical."""
    baseline, loss = dm.get("baseline", "the baseline"), dm.get("loss", "squared error")
    statistic, p_value = dm.get("statistic"), dm.get("p_value")
    if dm.get("identical"):
        return (
            f"Diebold-Mariano vs {baseline}: not applicable, the model's forecasts equal {baseline}'s on every point."
        )
    if statistic is None or p_value is None:
        return f"Diebold-Mariano vs {baseline}: too few origins for the test."
    if statistic == 0:
        return f"Diebold-Mariano (HLN) vs {baseline}, {loss}: equal mean loss (p-value {_fmt(p_value)})."
    lower = "the model" if statistic < 0 else baseline
    verdict = "significant" if p_value < level else "not significant"
    return (
        f"Diebold-Mariano (HLN) vs {baseline}, {loss}: {lower} had the lower loss; the difference is "
        f"{verdict} at {level:.0%} (statistic {_fmt(statistic)}, p-value {_fmt(p_value)})."
    )


def metrics_table(report: dict[str, Any]) -> str:
    """Markdown tables of a :func:`evaluate_backtest` report: the model beside its baselines.

    Parameters
    ----------
    report : dict
        The dictionary returned by :func:`evaluate_backtest` (or read back from ``metrics.json``).

    Returns
    -------
    str
        A point-forecast table (MAE, RMSE, MAPE, MASE vs naive_last, direction accuracy), a line
        with the Diebold-Mariano test, and a quantile table when the report has one.
    """
    if isinstance(report, dict) and report.get("panel"):
        from .panel_evaluation import panel_metrics_table

        return panel_metrics_table(report) + comparison_section(report)
    if not isinstance(report, dict) or "models" not in report:
        raise ValueError("report must be the dict returned by evaluate_backtest (key 'models').")
    lines = [
        f"Held-out rolling-origin evaluation: {report.get('n_points', 'n/a')} points, "
        f"{report.get('n_origins', 'n/a')} origins, horizon {report.get('horizon', 'n/a')}.",
        "",
        "| forecast | MAE | RMSE | MAPE (%) | MASE | direction accuracy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    direction = report.get("direction", {})
    for name, row in report["models"].items():
        acc = direction.get(name, {}).get("accuracy")
        lines.append(
            f"| {name} | {_fmt(row.get('mae'))} | {_fmt(row.get('rmse'))} | "
            f"{_fmt(row.get('mape'))} | {_fmt(row.get('mase'))} | {_fmt(acc, percent=True)} |"
        )
    dm = report.get("diebold_mariano")
    if dm:
        lines += [
            "",
            describe_diebold_mariano(dm) + " MASE is the MAE relative to naive_last on the same points; "
            "direction is judged from the same real base.",
        ]
    quantile = report.get("quantile")
    if quantile:
        lines += [
            "",
            "| quantile forecast | pinball loss | interval coverage | nominal coverage |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, row in quantile.items():
            coverage = _fmt(row.get("coverage"), percent=True)
            nominal = _fmt(row.get("nominal_coverage"), percent=True)
            lines.append(f"| {name} | {_fmt(row.get('pinball'))} | {coverage} | {nominal} |")
    return "\n".join(lines) + "\n" + comparison_section(report)


def comparison_section(report: dict[str, Any]) -> str:
    """The comparison with the field's baselines a held-out report holds (``metrics.json``'s
    ``comparison``), as Markdown; the reason when it was skipped; ``""`` for a report without either
    (one written before the comparison existed)."""
    comparison = report.get("comparison")
    if isinstance(comparison, dict) and "pooled" in comparison:
        from .comparison import comparison_table

        return (
            "\nBeside the field's baselines (naive, constant quantile, EWMA(0.94), GARCH(1,1)-t), each fitted on "
            "the training split only, on the same origins and steps; losses on log returns from the close at "
            "each origin.\n\n" + comparison_table(comparison)
        )
    if report.get("comparison_skipped"):
        return f"\nNot compared with the field's baselines: {report['comparison_skipped']}.\n"
    return ""


# --------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------


def _save_atomic(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Save a matplotlib figure as PNG to ``path`` through a temp file and ``os.replace``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a published plot must be readable
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def _naive_utc(values: Any) -> np.ndarray:
    idx = pd.DatetimeIndex(values)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.to_numpy()


def _detect_levels(frame: pd.DataFrame) -> list[float]:
    levels = []
    for col in frame.columns:
        name = str(col)
        if name.startswith("q"):
            try:
                level = float(name[1:])
            except ValueError:
                continue
            if 0 < level < 1 and quantile_column(level) == name:
                levels.append(level)
    return sorted(levels)


def plot_forecast(
    frame: pd.DataFrame,
    history: pd.Series,
    path: str | os.PathLike[str],
    title: str | None = None,
    last: int | None = None,
    step: int = 1,
    units: str = "USD",
) -> Path:
    """Plot actual vs forecast over the test period and save it as PNG.

    Parameters
    ----------
    frame : pandas.DataFrame
        Backtest frame. Quantile columns ``q<level>``, if present, shade the band between the lowest
        and the highest level.
    history : pandas.Series
        Real series, drawn over the plotted period.
    path : str or path-like
        Output PNG; written atomically (temp file in the same folder, then ``os.replace``).
    title : str, optional
        Figure title.
    last : int, optional
        Plot only the last ``last`` target times.
    step : int, default 1
        Which horizon step to plot.
    units : str, default "USD"
        Units of the series, shown on the y axis.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    validate_backtest_frame(frame)
    if last is not None and (isinstance(last, bool) or int(last) != last or last < 1):
        raise ValueError(f"last must be a positive integer or None; got {last!r}.")
    rows = frame[frame["step"] == step].sort_values("timestamp")
    if rows.empty:
        raise ValueError(f"no rows with step {step!r}; steps in the frame: {sorted(frame['step'].unique().tolist())}.")
    if last is not None:
        rows = rows.iloc[-int(last) :]
    index, values = _check_history(history)
    times = _utc_values(rows["timestamp"], "timestamp")
    shown = (index >= times.min()) & (index <= times.max())
    levels = _detect_levels(rows)

    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 5.5))
    ax = fig.add_subplot()
    x = _naive_utc(times)
    if len(levels) > 1:
        lo, hi = quantile_column(levels[0]), quantile_column(levels[-1])
        ax.fill_between(
            x,
            rows[lo].to_numpy(float),
            rows[hi].to_numpy(float),
            color="tab:orange",
            alpha=0.25,
            linewidth=0,
            label=f"forecast {lo}-{hi} band",
        )
    ax.plot(_naive_utc(index[shown]), values[shown], color="black", lw=1.3, label="actual")
    ax.plot(x, rows["forecast"].to_numpy(float), color="tab:orange", lw=1.3, label="forecast")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"value ({units})")
    ax.set_title(title or f"Forecast vs actual, step {step} ahead, held-out period")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    fig.autofmt_xdate()
    return _save_atomic(fig, path)


def plot_percent_change(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    title: str | None = None,
    step: int | None = None,
    units: str = "USD",
) -> Path:
    """Scatter of predicted vs real percent change from the same real base, saved as PNG.

    Both axes are ``100 * (value / base - 1)``; points on the diagonal are perfect forecasts, points
    in the upper-right and lower-left quadrants have the right direction.

    Parameters
    ----------
    frame : pandas.DataFrame
        Backtest frame.
    path : str or path-like
        Output PNG, written atomically.
    title : str, optional
        Figure title.
    step : int, optional
        Only this horizon step; all steps when None.
    units : str, default "USD"
        Units of the underlying series, named in the axis labels.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    validate_backtest_frame(frame)
    rows = frame if step is None else frame[frame["step"] == step]
    if rows.empty:
        raise ValueError(f"no rows with step {step!r}; steps in the frame: {sorted(frame['step'].unique().tolist())}.")
    base = rows["base"].to_numpy(float)
    if np.any(base == 0):
        raise ValueError("column 'base' holds 0; percent change from the base is undefined.")
    real = 100.0 * (rows["actual"].to_numpy(float) / base - 1.0)
    pred = 100.0 * (rows["forecast"].to_numpy(float) / base - 1.0)
    acc = direction_metrics(base, rows["actual"], rows["forecast"])["accuracy"]

    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 7))
    ax = fig.add_subplot()
    ax.scatter(real, pred, s=10, alpha=0.5, color="tab:blue", label="forecast points")
    lim = float(max(np.max(np.abs(real)), np.max(np.abs(pred)), 1e-9)) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color="black", lw=1, label="perfect forecast")
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel(f"real change from base (%, {units} series)")
    ax.set_ylabel(f"predicted change from base (%, {units} series)")
    which = "all steps" if step is None else f"step {step}"
    ax.set_title(title or f"Predicted vs real % change ({which}); direction accuracy {acc:.1%}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    return _save_atomic(fig, path)
