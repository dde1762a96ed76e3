"""Would an ensemble train faster with its members' forward and backward passes run in threads, one
member per thread? A training step of the default recipe's ensemble as `training.train` runs it (all
members' forwards, the sum of their pinball losses, one backward) against the same step with member k's
forward, loss and backward in a pool of `--workers` threads, on the same batch, in one process.

The members are independent given the batch: each has its own loss and its own parameters, so each
backward reaches its own member only; PyTorch releases the GIL inside its kernels (the fused oneDNN
LSTM, the linear layers, the whole backward), and autograd runs concurrent backward passes on separate
graphs. Both contenders must give the same gradients bit for bit: the script checks that first and
refuses to time contenders that differ.

It prints the median milliseconds of wall time and of CPU time (`time.process_time`, all the process's
threads) per step of each contender, and the ratio sequential / threads of each. On an idle machine
with as many free cores as workers, the wall ratio is the speed-up a training run's epochs would see;
on a busy machine the threads compete with other processes for the same cores, and the CPU ratio
shows only whether threading costs extra work (near 1: none).

Examples (from the repository root):

    python benchmarks/ensemble_threads.py --threads 1 --workers 2
    python benchmarks/ensemble_threads.py --threads 1 --workers 2 --json benchmarks/results/ensemble_threads.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common
import torch

from lstm_forecaster.modeling import LSTMForecaster
from lstm_forecaster.training import compute_loss, ensemble_step, load_recipe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_line, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sequential_step(model: LSTMForecaster, x, y, quantiles) -> torch.Tensor:
    """The step `training.train` takes: every member's forecast, their losses summed, one backward."""
    prediction = model(x, members=True)
    loss = torch.stack([compute_loss(p, y, quantiles) for p in prediction]).sum()
    model.zero_grad(set_to_none=True)
    loss.backward()
    return loss.detach()


def threaded_step(model: LSTMForecaster, x, y, quantiles, pool: ThreadPoolExecutor) -> torch.Tensor:
    """The same step as `train` runs it with member threads: `training.ensemble_step` on `pool`."""
    model.zero_grad(set_to_none=True)
    return ensemble_step(model, x, y, quantiles, None, False, pool)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (each op's own)")
    parser.add_argument("--workers", type=int, default=2, help="threads running members")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="training steps per repeat")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = load_recipe(args.config)
    config = recipe.model
    if config.ensemble < 2:
        parser.error(f"{args.config} is not an ensemble (model.ensemble is {config.ensemble})")
    torch.manual_seed(0)
    model = LSTMForecaster(config).train()
    x = torch.randn(recipe.batch_size, config.context_length, len(config.features))
    y = torch.randn(recipe.batch_size, config.horizon)
    quantiles = torch.tensor(config.quantiles) if recipe.loss == "pinball" else None

    with ThreadPoolExecutor(args.workers) as pool:
        contenders = {
            "sequential": lambda: sequential_step(model, x, y, quantiles),
            "threads": lambda: threaded_step(model, x, y, quantiles, pool),
        }
        grads, losses = {}, {}
        for name, step in contenders.items():
            losses[name] = step()
            grads[name] = [p.grad.clone() for p in model.parameters()]
        same = torch.equal(losses["sequential"], losses["threads"]) and all(
            torch.equal(a, b) for a, b in zip(grads["sequential"], grads["threads"], strict=True)
        )
        if not same:
            print("the threaded step's loss or gradients differ from the sequential step's: not timed")
            return 1
        wall: dict[str, list[float]] = {name: [] for name in contenders}
        cpu: dict[str, list[float]] = {name: [] for name in contenders}
        for repeat in range(args.repeats):
            for name in list(contenders) if repeat % 2 == 0 else list(reversed(contenders)):
                start, start_cpu = time.perf_counter(), time.process_time()
                for _ in range(args.steps):
                    contenders[name]()
                wall[name].append((time.perf_counter() - start) / args.steps * 1000)
                cpu[name].append((time.process_time() - start_cpu) / args.steps * 1000)
    median_wall = {name: statistics.median(values) for name, values in wall.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    result = {
        "command": command_line(),
        "machine": machine(),
        "workers": args.workers,
        "network": common.network_record(config, recipe.batch_size),
        "repeats": args.repeats,
        "steps_per_repeat": args.steps,
        "wall_ms_per_step": wall,
        "cpu_ms_per_step": cpu,
        "median_wall_ms_per_step": median_wall,
        "median_cpu_ms_per_step": median_cpu,
        "wall_ratio_sequential_over_threads": median_wall["sequential"] / median_wall["threads"],
        "cpu_ratio_sequential_over_threads": median_cpu["sequential"] / median_cpu["threads"],
        "identical_gradients": same,
    }
    for name in contenders:
        print(
            f"{name:10s} median wall {median_wall[name]:7.2f} ms [{min(wall[name]):.2f}-{max(wall[name]):.2f}], "
            f"CPU {median_cpu[name]:7.2f} ms per step over {args.repeats} repeats of {args.steps}"
        )
    print(
        f"sequential / threads ({args.workers} workers): wall {result['wall_ratio_sequential_over_threads']:.2f}x, "
        f"CPU {result['cpu_ratio_sequential_over_threads']:.2f}x; gradients identical; "
        f"load average {result['machine']['load_average']}"
    )
    if args.json:
        common.write_json(Path(args.json), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
