"""Wall time of `lstm-forecaster train` on the default recipe (the bundled panel, 7 steps), against the
first default recipe (`configs/btc_daily_quantile.yaml`: BTC only, one step) trained in the same run.

Issue 10 asks that the default train "well under two minutes on 2 cores". Each recipe is trained end
to end as a user runs it (`training.train`: data loading, splits, the epochs, the held-out backtest
with calibration, the model folder and card), `--repeats` times, interleaved so a noisy machine
slows both alike; the script prints the median wall seconds of each and the ratio.

Examples (from the repository root):

    python benchmarks/default_train_time.py --threads 2
    python benchmarks/default_train_time.py --threads 1 --repeats 3 --json runs/default_train_time.json

To time one code change, run it alternately on the old and the new source, the default recipe only,
keeping the model folders to check that the change left them identical:

    PYTHONPATH=old/src python benchmarks/default_train_time.py --threads 1 --repeats 1 --recipes default --keep runs/old
    PYTHONPATH=src python benchmarks/default_train_time.py --threads 1 --repeats 1 --recipes default --keep runs/new
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import common
import torch

from lstm_forecaster.training import train

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {"default": ROOT / "configs" / "default.yaml", "first default": ROOT / "configs" / "btc_daily_quantile.yaml"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the machine's cores)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES), help="train only these")
    parser.add_argument("--keep", help="write the model folders into this folder (default: a temporary one)")
    args = parser.parse_args(argv)
    recipes = {name: RECIPES[name] for name in args.recipes}
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    seconds: dict[str, list[float]] = {name: [] for name in recipes}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in recipes}
    epochs: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep:
            tmp = args.keep
            Path(tmp).mkdir(parents=True, exist_ok=True)
        for repeat in range(args.repeats):
            for name, recipe in recipes.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                folder = train(recipe, Path(tmp) / f"{name}-{repeat}".replace(" ", "-"), progress=False)
                seconds[name].append(time.perf_counter() - start)
                cpu_seconds[name].append(time.process_time() - start_cpu)
                epochs[name] = json.loads((folder / "training_args.json").read_text())["epochs_run"]
    median = {name: statistics.median(values) for name, values in seconds.items()}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "torch_threads": args.threads,
        "repeats": args.repeats,
        "seconds": seconds,
        "median_seconds": median,
        # CPU time of the process (all its threads): on a busy machine, nearer what an idle one takes
        "cpu_seconds": cpu_seconds,
        "median_cpu_seconds": {name: statistics.median(values) for name, values in cpu_seconds.items()},
        "epochs_run": epochs,
        # Other work on the machine slows every run: the 1-minute load average before and after.
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    if len(recipes) == len(RECIPES):
        result["ratio_default_over_first"] = median["default"] / median["first default"]
    for name in recipes:
        print(
            f"{name:14s} median {median[name]:6.1f} s over {args.repeats} runs ({epochs[name]} epochs), runs: "
            + ", ".join(f"{s:.1f}" for s in seconds[name])
            + f"; CPU time median {result['median_cpu_seconds'][name]:.1f} s"
        )
    if "ratio_default_over_first" in result:
        print(f"default / first default: {result['ratio_default_over_first']:.2f}x")
    print(f"load average (1 min) before {result['load_average'][0]}, after {result['load_average'][1]}")
    if "default" in median:
        print(f"default under 120 s: {median['default'] < 120}")
    if args.json:
        common.write_json(Path(args.json), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
