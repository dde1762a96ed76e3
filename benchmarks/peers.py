"""Our forecaster against Darts and NeuralForecast doing the same work, measured side by side.

Every contender trains the same network on the same data with the same split and epochs, then is
saved, loaded, asked for one forecast and scored on the test split:

- network: 3 stacked LSTM layers of 128 units, dropout 0.2 between them, one linear output;
  context 30 steps, horizon 1, MSE loss, Adam at 1e-3 (no schedule, no clipping), batch 32, seed 0;
- data: the bundled BTC-USD daily sample (3,484 rows), the close price;
- split: chronological, 70 % train / 15 % validation / 15 % test by rows, as `lstm_forecaster.training`
  cuts it; nobody validates or stops early (the same number of epochs for all);
- test: the one-step forecast of every test row from the 30 rows before it, MAE in dollars beside
  the naive last-value forecast on the same points.

The contenders, each as its users run it:

- ours: `lstm_forecaster.training.train` on a recipe equal to `configs/crypto_price_forecaster.yaml`
  with the close as its only input (as the peers get), patience 0 and no clipping; then
  `LSTMForecaster.from_pretrained(folder)`, `save_pretrained`, and `model.predict(df)` on the raw
  OHLCV DataFrame read from the CSV (loading checks, features, scaling, network, inverse scaling,
  future timestamps all included);
- Darts `BlockRNNModel(model="LSTM")` on a `TimeSeries` with an integer index (a date index fails
  under pandas 3), min-max scaled by Darts' `Scaler` fitted on the training rows; `fit`, `save`,
  `BlockRNNModel.load`, `predict(n=1, series=...)` on the prepared, scaled series;
- NeuralForecast `LSTM` (decoder_layers=1: one linear output; its default per-window robust scaler)
  with `max_steps` = epochs x the training windows / 32 and `windows_batch_size=32`; `fit`, `save`,
  `NeuralForecast.load`, `predict(df=...)` on the prepared long-format frame.

Each run of a contender is a fresh Python process (so its peak RSS is its own), and runs are
interleaved over repeats with a rotating order, so a noisy, shared machine slows all alike. The
script prints every figure as median [min-max] over the repeats, and the ratios of medians.

Examples (from the repository root, in the benchmark environment made by setup_bench.sh):

    bash benchmarks/setup_bench.sh
    .venv-bench/bin/python benchmarks/peers.py                          # 5 epochs, 3 repeats
    .venv-bench/bin/python benchmarks/peers.py --epochs 10 --repeats 5 --threads 2
    .venv-bench/bin/python benchmarks/peers.py --device cuda            # on a machine with a GPU
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import common
import numpy as np

CONTENDERS = ("ours", "darts", "neuralforecast")
CONTEXT, HORIZON, HIDDEN, LAYERS, DROPOUT = 30, 1, 128, 3, 0.2
BATCH, LEARNING_RATE, SEED = 32, 1e-3, 0
TRAIN_FRACTION, VALIDATION_FRACTION = 0.7, 0.15


# ----- the shared problem ----------------------------------------------------------------------------


def problem() -> dict:
    """The bundled sample and its split, as `lstm_forecaster.training.chronological_split` cuts it.

    Returns
    -------
    dict
        `df` (OHLCV frame, UTC index), `close` (n,) float64, `train_rows` (rows 0..train_rows-1 are
        the training split), `test_start` (first test row), `points` (test rows forecast one step ahead).
    """
    from lstm_forecaster import load_ohlcv, sample_path

    df = load_ohlcv(sample_path())
    n = len(df)
    train_rows = int(round(n * TRAIN_FRACTION))
    test_start = int(round(n * (TRAIN_FRACTION + VALIDATION_FRACTION)))
    return {
        "df": df,
        "close": df["close"].to_numpy(dtype="float64"),
        "train_rows": train_rows,
        "test_start": test_start,
        "points": np.arange(test_start, n),
    }


def train_windows(p: dict) -> int:
    """Training windows: 30 inputs and the next value, all inside the training rows."""
    return p["train_rows"] - CONTEXT - HORIZON + 1


def score(p: dict, rows: np.ndarray, forecast: np.ndarray) -> dict:
    """Test MAE of `forecast` at `rows` beside the naive last value, on exactly the expected points."""
    rows = np.asarray(rows)
    if not np.array_equal(rows, p["points"]):
        raise RuntimeError(f"forecast rows {rows[:3]}..{rows[-3:]} are not the test rows {p['points'][:3]}..")
    actual = p["close"][rows]
    naive = p["close"][rows - 1]
    mae = float(np.mean(np.abs(np.asarray(forecast, dtype="float64") - actual)))
    naive_mae = float(np.mean(np.abs(naive - actual)))
    index = p["df"].index
    return {
        "points": int(len(rows)),
        "first": index[rows[0]].strftime("%Y-%m-%d"),
        "last": index[rows[-1]].strftime("%Y-%m-%d"),
        "mae": mae,
        "naive_mae": naive_mae,
        "mae_over_naive": mae / naive_mae,
    }


def repeat_calls(fn, calls: int, warmup: int = 2) -> list[float]:
    """Seconds of `calls` calls of `fn`, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def folder_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ----- the contenders (each runs in its own process) -----------------------------------------------


