"""Evaluating a saved model on its held-out test split, as recorded at training.

`evaluate_model` loads a model folder or Hub repo, re-reads the data recorded in its
`training_args.json` (`recorded_data`; warns when a source changed) and scores a rolling-origin
backtest from the recorded first test origin on, beside the naive baselines; `model_extras` and
`field_comparison` add what `metrics.json` holds for scale-free, calibrated and panel models.

Examples
--------
    from lstm_forecaster.evaluation import metrics_table
    from lstm_forecaster.held_out import evaluate_model
    print(metrics_table(evaluate_model("runs/default").report))
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .data import file_sha256, load_ohlcv, sample_path
from .model_folder import TRAINING_ARGS, read_training_args
from .modeling import LSTMForecaster
from .panel import (
    PanelSamples,
    PanelSplit,
    date_split,
    is_panel,
    panel_path,
)
from .training_data import select_rows


def evaluate_panel(model: LSTMForecaster, df: pd.DataFrame, samples: PanelSamples, split: PanelSplit, which: str):
    """Backtest of a panel on the `which` split's origins, its report, and (symbol, frame, series) to plot:
    the asset with the most points."""
    from .panel_evaluation import evaluate_panel_backtest

    config = model.config
    frame = model.backtest(df, samples=samples, origins=split.test if which == "test" else split.validation)
    report = evaluate_panel_backtest(frame, df, split.validation_start, config.quantiles, config.target)
    symbol = max(report["symbols"], key=lambda s: report["assets"][s]["n_points"])
    rows = frame[frame["symbol"] == symbol].drop(columns="symbol").reset_index(drop=True)
    history = df.xs(symbol, level="symbol")["volume" if config.target == "volume" else "close"]
    return frame, report, (symbol, rows, history)


def recorded_data(training_args: dict, data=None, data_revision: str | None = None) -> pd.DataFrame:
    """The data to evaluate on: `data` if given, else the data recorded in `training_args.json`.

    Prints a warning on stderr when the recorded file's sha256 no longer matches.
    """
    if data is not None:
        return load_ohlcv(data, revision=data_revision)
    recorded = training_args.get("data") or {}
    kind, source = recorded.get("kind"), recorded.get("source")
    if kind == "sample":
        return load_ohlcv(sample_path())
    if kind == "panel":
        return load_ohlcv(panel_path())
    if kind == "files" and source:
        _warn_changed(recorded.get("sources") or [])
        return load_ohlcv(source)
    if kind == "hub":
        hub = recorded.get("hub_dataset") or {}
        return load_ohlcv(source, revision=hub.get("revision"), split=hub.get("split") or "train")
    if kind == "file" and source:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"the model was trained on {source}, which is not here; pass --data")
        if recorded.get("sha256") and file_sha256(path) != recorded["sha256"]:
            print(
                f"warning: {source} changed since training (sha256 differs); evaluating on it as it is now",
                file=sys.stderr,
            )
        return load_ohlcv(path)
    raise ValueError("the model's training data was not recorded as a file or Hub dataset; pass --data")


def _warn_changed(sources: list[dict]) -> None:
    for record in sources:
        path = Path(str(record.get("source")))
        if record.get("sha256") and path.is_file() and file_sha256(path) != record["sha256"]:
            print(
                f"warning: {path} changed since training (sha256 differs); evaluating on it as it is now",
                file=sys.stderr,
            )


@dataclass
class HeldOutEvaluation:
    """What `evaluate_model` measured: the report, the backtest frame, the real series and the model.

    For a panel model, `frame` and `history` are those of the asset the plots show (the one with the
    most test points); the report covers every asset.
    """

    report: dict
    frame: pd.DataFrame
    history: pd.Series
    model: LSTMForecaster


def evaluate_model(
    model_id: str | Path, revision: str | None = None, data=None, data_revision: str | None = None
) -> HeldOutEvaluation:
    """Recompute the held-out metrics of a trained model on the test split recorded at training.

    Every origin from the recorded first test origin to the end of the data is scored (with the
    training data, exactly the points of `metrics.json`; with newer data, the newer points too).

    Returns
    -------
    HeldOutEvaluation
        The `evaluate_backtest` report (with `split: "test"`), the backtest frame, the real series
        and the loaded model.
    """
    from .evaluation import evaluate_backtest
    from .hub import load_model

    model = load_model(model_id, revision=revision)
    training_args = read_training_args(model_id, revision)
    recipe = training_args.get("recipe_config") or {}
    df = select_rows(recorded_data(training_args, data, data_revision), recipe.get("start"), recipe.get("end"))
    dates = training_args.get("split_dates")
    if isinstance(dates, dict):
        if not is_panel(df):
            raise ValueError(
                f"{model_id} was trained on a panel (several series cut at {dates.get('test_start')}); "
                "pass a panel as --data: several files, a folder, a glob or a table with a symbol column"
            )
        samples = model.samples(df)
        split = date_split(samples, dates["validation_start"], dates["test_start"], how=dates.get("how", "dates"))
        full, report, (_, frame, history) = evaluate_panel(model, df, samples, split, "test")
        raw = model.backtest(df, samples=samples, origins=split.test, calibrate=False)
        report = {"split": "test", **report, **model_extras(model, full, raw, training_args.get("kept"))}
        report.update(field_comparison(model, full, df, split, report))
        return HeldOutEvaluation(report, frame, history, model)
    splits = training_args["splits"]
    try:
        first_origin = pd.Timestamp(splits["test"]["first_origin"])
        train_end = pd.Timestamp(splits["train"]["end"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{TRAINING_ARGS} of {model_id} has no readable test start or train end: {e}") from e
    if df.index[-1] <= first_origin:
        raise ValueError(
            f"the data ends at {df.index[-1]}, before the recorded test split starts ({first_origin}); pass newer data"
        )
    if df.index[0] > train_end:
        raise ValueError(
            f"the data starts at {df.index[0]}, after the training split ended ({train_end}); the baselines need the training rows"
        )
    frame = model.backtest(df, start=first_origin)
    if frame.empty:
        raise ValueError(f"no complete test forecast from {first_origin} in the data (ends {df.index[-1]})")
    history = df["volume" if model.config.target == "volume" else "close"]
    report = {"split": "test", **evaluate_backtest(frame, history, train_end, model.config.quantiles)}
    raw = model.backtest(df, start=first_origin, calibrate=False)
    report.update(model_extras(model, frame, raw, training_args.get("kept")))
    report.update(field_comparison(model, frame, df, train_end, report))
    return HeldOutEvaluation(report, frame, history, model)


def model_extras(model: LSTMForecaster, frame: pd.DataFrame, raw_frame: pd.DataFrame, kept: str | None) -> dict:
    """What `metrics.json` adds for scale-free and calibrated models: `kept` (`baseline` or `trained`,
    for `context` scaling) and `calibration` (coverage and pinball per step before and after)."""
    from .calibration import calibration_report

    out: dict[str, Any] = {} if kept is None else {"kept": kept}
    if model.config.calibrates:
        out["calibration"] = calibration_report(raw_frame, frame, model.config)
    return out


def field_comparison(
    model: LSTMForecaster, frame: pd.DataFrame, df: pd.DataFrame, train_end: PanelSplit | pd.Timestamp, report: dict
) -> dict:
    """`metrics.json`'s comparison of the evaluated split with the field's baselines (naive, constant
    quantile, EWMA(0.94), GARCH(1,1)-t), each fitted on the training rows only: `backtest.held_out_comparison`.

    `train_end` is the last training timestamp, or a panel's split (its training rows: those before
    `validation_start`, in every asset); of a panel, the assets `report` scored are compared.
    """
    from .backtest import held_out_comparison

    if isinstance(train_end, PanelSplit):  # the latest row before validation_start, of any asset
        stamps = df.index.get_level_values("timestamp")
        before = stamps[stamps < train_end.validation_start]
        if before.empty:
            return {
                "comparison_skipped": f"no training row before {train_end.validation_start} to fit the baselines on"
            }
        train_end = before.max()
    return held_out_comparison(model.config, frame, df, train_end, symbols=report.get("symbols"))
