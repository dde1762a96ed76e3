"""Memory of a panel's training windows: strided views per series against materialised windows.

On the bundled daily panel (8 coins, 22,106 rows), `PanelSamples` stacks the series' feature rows
once and cuts every window as a view of them; `WindowBatches` then gathers a batch by index
arithmetic from one tensor. This script measures, for a few context lengths, the bytes those arrays
hold (the NumPy arrays and the torch tensors, by their sizes) and the peak allocation traced while
building them (`tracemalloc`: NumPy and pandas, not torch's allocator), beside the bytes the same
windows would take materialised (origins x context_length x features float64), and the time to
gather one batch of 256 windows both ways. What should hold: our memory does not grow with
context_length; materialised windows grow linearly with it.

Examples (from the repository root):

    python benchmarks/panel_windows.py
    python benchmarks/panel_windows.py --contexts 30 120 --repeats 3 --json benchmarks/results/panel_windows.json
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import common
import numpy as np

FEATURES = ["log_return", "log_range", "volatility_7", "volatility_30", "return_mean_7", "volume_ratio_14"]


def measure(context: int, horizon: int, repeats: int) -> dict:
    import torch

    from lstm_forecaster import load_ohlcv, panel_path
    from lstm_forecaster.panel import PanelSamples
    from lstm_forecaster.scaling import Scaler
    from lstm_forecaster.training import WindowBatches

    panel = load_ohlcv(panel_path())
    tracemalloc.start()
    samples = PanelSamples(panel, FEATURES, "log_return", context, horizon)
    origins = samples.origins()
    scaler = Scaler.fit("standard", FEATURES, "log_return", samples.features, samples.targets[origins])
    batches = WindowBatches(samples, scaler, torch.device("cpu"))
    _, ours_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    held = samples.features.nbytes + samples.targets.nbytes + samples.base.nbytes
    held += batches.x.element_size() * batches.x.nelement() + batches.y.element_size() * batches.y.nelement()
    materialised = len(origins) * context * len(FEATURES) * 8
    rng = np.random.default_rng(0)
    pick = torch.from_numpy(rng.choice(origins, 256, replace=False))
    dense = samples.windows(origins)  # what a materialising loader would hold, as a copy
    tracemalloc.start()
    dense = np.ascontiguousarray(dense)
    _, dense_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gather, copy = [], []
    for _ in range(repeats):
        seconds, _ = common.timed(batches, pick)
        gather.append(seconds)
        index = np.searchsorted(origins, pick.numpy())
        seconds, _ = common.timed(lambda i=index: torch.from_numpy(scaler.scale_windows(dense[i])))
        copy.append(seconds)
    return {
        "context_length": context,
        "series": len(samples.symbols),
        "rows": len(samples),
        "origins": int(len(origins)),
        "held_bytes": int(held),
        "build_peak_bytes": int(ours_peak),
        "materialised_bytes": int(materialised),
        "materialise_peak_bytes": int(dense_peak),
        "gather_seconds": common.summary(gather),
        "from_materialised_seconds": common.summary(copy),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+", default=[30, 60, 120])
    parser.add_argument("--horizon", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="benchmarks/results/panel_windows.json")
    args = parser.parse_args(argv)
    meta, _ = common.start_run(args)
    started = time.time()
    results = [measure(c, args.horizon, args.repeats) for c in args.contexts]
    mib = 1 / 2**20
    rows = [
        [
            str(r["context_length"]),
            f"{r['origins']:,}",
            f"{r['held_bytes'] * mib:.2f}",
            f"{r['build_peak_bytes'] * mib:.2f}",
            f"{r['materialised_bytes'] * mib:.2f}",
            f"{r['materialised_bytes'] / r['held_bytes']:.1f}x",
            common.fmt(r["gather_seconds"], 1e3),
            common.fmt(r["from_materialised_seconds"], 1e3),
        ]
        for r in results
    ]
    header = [
        "context",
        "windows",
        "ours held (MiB)",
        "ours build peak (MiB)",
        "materialised (MiB)",
        "materialised / ours",
        "gather 256 (ms)",
        "from materialised (ms)",
    ]
    print(common.markdown_table(header, rows))
    common.write_json(Path(args.json), {**meta, "seconds": round(time.time() - started, 1), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