def run_ours(args, workdir: Path) -> dict:
    start = time.perf_counter()
    # What `train` imports on its way: imported here so that their memory is not counted as training's.
    import accelerate  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import pandas as pd

    import lstm_forecaster.evaluation  # noqa: F401
    from lstm_forecaster import LSTMForecaster, __version__, sample_path
    from lstm_forecaster.training import TRAINING_ARGS, load_recipe, recipe_from_dict, train

    import_s = time.perf_counter() - start
    p = problem()
    base = load_recipe(common.ROOT / "configs" / "crypto_price_forecaster.yaml").to_dict()
    model = {**base["model"], "features": ["close"], "target": "close", "context_length": CONTEXT, "horizon": HORIZON}
    model.update({"hidden_size": HIDDEN, "num_layers": LAYERS, "dropout": DROPOUT, "scaling": "minmax"})
    recipe = recipe_from_dict(
        {
            **base,
            "model": model,
            "name": "peers-benchmark",
            "epochs": args.epochs,
            "batch_size": BATCH,
            "optimizer": "adam",
            "learning_rate": LEARNING_RATE,
            "lr_schedule": "constant",
            "grad_clip": 0.0,
            "patience": 0,
            "seed": SEED,
            "mixed_precision": "no",
        }
    )
    rss_before = common.rss_mib()
    folder = workdir / "ours"
    train_s, _ = common.timed(train, recipe, folder, cpu=args.device == "cpu", progress=False)
    peak_train = common.peak_rss_mib()
    training_args = json.loads((folder / TRAINING_ARGS).read_text())
    history = training_args["history"]

    load_first, model = common.timed(LSTMForecaster.from_pretrained, str(folder))
    loads = repeat_calls(lambda: LSTMForecaster.from_pretrained(str(folder)), args.loads, warmup=0)
    saves = []
    for i in range(args.loads):
        target = workdir / f"saved-{i}"
        saves.append(common.timed(model.save_pretrained, target)[0])
    if args.device == "cuda":
        model.to("cuda")
    raw = pd.read_csv(sample_path())  # what a user holds: the CSV's own columns, dates as text
    forecast = model.predict(raw)
    predicts = repeat_calls(lambda: model.predict(raw), args.calls)

    frame = model.backtest(p["df"], start=p["df"].index[p["test_start"] - 1])
    frame = frame[frame["step"] == 1]
    rows = p["df"].index.get_indexer(frame["timestamp"])
    return {
        "version": __version__,
        "import_s": import_s,
        "train_s": train_s,
        "train_loop_s": sum(h["train_seconds"] for h in history),
        "epochs": len(history),
        "windows_per_epoch": history[0]["windows"],
        "rss_before_train_mib": rss_before,
        "peak_rss_train_mib": peak_train,
        "load_first_s": load_first,
        "load_s": loads,
        "save_s": saves,
        "artifact_bytes": folder_bytes(workdir / "saved-0"),
        "predict_s": predicts,
        "forecast": float(forecast["forecast"].iloc[0]),
        "test": score(p, rows, frame["forecast"].to_numpy()),
    }


def _quiet_lightning() -> None:
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "darts", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _loop_timer():
    """A Lightning callback adding up the seconds of the training epochs (the loop, not the set-up)."""
    import pytorch_lightning as pl

    class LoopTimer(pl.Callback):
        # Class attributes: NeuralForecast deep-copies its trainer kwargs, so the instance the
        # Trainer calls may be a copy of the one created here; the class is shared.
        seconds, start = 0.0, 0.0

        def on_train_epoch_start(self, trainer, module):
            LoopTimer.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            LoopTimer.seconds += time.perf_counter() - LoopTimer.start

    return LoopTimer()


