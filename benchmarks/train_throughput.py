"""Training throughput (windows per second) of our trainer against a bare PyTorch loop.

Both train the same model (the CryptoPriceForecaster recipe by default: 3 LSTM layers of 128, 10
features, context 30, batch 32, Adam, MSE, gradient clipping) from the same seed, on the same scaled
training windows, with the same batch size and the same number of torch threads, in one process.
Runs are interleaved (ours, bare, ours, bare, ...) so that a noisy machine slows both alike; the
script prints the median and the spread of each, and the ratio ours / bare (target: >= 0.97).

"Ours" is `lstm_forecaster.training.train` as a user runs it: the window gathering by index, the
progress bar, Accelerate, the learning-rate schedule; its training time is the time of its epochs'
optimisation steps as recorded in `training_args.json` (`history[].train_seconds`), excluding the
per-epoch validation pass and checkpoint, the final test backtest and the files it writes (the
bare loop does none of those). The end-to-end wall time of each run is printed too.

Examples (from the repository root):

    python benchmarks/train_throughput.py
    python benchmarks/train_throughput.py --repeats 7 --epochs 3 --threads 2
    python benchmarks/train_throughput.py --config configs/default.yaml --json runs/throughput.json
    python benchmarks/train_throughput.py --panel --threads 1 --json benchmarks/results/train_throughput-panel.json

`--panel` trains the recipe on the bundled daily panel (8 coins, one global model, the split dates
of `configs/default.yaml`): ours reads it as `lstm-forecaster train` does (`PanelSamples`, windows
gathered by index per series), the bare loop gets the same training windows materialised.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from lstm_forecaster import LSTMForecaster, load_ohlcv, panel_path, sample_path
from lstm_forecaster.training import fit_scaler, load_recipe, split_samples, train

ROOT = Path(__file__).resolve().parents[1]


def bare_windows(recipe) -> tuple[torch.Tensor, torch.Tensor]:
    """All scaled training windows (n, context, features) and targets (n, horizon), materialised."""
    config = recipe.model
    df = load_ohlcv(recipe.data) if recipe.data else load_ohlcv(sample_path())
    samples = LSTMForecaster(config).samples(df)  # PanelSamples for a panel
    split = split_samples(df, samples, recipe)
    scaler = fit_scaler(samples, split, config)
    x = torch.from_numpy(scaler.scale_windows(samples.windows(split.train)))
    y = torch.from_numpy(scaler.scale_target(samples.targets[split.train], samples.window_base(split.train)))
    return x, y


def bare_loop(recipe, x: torch.Tensor, y: torch.Tensor, epochs: int) -> float:
    """Train with the plainest PyTorch loop; returns windows per second over its epochs."""
    torch.manual_seed(recipe.seed)
    model = LSTMForecaster(recipe.model)
    model.train()
    optimizer_class = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_class(model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    generator = torch.Generator().manual_seed(recipe.seed)
    seconds = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), recipe.batch_size):
            idx = order[i : i + recipe.batch_size]
            prediction = model(x[idx])
            loss = F.mse_loss(prediction[..., 0], y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
        seconds += time.perf_counter() - start
    return epochs * len(x) / seconds


def ours(recipe, epochs: int, folder: Path) -> tuple[float, float]:
    """Train with `lstm_forecaster.training.train`; returns (windows per second, wall seconds)."""
    recipe = dataclasses.replace(recipe, epochs=epochs, patience=0)
    start = time.perf_counter()
    out = train(recipe, folder, overwrite=True, cpu=True, progress=True)  # reads recipe.data
    wall = time.perf_counter() - start
    history = json.loads((out / "training_args.json").read_text())["history"]
    return sum(h["windows"] for h in history) / sum(h["train_seconds"] for h in history), wall


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):,.0f}  (min {min(values):,.0f}, max {max(values):,.0f}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs/crypto_price_forecaster.yaml"))
    parser.add_argument("--repeats", type=int, default=5, help="runs of each contender, interleaved")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads for both")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--panel", action="store_true", help="train on the bundled daily panel (8 coins)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    recipe = load_recipe(args.config)
    if args.panel:
        dates = load_recipe(ROOT / "configs/default.yaml")
        recipe = dataclasses.replace(
            recipe, data=str(panel_path()), validation_start=dates.validation_start, test_start=dates.test_start
        )
    if recipe.loss != "mse" or recipe.loss_on_all_steps or recipe.model.scaling == "window":
        sys.exit("the bare loop implements the plain last-step MSE recipes (not pinball, all-steps or window scaling)")
    if recipe.lr_schedule != "constant" or recipe.warmup_steps:
        print("note: the bare loop keeps the learning rate constant; the recipe schedules it", file=sys.stderr)
    x, y = bare_windows(recipe)
    print(
        f"{recipe.name}: {len(x)} training windows of {tuple(x.shape[1:])}, batch {recipe.batch_size}, "
        f"{LSTMForecaster(recipe.model).num_parameters():,} parameters, {args.threads} torch thread(s), "
        f"{args.epochs} epoch(s) per run, {args.repeats} interleaved runs each; "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}",
        flush=True,
    )
    bare_loop(recipe, x, y, 1)  # warm-up: first-call allocations and kernel selection
    our_rates, bare_rates, walls, ratios = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            rate, wall = ours(recipe, args.epochs, Path(tmp) / "run")
            bare = bare_loop(recipe, x, y, args.epochs)
            our_rates.append(rate)
            walls.append(wall)
            bare_rates.append(bare)
            ratios.append(rate / bare)
            print(
                f"run {i + 1}: ours {rate:,.0f} windows/s, bare {bare:,.0f} windows/s, ratio {rate / bare:.3f}",
                flush=True,
            )
    ratio = statistics.median(our_rates) / statistics.median(bare_rates)
    print(f"ours (lstm_forecaster.training.train): {spread(our_rates)} windows/s")
    print(f"bare PyTorch loop:                     {spread(bare_rates)} windows/s")
    print(f"ratio of medians ours / bare: {ratio:.3f} (per-pair ratios: median {statistics.median(ratios):.3f}, "
          f"min {min(ratios):.3f}, max {max(ratios):.3f}); target >= 0.97")  # fmt: skip
    print(
        f"ours end to end (training, validation, checkpoints, test backtest, plots, card): median {statistics.median(walls):.1f} s per run"
    )
    if args.json:
        result = {
            "recipe": recipe.name,
            "data": "bundled panel" if args.panel else (recipe.data or "bundled BTC-USD sample"),
            "windows": len(x),
            "threads": args.threads,
            "epochs": args.epochs,
            "ours_windows_per_s": our_rates,
            "bare_windows_per_s": bare_rates,
            "ratio_of_medians": ratio,
            "pair_ratios": ratios,
            "ours_wall_s": walls,
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"),
        }
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
