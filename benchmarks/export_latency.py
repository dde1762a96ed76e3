"""Latency of the exported ONNX network in onnxruntime against the PyTorch forward, batch 1 and 1,000.

    python benchmarks/export_latency.py --threads 1
    python benchmarks/export_latency.py --threads 1 --repeats 7 --calls 50 --json benchmarks/results/export_latency.json

For each model (the architectures of `configs/default.yaml` and `configs/crypto_price_forecaster.yaml`
at their initial weights, with the scaler fitted on the recipe's training split: latency does not
depend on what the weights are), export it with `lstm_forecaster.export.export_onnx` to a temporary
folder, then time, on the same real scaled windows of the bundled BTC-USD sample (the last window,
and the last 1,000), the network alone:

- torch: `model(x)` under `torch.inference_mode()`, `--threads` intra-op threads;
- onnxruntime: `session.run` on the same array, CPU provider, `--threads` intra-op threads, one
  inter-op thread.

Both read float32 windows already in memory and return scaled forecasts; features and scaling are
outside the measurement. Each repeat times `--calls` calls of each contender back to back (the
contenders alternate from repeat to repeat, so a noisy machine slows both alike) and records the
median call; the table gives the median and [min-max] of those over `--repeats`, and the ratio
torch / onnxruntime of the medians (> 1: onnxruntime is faster). The largest absolute difference
between the two outputs is printed as a check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import common
import numpy as np
import torch
from predict_latency import fitted_model

from lstm_forecaster import load_ohlcv, sample_path
from lstm_forecaster.export import INPUT_NAME, export_onnx, onnx_session

CONFIGS = common.ROOT / "configs"
MODELS = {
    "default (1x32 quantile LSTM on returns)": CONFIGS / "default.yaml",
    "CryptoPriceForecaster (3x128 LSTM)": CONFIGS / "crypto_price_forecaster.yaml",
}
BATCHES = (1, 1000)


def median_call_ms(fn, calls: int) -> float:
    """Median over `calls` consecutive calls of `fn`, in milliseconds."""
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of torch and onnxruntime (default 1)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats per contender (default 7)")
    parser.add_argument("--calls", type=int, default=50, help="calls per repeat at batch 1 (default 50)")
    parser.add_argument("--large-calls", type=int, default=5, help="calls per repeat at batch 1,000 (default 5)")
    parser.add_argument("--json", default=str(common.RESULTS / "export_latency.json"), help="raw figures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    meta, _ = common.start_run(args)
    import onnxruntime

    meta["machine"]["onnxruntime"] = onnxruntime.__version__
    df = load_ohlcv(sample_path())
    rows, results = [], []
    for name, recipe in MODELS.items():
        model = fitted_model(recipe, df)
        samples = model.samples(df)
        origins = samples.origins()
        with tempfile.TemporaryDirectory() as tmp:
            folder = export_onnx(model, Path(tmp) / "onnx")
            session = onnx_session(folder, threads=args.threads)
            for batch in BATCHES:
                x = model.scaler.scale_windows(samples.windows(origins[-batch:]))
                tensor = torch.from_numpy(x)
                calls = args.calls if batch == 1 else args.large_calls

                def run_torch(tensor=tensor, model=model):
                    with torch.inference_mode():
                        return model(tensor)

                def run_onnx(x=x, session=session):
                    return session.run(None, {INPUT_NAME: x})[0]

                difference = float(np.max(np.abs(run_torch().numpy() - run_onnx())))
                for _ in range(3):  # warm-up
                    run_torch(), run_onnx()
                times = {"torch": [], "onnxruntime": []}
                for repeat in range(args.repeats):
                    order = ("torch", "onnxruntime") if repeat % 2 == 0 else ("onnxruntime", "torch")
                    for contender in order:
                        fn = run_torch if contender == "torch" else run_onnx
                        times[contender].append(median_call_ms(fn, calls))
                stats = {k: common.summary(v) for k, v in times.items()}
                speedup = common.ratio(stats["torch"], stats["onnxruntime"])
                results.append(
                    {
                        "model": name,
                        "parameters": model.num_parameters(),
                        "batch": batch,
                        "calls_per_repeat": calls,
                        "max_abs_difference": difference,
                        "ms": times,
                        "summary_ms": stats,
                        "torch_over_onnxruntime": speedup,
                    }
                )
                rows.append(
                    [
                        name,
                        f"{batch:,}",
                        common.fmt(stats["torch"]),
                        common.fmt(stats["onnxruntime"]),
                        f"**{speedup:.2f}x**",
                        f"{difference:.1e}",
                    ]
                )
                print(f"{name}, batch {batch}: torch/onnxruntime {speedup:.2f}x", flush=True)
    header = ["model", "batch", "torch ms", "onnxruntime ms", "torch / onnxruntime", "max abs diff"]
    print()
    print(common.markdown_table(header, rows), end="")
    meta["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    common.write_json(Path(args.json), {**meta, "results": results})
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
