"""Two trained models of one recipe's data on the same points: their pinball losses over EWMA(0.94)'s
and against each other, per step, with the pooled Diebold-Mariano test of their difference.

Both folders are scored as `bars.py` scores one (`bars.model_points`: exactly what `predict` returns at
each origin, calibration included; a model with market features reads the whole panel). The test is
`comparison.comparison_report`'s: per date, the mean over assets of the pinball-loss differential,
each asset's divided by its mean EWMA loss (so assets weigh alike), HLN-corrected with h - 1 lags.
A negative statistic: `--model` has the lower loss.

Examples
--------
    OMP_NUM_THREADS=1 python benchmarks/bars.py --config configs/default.yaml --split validation --output runs/bars
    OMP_NUM_THREADS=1 python benchmarks/variants.py --only market --split validation --output runs/variants
    OMP_NUM_THREADS=1 python benchmarks/paired.py --config configs/default.yaml --split validation \\
        --model runs/variants/market --against runs/bars/all --json runs/paired.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bars  # noqa: E402

from lstm_forecaster.baselines import baseline_quantiles  # noqa: E402
from lstm_forecaster.comparison import comparison_report  # noqa: E402
from lstm_forecaster.panel import is_panel  # noqa: E402
from lstm_forecaster.training import load_recipe, load_training_data  # noqa: E402


def paired_report(model_folder: Path, against_folder: Path, panel: pd.DataFrame, split: str) -> dict:
    """`comparison_report` of `model` (as "model") beside `against`, EWMA and the naive forecast."""
    symbols = list(dict.fromkeys(panel.index.get_level_values("symbol")))
    model, points, _, _ = bars.model_points(model_folder, panel, symbols, split)
    other, other_points, _, _ = bars.model_points(against_folder, panel, symbols, split)
    levels = list(model.config.quantiles)
    if list(other.config.quantiles) != levels or other.config.horizon != model.config.horizon:
        raise ValueError("the two models forecast different quantile levels or horizons")
    actual, forecasts, origins = {}, {}, {}
    for symbol, (series, (stamps, y, q, train_end)) in points.items():
        other_stamps, _, other_q, _ = other_points[symbol][1]
        if not stamps.equals(other_stamps):
            raise ValueError(f"{symbol}: the two models are scored on different origins")
        fitted = baseline_quantiles(
            series["close"], stamps, train_end, model.config.horizon, levels, names=("naive", "ewma")
        )
        actual[symbol] = y
        forecasts[symbol] = {"model": q, "against": other_q, **fitted}
        origins[symbol] = list(stamps)
    return comparison_report(actual, forecasts, levels, origins=origins)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.yaml", help="the recipe whose data both read")
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--model", required=True, help="a trained folder")
    parser.add_argument("--against", required=True, help="the trained folder it is compared with")
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args(argv)
    recipe = load_recipe(args.config)
    panel, _ = load_training_data(recipe)
    if not is_panel(panel):
        panel = pd.concat({recipe.name: panel}, names=["symbol"])
    report = paired_report(Path(args.model), Path(args.against), panel, args.split)
    pooled = report["pooled"]
    vs = pooled["model_vs"]["against"]
    print(f"{args.split} split, {args.model} against {args.against}")
    print("| step | model / EWMA | against / EWMA | model / against | DM statistic | DM p |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for k in range(report["horizon"]):
        cells = [
            pooled["forecasts"]["model"]["ratio"][k],
            pooled["forecasts"]["against"]["ratio"][k],
            vs["ratio"][k],
            vs["dm_statistic"][k],
            vs["dm_p_value"][k],
        ]
        print(f"| {k + 1} | " + " | ".join("n/a" if c is None else f"{c:.4f}" for c in cells) + " |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"split": args.split, **vars(args), "report": report}, indent=2) + "\n")
    return 0 if np.isfinite(vs["ratio"]).all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
