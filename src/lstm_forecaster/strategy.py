"""Trading rules on quantile forecasts, with transaction costs, beside buy-and-hold.

Timing (the whole point of this module): at the close of row ``t`` a forecast is made from data up
to ``t``; the position ``w[t]`` is decided from that forecast only and held from the close of ``t`` to
the close of ``t + 1``, earning ``w[t] * (p[t + 1] / p[t] - 1)``. Changing the position costs
``cost_bps / 10_000`` per unit of turnover ``|w[t] - w[t - 1]|`` (``w[-1] = 0``: the first trade
enters from cash), charged in the period the trade opens. So the net return of the period
``t -> t + 1`` is::

    net[t] = w[t] * (p[t + 1] / p[t] - 1) - cost_bps / 1e4 * |w[t] - w[t - 1]|

Rules (long only):

``long-flat``
    ``w[t] = 1`` when the forecast's probability of a rise, ``P(r[t+1] > 0)``, read from its
    quantiles (:func:`probability_of_rise`), exceeds ``threshold``; else 0.
``vol-target``
    ``w[t] = min(target_vol / sigma[t], max_leverage)`` with ``sigma[t]`` the forecast's volatility
    of the next return (:func:`forecast_volatility`), both annualised with ``periods_per_year``.

The forecast of row ``t`` is the step-1 quantiles of the log return from ``t`` to ``t + 1``
(``quantiles[:, 0, :]`` of a multi-step ``(m, H, L)`` forecast, or an ``(m, L)`` array).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from .metrics import _check_levels
from .returns import log_prices

__all__ = [
    "STRATEGIES",
    "find_lookahead",
    "forecast_volatility",
    "performance",
    "plot_equity",
    "positions",
    "probability_of_rise",
    "run_strategy",
    "strategy_report",
    "strategy_table",
]

STRATEGIES: tuple[str, ...] = ("long-flat", "vol-target")
"""Accepted rule names."""


def _step_one(quantiles: Any, levels: Sequence[float], name: str = "quantiles") -> tuple[np.ndarray, np.ndarray]:
    """The step-1 quantiles ``(m, L)`` of a ``(m, L)`` or ``(m, H, L)`` forecast, validated."""
    if quantiles is None:
        raise ValueError(f"{name} is None: the strategies need a forecast with quantiles (levels {list(levels)}).")
    lv = np.asarray(_check_levels(levels))
    q = np.asarray(quantiles, dtype=float)
    if q.ndim == 3:
        q = q[:, 0, :]
    if q.ndim != 2 or q.shape[1] != lv.size:
        raise ValueError(
            f"{name} must have shape (origins, levels) or (origins, steps, levels) with {lv.size} levels; got {q.shape}."
        )
    if not np.all(np.isfinite(q)):
        row = int(np.flatnonzero(~np.isfinite(q).all(axis=1))[0])
        raise ValueError(f"{name} holds non-finite values (first at origin row {row}).")
    crossed = np.any(np.diff(q, axis=1) < 0, axis=1)
    if crossed.any():
        row = int(np.flatnonzero(crossed)[0])
        raise ValueError(f"{name} cross at origin row {row} ({q[row].tolist()}); quantiles must be non-decreasing.")
    return q, lv


def probability_of_rise(quantiles: Any, levels: Sequence[float]) -> np.ndarray:
    """``P(r > 0)`` from quantile forecasts by linear interpolation of their CDF.

    The CDF is the piecewise-linear curve through the points ``(q_l, level_l)``; below the lowest
    quantile it stays at the lowest level and above the highest at the highest (no tail is invented),
    so ``P(rise)`` lies in ``[1 - levels[-1], 1 - levels[0]]``. Where several quantiles equal 0 the
    CDF at 0 is the highest of their levels (right-continuous): a point mass at 0 is "no rise".

    Parameters
    ----------
    quantiles : array-like, shape (m, L) or (m, H, L)
        Quantiles of the next log return (step 1 of a multi-step forecast).
    levels : sequence of float, length L

    Returns
    -------
    numpy.ndarray, shape (m,)
    """
    q, lv = _step_one(quantiles, levels)
    below = q <= 0.0  # quantiles at or below 0
    n_below = below.sum(axis=1)
    cdf = np.empty(q.shape[0])
    cdf[n_below == 0] = lv[0]
    cdf[n_below == lv.size] = lv[-1]
    mid = (n_below > 0) & (n_below < lv.size)
    rows = np.flatnonzero(mid)
    j = n_below[rows] - 1  # last level with q <= 0; q[j + 1] > 0
    lo, hi = q[rows, j], q[rows, j + 1]
    frac = (0.0 - lo) / (hi - lo)
    cdf[rows] = lv[j] + frac * (lv[j + 1] - lv[j])
    return 1.0 - cdf


def forecast_volatility(quantiles: Any, levels: Sequence[float]) -> np.ndarray:
    """Volatility of the next return implied by the widest symmetric pair of quantiles.

    ``sigma = (q_{1-a} - q_a) / (2 * Phi^-1(1 - a))``: the standard deviation of a normal with the
    same interquantile range (for the 0.1/0.9 pair, the range divided by 2.563).

    Raises
    ------
    ValueError
        If no two levels ``a`` and ``1 - a`` are present.
    """
    q, lv = _step_one(quantiles, levels)
    for i, a in enumerate(lv):
        if a >= 0.5:
            break
        pair = np.flatnonzero(np.isclose(lv, 1.0 - a, rtol=0, atol=1e-9))
        if pair.size:
            return (q[:, pair[0]] - q[:, i]) / (2.0 * stats.norm.ppf(1.0 - a))
    raise ValueError(f"vol-target needs a symmetric pair of levels (a and 1 - a, e.g. 0.1 and 0.9); got {lv.tolist()}.")


def positions(
    strategy: str,
    quantiles: Any,
    levels: Sequence[float],
    threshold: float = 0.5,
    target_vol: float = 0.5,
    max_leverage: float = 1.0,
    periods_per_year: float = 365.0,
) -> np.ndarray:
    """Positions ``w[t]`` decided from the forecast made at ``t`` only (one row of ``quantiles``).

    Parameters
    ----------
    strategy : {"long-flat", "vol-target"}
    quantiles : array-like, shape (m, L) or (m, H, L)
    levels : sequence of float
    threshold : float, default 0.5
        ``long-flat``: be long when ``P(rise) > threshold``; in (0, 1).
    target_vol : float, default 0.5
        ``vol-target``: annualised volatility aimed at (0.5 = 50 % a year, about a third of
        bitcoin's).
    max_leverage : float, default 1.0
        ``vol-target``: the cap on the position.
    periods_per_year : float, default 365
        Rows per year (365 daily crypto, 8760 hourly, 252 stock days).

    Returns
    -------
    numpy.ndarray, shape (m,)

    Notes
    -----
    ``long-flat`` on a forecast that is a volatility times fixed standardized quantiles (the EWMA
    baseline, the constant-quantile one) is a constant position: scaling the quantiles never moves 0
    across them, so ``P(rise)`` never changes. Only a forecast whose location moves trades.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; accepted: {', '.join(STRATEGIES)}.")
    if strategy == "long-flat":
        if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
            raise ValueError(f"threshold must be a number in (0, 1); got {threshold!r}.")
        return (probability_of_rise(quantiles, levels) > threshold).astype(float)
    for name, value in (
        ("target_vol", target_vol),
        ("max_leverage", max_leverage),
        ("periods_per_year", periods_per_year),
    ):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number; got {value!r}.")
    sigma = forecast_volatility(quantiles, levels) * math.sqrt(periods_per_year)
    with np.errstate(divide="ignore"):
        return np.where(sigma > 0, np.minimum(target_vol / sigma, max_leverage), max_leverage)


def _origins(prices: np.ndarray, origins: Any, m: int) -> np.ndarray:
    pos = np.arange(prices.size - m, prices.size) if origins is None else np.asarray(origins)
    if pos.ndim != 1 or pos.size != m or (pos.size and not np.issubdtype(pos.dtype, np.integer)):
        raise ValueError(f"origins must be {m} integer row positions, one per forecast row; got {np.shape(pos)}.")
    if m and (pos[0] < 0 or pos[-1] >= prices.size):
        raise ValueError(f"origins must lie in 0..{prices.size - 1}; got {int(pos[0])}..{int(pos[-1])}.")
    if np.any(np.diff(pos) != 1):
        gap = int(np.flatnonzero(np.diff(pos) != 1)[0])
        raise ValueError(
            f"origins must be consecutive rows (a position is held one row); row {int(pos[gap])} is followed by {int(pos[gap + 1])}."
        )
    return pos.astype(int)


def run_strategy(prices: Any, weights: Any, origins: Any = None, cost_bps: float = 0.0) -> dict[str, np.ndarray]:
    """Returns of holding ``weights[i]`` from the close of ``origins[i]`` to the next close, after costs.

    Parameters
    ----------
    prices : array-like, shape (n,)
        Closes, oldest first.
    weights : array-like, shape (m,)
        Position decided at each origin.
    origins : array-like of int, shape (m,), optional
        Consecutive rows of the decisions; default the last ``m`` rows. A decision at the last row has
        no outcome yet and is left out.
    cost_bps : float, default 0
        Cost per unit of turnover, in basis points (10 = 0.1 %).

    Returns
    -------
    dict of numpy.ndarray, each of shape (k,), k = periods with an outcome
        ``origin`` (row of the decision), ``position``, ``asset_return`` (``p[t+1]/p[t] - 1``),
        ``gross`` (``position * asset_return``), ``turnover``, ``cost``, ``net`` and ``equity``
        (``cumprod(1 + net)``, starting from 1 before the first period).
    """
    p = np.exp(log_prices(prices))
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be a 1-D array of finite numbers; got shape {w.shape}.")
    if not (isinstance(cost_bps, (int, float)) and math.isfinite(cost_bps) and cost_bps >= 0):
        raise ValueError(f"cost_bps must be a number >= 0; got {cost_bps!r}.")
    pos = _origins(p, origins, w.size)
    keep = pos + 1 < p.size
    pos, w = pos[keep], w[keep]
    asset = p[pos + 1] / p[pos] - 1.0
    turnover = np.abs(np.diff(w, prepend=0.0))
    cost = cost_bps / 1e4 * turnover
    gross = w * asset
    net = gross - cost
    return {
        "origin": pos,
        "position": w,
        "asset_return": asset,
        "gross": gross,
        "turnover": turnover,
        "cost": cost,
        "net": net,
        "equity": np.cumprod(1.0 + net),
    }


def performance(run: Mapping[str, np.ndarray], periods_per_year: float = 365.0) -> dict[str, float | int | None]:
    """Summary figures of a :func:`run_strategy` result.

    Returns
    -------
    dict
        ``periods``; ``total_return`` (``equity[-1] - 1``); ``cagr`` (``equity[-1] ** (periods_per_year
        / periods) - 1``); ``sharpe`` (``mean(net) / std(net) * sqrt(periods_per_year)``, no risk-free
        rate); ``sortino`` (mean over the root mean square of the negative net returns, annualised);
        ``max_drawdown`` (largest fall of equity from its running peak, the start included, as a
        negative fraction); ``turnover`` (mean per period) and ``turnover_total``; ``exposure`` (mean
        absolute position); ``hit_rate`` (share of the periods in the market whose gross return is
        positive; None when never in the market); ``costs`` (sum of the costs). None where undefined.
    """
    net, equity = np.asarray(run["net"], dtype=float), np.asarray(run["equity"], dtype=float)
    k = net.size
    if k == 0:
        raise ValueError("no period has an outcome: give at least one origin before the last row.")
    sd = float(np.std(net, ddof=1)) if k > 1 else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(net, 0.0) ** 2)))
    mean = float(np.mean(net))
    ann = math.sqrt(periods_per_year)
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))
    in_market = np.asarray(run["position"]) != 0
    final = float(equity[-1])
    return {
        "periods": int(k),
        "total_return": final - 1.0,
        "cagr": final ** (periods_per_year / k) - 1.0 if final > 0 else -1.0,
        "sharpe": mean / sd * ann if sd > 0 else None,
        "sortino": mean / downside * ann if downside > 0 else None,
        "max_drawdown": float(np.min(np.concatenate([[1.0], equity]) / peak - 1.0)),
        "turnover": float(np.mean(run["turnover"])),
        "turnover_total": float(np.sum(run["turnover"])),
        "exposure": float(np.mean(np.abs(run["position"]))),
        "hit_rate": float(np.mean(np.asarray(run["gross"])[in_market] > 0)) if in_market.any() else None,
        "costs": float(np.sum(run["cost"])),
    }


