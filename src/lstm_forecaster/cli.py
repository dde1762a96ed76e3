"""The `lstm-forecaster` command line.

Examples (each works as written from a fresh clone after `make setup`):

    lstm-forecaster train    --config configs/default.yaml --output runs/btc [--overwrite]
    lstm-forecaster evaluate --model runs/btc
    lstm-forecaster predict  --model runs/btc --data src/lstm_forecaster/data/BTC-USD.csv --horizon 1
    lstm-forecaster push     runs/btc --repo-id user/btc-daily --tag v1.0
    lstm-forecaster versions user/btc-daily
    lstm-forecaster deploy-space --space-id user/btc-demo --model-id user/btc-daily --revision v1.0
    lstm-forecaster serve    --model runs/btc --port 7860
    lstm-forecaster export   --model runs/btc --format onnx --output out/btc-onnx
    lstm-forecaster tune     --config configs/default.yaml --trials 40 --output runs/tuned
    lstm-forecaster backtest --model runs/btc --data src/lstm_forecaster/data/BTC-USD.csv --start 2023-01-01 \
                             --strategy long-flat --cost-bps 0 10 25 --output reports/bt [--refit-every 30]

Bad input exits with code 2 and one readable line on stderr.
"""

from __future__ import annotations

import argparse
import sys

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with the package's rule for bad input: one line on stderr, exit code 2 (no usage dump)."""

    def error(self, message: str):
        print(f"error: {self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lstm-forecaster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = commands.add_parser("train", help="train a recipe into a complete model folder")
    p.add_argument("--config", required=True, help="recipe file (configs/*.yaml)")
    p.add_argument("--output", required=True, help="model folder to write (written to a temp folder, then renamed)")
    p.add_argument(
        "--data",
        help="OHLCV file or Hub dataset id; a folder or a quoted glob ('data/*.csv') for a panel; 'panel' for the bundled one (default: the recipe's data, else the bundled sample)",
    )
    p.add_argument("--data-revision", help="revision of a Hub dataset")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--seed", type=int, help="override the recipe's seed")
    p.add_argument(
        "--resume", action="store_true", help="resume from the checkpoint kept beside --output (.NAME.checkpoint/)"
    )
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    p.add_argument(
        "--member-threads",
        type=int,
        default=None,
        metavar="N",
        help="train an ensemble's members in N threads (one CPU process; the same numbers as 1; "
        "default: the free cores over torch's threads)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output folder")
    p.add_argument("--push-to-hub", metavar="REPO_ID", help="push the trained folder to this Hub repo")
    p.add_argument("--tag", help="tag the pushed commit (with --push-to-hub)")
    p.add_argument("--private", action="store_true", help="create the Hub repo private (with --push-to-hub)")

    p = commands.add_parser("evaluate", help="held-out metrics beside the naive baselines, and plots")
    p.add_argument("--model", required=True, help="model folder or Hub repo id")
    p.add_argument("--revision", help="Hub revision (tag, branch or commit)")
    p.add_argument(
        "--data",
        help="OHLCV file or Hub dataset id; a folder or a quoted glob for a panel (default: the data the model was trained on)",
    )
    p.add_argument("--output", help="folder for metrics.json and plots (default: print only)")

    p = commands.add_parser("predict", help="forecast after the last row of --data; CSV to stdout")
    p.add_argument("--model", required=True, help="model folder or Hub repo id")
    p.add_argument("--revision", help="Hub revision (tag, branch or commit)")
    p.add_argument(
        "--data",
        required=True,
        help="OHLCV file or Hub dataset id; a folder or a quoted glob for a panel (CSV with a symbol column)",
    )
    p.add_argument("--horizon", type=int, help="steps to forecast (1 to the model's horizon)")
    p.add_argument(
        "--drop-incomplete", action="store_true", help="drop a last candle whose volume says it is still forming"
    )

    p = commands.add_parser("push", help="push a model folder to the Hub as one commit")
    p.add_argument("folder", help="model folder written by train")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--tag", help="tag the new commit")
    p.add_argument("--move-tag", action="store_true", help="move --tag if it exists already")
    p.add_argument("--private", action="store_true")
    p.add_argument("--message", help="commit message")
    p.add_argument("--branch", help="branch to push to (default main)")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of pushing to the branch")
    p.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="also push this file (name or glob relative to the folder; repeatable). Only the model repo's "
        "files are pushed otherwise: config, weights, scaler, card, metrics, training args, plots",
    )

    p = commands.add_parser("versions", help="tags and commits of a Hub model, newest first, with test metrics")
    p.add_argument("repo_id")

    p = commands.add_parser("deploy-space", help="create a Gradio Space serving a Hub model")
    p.add_argument("--space-id", required=True)
    p.add_argument("--model-id", required=True)
    p.add_argument("--revision", help="model revision the Space serves")
    p.add_argument("--private", action="store_true")
    p.add_argument(
        "--space-dir", help="the Space folder to upload (default: ./space, else the source checkout's space/)"
    )
    p.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="also upload this file of the Space folder (name or glob; repeatable) beyond its source, text and image files",
    )

    p = commands.add_parser("serve", help="serve the Gradio app locally")
    p.add_argument("--model", help="model folder or Hub repo id (default: MODEL_ID, else the default model)")
    p.add_argument("--revision", help="Hub revision (default: MODEL_REVISION)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--host", default="127.0.0.1")

    p = commands.add_parser("tune", help="search a recipe's `search:` space with Optuna, on validation only")
    p.add_argument("--config", required=True, help="recipe file with a search: mapping (configs/default.yaml)")
    p.add_argument("--trials", type=int, default=40, help="trials this process runs (default 40; 0: summarize only)")
    p.add_argument("--storage", help="SQLAlchemy URL of the study (default: sqlite:///OUTPUT/study.db)")
    p.add_argument("--study", help="study name in the storage (default: the recipe's name)")
    p.add_argument("--output", required=True, help="folder for the study table, best.yaml and the best model")
    p.add_argument(
        "--data",
        help="OHLCV file or Hub dataset id; a folder or a quoted glob ('data/*.csv') for a panel; 'panel' for the bundled one (default: the recipe's data, else the bundled sample)",
    )
    p.add_argument("--data-revision", help="revision of a Hub dataset")
    p.add_argument(
        "--seed", type=int, help="seed of the sampler (default: fresh; each trial trains with the recipe's seed)"
    )
    p.add_argument("--no-train", action="store_true", help="do not train the best recipe at the end (extra workers)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")

    p = commands.add_parser("export", help="export a model to ONNX (the network on scaled windows, scaler beside it)")
    p.add_argument("--model", required=True, help="model folder or Hub repo id")
    p.add_argument("--revision", help="Hub revision (tag, branch or commit)")
    p.add_argument("--format", default="onnx", help="export format: onnx")
    p.add_argument("--output", required=True, help="folder to write (written to a temp folder, then renamed)")
    p.add_argument("--opset", type=int, default=20, help="ONNX opset, 18 to 23 (default 20)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --output folder")

    p = commands.add_parser(
        "backtest", help="rolling-origin evaluation beside the baselines, optional trading rule; report folder"
    )
    p.add_argument("--model", required=True, help="model folder or Hub repo id (a quantile model)")
    p.add_argument("--revision", help="Hub revision (tag, branch or commit)")
    p.add_argument("--data", required=True, help="OHLCV file, folder, glob or Hub dataset id")
    p.add_argument("--start", help="first origin (default: the first full window)")
    p.add_argument("--end", help="last origin (default: the last with known outcomes)")
    p.add_argument("--strategy", help="trading rule on the forecasts: long-flat or vol-target")
    p.add_argument(
        "--cost-bps", type=float, nargs="+", default=[0.0, 10.0, 25.0], help="costs per unit of turnover (0 10 25)"
    )
    p.add_argument("--threshold", type=float, default=0.5, help="long-flat: be long when P(rise) > this (0.5)")
    p.add_argument("--target-vol", type=float, default=0.5, help="vol-target: annualised volatility aimed at (0.5)")
    p.add_argument("--max-leverage", type=float, default=1.0, help="vol-target: cap on the position (1.0)")
    p.add_argument(
        "--refit-every", type=int, help="walk forward: retrain on the data before every block of this many origins"
    )
    p.add_argument(
        "--config", help="recipe of the refits (default: the one recorded in the model's training_args.json)"
    )
    p.add_argument("--output", help="folder for report.json, report.md and the plots (default: print only)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --output folder")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "train":
        from .training import train_command

        return train_command(args)
    if args.command == "evaluate":
        return evaluate_command(args)
    if args.command == "predict":
        return predict_command(args)
    if args.command in ("push", "versions", "deploy-space"):
        from . import hub

        return {"push": hub.push_command, "versions": hub.versions_command, "deploy-space": hub.deploy_space_command}[
            args.command
        ](args)
    if args.command == "tune":
        from .tuning import tune_command

        return tune_command(args)
    if args.command == "export":
        from .export import export_command

        return export_command(args)
    if args.command == "backtest":
        return backtest_command(args)
    if args.command == "serve":
        from .app import serve_command

        return serve_command(args)
    raise ValueError(f"unknown command {args.command!r}")


