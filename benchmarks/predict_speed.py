"""`predict` beside the bare forward of the same network, for one series, a panel and a backtest (issue 13).

    python benchmarks/predict_speed.py --model runs/default                          # this checkout only
    python benchmarks/predict_speed.py --model runs/default --old-src ../old/src     # and the code before
    python benchmarks/predict_speed.py --model runs/default --assets 1000 --rounds 3 --json benchmarks/results/predict_speed.json

Every figure is a ratio against a baseline timed in the same process, interleaved with it (one
call of each in turn, `--repeats` times), reported as the median and its [min-max] over the
`--rounds` worker processes, which alternate between this checkout and `--old-src` (a checkout of
the code before, e.g. `git worktree add ../old aa9a158`; its figures come from the same machine, in
the same minutes). One torch thread.

1. **One series** (the bundled BTC-USD daily sample, 3,484 rows): `model.predict(df)` from the frame
   `load_ohlcv` returns (warnings, features, scaling, calibration, the DataFrame out) against
   `model(x)` on that forecast's scaled window(s): one window without calibration; with it, the
   `calibration_window + horizon` windows of the origins whose errors it reads, in one batch.
2. **Panel**: `--assets` synthetic assets (geometric random walks, `--panel-rows` daily rows each):
   `model.predict(panel, calibrate=False)` against the bare forward of the same windows in one batch,
   and against `--assets` single-series `predict` calls (timed once per round: they are slow before).
3. **Backtest**: `model.backtest(df, samples=...)` frozen over every origin of the sample (with and
   without calibration) against the bare forward of all those windows in batches of 4,096.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: dict, repeats: int) -> dict:
    """Median seconds of each function, called in turn `repeats` times (after one warm-up call each)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_timed(fn))
    return {name: statistics.median(values) for name, values in times.items()}


def synthetic_panel(assets: int, rows: int, seed: int = 0):
    """A panel of geometric random walks (daily candles), as `load_ohlcv` returns it."""
    import numpy as np
    import pandas as pd

    from lstm_forecaster import load_ohlcv

    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.03, (assets, rows))
    close = 10.0 ** rng.uniform(-2, 4, (assets, 1)) * np.exp(np.cumsum(returns, axis=1))
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.02, close.shape))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.02, close.shape))
    volume = rng.uniform(1e3, 1e5, close.shape)
    stamps = pd.date_range("2019-01-01", periods=rows, freq="D", tz="UTC")
    index = pd.MultiIndex.from_product([[f"SYN{i:04d}" for i in range(assets)], stamps], names=["symbol", "timestamp"])
    frame = pd.DataFrame(
        {
            name: a.reshape(-1)
            for name, a in zip(
                ("open", "high", "low", "close", "volume"), (open_, high, low, close, volume), strict=True
            )
        },
        index=index,
    )
    return load_ohlcv(frame)


def scaled_windows(model, samples, origins):
    """The network's input at `origins`, as `target_origins` builds it (float32 tensor)."""
    import torch

    scaler = model.scaler
    if model.config.scaling == "context":
        windows, _ = scaler.context_windows(samples.windows(origins), samples.base_windows(origins))
    else:
        windows = scaler.scale_windows(samples.windows(origins))
    return torch.from_numpy(windows)


