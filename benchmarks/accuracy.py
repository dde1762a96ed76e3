"""Held-out accuracy of every recipe beside the naive baselines, and of the default recipe beside the peers.

1. Every recipe in `configs/` is trained as `lstm-forecaster train --config configs/NAME.yaml` would
   (into `runs/bench/NAME`; a folder already there, trained from the same recipe, is reused) and its
   `metrics.json` (the test split, read once at the end of training) is tabled: the model's MAE,
   RMSE, MASE and direction accuracy beside the naive last value, the drift and the moving average
   on the same points; for quantile recipes the pinball loss and the 80 % interval coverage beside the
   constant-quantile and rolling-volatility baselines.
2. The default recipe beside Darts' and NeuralForecast's LSTMs (3x128, dropout 0.2, context 30, the
   close price; see `peers.py`) and our own 3x128 on the close, on the same split and the same 523
   one-step test forecasts of the BTC-USD daily sample. The peers are trained, without early stopping,
   for as many epochs as the default recipe allows (`--peer-epochs`); section 2 needs the benchmark
   environment (`bash benchmarks/setup_bench.sh`).

Examples (from the repository root):

    .venv-bench/bin/python benchmarks/accuracy.py                 # both sections
    python benchmarks/accuracy.py --no-peers                      # section 1 only, in the project's venv
    python benchmarks/accuracy.py --recipes default crypto_price_forecaster --runs runs/bench
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import common
import numpy as np
import peers


def recipe_row(stem: str, folder: Path) -> tuple[list[str], dict]:
    report = json.loads((folder / "metrics.json").read_text())
    args = json.loads((folder / "training_args.json").read_text())
    models, direction = report["models"], report["direction"].get("model", {})
    model, naive = models["model"], models["naive_last"]
    data = args["data"]
    row = [
        f"`{stem}`",
        "BTC-USD daily (sample)" if data["kind"] == "sample" else Path(str(data["source"])).name,
        f"{report['n_points']:,} ({report['first_origin'][:10]} to {report['last_timestamp'][:10]})",
        f"{model['mae']:,.4g}",
        f"{naive['mae']:,.4g}",
        f"{models['drift']['mae']:,.4g}",
        f"{models['moving_average']['mae']:,.4g}",
        f"{model['mase']:.3f}",
        f"{model['rmse'] / naive['rmse']:.3f}",
        f"{direction['accuracy']:.3f} (p {direction['p_value']:.2g})" if direction else "n/a (no move)",
        _dm(report),
    ]
    quantile = report.get("quantile")
    if quantile:
        q = quantile["model"]
        row += [
            f"{q['pinball']:,.4g} / {quantile['constant_quantile']['pinball']:,.4g} / {quantile['rolling_volatility']['pinball']:,.4g}",
            f"{q['coverage']:.3f} (nominal {q['nominal_coverage']:.2f})",
        ]
    else:
        row += ["-", "-"]
    row.append(f"`lstm-forecaster train --config configs/{stem}.yaml --output runs/{stem}`")
    return row, {"metrics": report, "epochs_run": args["epochs_run"], "best_epoch": args["best_epoch"]}


def _dm(report: dict) -> str:
    dm = report["diebold_mariano"]
    if dm["statistic"] is None:
        return "n/a"
    return f"{dm['statistic']:+.2f} (p {dm['p_value']:.2g})"


def recipe_of(training_args: dict) -> dict:
    """The recipe a model folder was trained from (`recipe_config`, or `recipe` in older folders)."""
    recipe = training_args.get("recipe_config", training_args.get("recipe"))
    return recipe if isinstance(recipe, dict) else {}


def trained_folder(stem: str, runs: Path, threads: int, device: str) -> tuple[Path, bool]:
    """The recipe's model folder under `runs`, trained now unless one from the same recipe is there."""
    import torch

    from lstm_forecaster.training import load_recipe, train

    if threads:
        torch.set_num_threads(threads)
    path = common.ROOT / "configs" / f"{stem}.yaml"
    recipe = load_recipe(path)
    folder = runs / stem
    done = folder / "training_args.json"
    trained = done.is_file() and (folder / "metrics.json").is_file()
    if trained and recipe_of(json.loads(done.read_text())) == recipe.to_dict():
        return folder, True
    print(f"training {stem} into {folder} ...", flush=True)
    train(recipe, folder, overwrite=True, progress=False, cpu=device == "cpu", recipe_file=f"configs/{stem}.yaml")
    return folder, False


def default_on_peer_points(folder: Path) -> dict:
    """The default model's one-step test forecasts on the peers' points, scored as `peers.score` does."""
    from lstm_forecaster import LSTMForecaster

    p = peers.problem()
    model = LSTMForecaster.from_pretrained(str(folder))
    frame = model.backtest(p["df"], start=p["df"].index[p["test_start"] - 1])
    frame = frame[frame["step"] == 1]
    rows = p["df"].index.get_indexer(frame["timestamp"])
    return peers.score(p, rows, frame["forecast"].to_numpy())


