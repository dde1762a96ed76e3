"""Speed of a frozen backtest over 1,000 origins x 7 steps, beside the model's own forecasts in the same run.

    python benchmarks/backtest_speed.py                   # 1,000 origins, H = 7, 3 repeats
    python benchmarks/backtest_speed.py --origins 2000 --repeats 5

The model is the default recipe's architecture (`configs/default.yaml`) with horizon 7, at its initial weights with the scaler
training would fit (speed does not depend on the weights, so nothing is trained), on the bundled
BTC-USD daily sample. Timed, each as the median of ``--repeats`` runs:

* ``model.backtest``: the network at every origin (the reference of the ratios);
* the four baselines fitted and forecast at the same points (GARCH-t fit by ``arch`` and its
  simulation table), the comparison report, and the long-flat strategy at 0/10/25 bps;
* :func:`lstm_forecaster.backtest.backtest` end to end (all of the above).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import common
import torch

from lstm_forecaster import LSTMForecaster, __version__, load_ohlcv, sample_path
from lstm_forecaster.backtest import backtest
from lstm_forecaster.baselines import baseline_quantiles, future_returns
from lstm_forecaster.comparison import comparison_report
from lstm_forecaster.strategy import strategy_report
from lstm_forecaster.training import chronological_split, fit_scaler, load_recipe, recipe_from_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def model_h7(df) -> LSTMForecaster:
    recipe = load_recipe(os.path.join(ROOT, "configs", "default.yaml"))
    values = recipe.to_dict()
    values["model"] = {**dataclasses.asdict(recipe.model), "horizon": 7}
    values["model"].pop("package_version", None)
    recipe = recipe_from_dict(values)
    torch.manual_seed(0)
    model = LSTMForecaster(recipe.model)
    samples = model.samples(df)
    model.scaler = fit_scaler(samples, chronological_split(df, samples, recipe), recipe.model)
    return model.eval()


def seconds(fn, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return common.summary(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", type=int, default=1000, help="origins in the backtest (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per stage (default 3)")
    parser.add_argument("--json", default=str(common.RESULTS / "backtest_speed.json"), help="raw figures")
    args = parser.parse_args()
    meta, _ = common.start_run(args)

    df = load_ohlcv(sample_path())
    model = model_h7(df)
    horizon, levels = model.config.horizon, list(model.config.quantiles)
    start = df.index[len(df) - args.origins - horizon]
    print(
        f"lstm-forecaster {__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch threads, load average {os.getloadavg()[0]:.2f}"
    )
    frame = model.backtest(df, start=start)
    origins = df.index.get_indexer(frame["origin"].drop_duplicates())
    print(f"data: bundled BTC-USD daily sample, {len(df)} rows; {len(origins)} origins x {horizon} steps\n")

    close = df["close"].to_numpy()
    fit_rows = int(origins[0]) + 1
    per = baseline_quantiles(close, origins, fit_rows, horizon, levels)
    per["model"] = per["ewma"]
    y = future_returns(close, origins, horizon)
    pair = {"model": per["garch"], "ewma": per["ewma"]}
    stages = {
        "model.backtest (the network at every origin)": lambda: model.backtest(df, start=start),
        "four baselines: fit on the rows up to the first origin, forecast every origin": lambda: baseline_quantiles(
            close, origins, fit_rows, horizon, levels
        ),
        "comparison report (per step, per asset, pooled, DM tests)": lambda: comparison_report(
            {"BTC": y}, {"BTC": per}, levels
        ),
        "long-flat strategy, 3 cost levels, beside buy-and-hold and EWMA": lambda: strategy_report(
            close, pair, levels, "long-flat", origins, [0, 10, 25]
        ),
        "backtest() end to end": lambda: backtest(model, df, start=start, strategy="long-flat"),
    }
    results = {name: seconds(fn, args.repeats) for name, fn in stages.items()}
    reference = results["model.backtest (the network at every origin)"]
    print("| stage | seconds, median [min-max] | ratio to model.backtest |")
    print("| --- | ---: | ---: |")
    for name, stats in results.items():
        print(f"| {name} | {common.fmt(stats)} | {common.ratio(stats, reference):.2f}x |")
    total = results["backtest() end to end"]["median"]
    print(f"\nend to end: {total:.2f} s for {len(origins)} origins x {horizon} steps")
    common.write_json(Path(args.json), {**meta, "origins": int(len(origins)), "horizon": horizon, "results": results})
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