def _trainer_kwargs(device: str) -> dict:
    return {
        "accelerator": "gpu" if device == "cuda" else "cpu",
        "devices": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "enable_checkpointing": False,
    }


def run_darts(args, workdir: Path) -> dict:
    _quiet_lightning()
    start = time.perf_counter()
    import darts
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import BlockRNNModel

    import_s = time.perf_counter() - start
    _quiet_lightning()
    p = problem()
    # An integer index: Darts fails on this sample's UTC date index under pandas 3.
    series = TimeSeries.from_values(p["close"].astype("float32"))
    scaler = Scaler()  # min-max, fitted on the training rows only
    scaler.fit(series[: p["train_rows"]])
    scaled = scaler.transform(series)
    model = BlockRNNModel(
        input_chunk_length=CONTEXT,
        output_chunk_length=HORIZON,
        model="LSTM",
        hidden_dim=HIDDEN,
        n_rnn_layers=LAYERS,
        dropout=DROPOUT,
        batch_size=BATCH,
        n_epochs=args.epochs,
        optimizer_kwargs={"lr": LEARNING_RATE},
        random_state=SEED,
        pl_trainer_kwargs={**_trainer_kwargs(args.device), "callbacks": [timer := _loop_timer()]},
    )
    rss_before = common.rss_mib()
    train_s, _ = common.timed(model.fit, scaled[: p["train_rows"]], verbose=False)
    peak_train = common.peak_rss_mib()
    # The timer is ours, not part of the model: drop it before saving (Darts pickles its creation kwargs).
    model._model_params["pl_trainer_kwargs"] = _trainer_kwargs(args.device)
    model.trainer_params.pop("callbacks", None)

    saves = []
    for i in range(args.loads):
        path = workdir / f"saved-{i}" / "model.pt"
        path.parent.mkdir(parents=True)
        saves.append(common.timed(model.save, str(path))[0])
    path = str(workdir / "saved-0" / "model.pt")
    load_first, loaded = common.timed(BlockRNNModel.load, path)
    loads = repeat_calls(lambda: BlockRNNModel.load(path), args.loads, warmup=0)
    forecast = scaler.inverse_transform(loaded.predict(n=1, series=scaled, verbose=False)).values()[0, 0]
    predicts = repeat_calls(lambda: loaded.predict(n=1, series=scaled, verbose=False), args.calls)

    history = loaded.historical_forecasts(
        scaled,
        start=p["test_start"],
        start_format="position",
        forecast_horizon=1,
        retrain=False,
        last_points_only=True,
        verbose=False,
    )
    values = scaler.inverse_transform(history).values()[:, 0]
    return {
        "version": darts.__version__,
        "import_s": import_s,
        "train_s": train_s,
        "train_loop_s": timer.seconds,
        "epochs": args.epochs,
        "windows_per_epoch": train_windows(p),
        "rss_before_train_mib": rss_before,
        "peak_rss_train_mib": peak_train,
        "load_first_s": load_first,
        "load_s": loads,
        "save_s": saves,
        "artifact_bytes": folder_bytes(workdir / "saved-0"),
        "predict_s": predicts,
        "forecast": float(forecast),
        "test": score(p, np.asarray(history.time_index), values),
    }