def evaluate_command(args: argparse.Namespace) -> int:
    """Held-out metrics of a model beside the naive baselines; plots with --output."""
    from .evaluation import metrics_table
    from .held_out import evaluate_model
    from .model_folder import write_evaluation_folder

    result = evaluate_model(args.model, revision=args.revision, data=args.data)
    print(metrics_table(result.report), end="")
    if args.output:
        target = result.model.config.target
        folder = write_evaluation_folder(
            args.output, result.frame, result.history, result.report, str(args.model), target
        )
        print(f"wrote {folder}")
    return 0


def predict_command(args: argparse.Namespace) -> int:
    """Forecast after the last row of --data and write CSV to stdout."""
    from .data import load_ohlcv
    from .hub import load_model

    model = load_model(args.model, revision=args.revision)
    forecast = model.predict(load_ohlcv(args.data), horizon=args.horizon, drop_incomplete=args.drop_incomplete)
    for warning in forecast.attrs.get("warnings", []):  # guards.py: one line each, the CSV stays clean
        print(f"warning: {warning['message']}", file=sys.stderr)
    forecast.to_csv(sys.stdout, date_format="%Y-%m-%dT%H:%M:%SZ")
    return 0


def backtest_command(args: argparse.Namespace) -> int:
    """Rolling-origin backtest on --data (frozen, or walk-forward with --refit-every); tables to stdout,
    a report folder with --output."""
    from .backtest import backtest
    from .data import load_ohlcv
    from .hub import load_model

    model = load_model(args.model, revision=args.revision)
    recipe = None
    if args.refit_every is not None:
        from .model_folder import read_training_args
        from .recipe import load_recipe, recipe_from_dict

        if args.config:
            recipe = load_recipe(args.config)
        else:
            recorded = read_training_args(args.model, args.revision).get("recipe_config")
            if not recorded:
                raise ValueError(f"{args.model} records no recipe; pass --config with --refit-every")
            recipe = recipe_from_dict(recorded)
    rule = {"threshold": args.threshold, "target_vol": args.target_vol, "max_leverage": args.max_leverage}
    result = backtest(
        model,
        load_ohlcv(args.data),
        start=args.start,
        end=args.end,
        strategy=args.strategy,
        cost_bps=args.cost_bps,
        refit_every=args.refit_every,
        recipe=recipe,
        **rule,
    )
    print(result.markdown(), end="")
    if args.output:
        print(f"wrote {result.save(args.output, overwrite=args.overwrite)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every failure a user can cause becomes one line
        from .errors import user_message

        message = user_message(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
