"""Forecast metrics: point and quantile losses, coverage, significance, and multi-step comparisons.

Two layers:

* **Point-set metrics** on 1-D arrays of paired points (``mae``, ``rmse``, ``mape``, ``mase``,
  ``direction_metrics``, ``pinball_loss``, ``interval_coverage``, ``diebold_mariano``), used by
  :mod:`lstm_forecaster.evaluation` (which re-exports them).
* **Multi-step quantile metrics** on arrays shaped like a rolling-origin forecast: realized values
  ``actual[origin, step]`` of shape ``(n, H)`` (NaN marks a target that is not known, e.g. past the
  end of the data; such points are left out of every metric) and quantile forecasts
  ``quantiles[origin, step, level]`` of shape ``(n, H, L)``. In this package they are log returns
  from the close at the origin (scale-free, so assets can be pooled), but any units work.
  :mod:`lstm_forecaster.comparison` builds on them the report that compares a model with every
  baseline per asset, per step and pooled.

This module imports nothing else from the package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "coverage_by_step",
    "diebold_mariano",
    "direction_metrics",
    "dm_by_step",
    "geometric_mean",
    "interval_coverage",
    "mae",
    "mape",
    "mase",
    "mase_by_step",
    "pinball_by_step",
    "pinball_loss",
    "pinball_per_point",
    "quantile_column",
    "rmse",
    "skill_score",
]

# --------------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------------


def _as_1d(values: Any, name: str, positive: bool = False) -> np.ndarray:
    """Return ``values`` as a finite 1-D float array (strictly positive with ``positive``) or raise
    ``ValueError`` naming it."""
    values = values.to_numpy() if hasattr(values, "to_numpy") else values
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; got {type(values).__name__}.") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one series; loop over the symbols of a panel); got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; at least one point is needed.")
    bad = ~(np.isfinite(arr) & (arr > 0)) if positive else ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        what, kind = ("bad", "finite and strictly positive") if positive else ("non-finite", "finite")
        raise ValueError(
            f"{name} holds {int(bad.sum())} {what} value(s) (first at position {first}: {arr[first]}); "
            f"only {kind} numbers are accepted."
        )
    return arr


def _paired(*named: tuple[str, Any]) -> list[np.ndarray]:
    """Convert several named arrays with :func:`_as_1d` and check they have one length."""
    arrays = [_as_1d(values, name) for name, values in named]
    lengths = {name: arr.size for (name, _), arr in zip(named, arrays, strict=True)}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"inputs must have the same length; got {detail}.")
    return arrays


def quantile_column(level: float) -> str:
    """Name of the backtest-frame column holding quantile ``level`` (``0.1`` -> ``"q0.1"``)."""
    return f"q{float(level):g}"


def _check_levels(levels: Sequence[float] | np.ndarray) -> list[float]:
    """Validate quantile levels: non-empty, finite, inside (0, 1), strictly increasing."""
    try:
        arr = np.asarray(levels, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"quantile levels must be numbers in (0, 1); got {levels!r}.") from exc
    if arr.size == 0:
        raise ValueError("quantile levels are empty; give at least one level in (0, 1).")
    outside = arr[~((arr > 0.0) & (arr < 1.0))]
    if outside.size:
        raise ValueError(
            f"quantile levels must lie strictly between 0 and 1; got {outside.tolist()} in {arr.tolist()}."
        )
    if arr.size > 1 and not np.all(np.diff(arr) > 0):
        raise ValueError(f"quantile levels must be sorted strictly increasing without repeats; got {arr.tolist()}.")
    return [float(x) for x in arr]


# --------------------------------------------------------------------------------------------------
# point metrics
# --------------------------------------------------------------------------------------------------


def mae(actual: Any, pred: Any) -> float:
    """Mean absolute error.

    Parameters
    ----------
    actual, pred : array-like, shape (n,)
        Real values and forecasts, same units.

    Returns
    -------
    float
        ``mean(|actual - pred|)``, in the units of the inputs.
    """
    a, p = _paired(("actual", actual), ("pred", pred))
    return float(np.mean(np.abs(a - p)))


def rmse(actual: Any, pred: Any) -> float:
    """Root mean squared error, ``sqrt(mean((actual - pred)**2))``, in the units of the inputs."""
    a, p = _paired(("actual", actual), ("pred", pred))
    return float(np.sqrt(np.mean((a - p) ** 2)))


def mape(actual: Any, pred: Any) -> float:
    """Mean absolute percentage error, in percent: ``100 * mean(|actual - pred| / |actual|)``.

    Raises
    ------
    ValueError
        If any ``actual`` is zero (MAPE is undefined there).
    """
    a, p = _paired(("actual", actual), ("pred", pred))
    zero = a == 0
    if zero.any():
        raise ValueError(
            f"MAPE is undefined: actual is 0 at {int(zero.sum())} point(s) "
            f"(first at position {int(np.flatnonzero(zero)[0])}); use MAE or MASE instead."
        )
    return float(100.0 * np.mean(np.abs(a - p) / np.abs(a)))


def mase(actual: Any, pred: Any, naive_pred: Any) -> float:
    """Mean absolute scaled error against a naive forecast on the same points.

    ``MASE = MAE(actual, pred) / MAE(actual, naive_pred)``; below 1 the model beats the naive
    forecast, 1.0 means a tie. Note this is the *relative* MAE on the evaluation points, not the
    Hyndman-Koehler in-sample scaling.

    Raises
    ------
    ValueError
        If the naive forecast is perfect (its MAE is 0), so the ratio is undefined.
    """
    a, p, n = _paired(("actual", actual), ("pred", pred), ("naive_pred", naive_pred))
    denominator = float(np.mean(np.abs(a - n)))
    if denominator == 0.0:
        raise ValueError("MASE is undefined: naive_pred has zero MAE on these points.")
    return float(np.mean(np.abs(a - p))) / denominator


def diebold_mariano(errors_model: Any, errors_baseline: Any, horizon: int = 1, power: float = 2) -> tuple[float, float]:
    """Diebold-Mariano test of equal predictive accuracy, HLN small-sample corrected.

    The loss differential is ``d_t = |e_model_t|**power - |e_baseline_t|**power``. Its long-run
    variance uses the autocovariances up to lag ``horizon - 1`` with equal (rectangular) weights, as
    in Diebold and Mariano (1995); the statistic is multiplied by the Harvey, Leybourne and Newbold
    (1997) factor ``sqrt((n + 1 - 2h + h(h - 1)/n) / n)`` and compared with a Student-t with ``n - 1``
    degrees of freedom, two-sided.

    Parameters
    ----------
    errors_model, errors_baseline : array-like, shape (n,)
        Forecast errors (``actual - forecast``) of the two forecasts on the same points, in time
        order.
    horizon : int, default 1
        Forecast horizon ``h``; ``h - 1`` autocovariance lags enter the variance.
    power : float, default 2
        Loss exponent: 2 for squared error, 1 for absolute error.

    Returns
    -------
    statistic : float
        Negative when the model has the smaller loss.
    p_value : float
        Two-sided p-value.

    Notes
    -----
    Degenerate cases, chosen so the function always answers:

    * identical losses (``d`` all zero, e.g. identical errors) return ``(0.0, 1.0)``;
    * a constant non-zero differential has zero variance and returns ``(-inf or +inf, 0.0)``;
    * if the rectangular-window variance comes out non-positive for ``h > 1`` the test falls back to
      ``h = 1`` (as R's ``forecast::dm.test`` does).

    Raises
    ------
    ValueError
        On a length mismatch, fewer than 3 points, ``horizon`` not an integer in ``[1, n)``, or
        ``power <= 0``.
    """
    e1, e2 = _paired(("errors_model", errors_model), ("errors_baseline", errors_baseline))
    n = e1.size
    if n < 3:
        raise ValueError(f"Diebold-Mariano test needs at least 3 points; got {n}.")
    if isinstance(horizon, bool) or int(horizon) != horizon or not 1 <= int(horizon) < n:
        raise ValueError(f"horizon must be an integer in [1, {n}) for {n} points; got {horizon!r}.")
    if not (np.isfinite(power) and power > 0):
        raise ValueError(f"power must be a positive number; got {power!r}.")
    d = np.abs(e1) ** power - np.abs(e2) ** power
    return _dm_from_differential(d, int(horizon))


def _dm_from_differential(d: np.ndarray, horizon: int) -> tuple[float, float]:
    """DM/HLN test on a loss-differential series (see :func:`diebold_mariano`)."""
    n = d.size
    mean = float(np.mean(d))
    if np.all(d == d[0]):
        if d[0] == 0:
            return 0.0, 1.0
        return math.copysign(math.inf, mean), 0.0
    centred = d - mean
    autocov = [float(np.dot(centred[k:], centred[: n - k]) / n) for k in range(horizon)]
    variance = (autocov[0] + 2.0 * sum(autocov[1:])) / n
    if variance <= 0.0:
        horizon = 1
        variance = autocov[0] / n
    statistic = mean / math.sqrt(variance)
    correction = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic *= correction
    p_value = float(2.0 * stats.t.sf(abs(statistic), df=n - 1))
    return float(statistic), min(p_value, 1.0)


def direction_metrics(base: Any, actual: Any, pred: Any) -> dict[str, float | int]:
    """Up/down accuracy judged from the same real base.

    The real move is up when ``actual > base`` and the predicted move is up when ``pred > base``;
    both are measured from the *real* last value at the origin, never from the previous prediction
    or the previous real value of another window. "Up" is the positive class. Ties count as
    "not up": an unchanged price (``actual == base``) is a real "down", and a forecast equal to the
    base (the naive forecast) predicts "down".

    Parameters
    ----------
    base : array-like, shape (n,)
        Last real value at each origin.
    actual : array-like, shape (n,)
        Real value at each target time.
    pred : array-like, shape (n,)
        Forecast at each target time.

    Returns
    -------
    dict
        ``accuracy``, ``p_value`` (exact binomial test of the number of correct calls against 0.5,
        **two-sided**: a direction forecast that is reliably wrong is also a signal), ``precision``,
        ``recall``, ``f1`` (0.0 where a denominator is zero, without a warning), ``tp``, ``fp``,
        ``tn``, ``fn``, ``n`` and ``up_share`` (fraction of real ups; the accuracy of "always up",
        for reference).
    """
    b, a, p = _paired(("base", base), ("actual", actual), ("pred", pred))
    real_up = a > b
    pred_up = p > b
    tp = int(np.sum(pred_up & real_up))
    fp = int(np.sum(pred_up & ~real_up))
    tn = int(np.sum(~pred_up & ~real_up))
    fn = int(np.sum(~pred_up & real_up))
    n = int(b.size)
    correct = tp + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    p_value = float(stats.binomtest(correct, n, 0.5, alternative="two-sided").pvalue)
    return {
        "accuracy": correct / n,
        "p_value": p_value,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "n": n,
        "up_share": float(np.mean(real_up)),
    }


# --------------------------------------------------------------------------------------------------
# quantile metrics
# --------------------------------------------------------------------------------------------------


def pinball_loss(actual: Any, quantile_preds: Any, levels: Sequence[float]) -> float:
    """Mean pinball (quantile) loss over points and levels.

    For level ``q`` and error ``u = actual - pred_q`` the loss is ``max(q * u, (q - 1) * u)``.

    Parameters
    ----------
    actual : array-like, shape (n,)
        Real values.
    quantile_preds : array-like, shape (n, Q)
        Quantile forecasts, column ``j`` for ``levels[j]``.
    levels : sequence of float, length Q
        Quantile levels in (0, 1), strictly increasing.

    Returns
    -------
    float
        Mean loss, in the units of ``actual``.
    """
    a = _as_1d(actual, "actual")
    lv = np.asarray(_check_levels(levels))
    preds = np.asarray(quantile_preds, dtype=float)
    if preds.ndim == 1 and lv.size == 1:
        preds = preds[:, None]
    if preds.shape != (a.size, lv.size):
        raise ValueError(f"quantile_preds must have shape (n, Q) = ({a.size}, {lv.size}); got {preds.shape}.")
    if not np.all(np.isfinite(preds)):
        raise ValueError("quantile_preds holds non-finite values; only finite numbers are accepted.")
    u = a[:, None] - preds
    return float(np.mean(np.maximum(lv * u, (lv - 1.0) * u)))


def interval_coverage(actual: Any, lower: Any, upper: Any) -> float:
    """Fraction of points with ``lower <= actual <= upper``.

    Crossed intervals (``lower > upper``) are not rejected; they simply cover nothing.
    """
    a, lo, hi = _paired(("actual", actual), ("lower", lower), ("upper", upper))
    return float(np.mean((a >= lo) & (a <= hi)))


# --------------------------------------------------------------------------------------------------
# multi-step quantile metrics
# --------------------------------------------------------------------------------------------------

INTERVALS: dict[str, tuple[float, float]] = {"coverage_80": (0.1, 0.9), "coverage_50": (0.25, 0.75)}
"""Central intervals reported, by key: the quantile levels of their ends."""


def _multi(actual: Any, quantiles: Any, levels: Sequence[float], name: str = "quantiles") -> tuple:
    """Validate ``actual (n, H)``, ``quantiles (n, H, L)`` and ``levels``; return arrays and the mask."""
    y = np.asarray(actual, dtype=float)
    q = np.asarray(quantiles, dtype=float)
    lv = np.asarray(_check_levels(levels))
    if y.ndim != 2:
        raise ValueError(f"actual must have shape (origins, steps); got {y.shape}.")
    if q.shape != (*y.shape, lv.size):
        raise ValueError(f"{name} must have shape (origins, steps, levels) = {(*y.shape, lv.size)}; got {q.shape}.")
    known = np.isfinite(y)
    if not np.all(np.isfinite(q[known])):
        raise ValueError(f"{name} holds non-finite values at points whose actual is known.")
    if not known.any(axis=0).all():
        step = int(np.flatnonzero(~known.any(axis=0))[0]) + 1
        raise ValueError(f"actual has no known value at step {step}; every step needs at least one point.")
    return y, q, lv, known


def pinball_per_point(actual: Any, quantiles: Any, levels: Sequence[float]) -> np.ndarray:
    """Pinball loss of each ``(origin, step)``, averaged over the levels.

    Returns
    -------
    numpy.ndarray, shape (n, H)
        ``mean_l max(q_l u, (q_l - 1) u)`` with ``u = actual - quantile_l``; NaN where ``actual`` is NaN.
    """
    y, q, lv, known = _multi(actual, quantiles, levels)
    u = y[:, :, None] - q
    loss = np.maximum(lv * u, (lv - 1.0) * u).mean(axis=2)
    loss[~known] = np.nan
    return loss


def pinball_by_step(actual: Any, quantiles: Any, levels: Sequence[float]) -> np.ndarray:
    """Mean pinball loss per step over the known points and the levels; shape ``(H,)``."""
    return np.nanmean(pinball_per_point(actual, quantiles, levels), axis=0)


def coverage_by_step(actual: Any, quantiles: Any, levels: Sequence[float], lower: float, upper: float) -> np.ndarray:
    """Share of known points with ``q_lower <= actual <= q_upper``, per step; shape ``(H,)``.

    Raises
    ------
    ValueError
        If ``lower`` or ``upper`` is not one of ``levels``.
    """
    y, q, lv, known = _multi(actual, quantiles, levels)
    idx = []
    for end in (lower, upper):
        hit = np.flatnonzero(np.isclose(lv, end, rtol=0, atol=1e-12))
        if hit.size == 0:
            raise ValueError(f"level {end} is not among the forecast's levels {lv.tolist()}.")
        idx.append(int(hit[0]))
    inside = (y >= q[:, :, idx[0]]) & (y <= q[:, :, idx[1]])
    return np.array([inside[known[:, h], h].mean() for h in range(y.shape[1])])


def _median(quantiles: np.ndarray, lv: np.ndarray, name: str) -> np.ndarray:
    hit = np.flatnonzero(np.isclose(lv, 0.5, rtol=0, atol=1e-12))
    if hit.size == 0:
        raise ValueError(f"{name} has no median (level 0.5) among its levels {lv.tolist()}; MASE needs one.")
    return quantiles[:, :, int(hit[0])]


def mase_by_step(actual: Any, median: Any, naive_median: Any) -> np.ndarray:
    """MAE of a median forecast relative to the naive forecast's, per step, on the same known points.

    ``actual``, ``median`` and ``naive_median`` have shape ``(n, H)``; the result ``(H,)`` is
    ``mean|actual - median| / mean|actual - naive_median|`` (NaN where the naive MAE is 0). Below 1
    the median beats the naive forecast. For log returns the naive forecast is 0.
    """
    y = np.asarray(actual, dtype=float)
    m, z = np.asarray(median, dtype=float), np.asarray(naive_median, dtype=float)
    if m.shape != y.shape or z.shape != y.shape:
        raise ValueError(f"actual, median and naive_median must share a shape; got {y.shape}, {m.shape}, {z.shape}.")
    err = np.where(np.isfinite(y), np.abs(y - m), np.nan)
    ref = np.where(np.isfinite(y), np.abs(y - z), np.nan)
    den = np.nanmean(ref, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, np.nanmean(err, axis=0) / den, np.nan)


def skill_score(loss: Any, reference_loss: Any) -> np.ndarray:
    """``1 - loss / reference_loss`` elementwise: positive when the forecast beats the reference."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - np.asarray(loss, dtype=float) / np.asarray(reference_loss, dtype=float)


def geometric_mean(values: Any, axis: int = 0) -> np.ndarray | float:
    """Geometric mean of non-negative ratios along ``axis`` (NaN entries ignored; a 0 gives 0)."""
    arr = np.asarray(values, dtype=float)
    if np.any(arr[np.isfinite(arr)] < 0):
        raise ValueError(f"geometric mean needs values >= 0; got {arr[np.isfinite(arr) & (arr < 0)][:3].tolist()}.")
    with np.errstate(divide="ignore"):
        return np.exp(np.nanmean(np.log(arr), axis=axis))


def dm_by_step(loss_model: Any, loss_baseline: Any) -> tuple[np.ndarray, np.ndarray]:
    """Diebold-Mariano (HLN) test of equal loss, one per step, on per-point losses ``(n, H)``.

    At step ``h`` the differential is ``loss_model - loss_baseline`` over the known points in origin
    order, tested as :func:`diebold_mariano` does, with ``h - 1`` autocorrelation lags (the targets of
    ``h``-step forecasts from consecutive origins overlap).

    Returns
    -------
    statistic, p_value : numpy.ndarray, shape (H,)
        Negative statistic: the model has the lower loss. NaN where fewer than 3 points.
    """
    a, b = np.asarray(loss_model, dtype=float), np.asarray(loss_baseline, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"losses must share a shape (origins, steps); got {a.shape} and {b.shape}.")
    stat, pval = np.full(a.shape[1], np.nan), np.full(a.shape[1], np.nan)
    for h in range(a.shape[1]):
        d = a[:, h] - b[:, h]
        d = d[np.isfinite(d)]
        if d.size >= 3:
            stat[h], pval[h] = _dm_from_differential(d, min(h + 1, d.size - 1))
    return stat, pval
