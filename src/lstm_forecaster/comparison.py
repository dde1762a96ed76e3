"""A model beside every baseline: multi-step quantile metrics per asset, per step and pooled.

:func:`comparison_report` takes, per asset, the realized values ``actual[origin, step]`` ``(n, H)``
(NaN = not known; left out) and the quantile forecasts of the model and of each baseline
``(n, H, L)`` on exactly those points, and returns a JSON-able dict; :func:`comparison_table` renders
it as Markdown. Losses are in the units of ``actual`` (log returns from the close at the origin in this
package), so assets at any price level can be pooled: pooled ratios are **geometric means of the
per-asset ratios**, every asset weighted alike.

Typical use with :mod:`lstm_forecaster.baselines`::

    from lstm_forecaster.baselines import baseline_quantiles, future_returns
    forecasts, actual = {}, {}
    for symbol, close in panel_closes.items():           # one series per asset
        forecasts[symbol] = baseline_quantiles(close, origins[symbol], train_end, H, levels)
        forecasts[symbol]["model"] = model_quantiles[symbol]         # (n, H, L) log returns
        actual[symbol] = future_returns(close, origins[symbol], H)
    report = comparison_report(actual, forecasts, levels)
    print(comparison_table(report))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .metrics import (
    INTERVALS,
    _check_levels,
    _dm_from_differential,
    coverage_by_step,
    dm_by_step,
    geometric_mean,
    mase_by_step,
    pinball_per_point,
    skill_score,
)

__all__ = ["comparison_report", "comparison_table"]


def _list(values: Any) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float).ravel()]


def _num(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _names(forecasts: Mapping[str, Mapping[str, Any]], required: Sequence[str]) -> list[str]:
    first = next(iter(forecasts.values()))
    names = list(first)
    for asset, per in forecasts.items():
        missing = [n for n in required if n not in per]
        if missing:
            raise ValueError(f"asset {asset!r} has no forecast named {missing}; it has {sorted(per)}.")
        if set(per) != set(names):
            raise ValueError(f"asset {asset!r} has forecasts {sorted(per)}; the first asset has {sorted(names)}.")
    return [n for n in required if n in names] + [n for n in names if n not in required]


def _pooled_differential(diffs: dict[str, np.ndarray], labels: dict[str, Any]) -> np.ndarray:
    """Per-date mean over assets of (scale-free) loss differentials, in date order, NaNs dropped."""
    series = pd.concat([pd.Series(d, index=pd.Index(labels[a])) for a, d in diffs.items()], axis=0)
    series = series[np.isfinite(series.to_numpy())]
    return series.groupby(level=0, sort=True).mean().to_numpy()


def comparison_report(
    actual: Mapping[str, Any],
    forecasts: Mapping[str, Mapping[str, Any]],
    levels: Sequence[float],
    model: str = "model",
    reference: str = "ewma",
    naive: str = "naive",
    origins: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, Any]:
    """Compare a model's multi-step quantile forecasts with every baseline, per asset, step and pooled.

    Parameters
    ----------
    actual : mapping of str to array, each (n_a, H)
        Realized values per asset (NaN: not known, left out of every metric).
    forecasts : mapping of str to mapping of str to array, each (n_a, H, L)
        Per asset, every forecast by name: the model, the reference, the naive forecast and any other
        baselines (the same names for every asset), on the points of ``actual``.
    levels : sequence of float, length L
        Quantile levels, strictly increasing in (0, 1). Coverage needs 0.1/0.9 (80 %) and 0.25/0.75
        (50 %), MASE needs 0.5; a metric whose levels are missing is None.
    model, reference, naive : str
        Names of the model, of the reference of skill scores (EWMA) and of the naive forecast (MASE).
    origins : mapping of str to sequence, optional
        Origin labels (timestamps) of each asset's rows. With them the pooled Diebold-Mariano test is
        run on the per-date mean over assets of the loss differentials, each divided by its asset's
        mean baseline loss (so assets weigh alike); without them it is run only for a single asset.

    Returns
    -------
    dict
        JSON-able (lists, floats, None for undefined):

        * ``levels``, ``horizon``, ``model``, ``reference``, ``naive``, ``forecasts``, ``assets``;
        * ``per_asset[asset]``: ``n_origins``, ``n_points`` (per step) and

          - ``forecasts[name]``: ``pinball`` (per step), ``pinball_all`` (all steps), ``coverage_80``,
            ``coverage_50`` (per step), ``mase`` (median vs the naive, per step), ``ratio`` (pinball /
            reference pinball, per step), ``skill`` (``1 - ratio``) and ``skill_all`` (all steps);
          - ``model_vs[baseline]``: ``ratio`` (model pinball / baseline pinball, per step),
            ``ratio_all``, ``dm_statistic`` and ``dm_p_value`` (per step; negative statistic: the model
            has the lower pinball loss);
        * ``pooled``: ``forecasts[name]`` with ``ratio`` (geometric mean over assets of the pinball ratio
          to the reference, per step), ``ratio_all``, ``skill`` (``1 - ratio``), ``mase`` (geometric
          mean), ``coverage_80`` / ``coverage_50`` (mean over assets) and their ``_min`` / ``_max``
          over assets; ``model_vs[baseline]`` with ``ratio``, ``ratio_all``, ``max_asset_ratio``,
          ``worst_asset`` (per step), ``dm_statistic``, ``dm_p_value`` (per step; None without
          ``origins`` for several assets).

    Raises
    ------
    ValueError
        If the assets of ``actual`` and ``forecasts`` differ, a required forecast is missing, shapes
        disagree, or quantiles are non-finite where the actual is known.
    """
    lv = np.asarray(_check_levels(levels))
    if not isinstance(actual, Mapping) or not actual or not isinstance(forecasts, Mapping):
        raise ValueError("actual and forecasts must be non-empty mappings keyed by asset name.")
    if set(actual) != set(forecasts):
        raise ValueError(f"actual and forecasts name different assets: {sorted(actual)} vs {sorted(forecasts)}.")
    if origins is not None and set(origins) != set(actual):
        raise ValueError(f"origins names assets {sorted(origins)}; actual names {sorted(actual)}.")
    names = _names(forecasts, [model, reference, naive])
    baselines = [n for n in names if n != model]
    assets = list(actual)
    has_median = bool(np.any(np.isclose(lv, 0.5)))
    intervals = {k: v for k, v in INTERVALS.items() if all(np.any(np.isclose(lv, e)) for e in v)}
    horizon = None

    per_asset: dict[str, Any] = {}
    losses: dict[str, dict[str, np.ndarray]] = {}
    for asset in assets:
        y = np.asarray(actual[asset], dtype=float)
        if horizon is None:
            horizon = y.shape[1] if y.ndim == 2 else None
        if y.ndim != 2 or y.shape[1] != horizon:
            raise ValueError(f"actual[{asset!r}] must have shape (origins, {horizon}); got {y.shape}.")
        if origins is not None and len(origins[asset]) != y.shape[0]:
            raise ValueError(f"origins[{asset!r}] has {len(origins[asset])} labels for {y.shape[0]} rows of actual.")
        known = np.isfinite(y)
        loss = {}
        for name in names:
            try:
                loss[name] = pinball_per_point(y, forecasts[asset][name], lv)
            except ValueError as exc:
                raise ValueError(f"asset {asset!r}, forecast {name!r}: {exc}") from None
        losses[asset] = loss
        mean = {n: np.nanmean(loss[n], axis=0) for n in names}
        overall = {n: float(np.nanmean(loss[n])) for n in names}
        q_naive = np.asarray(forecasts[asset][naive], dtype=float)
        rows = {}
        for name in names:
            q = np.asarray(forecasts[asset][name], dtype=float)
            row: dict[str, Any] = {"pinball": _list(mean[name]), "pinball_all": overall[name]}
            for key in INTERVALS:
                row[key] = _list(coverage_by_step(y, q, lv, *intervals[key])) if key in intervals else None
            row["mase"] = None
            if has_median:
                k = int(np.flatnonzero(np.isclose(lv, 0.5))[0])
                row["mase"] = _list(mase_by_step(y, q[:, :, k], q_naive[:, :, k]))
            row["ratio"] = _list(mean[name] / mean[reference])
            row["skill"] = _list(skill_score(mean[name], mean[reference]))
            row["skill_all"] = _num(skill_score(overall[name], overall[reference]))
            rows[name] = row
        versus = {}
        for base in baselines:
            stat, pval = dm_by_step(loss[model], loss[base])
            versus[base] = {
                "ratio": _list(mean[model] / mean[base]),
                "ratio_all": _num(overall[model] / overall[base]),
                "dm_statistic": _list(stat),
                "dm_p_value": _list(pval),
            }
        per_asset[asset] = {
            "n_origins": int(y.shape[0]),
            "n_points": [int(v) for v in known.sum(axis=0)],
            "forecasts": rows,
            "model_vs": versus,
        }

    def _stack(key: str, name: str, section: str = "forecasts") -> np.ndarray:
        values = [per_asset[a][section][name][key] for a in assets]
        return np.array([[np.nan if v is None else v for v in np.atleast_1d(row)] for row in values], dtype=float)

    pooled_fc: dict[str, Any] = {}
    for name in names:
        ratio = geometric_mean(_stack("ratio", name))
        fc = [per_asset[a]["forecasts"] for a in assets]
        ratio_all = geometric_mean(np.array([f[name]["pinball_all"] / f[reference]["pinball_all"] for f in fc]))
        entry: dict[str, Any] = {
            "ratio": _list(ratio),
            "ratio_all": _num(ratio_all),
            "skill": _list(skill_score(ratio, 1.0)),
            "mase": _list(geometric_mean(_stack("mase", name))) if has_median else None,
        }
        for key in INTERVALS:
            if key in intervals:
                cov = _stack(key, name)
                entry[key], entry[f"{key}_min"], entry[f"{key}_max"] = (
                    _list(cov.mean(axis=0)),
                    _list(cov.min(axis=0)),
                    _list(cov.max(axis=0)),
                )
            else:
                entry[key] = entry[f"{key}_min"] = entry[f"{key}_max"] = None
        pooled_fc[name] = entry

    pooled_vs: dict[str, Any] = {}
    for base in baselines:
        ratio = _stack("ratio", base, "model_vs")
        worst = np.nanargmax(ratio, axis=0)
        entry = {
            "ratio": _list(geometric_mean(ratio)),
            "ratio_all": _num(geometric_mean(_stack("ratio_all", base, "model_vs")[:, 0])),
            "max_asset_ratio": _list(np.nanmax(ratio, axis=0)),
            "worst_asset": [assets[int(i)] for i in worst],
            "dm_statistic": None,
            "dm_p_value": None,
        }
        labels = origins if origins is not None else ({assets[0]: None} if len(assets) == 1 else None)
        if labels is not None:
            stat, pval = [], []
            for h in range(horizon):
                diffs = {}
                for a in assets:
                    lm, lb = losses[a][model][:, h], losses[a][base][:, h]
                    diffs[a] = (lm - lb) / np.nanmean(lb)
                lab = {a: (np.arange(len(diffs[a])) if labels[a] is None else list(labels[a])) for a in assets}
                d = _pooled_differential(diffs, lab)
                s, p = _dm_from_differential(d, min(h + 1, d.size - 1)) if d.size >= 3 else (np.nan, np.nan)
                stat.append(s)
                pval.append(p)
            entry["dm_statistic"], entry["dm_p_value"] = _list(stat), _list(pval)
        pooled_vs[base] = entry

    return {
        "levels": [float(x) for x in lv],
        "horizon": int(horizon),
        "model": model,
        "reference": reference,
        "naive": naive,
        "forecasts": names,
        "assets": assets,
        "per_asset": per_asset,
        "pooled": {"forecasts": pooled_fc, "model_vs": pooled_vs},
    }


def _fmt(value: Any, kind: str = "ratio") -> str:
    """Format a table cell: ``ratio`` (4 decimals), ``loss`` (4 significant digits), ``skill`` and
    ``percent`` (percent), ``p`` (p-value)."""
    if value is None:
        return "n/a"
    if kind == "percent":
        return f"{100 * value:.1f} %"
    if kind == "skill":
        return f"{100 * value:+.2f} %"
    if kind == "p":
        return f"{value:.3f}" if value >= 0.001 else "<0.001"
    if kind == "loss":
        return f"{value:.4g}"
    return f"{value:.4f}"


def _at(values: list | None, step: int) -> Any:
    return None if values is None else values[step - 1]


def comparison_table(report: dict[str, Any], steps: Sequence[int] | None = None) -> str:
    """Markdown tables of a :func:`comparison_report`.

    Parameters
    ----------
    report : dict
        The dict returned by :func:`comparison_report` (or read back from JSON).
    steps : sequence of int, optional
        Steps to show; default the first and the last (just ``[1]`` when ``H = 1``).

    Returns
    -------
    str
        A pooled table of every forecast (pinball ratio and skill vs the reference, coverage, MASE),
        a pooled table of the model against each baseline (ratio, worst asset, DM p-value) and one
        per-asset table per step.
    """
    if not isinstance(report, dict) or "per_asset" not in report or "pooled" not in report:
        raise ValueError("report must be the dict returned by comparison_report (keys 'per_asset', 'pooled').")
    horizon = int(report["horizon"])
    steps = list(steps) if steps is not None else sorted({1, horizon})
    bad = [s for s in steps if not (isinstance(s, (int, np.integer)) and 1 <= s <= horizon)]
    if bad:
        raise ValueError(f"steps must be integers in 1..{horizon}; got {bad}.")
    model, ref = report["model"], report["reference"]
    baselines = [n for n in report["forecasts"] if n != model]
    pooled = report["pooled"]
    n_assets = len(report["assets"])
    lines = [
        f"Pooled over {n_assets} asset(s) (geometric mean of per-asset ratios); pinball ratio and skill vs {ref}.",
        "",
        "| forecast | step | pinball ratio | skill | 80 % coverage (min-max) | 50 % coverage | MASE |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in report["forecasts"]:
        row = pooled["forecasts"][name]
        for s in steps:
            cov = _fmt(_at(row["coverage_80"], s), "percent")
            if row["coverage_80"] is not None:
                cov += f" ({_fmt(_at(row['coverage_80_min'], s), 'percent')}-{_fmt(_at(row['coverage_80_max'], s), 'percent')})"
            lines.append(
                f"| {name} | {s} | {_fmt(_at(row['ratio'], s))} | {_fmt(_at(row['skill'], s), 'skill')} | {cov} | "
                f"{_fmt(_at(row['coverage_50'], s), 'percent')} | {_fmt(_at(row['mase'], s))} |"
            )
    lines += [
        "",
        f"{model} against each baseline: pinball ratio (below 1: {model} better), worst asset, Diebold-Mariano p-value.",
        "",
        "| baseline | step | ratio | all steps | max asset ratio | worst asset | DM p-value |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for base in baselines:
        row = pooled["model_vs"][base]
        for s in steps:
            lines.append(
                f"| {base} | {s} | {_fmt(_at(row['ratio'], s))} | {_fmt(row['ratio_all'])} | "
                f"{_fmt(_at(row['max_asset_ratio'], s))} | {row['worst_asset'][s - 1]} | "
                f"{_fmt(_at(row['dm_p_value'], s), 'p')} |"
            )
    head = " | ".join(f"ratio vs {b}" for b in baselines)
    for s in steps:
        lines += [
            "",
            f"Per asset, step {s}: {model}'s pinball loss, its ratio to each baseline, DM p-value vs {ref}.",
            "",
            f"| asset | points | pinball | {head} | DM p vs {ref} | 80 % coverage | 50 % coverage | MASE |",
            "| --- | ---: | ---: | " + "---: | " * len(baselines) + "---: | ---: | ---: | ---: |",
        ]
        for asset in report["assets"]:
            entry = report["per_asset"][asset]
            fc, vs = entry["forecasts"][model], entry["model_vs"]
            ratios = " | ".join(_fmt(_at(vs[b]["ratio"], s)) for b in baselines)
            lines.append(
                f"| {asset} | {entry['n_points'][s - 1]} | {_fmt(_at(fc['pinball'], s), 'loss')} | {ratios} | "
                f"{_fmt(_at(vs[ref]['dm_p_value'], s), 'p')} | {_fmt(_at(fc['coverage_80'], s), 'percent')} | "
                f"{_fmt(_at(fc['coverage_50'], s), 'percent')} | {_fmt(_at(fc['mase'], s))} |"
            )
    return "\n".join(lines) + "\n"