def run_neuralforecast(args, workdir: Path) -> dict:
    _quiet_lightning()
    start = time.perf_counter()
    import neuralforecast
    import pandas as pd
    from neuralforecast import NeuralForecast
    from neuralforecast.losses.pytorch import MSE
    from neuralforecast.models import LSTM

    import_s = time.perf_counter() - start
    _quiet_lightning()
    p = problem()
    close = p["close"]
    windows = train_windows(p)
    steps = args.epochs * math.ceil(windows / BATCH)  # one step samples 32 windows of the one series
    model = LSTM(
        h=HORIZON,
        input_size=CONTEXT,
        encoder_n_layers=LAYERS,
        encoder_hidden_size=HIDDEN,
        encoder_dropout=DROPOUT,
        decoder_layers=1,
        loss=MSE(),
        max_steps=steps,
        batch_size=1,
        windows_batch_size=BATCH,
        learning_rate=LEARNING_RATE,
        random_seed=SEED,
        callbacks=[timer := _loop_timer()],
        **_trainer_kwargs(args.device),
    )
    nf = NeuralForecast(models=[model], freq=1)
    train_df = pd.DataFrame({"unique_id": "BTC", "ds": np.arange(p["train_rows"]), "y": close[: p["train_rows"]]})
    full_df = pd.DataFrame({"unique_id": "BTC", "ds": np.arange(len(close)), "y": close})
    rss_before = common.rss_mib()
    train_s, _ = common.timed(nf.fit, train_df, val_size=0)
    peak_train = common.peak_rss_mib()

    saves = []
    for i in range(args.loads):
        path = workdir / f"saved-{i}"
        saves.append(common.timed(nf.save, str(path), save_dataset=False, overwrite=True)[0])
    path = str(workdir / "saved-0")
    load_first, loaded = common.timed(NeuralForecast.load, path)
    loads = repeat_calls(lambda: NeuralForecast.load(path), args.loads, warmup=0)
    forecast = loaded.predict(df=full_df)["LSTM"].iloc[0]
    predicts = repeat_calls(lambda: loaded.predict(df=full_df), args.calls)

    # Every test origin as its own series of the 30 rows before the forecast row: one predict call.
    points = p["points"]
    rows = (points[:, None] + np.arange(-CONTEXT, 0)).ravel()
    origins = pd.DataFrame({"unique_id": np.repeat(points, CONTEXT), "ds": rows, "y": close[rows]})
    out = loaded.predict(df=origins).sort_values("unique_id")
    if not np.array_equal(out["ds"].to_numpy(), points):
        raise RuntimeError("NeuralForecast forecast other rows than the test rows")
    return {
        "version": neuralforecast.__version__,
        "import_s": import_s,
        "train_s": train_s,
        "train_loop_s": timer.seconds,
        "epochs": args.epochs,
        "steps": steps,
        "windows_per_epoch": windows,
        "rss_before_train_mib": rss_before,
        "peak_rss_train_mib": peak_train,
        "load_first_s": load_first,
        "load_s": loads,
        "save_s": saves,
        "artifact_bytes": folder_bytes(workdir / "saved-0"),
        "predict_s": predicts,
        "forecast": float(forecast),
        "test": score(p, out["ds"].to_numpy(), out["LSTM"].to_numpy()),
    }


RUNNERS = {"ours": run_ours, "darts": run_darts, "neuralforecast": run_neuralforecast}


