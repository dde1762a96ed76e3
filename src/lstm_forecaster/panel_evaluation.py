"""Held-out evaluation of a panel backtest: every asset beside its own baselines, then pooled.

Each asset is scored by `evaluation.evaluate_backtest` on its own points, in its own units, with
baselines fitted on its own training rows (those before the panel's `validation_start`). Errors in
dollars of BTC and cents of DOGE do not add up, so the pooled figures are unit-free: the geometric
mean over assets of each ratio (MASE, the model's pinball loss over a baseline's), and coverage and
direction accuracy averaged over all points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .evaluation import _fmt, evaluate_backtest
from .panel import SYMBOL


def _geometric_mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    return float(np.exp(np.mean(np.log(values)))) if values else None


def _weighted_mean(pairs: list[tuple[float | None, int]]) -> float | None:
    pairs = [(v, n) for v, n in pairs if v is not None and math.isfinite(v)]
    total = sum(n for _, n in pairs)
    return float(sum(v * n for v, n in pairs) / total) if total else None


def evaluate_panel_backtest(
    frame: pd.DataFrame,
    panel: pd.DataFrame,
    validation_start: pd.Timestamp,
    quantiles: Sequence[float] | None = None,
    target: str = "close",
) -> dict[str, Any]:
    """Score a panel backtest frame asset by asset, then pool the unit-free ratios.

    Parameters
    ----------
    frame : pd.DataFrame
        `LSTMForecaster.backtest` of a panel (a `symbol` column, then the backtest columns).
    panel : pd.DataFrame
        The panel the frame was computed on (its real series, for the baselines).
    validation_start : pd.Timestamp
        First timestamp after the training rows, for every asset.
    quantiles : sequence of float, optional
        The model's quantile levels.
    target : str
        The model's target (`volume` is scored on volume, anything else on the close).

    Returns
    -------
    dict
        `panel: True`, `symbols` (the assets scored), `not_scored` (asset -> reason, e.g. no
        training rows for its baselines), `n_points`, `n_origins`, `horizon`, `first_origin`,
        `last_timestamp`, `validation_start`, `pooled` (`mase` per forecast, `pinball_ratio` of the
        model over each quantile baseline, `coverage` and `direction_accuracy` over all points) and
        `assets`: one `evaluate_backtest` report per asset.
    """
    quantity = "volume" if target == "volume" else "close"
    assets: dict[str, dict] = {}
    not_scored: dict[str, str] = {}
    for symbol, rows in frame.groupby(SYMBOL, sort=False):
        history = panel.xs(symbol, level=SYMBOL)[quantity]
        train = history.index[history.index < validation_start]
        if len(train) < 2:
            not_scored[symbol] = f"{len(train)} training rows before {validation_start.date()}; its baselines need them"
            continue
        try:
            assets[symbol] = evaluate_backtest(
                rows.drop(columns=SYMBOL).reset_index(drop=True), history, train[-1], quantiles
            )
        except ValueError as e:
            not_scored[symbol] = str(e)
    for symbol in panel.index.get_level_values(SYMBOL).unique():
        if symbol not in assets and symbol not in not_scored:
            not_scored[symbol] = "no forecast origin in the evaluated split"
    if not assets:
        raise ValueError(f"no asset could be scored: {'; '.join(f'{s}: {r}' for s, r in not_scored.items())}")
    reports = list(assets.values())
    first = reports[0]
    pooled: dict[str, Any] = {
        "assets": len(reports),
        "mase": {name: _geometric_mean([r["models"][name]["mase"] for r in reports]) for name in first["models"]},
        "direction_accuracy": _weighted_mean(
            [(r.get("direction", {}).get("model", {}).get("accuracy"), r["n_points"]) for r in reports]
        ),
    }
    if first.get("quantile"):
        names = list(first["quantile"])
        pooled["pinball_ratio"] = {
            name: _geometric_mean(
                [
                    r["quantile"]["model"]["pinball"] / r["quantile"][name]["pinball"]
                    if r["quantile"][name]["pinball"]
                    else None
                    for r in reports
                ]
            )
            for name in names
            if name != "model"
        }
        pooled["coverage"] = {
            name: _weighted_mean([(r["quantile"][name]["coverage"], r["n_points"]) for r in reports]) for name in names
        }
        pooled["nominal_coverage"] = first["quantile"]["model"]["nominal_coverage"]
    return {
        "panel": True,
        "symbols": list(assets),
        "not_scored": not_scored,
        "n_points": sum(r["n_points"] for r in reports),
        "n_origins": sum(r["n_origins"] for r in reports),
        "horizon": max(r["horizon"] for r in reports),
        "first_origin": min(r["first_origin"] for r in reports),
        "last_timestamp": max(r["last_timestamp"] for r in reports),
        "validation_start": pd.Timestamp(validation_start).isoformat(),
        "pooled": pooled,
        "assets": assets,
    }


def panel_metrics_table(report: dict[str, Any]) -> str:
    """Markdown tables of an `evaluate_panel_backtest` report: pooled ratios, then one row per asset."""
    pooled = report["pooled"]
    lines = [
        f"Held-out rolling-origin evaluation of {pooled['assets']} assets: {report['n_points']} points, "
        f"{report['n_origins']} origins, horizon {report['horizon']}. Pooled: geometric mean over assets of "
        "each ratio; coverage and direction over all points.",
        "",
        "| forecast | MASE (pooled) |",
        "| --- | ---: |",
    ]
    lines += [f"| {name} | {_fmt(value)} |" for name, value in pooled["mase"].items()]
    lines += ["", f"Model direction accuracy (pooled): {_fmt(pooled.get('direction_accuracy'), percent=True)}."]
    if "pinball_ratio" in pooled:
        lines += [
            "",
            "| quantile forecast | model pinball / its pinball (pooled) | interval coverage |",
            "| --- | ---: | ---: |",
        ]
        for name, coverage in pooled["coverage"].items():
            ratio = "1" if name == "model" else _fmt(pooled["pinball_ratio"].get(name))
            lines.append(f"| {name} | {ratio} | {_fmt(coverage, percent=True)} |")
        lines.append(f"\nNominal coverage: {_fmt(pooled.get('nominal_coverage'), percent=True)}.")
    lines += [
        "",
        "| asset | points | MASE | direction | pinball | coverage |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for symbol, asset in report["assets"].items():
        model = asset["models"]["model"]
        quantile = (asset.get("quantile") or {}).get("model", {})
        accuracy = asset.get("direction", {}).get("model", {}).get("accuracy")
        lines.append(
            f"| {symbol} | {asset['n_points']} | {_fmt(model.get('mase'))} | {_fmt(accuracy, percent=True)} | "
            f"{_fmt(quantile.get('pinball'))} | {_fmt(quantile.get('coverage'), percent=True)} |"
        )
    for symbol, reason in report.get("not_scored", {}).items():
        lines.append(f"\nNot scored: {symbol} ({reason}).")
    return "\n".join(lines) + "\n"
