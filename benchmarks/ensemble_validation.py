"""An ensemble's validation at the end of each epoch: the combined model's loss and then every member's
alone (six passes for the default's 5 members, what `train` did before) against the one pass of
`training.estimate_losses` that scores all of them from the members' forecasts, on the default recipe's
real validation split (the bundled panel), as `train` builds it.

The script first checks that both give the same numbers bit for bit, then times both, interleaved, and
prints the median wall and CPU seconds per epoch's validation and the ratio six / one.

Example (from the repository root):

    python benchmarks/ensemble_validation.py --threads 1 --json benchmarks/results/ensemble_validation.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import common
import torch
from accelerate import Accelerator

from lstm_forecaster.modeling import LSTMForecaster
from lstm_forecaster.training import (
    WindowBatches,
    estimate_loss,
    estimate_losses,
    fit_baseline,
    fit_scaler,
    load_recipe,
    load_training_data,
    quantiles_of,
    samples_for,
    seed_members,
    split_samples,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_line, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = load_recipe(args.config)
    config = recipe.model
    if config.ensemble < 2:
        parser.error(f"{args.config} is not an ensemble (model.ensemble is {config.ensemble})")
    df, _ = load_training_data(recipe)
    samples = samples_for(df, config)
    split = split_samples(df, samples, recipe)
    scaler = fit_scaler(samples, split, config)
    torch.manual_seed(recipe.seed)
    model = LSTMForecaster(config)
    seed_members(model, recipe.seed)  # random members, the classical baseline fitted: a first epoch's
    model.scaler = scaler
    batches = WindowBatches(samples, scaler, torch.device("cpu"))
    if config.scaling == "context":
        fit_baseline(model, batches.targets(torch.from_numpy(split.train)).double().numpy())
    origins = torch.from_numpy(split.validation)
    quantiles, accelerator = quantiles_of(recipe, "cpu"), Accelerator(cpu=True)

    def six() -> tuple[float, list[float]]:
        combined = estimate_loss(model, batches, origins, quantiles, accelerator)
        return combined, [estimate_loss(m, batches, origins, quantiles, accelerator) for m in model.networks]

    def one() -> tuple[float, list[float]]:
        return estimate_losses(model, batches, origins, quantiles, accelerator)

    contenders = {"six passes": six, "one pass": one}
    if six() != one():
        print("the one pass's losses differ from the six passes': not timed")
        return 1
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name in list(contenders) if repeat % 2 == 0 else list(reversed(contenders)):
            start, start_cpu = time.perf_counter(), time.process_time()
            contenders[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    median_wall = {name: statistics.median(values) for name, values in wall.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    result = {
        "command": command_line(),
        "machine": machine(),
        "validation_windows": len(origins),
        "members": config.ensemble,
        "repeats": args.repeats,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "median_wall_seconds": median_wall,
        "median_cpu_seconds": median_cpu,
        "wall_ratio_six_over_one": median_wall["six passes"] / median_wall["one pass"],
        "cpu_ratio_six_over_one": median_cpu["six passes"] / median_cpu["one pass"],
        "identical_losses": True,
    }
    for name in contenders:
        print(
            f"{name:10s} median wall {median_wall[name]:6.2f} s [{min(wall[name]):.2f}-{max(wall[name]):.2f}], "
            f"CPU {median_cpu[name]:6.2f} s per epoch's validation ({len(origins)} windows, {args.repeats} repeats)"
        )
    print(
        f"six / one: wall {result['wall_ratio_six_over_one']:.2f}x, CPU {result['cpu_ratio_six_over_one']:.2f}x; "
        f"the same losses; load average {result['machine']['load_average']}"
    )
    if args.json:
        common.write_json(Path(args.json), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
