"""Training data path at scale: a synthetic panel of assets x hourly rows, peak memory and time per window.

    python benchmarks/train_scale.py                                   # 200 assets: 5,000 and 50,000 rows each
    python benchmarks/train_scale.py --assets 200 --rows 5000 50000 --steps 100 --json benchmarks/results/train_scale.json

Each size runs in a fresh process (its peak RSS, `ru_maxrss`, is its own): it builds a panel of
`--assets` geometric random walks of hourly candles (`rows` each: 200 x 5,000 = 1 M rows, 200 x
50,000 = 10 M rows), then what `lstm-forecaster train` builds from it with the default recipe
(`configs/default.yaml`: context scaling, 5 features, context 120): `PanelSamples` (features
per series, stacked; windows are strided views), the training split's origins, `WindowBatches`
(one float64 tensor of the rows; a batch is gathered by index), and runs `--steps` optimisation steps
of the recipe's model (AdamW, pinball loss, clipping) on random batches of the training origins.
It reports the resident memory after the data (raw frame), after the samples and batches, and the
peak, in bytes per raw row; and the seconds per training window of the steps (a step's cost does not
depend on the data's size, so an epoch's time is linear in its windows). Steps are capped: a full
epoch over 10 M windows is hours on two shared cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import common
import numpy as np


def synthetic_panel(assets: int, rows: int, seed: int = 0):
    """`assets` geometric random walks of `rows` hourly candles, as one `(symbol, timestamp)` frame."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    close = 10.0 ** rng.uniform(-2, 4, (assets, 1)) * np.exp(np.cumsum(rng.normal(0.0, 0.01, (assets, rows)), axis=1))
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    wick = np.exp(np.abs(rng.normal(0.0, 0.004, (2, assets, rows))))
    columns = {
        "open": open_,
        "high": np.maximum(open_, close) * wick[0],
        "low": np.minimum(open_, close) / wick[1],
        "close": close,
        "volume": rng.lognormal(6.0, 0.5, (assets, rows)),
    }
    stamps = pd.date_range("2015-01-01", periods=rows, freq="h", tz="UTC", name="timestamp")
    index = pd.MultiIndex.from_product([[f"SYN{i:03d}" for i in range(assets)], stamps], names=["symbol", "timestamp"])
    return pd.DataFrame({k: v.reshape(-1) for k, v in columns.items()}, index=index)


def worker(args) -> dict:
    import torch

    from lstm_forecaster import LSTMForecaster, load_ohlcv
    from lstm_forecaster.training import (
        WindowBatches,
        compute_loss,
        fit_scaler,
        load_recipe,
        recipe_from_dict,
        split_samples,
    )

    torch.set_num_threads(1)
    start = common.rss_mib()
    raw = synthetic_panel(args.assets, args.worker_rows)
    stamps = raw.index.get_level_values("timestamp")
    cut = stamps[int(0.7 * args.worker_rows)], stamps[int(0.85 * args.worker_rows)]
    recipe = load_recipe(args.config).to_dict()
    recipe = recipe_from_dict({**recipe, "data": None, "validation_start": str(cut[0]), "test_start": str(cut[1])})
    df = load_ohlcv(raw)
    del raw
    after_data = common.rss_mib()
    t0 = time.perf_counter()
    model = LSTMForecaster(recipe.model)
    samples = model.samples(df)
    split = split_samples(df, samples, recipe)
    scaler = fit_scaler(samples, split, recipe.model)
    batches = WindowBatches(samples, scaler, torch.device("cpu"))
    build_s = time.perf_counter() - t0
    after_samples = common.rss_mib()
    train = torch.from_numpy(np.asarray(split.train))
    quantiles = torch.tensor(recipe.model.quantiles) if recipe.model.quantiles else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    generator = torch.Generator().manual_seed(0)
    model.train()
    seconds = []
    for _ in range(args.steps):
        step_start = time.perf_counter()
        origins = train[torch.randint(len(train), (recipe.batch_size,), generator=generator)]
        x, y = batches(origins)
        loss = compute_loss(model(x), y, quantiles)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()
        seconds.append(time.perf_counter() - step_start)
    rows = len(df)
    return {
        "rows": rows,
        "assets": args.assets,
        "train_windows": int(len(train)),
        "raw_mib": float(df.memory_usage(index=True, deep=True).sum() / 2**20),
        "rss_start_mib": start,
        "rss_after_data_mib": after_data,
        "rss_after_samples_mib": after_samples,
        "peak_rss_mib": common.peak_rss_mib(),
        "build_s": build_s,
        "us_per_window": float(np.median(seconds[5:] or seconds)) / recipe.batch_size * 1e6,
        "epoch_s_estimate": float(np.median(seconds[5:] or seconds)) * len(train) / recipe.batch_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000, 50_000], help="hourly rows per asset, per run")
    parser.add_argument("--steps", type=int, default=100, help="optimisation steps timed per run")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each size, interleaved")
    parser.add_argument("--config", default=str(common.ROOT / "configs" / "default.yaml"))
    parser.add_argument("--json", default=str(common.RESULTS / "train_scale.json"))
    parser.add_argument("--timeout", type=float, default=3000)
    parser.add_argument("--worker-rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_rows:
        print(json.dumps(worker(args)), flush=True)
        return
    meta, log = common.start_run(args)
    runs: dict[int, list[dict]] = {n: [] for n in args.rows}
    base = [sys.argv[0], "--assets", str(args.assets), "--steps", str(args.steps), "--config", args.config]
    for _ in range(args.repeats):
        for n in args.rows:
            result = common.run_worker([*base, "--worker-rows", str(n)], args.timeout, log)
            runs[n].append(result)
            print(json.dumps(result), flush=True)
    header = [
        "rows",
        "train windows",
        "raw frame MiB",
        "RSS after data MiB",
        "RSS after samples MiB",
        "peak RSS MiB",
        "peak growth bytes/row",
        "us per window (step)",
    ]
    table = []
    for results in runs.values():
        r = results[0]
        growth = [(x["peak_rss_mib"] - x["rss_start_mib"]) * 2**20 / x["rows"] for x in results]
        table.append(
            [
                f"{r['rows']:,}",
                f"{r['train_windows']:,}",
                f"{r['raw_mib']:.0f}",
                f"{r['rss_after_data_mib']:.0f}",
                f"{r['rss_after_samples_mib']:.0f}",
                common.fmt(common.summary([x["peak_rss_mib"] for x in results]), digits=4),
                common.fmt(common.summary(growth)),
                common.fmt(common.summary([x["us_per_window"] for x in results])),
            ]
        )
    report = common.markdown_table(header, table)
    print("\n" + report)
    common.write_json(Path(args.json), {**meta, "runs": runs, "report": report})


if __name__ == "__main__":
    main()