# The peers forecast BTC one step ahead: the first default recipe (BTC only, horizon 1) is the one
# compared with them; the panel default (configs/default.yaml) is measured by benchmarks/bars.py.
BTC_ONE_STEP = "btc_daily_quantile"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    stems = sorted(p.stem for p in (common.ROOT / "configs").glob("*.yaml"))
    parser.add_argument("--recipes", nargs="+", default=stems, choices=stems, help="recipes to table (default: all)")
    parser.add_argument("--runs", default=str(common.ROOT / "runs" / "bench"), help="where the model folders go")
    parser.add_argument(
        "--peer-epochs", type=int, default=None, help="epochs of the peers (default: the default recipe's)"
    )
    parser.add_argument("--no-peers", action="store_true", help="skip section 2")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", default=str(common.RESULTS / "accuracy.json"), help="where to write every figure")
    args = parser.parse_args()
    common.check_device(args.device)
    runs = Path(args.runs)
    meta = {"command": common.command_line(), "machine": common.machine(), "args": vars(args)}
    print(f"{meta['command']}\n{json.dumps(meta['machine'])}", flush=True)

    # 1. every recipe beside the baselines
    header = [
        "recipe",
        "data",
        "test forecasts (first origin to last target)",
        "MAE",
        "naive MAE",
        "drift MAE",
        "moving-average MAE",
        "MASE",
        "RMSE / naive RMSE",
        "direction accuracy",
        "Diebold-Mariano vs naive",
        "pinball: model / constant / rolling vol",
        "80 % coverage",
        "command",
    ]
    rows, recipes = [], {}
    for stem in args.recipes:
        folder, reused = trained_folder(stem, runs, args.threads, args.device)
        row, info = recipe_row(stem, folder)
        rows.append(row)
        recipes[stem] = {**info, "folder": str(folder), "reused": reused}
        print(
            f"{stem}: MASE {info['metrics']['models']['model']['mase']:.3f} ({'reused' if reused else 'trained'})",
            flush=True,
        )
    report = "Every recipe on its own test split (read once), beside naive forecasts on the same points.\n\n"
    report += common.markdown_table(header, rows)

    # 2. the default recipe beside the peers on the same split
    comparison = {}
    if not args.no_peers:
        missing = [m for m in ("darts", "neuralforecast") if importlib.util.find_spec(m) is None]
        if missing:
            sys.exit(
                f"section 2 needs {', '.join(missing)}: run `bash benchmarks/setup_bench.sh` and use .venv-bench/bin/python"
            )
        default_folder, _ = trained_folder(BTC_ONE_STEP, runs, args.threads, args.device)
        default_args = json.loads((default_folder / "training_args.json").read_text())
        epochs = args.peer_epochs or recipe_of(default_args)["epochs"]
        comparison["default"] = default_on_peer_points(default_folder)
        log = Path(args.json).with_suffix(".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        worker = [str(Path(peers.__file__)), "--epochs", str(epochs), "--calls", "1", "--loads", "1"]
        worker += ["--threads", str(args.threads), "--device", args.device]
        for name in ("ours", "darts", "neuralforecast"):
            print(f"training {name} (3x128 on the close) for {epochs} epochs ...", flush=True)
            try:
                comparison[name] = common.run_worker([*worker, "--worker", name], 7200, log)["test"]
            except RuntimeError as e:
                comparison[name] = {"error": str(e)}
                print(f"{name}: FAILED\n{e}", flush=True)
        labels = {
            "default": f"ours, the first default recipe (`configs/btc_daily_quantile.yaml`, {default_args['epochs_run']} epochs, best {default_args['best_epoch']})",
            "ours": f"ours, 3x128 LSTM on the close, min-max ({epochs} epochs)",
            "darts": f"Darts BlockRNNModel LSTM 3x128, min-max ({epochs} epochs)",
            "neuralforecast": f"NeuralForecast LSTM 3x128, robust per-window scaler ({epochs} max_steps-equivalent epochs)",
        }
        table = []
        for name, score in comparison.items():
            if "error" in score:
                table.append([labels[name], "failed", "", ""])
                continue
            table.append(
                [labels[name], f"{score['mae']:,.2f}", f"{score['naive_mae']:,.2f}", f"{score['mae_over_naive']:.3f}"]
            )
        first = next(s for s in comparison.values() if "error" not in s)
        report += (
            f"\nThe default recipe beside the peers' LSTMs: the same split, the same {first['points']} one-step "
            f"forecasts ({first['first']} to {first['last']}) of the BTC-USD daily close.\n\n"
        )
        report += common.markdown_table(["model", "test MAE ($)", "naive MAE ($)", "MAE / naive"], table)
    print("\n" + report)
    common.write_json(Path(args.json), {**meta, "recipes": recipes, "peers": comparison, "report": report})
    print(f"wrote {args.json}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
