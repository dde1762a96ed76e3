"""Latency of `LSTMForecaster.predict` on the bundled BTC-USD sample, and of `from_pretrained`, on the CPU.

    python benchmarks/predict_latency.py                 # torch's default thread count
    python benchmarks/predict_latency.py --threads 1     # one intra-op thread
    python benchmarks/predict_latency.py --calls 100 --loads 20

For each model: save it to a temporary folder, time `from_pretrained` from that folder, then time
`model.predict(df)` on the whole sample (3,484 daily rows: loading checks, features, scaling, the
network, inverse scaling, future timestamps). Prints median, p10 and p90 in milliseconds.

The models are the architectures of `configs/crypto_price_forecaster.yaml` and `configs/btc_daily_quantile.yaml` (the first default)
at their initial weights, with the scaler fitted on the recipe's training split: latency does not
depend on what the weights are, so nothing is trained here.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lstm_forecaster import LSTMForecaster, __version__, load_ohlcv, sample_path
from lstm_forecaster.training import chronological_split, fit_scaler, load_recipe

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RECIPES = {
    "CryptoPriceForecaster (3x128 LSTM)": CONFIGS / "crypto_price_forecaster.yaml",
    "default (1x32 quantile LSTM on returns)": CONFIGS / "btc_daily_quantile.yaml",
}


def fitted_model(recipe_path: Path, df) -> LSTMForecaster:
    """The recipe's architecture at its initial weights, with the scaler training would fit."""
    recipe = load_recipe(recipe_path)
    torch.manual_seed(0)
    model = LSTMForecaster(recipe.model)
    samples = model.samples(df)
    model.scaler = fit_scaler(samples, chronological_split(df, samples, recipe), recipe.model)
    return model.eval()


def timings(fn, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def summary(ms: list[float]) -> tuple[float, float, float]:
    p10, p90 = np.percentile(ms, [10, 90])
    return statistics.median(ms), float(p10), float(p90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="timed predict calls per model (default 100)")
    parser.add_argument("--loads", type=int, default=20, help="timed from_pretrained calls per model (default 20)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    df = load_ohlcv(sample_path())
    print(
        f"lstm-forecaster {__version__}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"data: bundled BTC-USD daily sample, {len(df)} rows; {args.calls} predict calls, {args.loads} loads\n")
    print("| model | parameters | predict median ms | p10 | p90 | from_pretrained median ms | p10 | p90 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, recipe_path in RECIPES.items():
        model = fitted_model(recipe_path, df)
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            loads = timings(lambda folder=folder: LSTMForecaster.from_pretrained(folder), args.loads, warmup=2)
            loaded = LSTMForecaster.from_pretrained(folder)
        predicts = timings(lambda m=loaded: m.predict(df), args.calls, warmup=3)
        p = summary(predicts)
        load = summary(loads)
        print(
            f"| {name} | {loaded.num_parameters():,} | {p[0]:.1f} | {p[1]:.1f} | {p[2]:.1f} | "
            f"{load[0]:.1f} | {load[1]:.1f} | {load[2]:.1f} |"
        )


if __name__ == "__main__":
    main()
