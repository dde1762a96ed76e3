"""Conformal recalibration of quantile forecasts from the model's own recent errors (causal).

At a forecast origin t, for each step k, the calibration reads the origins s <= t - k (their k-step
outcome is known at t), at most `window` of them, newest last. For each quantile level tau_j it
takes the model's errors there in units of the forecast's own interval width,

    e_j(s) = (y_k(s) - q_j(s)) / (q_max(s) - q_min(s)),

and shifts the level by their empirical tau_j-quantile: q_j'(t) = q_j(t) + w(t) * Q_tau_j(e_j). A
level the model already hits at the right rate is left where it is; one too narrow in a volatile
regime is widened. The median is kept (the point forecast is the model's), and the levels are kept
in order. Everything is in log-return units, so the same rule serves any asset and price level.

`calibrate_quantiles` works on the forecasts of consecutive origins of one series and gives, at
each requested origin, exactly the numbers `predict` computes from the rows up to that origin:
`backtest` and `predict` both call it.
"""

from __future__ import annotations

import numpy as np

MIN_ORIGINS = 30
"""Fewest known errors a step needs to be recalibrated; with fewer it keeps the raw quantiles."""
_WIDTH_FLOOR = 1e-12


def _level_quantiles(ordered: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantile of each column j at its own level j.

    Parameters
    ----------
    ordered : np.ndarray
        (..., m, Q) values sorted along the second-to-last axis.
    levels : np.ndarray
        (Q,) levels in (0, 1).

    Returns
    -------
    np.ndarray
        (..., Q): column j's quantile at levels[j] (numpy's default `linear` method).
    """
    m = ordered.shape[-2]
    position = levels * (m - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, m - 1)
    fraction = position - low
    columns = np.arange(ordered.shape[-1])
    lower = ordered[..., low, columns]
    upper = ordered[..., high, columns]
    return lower + fraction * (upper - lower)


def calibration_shifts(
    raw: np.ndarray, actual: np.ndarray, levels, positions: np.ndarray, window: int, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Per-level shifts (in interval widths) at each position, from the errors before it.

    Parameters
    ----------
    raw : np.ndarray
        (n, H, Q) log-return quantiles at n consecutive origins of one series.
    actual : np.ndarray
        (n, H) realised log returns of those origins (NaN where unknown: never read when causal).
    levels : sequence of float
        The Q quantile levels.
    positions : np.ndarray
        Indices into the n origins to calibrate.
    window : int
        Most errors read per step.

    Returns
    -------
    (np.ndarray, np.ndarray)
        Shifts (len(positions), H, Q) and a (len(positions), H) mask of the steps that had at least
        `MIN_ORIGINS` known errors (the others get a zero shift).
    """
    raw = np.asarray(raw, dtype="float64")
    n, horizon, q = raw.shape
    levels = np.asarray(levels, dtype="float64")
    positions = np.asarray(positions, dtype=np.int64)
    width = np.maximum(raw[..., -1] - raw[..., 0], _WIDTH_FLOOR)
    scores = (np.asarray(actual, dtype="float64")[..., None] - raw) / width[..., None]
    shifts = np.zeros((len(positions), horizon, q))
    known = np.zeros((len(positions), horizon), dtype=bool)
    for k in range(1, horizon + 1):
        last = positions - k  # newest origin whose k-step outcome is known at the position
        count = np.minimum(last + 1, window)
        full = count == window
        series = scores[:, k - 1, :]  # (n, Q)
        if full.any() and n >= window:
            views = np.lib.stride_tricks.sliding_window_view(series, window, axis=0)  # (n-w+1, Q, w)
            rows = np.flatnonzero(full)
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                block = np.sort(views[last[part] - window + 1].transpose(0, 2, 1), axis=1)  # (b, w, Q)
                shifts[part, k - 1] = _level_quantiles(block, levels)
                known[part, k - 1] = True
        for i in np.flatnonzero(~full & (count >= MIN_ORIGINS)):
            block = np.sort(series[last[i] - count[i] + 1 : last[i] + 1], axis=0)
            shifts[i, k - 1] = _level_quantiles(block, levels)
            known[i, k - 1] = True
    if not np.all(np.isfinite(shifts[known])):
        raise ValueError("calibration read an unknown outcome: the origins before a forecast must have their outcomes")
    return shifts, known