def worker(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix=f"peers-{args.worker}-") as tmp:
        result = RUNNERS[args.worker](args, Path(tmp))
    result.update(
        {
            "contender": args.worker,
            "torch_threads": torch.get_num_threads(),
            "peak_rss_mib": common.peak_rss_mib(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
    )
    result["train_rss_growth_mib"] = result["peak_rss_train_mib"] - result["rss_before_train_mib"]
    print(json.dumps(result), flush=True)


# ----- the orchestrator ------------------------------------------------------------------------------

FIGURES = [
    # (label, key, how to reduce one run, scale, unit)
    ("training, end to end (s)", "train_s", None, 1, "s"),
    ("training, epochs' loop only (s)", "train_loop_s", None, 1, "s"),
    ("peak RSS of the process (MiB)", "peak_rss_mib", None, 1, "MiB"),
    ("RSS growth during training (MiB)", "train_rss_growth_mib", None, 1, "MiB"),
    ("save (ms)", "save_s", "median", 1e3, "ms"),
    ("first load in the process (ms)", "load_first_s", None, 1e3, "ms"),
    ("load, warm (ms)", "load_s", "median", 1e3, "ms"),
    ("single forecast after load (ms)", "predict_s", "median", 1e3, "ms"),
    ("library import (s)", "import_s", None, 1, "s"),
    ("test MAE ($)", ("test", "mae"), None, 1, "$"),
    ("test MAE / naive MAE", ("test", "mae_over_naive"), None, 1, ""),
]


def _value(run: dict, key, reduce):
    value = run[key[0]][key[1]] if isinstance(key, tuple) else run.get(key)
    if value is not None and reduce == "median":
        value = float(np.median(value))
    return value


def aggregate(runs: dict[str, list[dict]]) -> dict:
    """Per contender and figure: the summary over repeats."""
    out = {}
    for name, results in runs.items():
        out[name] = {}
        for label, key, reduce, _, _ in FIGURES:
            out[name][label] = common.summary([_value(r, key, reduce) for r in results])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs, the same for every contender")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each contender, interleaved")
    parser.add_argument("--calls", type=int, default=30, help="timed single forecasts per run")
    parser.add_argument("--loads", type=int, default=5, help="timed saves and loads per run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in every contender (0: torch's default)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--only", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--json", default=str(common.RESULTS / "peers.json"), help="where to write every figure")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to one contender's run")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    common.check_device(args.device)

    meta, log = common.start_run(args)
    runs: dict[str, list[dict]] = {name: [] for name in args.only}
    errors: dict[str, str] = {}
    base = [
        sys.argv[0],
        "--epochs",
        str(args.epochs),
        "--calls",
        str(args.calls),
        "--loads",
        str(args.loads),
        "--threads",
        str(args.threads),
        "--device",
        args.device,
    ]
    for r in range(args.repeats):
        order = args.only[r % len(args.only) :] + args.only[: r % len(args.only)]
        for name in order:
            if name in errors:
                continue
            try:
                result = common.run_worker([*base, "--worker", name], args.timeout, log)
            except RuntimeError as e:
                errors[name] = str(e)
                print(f"{name}: FAILED\n{e}", flush=True)
                continue
            runs[name].append(result)
            t = result["test"]
            print(
                f"repeat {r + 1}/{args.repeats} {name:>14}: train {result['train_s']:.1f} s, "
                f"peak RSS {result['peak_rss_mib']:.0f} MiB, load {np.median(result['load_s']) * 1e3:.1f} ms, "
                f"predict {np.median(result['predict_s']) * 1e3:.1f} ms, test MAE {t['mae']:.1f} "
                f"(naive {t['naive_mae']:.1f}), load avg {result['load_average'][0]}",
                flush=True,
            )
    runs = {k: v for k, v in runs.items() if v}
    table = aggregate(runs)
    report = render(table, runs, args)
    print("\n" + report)
    common.write_json(Path(args.json), {**meta, "summary": table, "runs": runs, "errors": errors, "report": report})
    print(f"wrote {args.json}")


def render(table: dict, runs: dict[str, list[dict]], args) -> str:
    names = list(table)
    header = ["figure (median [min-max] over repeats)", *names]
    others = [n for n in names if n != "ours"]
    if "ours" in table:
        header += [f"ours / {n}" for n in others]
    rows = []
    for label, _, _, scale, _ in FIGURES:
        if all(table[n][label]["median"] is None for n in names):
            continue
        row = [label, *(common.fmt(table[n][label], scale) for n in names)]
        if "ours" in table:
            for n in others:
                value = common.ratio(table["ours"][label], table[n][label])
                row.append("n/a" if value is None else f"{value:.2f}")
        rows.append(row)
    first = next(iter(runs.values()))[0]
    points = first["test"]
    lines = [
        common.markdown_table(header, rows),
        f"{args.epochs} epochs of {first['windows_per_epoch']} training windows, batch {BATCH}; "
        f"{len(next(iter(runs.values())))} repeat(s); torch threads {first['torch_threads']}; device {args.device}.",
        f"Test: {points['points']} one-step forecasts, {points['first']} to {points['last']}; "
        f"naive last-value MAE {points['naive_mae']:.2f}.",
        "Versions: " + ", ".join(f"{n} {runs[n][0]['version']}" for n in names) + ".",
    ]
    if "ours" in table:
        lines.append(
            "End to end: ours is the whole `train()` call (data, split, scaler, epochs, a validation pass per epoch, "
            "checkpoints, the test backtest and its evaluation, two plots, the model card, the folder); the peers' is "
            "`fit()`. Epochs' loop: ours is `training_args.json`'s per-epoch `train_seconds`; the peers' is timed "
            "by a Lightning callback from each training epoch's start to its end."
        )
        predict = table["ours"]["single forecast after load (ms)"]["median"]
        load = table["ours"]["load, warm (ms)"]["median"]
        train = table["ours"]["training, end to end (s)"]["median"]
        loop = table["ours"]["training, epochs' loop only (s)"]["median"]
        for n in others:
            checks = [
                (
                    "predict(df) from raw OHLCV faster than its predict",
                    predict < table[n]["single forecast after load (ms)"]["median"],
                ),
                ("from_pretrained faster than its load", load < table[n]["load, warm (ms)"]["median"]),
                (
                    "end-to-end training at least as fast as its fit",
                    train <= table[n]["training, end to end (s)"]["median"],
                ),
                ("epochs' loop at least as fast as its", loop <= table[n]["training, epochs' loop only (s)"]["median"]),
            ]
            lines.append(f"vs {n}: " + "; ".join(f"{what}: {'yes' if ok else 'NO'}" for what, ok in checks))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