def strategy_report(
    prices: Any,
    forecasts: Mapping[str, Any],
    levels: Sequence[float],
    strategy: str,
    origins: Any = None,
    cost_bps: float | Sequence[float] = 10.0,
    periods_per_year: float = 365.0,
    **rule: float,
) -> dict[str, Any]:
    """Run one rule on several forecasts (the model, the EWMA baseline, ...) beside buy-and-hold.

    Parameters
    ----------
    prices : array-like, shape (n,)
    forecasts : mapping of str to array, each (m, L) or (m, H, L)
        Quantile forecasts of the next log return made at each origin, by name.
    levels : sequence of float
    strategy : {"long-flat", "vol-target"}
    origins : array-like of int, shape (m,), optional
        Consecutive decision rows (default the last ``m`` rows).
    cost_bps : float or sequence of float, default 10
        One report per cost level.
    periods_per_year : float, default 365
    **rule
        ``threshold``, ``target_vol``, ``max_leverage`` (see :func:`positions`).

    Returns
    -------
    dict
        JSON-able: ``strategy``, ``rule`` (its parameters), ``periods_per_year``, ``first_origin`` and
        ``last_origin`` (rows), and ``costs``: one entry per cost level, ``{"cost_bps": c, "results":
        {name: performance, ..., "buy-and-hold": performance}}``. Buy-and-hold holds 1 from the first
        origin and pays the entry cost.
    """
    if not isinstance(forecasts, Mapping) or not forecasts:
        raise ValueError("forecasts must be a non-empty mapping {name: quantiles}.")
    unknown = set(rule) - {"threshold", "target_vol", "max_leverage"}
    if unknown:
        raise ValueError(f"unknown rule parameter(s) {sorted(unknown)}; accepted: threshold, target_vol, max_leverage.")
    costs = [cost_bps] if isinstance(cost_bps, (int, float)) else list(cost_bps)
    if not costs:
        raise ValueError("cost_bps is empty; give at least one cost level in basis points (0 is fine).")
    weights = {
        name: positions(strategy, q, levels, periods_per_year=periods_per_year, **rule) for name, q in forecasts.items()
    }
    m = {w.size for w in weights.values()}
    if len(m) != 1:
        raise ValueError(f"forecasts have different numbers of origins: { {n: w.size for n, w in weights.items()} }.")
    weights["buy-and-hold"] = np.ones(m.pop())
    out = []
    for c in costs:
        runs = {n: run_strategy(prices, w, origins, c) for n, w in weights.items()}
        out.append({"cost_bps": float(c), "results": {n: performance(r, periods_per_year) for n, r in runs.items()}})
    first = runs[next(iter(runs))]["origin"]
    return {
        "strategy": strategy,
        "rule": dict(rule),
        "periods_per_year": float(periods_per_year),
        "first_origin": int(first[0]),
        "last_origin": int(first[-1]),
        "costs": out,
    }