def worker(args) -> dict:
    """Time everything in this process (the checkout on `sys.path`); returns the medians."""
    import numpy as np
    import torch

    import lstm_forecaster
    import lstm_forecaster.panel
    from lstm_forecaster import LSTMForecaster, load_ohlcv, sample_path

    torch.set_num_threads(1)
    out = {"src": str(Path(lstm_forecaster.__file__).parent), "load_average": os.getloadavg()[0]}
    df = load_ohlcv(sample_path())
    for name, folder in (("default", args.model), ("btc_daily_quantile", args.single_model)):
        if not folder:
            continue
        model = LSTMForecaster.from_pretrained(folder)
        c = model.config
        samples = model.samples(df, check_last=c.context_length)
        last = np.array([len(samples) - 1])
        one = scaled_windows(model, samples, last)
        calibrated = scaled_windows(
            model, samples, np.arange(len(samples) - c.calibration_window - c.horizon, len(samples))
        )
        with torch.no_grad():
            fns = {
                "forward_1": lambda m=model, x=one: m(x),
                "predict": lambda m=model: m.predict(df, calibrate=False),
            }
            if c.calibrates:
                fns["forward_calibration"] = lambda m=model, x=calibrated: m(x)
                fns["predict_calibrated"] = lambda m=model: m.predict(df, calibrate=True)
            out[f"single_{name}"] = {**interleaved(fns, args.repeats), "calibration_windows": len(calibrated)}
    model = LSTMForecaster.from_pretrained(args.model)
    c = model.config
    panel = synthetic_panel(args.assets, args.panel_rows)
    series = [frame for _, frame in lstm_forecaster.panel.iter_series(panel)]
    panel_samples = model.samples(panel, need_targets=False, check_last=c.context_length)
    batch = scaled_windows(model, panel_samples, panel_samples.last_origins())
    with torch.no_grad():
        if args.worker_old:  # a panel predict takes seconds before: timed once, beside the forward
            out["panel"] = interleaved({"forward_batch": lambda: model(batch)}, args.panel_repeats)
            out["panel"]["predict_panel"] = _timed(lambda: model.predict(panel, calibrate=False))
        else:
            out["panel"] = interleaved(
                {"forward_batch": lambda: model(batch), "predict_panel": lambda: model.predict(panel, calibrate=False)},
                args.panel_repeats,
            )
    out["panel"]["single_calls"] = _timed(lambda: [model.predict(s, calibrate=False) for s in series])
    out["panel"]["assets"] = args.assets
    samples = model.samples(df)
    origins = samples.origins()
    windows = scaled_windows(model, samples, origins)

    def bare_backtest():
        with torch.no_grad():
            for start in range(0, len(windows), 4096):
                model(windows[start : start + 4096])

    fns = {  # the backtest's own samples are built once, outside the timing, as `backtest(samples=...)` allows
        "forward_batches": bare_backtest,
        "backtest": lambda: model.backtest(df, samples=samples, origins=origins, calibrate=False),
    }
    if c.calibrates:
        fns["backtest_calibrated"] = lambda: model.backtest(df, samples=samples, origins=origins, calibrate=True)
    out["backtest"] = {**interleaved(fns, max(3, args.repeats // 20)), "origins": len(origins)}
    return out


def ratios(run: dict) -> dict:
    """The headline ratios of one worker's medians."""
    r = {}
    for key in ("single_default", "single_btc_daily_quantile"):
        s = run.get(key)
        if s:
            r[f"{key}_predict_over_forward"] = s["predict"] / s["forward_1"]
            if "predict_calibrated" in s:
                r[f"{key}_calibrated_over_forward"] = s["predict_calibrated"] / s["forward_calibration"]
    p = run["panel"]
    r["panel_predict_over_forward"] = p["predict_panel"] / p["forward_batch"]
    r["panel_single_calls_over_predict"] = p["single_calls"] / p["predict_panel"]
    b = run["backtest"]
    r["backtest_over_forward"] = b["backtest"] / b["forward_batches"]
    if "backtest_calibrated" in b:
        r["backtest_calibrated_over_forward"] = b["backtest_calibrated"] / b["forward_batches"]
    return r


def spread(values: list[float]) -> dict:
    return common.summary(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the trained default model's folder (lstm-forecaster train)")
    parser.add_argument("--single-model", help="a second model folder (the old single-series recipe)")
    parser.add_argument("--old-src", help="the src folder of a checkout of the code before, timed in turn")
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--panel-rows", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=60, help="interleaved calls per single-series figure")
    parser.add_argument("--rounds", type=int, default=3, help="worker processes per checkout")
    parser.add_argument("--json", default=str(common.RESULTS / "predict_speed.json"))
    parser.add_argument("--panel-repeats", type=int, default=5, help="interleaved panel forecasts per round")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-old", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    meta, log = common.start_run(args)
    checkouts = {"new": str(HERE.parent / "src")}
    if args.old_src:
        checkouts["old"] = str(Path(args.old_src).resolve())
    runs = {name: [] for name in checkouts}
    forwarded = [a for a in sys.argv[1:] if a != "--worker"]
    for round_ in range(args.rounds):
        for name, src in checkouts.items():
            env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
            done = subprocess.run(
                [sys.executable, __file__, *forwarded, "--worker", *(["--worker-old"] if name == "old" else [])],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            with open(log, "a") as f:
                f.write(done.stderr)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode or not lines:
                raise SystemExit(f"worker {name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
            run = json.loads(lines[-1])
            run["ratios"] = ratios(run)
            runs[name].append(run)
            print(f"round {round_ + 1} {name}: {json.dumps(run['ratios'])}", flush=True)
    summary = {name: {} for name in runs}
    for name, items in runs.items():
        for key in items[0]["ratios"]:
            summary[name][key] = spread([run["ratios"][key] for run in items])
        summary[name]["panel_single_calls_s"] = spread([run["panel"]["single_calls"] for run in items])
        summary[name]["panel_predict_s"] = spread([run["panel"]["predict_panel"] for run in items])
        summary[name]["panel_forward_s"] = spread([run["panel"]["forward_batch"] for run in items])
        summary[name]["single_default_predict_ms"] = spread([1e3 * run["single_default"]["predict"] for run in items])
        summary[name]["single_default_forward_ms"] = spread([1e3 * run["single_default"]["forward_1"] for run in items])
    if "old" in runs:
        old_single = [run["panel"]["single_calls"] for run in runs["old"]]
        summary["new"]["panel_predict_vs_old_single_calls"] = spread(
            [o / run["panel"]["predict_panel"] for o, run in zip(old_single, runs["new"], strict=False)]
        )
        summary["new"]["single_default_old_over_new"] = spread(
            [
                o["single_default"]["predict"] / n["single_default"]["predict"]
                for o, n in zip(runs["old"], runs["new"], strict=False)
            ]
        )
    for name, figures in summary.items():
        print(f"\n{name}:")
        for key, stats in figures.items():
            print(f"  {key}: {common.fmt(stats)}")
    meta["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    common.write_json(Path(args.json), {**meta, "summary": summary, "runs": runs})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
