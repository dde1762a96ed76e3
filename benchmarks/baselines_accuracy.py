"""How the field's baselines compare with each other on held-out dates: the bar every model must clear.

    python benchmarks/baselines_accuracy.py                                   # the bundled BTC-USD sample
    python benchmarks/baselines_accuracy.py --data ../shared/data/BTC-USD.csv ../shared/data/multi/*.csv
    python benchmarks/baselines_accuracy.py --strategy vol-target              # and a trading rule on them

For every series: the naive, constant-quantile, EWMA(0.94) and GARCH(1,1)-t baselines
(:mod:`lstm_forecaster.baselines`) are fitted on the rows before ``--validation-start`` (the training
split of the default recipe's one clock), frozen, and forecast the log returns of steps 1..H from every
origin from ``--test-start`` on whose targets are known. The comparison report puts GARCH-t in the
model's seat (so its ratios to every other baseline and its Diebold-Mariano p-values are shown), per
series, per step and pooled (geometric mean of the per-series ratios). With ``--strategy`` the rule
runs on the GARCH-t and EWMA forecasts of every series beside buy-and-hold at 0, 10 and 25 bps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import common
import numpy as np
import pandas as pd

from lstm_forecaster import load_ohlcv, sample_path
from lstm_forecaster.baselines import baseline_quantiles, future_returns
from lstm_forecaster.comparison import comparison_report, comparison_table
from lstm_forecaster.strategy import STRATEGIES, strategy_report, strategy_table

LEVELS = [0.1, 0.25, 0.5, 0.75, 0.9]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=[str(sample_path())], help="OHLCV files, one series each")
    parser.add_argument("--validation-start", default="2022-07-01", help="first row after the training split")
    parser.add_argument("--test-start", default="2023-07-01", help="first test origin")
    parser.add_argument("--horizon", type=int, default=7)
    parser.add_argument("--strategy", choices=STRATEGIES, help="also run this rule on the GARCH-t and EWMA forecasts")
    parser.add_argument("--json", default=str(common.RESULTS / "baselines_accuracy.json"), help="raw figures")
    args = parser.parse_args()
    meta, _ = common.start_run(args)
    validation_start = pd.Timestamp(args.validation_start, tz="UTC")
    test_start = pd.Timestamp(args.test_start, tz="UTC")

    forecasts, actual, origins, ranges, strategies = {}, {}, {}, {}, {}
    for path in args.data:
        name = Path(path).stem.replace("Binance_", "").replace("_d", "")
        close = load_ohlcv(path)["close"]
        train_rows = int(close.index.searchsorted(validation_start))
        pos = np.flatnonzero((close.index >= test_start) & (np.arange(len(close)) < len(close) - args.horizon))
        if train_rows < 100 or pos.size < 30:
            print(f"skip {name}: {train_rows} training rows, {pos.size} test origins")
            continue
        per = baseline_quantiles(close.to_numpy(), pos, train_rows, args.horizon, LEVELS)
        forecasts[name] = per
        if args.strategy:
            pair = {"garch": per["garch"], "ewma": per["ewma"]}
            strategies[name] = strategy_report(close.to_numpy(), pair, LEVELS, args.strategy, pos, [0, 10, 25], 365)
        actual[name] = future_returns(close.to_numpy(), pos, args.horizon)
        origins[name] = list(close.index[pos])
        ranges[name] = {
            "train": [close.index[0].isoformat(), close.index[train_rows - 1].isoformat()],
            "test_origins": [close.index[pos[0]].isoformat(), close.index[pos[-1]].isoformat(), int(pos.size)],
        }
        print(
            f"{name}: trained {ranges[name]['train'][0][:10]}..{ranges[name]['train'][1][:10]}, "
            f"{pos.size} test origins {ranges[name]['test_origins'][0][:10]}..{ranges[name]['test_origins'][1][:10]}"
        )
    report = comparison_report(actual, forecasts, LEVELS, model="garch", origins=origins)
    print()
    print(comparison_table(report))
    for name, st in strategies.items():
        print(f"## {name}\n\n{strategy_table(st)}")
    common.write_json(Path(args.json), {**meta, "ranges": ranges, "report": report, "strategies": strategies})
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