def _cell(value: Any, percent: bool = True, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f} %" if percent else f"{value:.{digits}f}"


def strategy_table(report: Mapping[str, Any]) -> str:
    """Markdown table of a :func:`strategy_report`: one row per forecast and cost level."""
    if not isinstance(report, Mapping) or "costs" not in report:
        raise ValueError("report must be the dict returned by strategy_report (key 'costs').")
    lines = [
        f"Strategy {report['strategy']}{' ' + str(report['rule']) if report.get('rule') else ''}: decisions at "
        f"origins {report['first_origin']} to {report['last_origin']}, each held one row; costs in basis points "
        "per unit of turnover (buy-and-hold pays its entry).",
        "",
        "| forecast | cost (bps) | total return | CAGR | Sharpe | Sortino | max drawdown | turnover/period | exposure | hit rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for entry in report["costs"]:
        for name, r in entry["results"].items():
            lines.append(
                f"| {name} | {entry['cost_bps']:g} | {_cell(r['total_return'])} | {_cell(r['cagr'])} | "
                f"{_cell(r['sharpe'], False)} | {_cell(r['sortino'], False)} | {_cell(r['max_drawdown'])} | "
                f"{_cell(r['turnover'], False, 4)} | {_cell(r['exposure'])} | {_cell(r['hit_rate'])} |"
            )
    return "\n".join(lines) + "\n"


def plot_equity(
    prices: Any,
    weights: Mapping[str, Any],
    path: str | os.PathLike[str],
    origins: Any = None,
    cost_bps: float = 0.0,
    dates: Sequence[Any] | None = None,
    title: str | None = None,
) -> Path:
    """Equity curves of several position series (buy-and-hold added), saved atomically as PNG.

    Parameters
    ----------
    prices : array-like, shape (n,)
    weights : mapping of str to array, each (m,)
        Positions by name (e.g. from :func:`positions` on the model's and the EWMA forecasts).
    path : str or path-like
    origins : array-like of int, optional
    cost_bps : float
    dates : sequence, optional
        Timestamps of every row of ``prices``, for the x axis (row numbers otherwise).
    title : str, optional
    """
    from matplotlib.figure import Figure

    from .evaluation import _save_atomic

    series = dict(weights)
    m = len(next(iter(series.values())))
    series.setdefault("buy-and-hold", np.ones(m))
    fig = Figure(figsize=(11, 5))
    ax = fig.add_subplot()
    for name, w in series.items():
        run = run_strategy(prices, w, origins, cost_bps)
        x = run["origin"] + 1
        x = np.asarray(dates)[x] if dates is not None else x
        ax.plot(x, run["equity"], lw=1.3, label=name)
    ax.set_yscale("log")
    ax.set_ylabel("equity (start = 1, log scale)")
    ax.set_xlabel("time" if dates is not None else "row")
    ax.set_title(title or f"Equity after {cost_bps:g} bps per unit of turnover")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return _save_atomic(fig, path)


def find_lookahead(
    decide: Callable[[np.ndarray], np.ndarray], prices: Any, probes: Sequence[int], seed: int = 0
) -> list[tuple[int, int]]:
    """Find decisions that change when only later prices change (look-ahead).

    ``decide(prices)`` must return one position per row of ``prices`` (the decision at each row's
    close). For each probe row ``k`` the prices after ``k`` are replaced three ways (all doubled, all
    halved, and an unrelated random walk from ``p[k]``) and ``decide`` rerun; a causal rule gives the
    same positions at rows ``0..k`` every time. Doubling and halving flip the sign of the next return
    unless it moved by more than a factor 2, so a rule that peeks at it is caught at every probe.

    Returns
    -------
    list of (probe, row)
        Each probe row and the first earlier-or-equal row whose position changed; empty if causal.
    """
    p = np.exp(log_prices(prices))
    base = np.asarray(decide(p), dtype=float)
    rng = np.random.default_rng(seed)
    found = []
    for k in probes:
        k = int(k)
        if not 0 <= k < p.size - 1:
            raise ValueError(f"probe row {k} must be in 0..{p.size - 2} (some later row must exist).")
        walk = p[k] * np.exp(np.cumsum(rng.normal(0.0, 0.05, p.size - k - 1)))
        for later in (2.0 * p[k + 1 :], 0.5 * p[k + 1 :], walk):
            moved = np.concatenate([p[: k + 1], later])
            again = np.asarray(decide(moved), dtype=float)
            diff = np.flatnonzero(~np.isclose(again[: k + 1], base[: k + 1], rtol=0, atol=0, equal_nan=True))
            if diff.size:
                found.append((k, int(diff[0])))
                break
    return found
