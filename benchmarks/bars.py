"""The bars of issue 10, per asset, at every step: 80 % coverage, pinball loss against EWMA(0.94) and
GARCH(1,1)-t, MASE of the median; for a trained panel model and, with --leave-out, for an asset the
model never saw (zero-shot: the recipe is retrained without it, then scored on it).

Every asset is scored on its own points with its own baselines (`lstm_forecaster.baselines`, fitted on
that asset's rows before the recipe's `validation_start`, parameters fixed afterwards). Everything
is in log returns from the close at the origin, so assets at any price level compare; the pooled
figures are geometric means over assets of the per-asset ratios. The model's forecasts are exactly
what `predict` returns at each origin, calibration included (`backtest`).

Examples
--------
    # while designing: the validation split only
    python benchmarks/bars.py --config configs/default.yaml --split validation --leave-out DOGEUSDT
    python benchmarks/bars.py --config configs/hourly.yaml --split validation
    python benchmarks/bars.py --config configs/hourly.yaml --split validation --add-features hour_sin hour_cos
    # once, for the final recipe: the test split (record the read in docs/recipes.md)
    python benchmarks/bars.py --config configs/default.yaml --split test --leave-out DOGEUSDT --json runs/bars.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lstm_forecaster import LSTMForecaster
from lstm_forecaster.baselines import baseline_quantiles
from lstm_forecaster.configuration import quantile_column
from lstm_forecaster.market import uses_market
from lstm_forecaster.panel import is_panel
from lstm_forecaster.training import load_recipe, load_training_data, train

BASELINES = ("ewma", "garch")
CUTS = ("validation_start", "test_start")


def pinball(actual: np.ndarray, predicted: np.ndarray, levels: np.ndarray) -> float:
    """Mean pinball loss of (n, L) quantiles against (n,) outcomes."""
    error = actual[:, None] - predicted
    return float(np.mean(np.maximum(levels * error, (levels - 1.0) * error)))


def asset_points(
    model: LSTMForecaster, series: pd.DataFrame, validation_start, test_start, split: str, frame=None
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, pd.Timestamp]:
    """(origins, actual (n, H) and model quantiles (n, H, L) in log returns from the origin's close,
    last training row) of one asset on the `split` points. `frame`: the asset's rows of a backtest
    of the whole panel (a model with market features reads every asset); default: its own backtest."""
    config = model.config
    names = [quantile_column(q) for q in config.quantiles]
    horizon = config.horizon
    index = series.index
    train_end = index[index < validation_start][-1]
    if split == "validation":
        first, last_target = train_end, index[index < test_start][-1]
    else:
        before = index[index < test_start]
        first, last_target = (before[-1] if len(before) else index[0]), index[-1]
    if frame is None:
        frame = model.backtest(series, start=first)
    frame = frame[(frame["origin"] >= first) & (frame["timestamp"] <= last_target)]
    last_ok = frame.groupby("origin")["step"].transform("max") == horizon  # every step of an origin scored
    frame = frame[last_ok]
    origins = pd.DatetimeIndex(frame["origin"].unique())
    base = frame["base"].to_numpy()
    actual = np.log(frame["actual"].to_numpy() / base).reshape(len(origins), horizon)
    model_q = np.log(frame[names].to_numpy() / base[:, None]).reshape(len(origins), horizon, len(names))
    return origins, actual, model_q, train_end


def score_asset(
    model: LSTMForecaster, series: pd.DataFrame, validation_start, test_start, split: str, frame=None, points=None
) -> dict:
    """Per-step figures of one asset on the `split` points (see the module docstring and `asset_points`)."""
    config = model.config
    levels = np.asarray(config.quantiles)
    horizon = config.horizon
    origins, actual, model_q, train_end = points or asset_points(
        model, series, validation_start, test_start, split, frame
    )
    median = config.median_index
    baselines = baseline_quantiles(series["close"], origins, train_end, horizon, list(levels), names=BASELINES)
    steps = []
    for k in range(horizon):
        y = actual[:, k]
        entry = {"step": k + 1, "n": len(y)}
        entry["coverage_80"] = float(np.mean((y >= model_q[:, k, 0]) & (y <= model_q[:, k, -1])))
        entry["pinball"] = pinball(y, model_q[:, k], levels)
        for name in BASELINES:
            entry[f"pinball_{name}"] = pinball(y, baselines[name][:, k], levels)
            entry[f"ratio_{name}"] = entry["pinball"] / entry[f"pinball_{name}"]
            entry[f"coverage_80_{name}"] = float(
                np.mean((y >= baselines[name][:, k, 0]) & (y <= baselines[name][:, k, -1]))
            )
        point = model_q[:, k, median] if median is not None else model_q[:, k].mean(axis=1)
        entry["mase"] = float(np.mean(np.abs(y - point)) / np.mean(np.abs(y)))
        steps.append(entry)
    return {"origins": len(origins), "first_origin": origins[0].isoformat(), "steps": steps}


def geometric_mean(values) -> float:
    return float(np.exp(np.mean(np.log(values))))


def summarise(assets: dict, horizon: int) -> dict:
    pooled = {}
    for k in range(1, horizon + 1):
        ratios = {name: [a["steps"][k - 1][f"ratio_{name}"] for a in assets.values()] for name in BASELINES}
        pooled[k] = {
            **{f"gmean_ratio_{name}": geometric_mean(r) for name, r in ratios.items()},
            **{f"max_ratio_{name}": max(r) for name, r in ratios.items()},
            "coverage_80_min": min(a["steps"][k - 1]["coverage_80"] for a in assets.values()),
            "coverage_80_max": max(a["steps"][k - 1]["coverage_80"] for a in assets.values()),
            "mase_max": max(a["steps"][k - 1]["mase"] for a in assets.values()),
        }
    return pooled


def table(assets: dict, steps: list[int]) -> str:
    lines = ["| asset | step | origins | 80 % coverage (EWMA, GARCH) | pinball / EWMA | pinball / GARCH-t | MASE |"]
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for symbol, a in assets.items():
        for k in steps:
            s = a["steps"][k - 1]
            lines.append(
                f"| {symbol} | {k} | {a['origins']} | {s['coverage_80']:.1%} ({s['coverage_80_ewma']:.1%}, "
                f"{s['coverage_80_garch']:.1%}) | {s['ratio_ewma']:.4f} | {s['ratio_garch']:.4f} | {s['mase']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def model_points(folder: Path, panel: pd.DataFrame, symbols: list[str], split: str):
    """(model, {symbol: `asset_points`}, validation_start, test_start) of a trained folder."""
    model = LSTMForecaster.from_pretrained(folder)
    args = json.loads((folder / "training_args.json").read_text())
    # A panel records its cut dates; one series its splits' first rows.
    dates = args.get("split_dates") or {name: args["splits"][name.split("_")[0]]["start"] for name in CUTS}
    validation_start = pd.Timestamp(dates["validation_start"])
    test_start = pd.Timestamp(dates["test_start"])
    points, whole = {}, None
    if uses_market(model.config.features):  # the market of the whole panel, as in training
        stamps = panel.index.get_level_values("timestamp")
        whole = model.backtest(panel, start=stamps[stamps < validation_start].max())
    for symbol in symbols:
        series = panel.xs(symbol, level="symbol")
        if series.index[-1] < (test_start if split == "test" else validation_start):
            continue
        frame = None if whole is None else whole[whole["symbol"] == symbol].drop(columns="symbol")
        points[symbol] = (series, asset_points(model, series, validation_start, test_start, split, frame))
    return model, points, validation_start, test_start


def score_model(folder: Path, panel: pd.DataFrame, symbols: list[str], split: str) -> dict:
    model, points, validation_start, test_start = model_points(folder, panel, symbols, split)
    args = json.loads((folder / "training_args.json").read_text())
    assets = {
        symbol: score_asset(model, series, validation_start, test_start, split, points=computed)
        for symbol, (series, computed) in points.items()
    }
    return {"kept": args.get("kept"), "assets": assets, "pooled": summarise(assets, model.config.horizon)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--leave-out", help="symbol to leave out of training and score zero-shot")
    parser.add_argument("--output", default="runs/bars", help="folder for the trained models")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--add-features", nargs="+", default=[], help="features added to the recipe's (a variant)")
    args = parser.parse_args(argv)
    recipe = load_recipe(args.config)
    if args.add_features:
        model = dataclasses.replace(recipe.model, features=[*recipe.model.features, *args.add_features])
        recipe = dataclasses.replace(recipe, model=model)
    panel, _ = load_training_data(recipe)
    if not is_panel(panel):  # one series (the hourly recipe): a panel of one symbol
        panel = pd.concat({recipe.name: panel}, names=["symbol"])
    symbols = list(dict.fromkeys(panel.index.get_level_values("symbol")))
    out = Path(args.output)
    started = time.perf_counter()
    report = {
        "config": args.config,
        "add_features": args.add_features,
        "split": args.split,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    folder = train(
        recipe,
        out / "all",
        overwrite=True,
        evaluate_split=args.split,
        progress=False,
        recipe_file=" + ".join([args.config, *args.add_features]),
    )
    report["all"] = score_model(folder, panel, symbols, args.split)
    if args.leave_out:
        if args.leave_out not in symbols:
            print(f"--leave-out {args.leave_out} is not in the panel; symbols: {', '.join(symbols)}", file=sys.stderr)
            return 2
        rest = panel.drop(index=args.leave_out, level="symbol")
        folder = train(recipe, out / "zero-shot", data=rest, overwrite=True, evaluate_split=args.split, progress=False)
        report["zero_shot"] = {"symbol": args.leave_out, **score_model(folder, panel, [args.leave_out], args.split)}
    report["seconds"] = round(time.perf_counter() - started, 1)
    steps = sorted({1, recipe.model.horizon})
    print(f"{args.split} split, {args.config}; kept: {report['all']['kept']}")
    print(table(report["all"]["assets"], steps))
    for k in steps:
        print(f"step {k} pooled: " + json.dumps({key: round(v, 4) for key, v in report["all"]["pooled"][k].items()}))
    if args.leave_out:
        z = report["zero_shot"]
        print(f"zero-shot {z['symbol']} (trained without it; kept: {z['kept']})")
        print(table(z["assets"], steps))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
