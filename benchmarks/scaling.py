"""Training time per epoch and peak memory as the data grows: 1x, 10x and 100x the rows.

The data is a synthetic random walk of hourly OHLCV candles (3,500, 35,000 and 350,000 rows by
default: the bundled daily sample's size, then ten and a hundred times it). Each size is trained by
`lstm_forecaster.training.train` in a fresh Python process (so the peak RSS is that run's own), with
the recipe given (the first default recipe, `configs/btc_daily_quantile.yaml`, unless told otherwise) for a few epochs
and no early stopping. Sizes are interleaved over the repeats.

What should hold: the time of an epoch grows linearly with the rows (constant microseconds per
window), and memory grows only with the raw rows, never rows x context_length: training windows are
gathered by index from one (rows, features) tensor, never materialised. The table prints, beside the
measured growth of the resident memory, the size the windows would take if they were materialised.

Examples (from the repository root):

    python benchmarks/scaling.py                                  # 3 sizes, 2 epochs, 3 repeats
    python benchmarks/scaling.py --sizes 3500 35000 --epochs 1 --repeats 1
    python benchmarks/scaling.py --config configs/crypto_price_forecaster.yaml --sizes 3500 35000
    python benchmarks/scaling.py --set head_init=default --json benchmarks/results/scaling-head-default.json
    python benchmarks/scaling.py --device cuda                    # on a machine with a GPU
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import common
import numpy as np

DEFAULT_SIZES = (3_500, 35_000, 350_000)


def random_walk_ohlcv(rows: int, seed: int = 0):
    """Synthetic hourly OHLCV candles: a geometric random walk of the close.

    Returns
    -------
    pd.DataFrame
        `rows` rows of float64 `open, high, low, close, volume` on a UTC hourly `DatetimeIndex`.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    log_close = np.log(20_000.0) + np.cumsum(rng.normal(0.0, 0.01, rows))
    close = np.exp(log_close)
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.exp(np.abs(rng.normal(0.0, 0.004, (2, rows))))
    high = np.maximum(open_, close) * wick[0]
    low = np.minimum(open_, close) / wick[1]
    volume = rng.lognormal(mean=6.0, sigma=0.5, size=rows)
    index = pd.date_range("2015-01-01", periods=rows, freq="h", tz="UTC", name="timestamp")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def overrides(pairs: list[str]) -> dict:
    """`["head_init=default", "batch_size=256"]` as a dict of YAML values."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"--set takes KEY=VALUE pairs (top-level recipe keys). Got {pair!r}.")
        out[key] = yaml.safe_load(value)
    return out


def worker(args) -> None:
    # What `train` imports on its way, imported first so that the memory growth measured is the data's
    # and the training's, not the libraries'.
    import accelerate  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import torch

    import lstm_forecaster.evaluation  # noqa: F401
    from lstm_forecaster.training import TRAINING_ARGS, load_recipe, recipe_from_dict, train

    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = load_recipe(args.config).to_dict()
    recipe = recipe_from_dict({**recipe, **overrides(args.set), "epochs": args.epochs, "patience": 0, "data": None})
    rss_start = common.rss_mib()
    df = random_walk_ohlcv(args.worker_rows)
    rss_before = common.rss_mib()
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        wall, folder = common.timed(
            train, recipe, Path(tmp) / "model", data=df, cpu=args.device == "cpu", progress=False
        )
        training_args = json.loads((folder / TRAINING_ARGS).read_text())
    history = training_args["history"]
    config = recipe.model
    print(
        json.dumps(
            {
                "rows": args.worker_rows,
                "raw_mib": df.memory_usage(index=True, deep=True).sum() / 2**20,
                "features": len(config.features),
                "context_length": config.context_length,
                "windows": history[0]["windows"],
                "epoch_s": [h["train_seconds"] for h in history],
                "train_s": wall,
                "rss_start_mib": rss_start,
                "rss_before_train_mib": rss_before,
                "peak_rss_mib": common.peak_rss_mib(),
                "torch_threads": torch.get_num_threads(),
                "device": training_args["device"],
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="rows of each run")
    parser.add_argument(
        "--config", default=str(common.ROOT / "configs" / "btc_daily_quantile.yaml"), help="the recipe to train"
    )
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override top-level recipe keys")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (early stopping off)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each size, interleaved")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", default=str(common.RESULTS / "scaling.json"), help="where to write every figure")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to one run")
    parser.add_argument("--worker-rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_rows:
        worker(args)
        return
    common.check_device(args.device)

    meta, log = common.start_run(args)
    runs: dict[int, list[dict]] = {n: [] for n in args.sizes}
    base = [sys.argv[0], "--config", args.config, "--epochs", str(args.epochs), "--threads", str(args.threads)]
    base += ["--device", args.device, "--set", *args.set]
    for r in range(args.repeats):
        order = args.sizes[r % len(args.sizes) :] + args.sizes[: r % len(args.sizes)]
        for rows in order:
            result = common.run_worker([*base, "--worker-rows", str(rows)], args.timeout, log)
            runs[rows].append(result)
            print(
                f"repeat {r + 1}/{args.repeats} rows {rows:>9,}: epoch {np.median(result['epoch_s']):.2f} s "
                f"({result['windows']:,} windows), peak RSS {result['peak_rss_mib']:.0f} MiB",
                flush=True,
            )
    summary = summarize(runs)
    report = render(summary, runs, args)
    print("\n" + report)
    common.write_json(Path(args.json), {**meta, "summary": summary, "runs": runs, "report": report})
    print(f"wrote {args.json}")


def summarize(runs: dict[int, list[dict]]) -> dict:
    out = {}
    for rows, results in runs.items():
        first = results[0]
        epoch = [float(np.median(r["epoch_s"])) for r in results]
        out[rows] = {
            "windows": first["windows"],
            "epoch_s": common.summary(epoch),
            "us_per_window": common.summary([e / first["windows"] * 1e6 for e in epoch]),
            "peak_rss_mib": common.summary([r["peak_rss_mib"] for r in results]),
            "growth_mib": common.summary([r["peak_rss_mib"] - r["rss_start_mib"] for r in results]),
            "raw_mib": first["raw_mib"],
            "materialised_windows_mib": first["windows"] * first["context_length"] * first["features"] * 4 / 2**20,
        }
    return out


def render(summary: dict, runs: dict[int, list[dict]], args) -> str:
    sizes = list(summary)
    smallest = summary[sizes[0]]
    header = [
        "rows",
        "training windows",
        "epoch (s)",
        "x the smallest",
        "us per window",
        "peak RSS (MiB)",
        "RSS growth: data + training (MiB)",
        "raw OHLCV (MiB)",
        "windows if materialised, float32 (MiB)",
    ]
    rows = []
    for n in sizes:
        s = summary[n]
        times = s["epoch_s"]["median"] / smallest["epoch_s"]["median"]
        rows.append(
            [
                f"{n:,}",
                f"{s['windows']:,}",
                common.fmt(s["epoch_s"]),
                f"{times:.1f} (rows x{n / sizes[0]:.0f})",
                common.fmt(s["us_per_window"]),
                common.fmt(s["peak_rss_mib"], digits=4),
                common.fmt(s["growth_mib"]),
                f"{s['raw_mib']:.1f}",
                f"{s['materialised_windows_mib']:.0f}",
            ]
        )
    first = runs[sizes[0]][0]
    recipe = Path(args.config).name + "".join(f", {pair}" for pair in args.set)
    return (
        common.markdown_table(header, rows)
        + f"Recipe {recipe}, {args.epochs} epoch(s) per run (epoch time: median over the run's epochs, then median "
        f"[min-max] over {len(runs[sizes[0]])} repeat(s)); torch threads {first['torch_threads']}; device {first['device']}.\n"
        "RSS growth is the peak resident memory minus the resident memory before the data was generated: the raw "
        "frame, its features, the scaled tensor, training, the test backtest, its plots and the model folder.\n"
    )


if __name__ == "__main__":
    main()
