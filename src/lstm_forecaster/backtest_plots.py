"""The plots of a backtest: forecast fans, rolling coverage, calibration of every level, pinball by step, equity.

Each function draws one PNG with matplotlib (no display needed) and saves it atomically; the
:meth:`~lstm_forecaster.backtest.BacktestResult.save` method calls :func:`write_plots`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .evaluation import _naive_utc, _save_atomic

__all__ = ["plot_calibration", "plot_fan", "plot_pinball_by_step", "plot_rolling_coverage", "write_plots"]

ROLLING = 60
"""Origins in the rolling coverage window."""

FAN_ORIGINS = 180
"""Origins shown in a forecast fan (the last ones)."""


def _figure(width: float = 11.0, height: float = 5.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def _slug(symbol: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", symbol)


def plot_fan(result: Any, symbol: str, step: int, path: Path, last: int = FAN_ORIGINS) -> Path:
    """The model's forecast fan (every band between symmetric levels) at ``step`` against the real close,
    over the last ``last`` origins."""
    levels = result.report["levels"]
    close = result.closes[symbol]
    stamps = result.origins[symbol][-last:]
    pos = close.index.get_indexer(stamps) + step
    keep = pos < len(close)
    x = _naive_utc(close.index[pos[keep]])
    base = close.to_numpy()[close.index.get_indexer(stamps)][keep]
    q = base[:, None] * np.exp(result.forecasts[symbol]["model"][-last:][keep, step - 1, :])
    fig, ax = _figure()
    for i in range(len(levels) // 2):
        j = len(levels) - 1 - i
        ax.fill_between(
            x,
            q[:, i],
            q[:, j],
            color="tab:orange",
            alpha=0.25 + 0.15 * i,
            linewidth=0,
            label=f"q{levels[i]:g}-q{levels[j]:g}",
        )
    shown = close[(close.index >= close.index[pos[keep][0]]) & (close.index <= close.index[pos[keep][-1]])]
    ax.plot(_naive_utc(shown.index), shown.to_numpy(), color="black", lw=1.1, label="close")
    ax.set_title(f"{symbol}: forecast {step} step(s) ahead vs the real close")
    ax.set_xlabel("time (UTC)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    fig.autofmt_xdate()
    return _save_atomic(fig, path)


def plot_rolling_coverage(result: Any, path: Path, window: int = ROLLING) -> Path:
    """Rolling share of outcomes inside the model's 80 % interval, per symbol, at the first and last step."""
    levels = np.asarray(result.report["levels"])
    lo, hi = np.flatnonzero(np.isclose(levels, 0.1)), np.flatnonzero(np.isclose(levels, 0.9))
    lo, hi = (int(lo[0]), int(hi[0])) if lo.size and hi.size else (0, len(levels) - 1)
    nominal = float(levels[hi] - levels[lo])
    horizon = result.report["horizon"]
    fig, ax = _figure()
    for symbol, q in ((s, f["model"]) for s, f in result.forecasts.items()):
        y = result.actual[symbol]
        for step, style in ((1, "-"), (horizon, "--")) if horizon > 1 else ((1, "-"),):
            inside = ((y[:, step - 1] >= q[:, step - 1, lo]) & (y[:, step - 1] <= q[:, step - 1, hi])).astype(float)
            rolling = pd.Series(inside).rolling(window, min_periods=window).mean()
            ax.plot(_naive_utc(result.origins[symbol]), rolling.to_numpy(), style, lw=1, label=f"{symbol} step {step}")
    ax.axhline(nominal, color="black", lw=1, label=f"nominal {nominal:.0%}")
    ax.set_ylim(0, 1)
    ax.set_title(f"Rolling {window}-origin coverage of the q{levels[lo]:g}-q{levels[hi]:g} interval")
    ax.set_xlabel("origin (UTC)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=7, ncol=2)
    fig.autofmt_xdate()
    return _save_atomic(fig, path)


def plot_calibration(result: Any, path: Path) -> Path:
    """Observed frequency of outcomes below each quantile, pooled over symbols, for every forecast."""
    levels = np.asarray(result.report["levels"])
    horizon = result.report["horizon"]
    steps = [1, horizon] if horizon > 1 else [1]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * len(steps), 5))
    names = list(next(iter(result.forecasts.values())))
    for k, step in enumerate(steps):
        ax = fig.add_subplot(1, len(steps), k + 1)
        for name in names:
            below = []
            for symbol, per in result.forecasts.items():
                y = result.actual[symbol][:, step - 1]
                known = np.isfinite(y)
                below.append(y[known, None] <= per[name][known, step - 1, :])
            freq = np.concatenate(below).mean(axis=0)
            ax.plot(levels, freq, "o-", lw=1, ms=3, label=name)
        ax.plot([0, 1], [0, 1], color="black", lw=0.8)
        ax.set_xlabel("quantile level")
        ax.set_ylabel("share of outcomes below it")
        ax.set_title(f"Calibration, step {step}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    return _save_atomic(fig, path)


def plot_pinball_by_step(result: Any, path: Path) -> Path:
    """Pooled pinball ratio of every forecast to the EWMA baseline, per step (below 1: better)."""
    pooled = result.report["comparison"]["pooled"]["forecasts"]
    horizon = result.report["horizon"]
    fig, ax = _figure(8, 5)
    steps = np.arange(1, horizon + 1)
    for name, row in pooled.items():
        if name == "naive":
            continue  # a point mass: far above the rest, it would flatten the figure
        ratio = np.array([np.nan if v is None else v for v in row["ratio"]])
        ax.plot(steps, ratio, "o-", lw=1.2, ms=4, label=name)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel(f"pinball loss / {result.report['comparison']['reference']}'s (geometric mean over assets)")
    ax.set_title("Pinball loss by step")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return _save_atomic(fig, path)


def write_plots(result: Any, folder: Path) -> list[Path]:
    """Every plot of a backtest into ``folder``; returns the written paths."""
    from .strategy import plot_equity

    horizon = result.report["horizon"]
    out = [
        plot_rolling_coverage(result, folder / "coverage_rolling.png"),
        plot_calibration(result, folder / "calibration.png"),
        plot_pinball_by_step(result, folder / "pinball_by_step.png"),
    ]
    for symbol in result.forecasts:
        out.append(plot_fan(result, symbol, horizon, folder / f"fan_{_slug(symbol)}.png"))
    for symbol, weights in result.weights.items():
        close = result.closes[symbol]
        cost = [c["cost_bps"] for c in result.report["strategy"][symbol]["costs"]]
        cost = next((c for c in cost if c > 0), cost[0])
        out.append(
            plot_equity(
                close.to_numpy(),
                weights,
                folder / f"equity_{_slug(symbol)}.png",
                close.index.get_indexer(result.origins[symbol]),
                cost_bps=cost,
                dates=_naive_utc(close.index),
                title=f"{symbol}: {result.report['strategy'][symbol]['strategy']} after {cost:g} bps per unit of turnover",
            )
        )
    return out