def calibrate_quantiles(
    raw: np.ndarray,
    actual: np.ndarray,
    levels,
    positions: np.ndarray,
    window: int,
    median_index: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Recalibrated log-return quantiles at `positions` (see the module docstring).

    Parameters
    ----------
    raw, actual, levels, positions, window
        As in `calibration_shifts`.
    median_index : int, optional
        The 0.5 level, kept as it is.

    Returns
    -------
    (np.ndarray, np.ndarray)
        (len(positions), H, Q) calibrated quantiles, non-decreasing across levels, and the
        (len(positions), H) mask of the steps that were recalibrated.
    """
    raw = np.asarray(raw, dtype="float64")
    shifts, known = calibration_shifts(raw, actual, levels, positions, window)
    picked = raw[positions]
    width = np.maximum(picked[..., -1] - picked[..., 0], _WIDTH_FLOOR)
    out = picked + width[..., None] * shifts
    if median_index is not None:
        m = median_index
        median = picked[..., m : m + 1]
        out[..., m : m + 1] = median
        out[..., :m] = np.minimum(out[..., :m], median)
        out[..., m + 1 :] = np.maximum(out[..., m + 1 :], median)
    out = np.maximum.accumulate(out, axis=-1)
    return np.where(known[..., None], out, picked), known


def _coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    return float(np.mean((actual >= lower) & (actual <= upper)))


def _pinball(actual: np.ndarray, predicted: np.ndarray, levels: np.ndarray) -> float:
    error = actual[:, None] - predicted
    return float(np.mean(np.maximum(levels * error, (levels - 1.0) * error)))


def calibration_report(raw_frame, frame, config) -> dict:
    """Coverage and pinball loss per step before (`raw_frame`) and after (`frame`) calibration.

    Parameters
    ----------
    raw_frame, frame : pd.DataFrame
        Backtests on the same points without and with calibration (`LSTMForecaster.backtest`).
    config : LSTMForecasterConfig
        The model's config (quantile levels, calibration window).

    Returns
    -------
    dict
        `method`, `window`, `nominal_coverage` (between the lowest and highest level) and `by_step`:
        per step `coverage_before`, `coverage_after`, `pinball_before`, `pinball_after` (of log
        returns from the origin's close, so assets at any price level pool), with
        `coverage_50_before`/`_after` when the levels hold 0.25 and 0.75.
    """
    from .configuration import quantile_column

    levels = np.asarray(config.quantiles, dtype="float64")
    names = [quantile_column(q) for q in config.quantiles]
    inner = [quantile_column(q) for q in (0.25, 0.75) if any(np.isclose(levels, q))]
    by_step = []
    for step in sorted(frame["step"].unique()):
        raw, cal = raw_frame[raw_frame["step"] == step], frame[frame["step"] == step]
        entry = {"step": int(step), "n": len(cal)}
        for suffix, part in (("before", raw), ("after", cal)):
            actual = part["actual"].to_numpy(dtype="float64")
            entry[f"coverage_{suffix}"] = _coverage(actual, part[names[0]].to_numpy(), part[names[-1]].to_numpy())
            if len(inner) == 2:
                entry[f"coverage_50_{suffix}"] = _coverage(actual, part[inner[0]].to_numpy(), part[inner[1]].to_numpy())
            base = part["base"].to_numpy(dtype="float64")
            entry[f"pinball_{suffix}"] = _pinball(
                np.log(actual / base), np.log(part[names].to_numpy(dtype="float64") / base[:, None]), levels
            )
        by_step.append(entry)
    return {
        "method": config.calibration,
        "window": config.calibration_window,
        "nominal_coverage": float(levels[-1] - levels[0]),
        "by_step": by_step,
    }
