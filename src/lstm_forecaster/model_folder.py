"""The model folder a training run writes: config, weights, scaler, training_args.json,
metrics.json, plots and model card, staged in a temporary folder and renamed into place.

`write_folder` writes a trained model's folder, `write_evaluation` the metrics and plots (also used
by `write_evaluation_folder` for a re-evaluation), `read_training_args` reads `training_args.json`
back from a folder or Hub repo.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .modeling import LSTMForecaster
from .output_folder import staged_folder
from .recipe import TrainingConfig

TRAINING_ARGS = "training_args.json"
METRICS = "metrics.json"
FORECAST_PLOT = "forecast.png"
PERCENT_CHANGE_PLOT = "percent_change.png"


def _units(target: str) -> str:
    return "volume" if target == "volume" else "price"


def write_evaluation(
    folder: Path, frame: pd.DataFrame, history: pd.Series, report: dict, title: str, target: str
) -> None:
    """Write `metrics.json`, `forecast.png`, `percent_change.png` and, for several steps, the forecast
    plot of the farthest step (`forecast_step{H}.png`) into an existing folder."""
    from .evaluation import plot_forecast, plot_percent_change

    (folder / METRICS).write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    plot_forecast(
        frame,
        history,
        folder / FORECAST_PLOT,
        title=f"{title}: forecast vs actual ({report['split']} split)",
        units=_units(target),
    )
    plot_percent_change(frame, folder / PERCENT_CHANGE_PLOT, step=1, units=_units(target))
    last = int(frame["step"].max())
    if last > 1:  # the farthest step too: multi-step models are shown at steps 1 and H
        plot_forecast(
            frame,
            history,
            folder / last_step_plot(last),
            step=last,
            title=f"{title}: forecast vs actual {last} steps ahead ({report['split']} split)",
            units=_units(target),
        )


def last_step_plot(horizon: int) -> str:
    """File name of the forecast plot at the farthest step of a multi-step model."""
    return f"forecast_step{horizon}.png"


def write_folder(output_dir: Path, model, plotted, report, training_args, recipe: TrainingConfig) -> None:
    """Write the model folder; `plotted` is (symbol or None, backtest frame, real series) of the plots."""
    symbol, frame, history = plotted
    title = recipe.name if symbol is None else f"{recipe.name}, {symbol}"
    with staged_folder(output_dir) as tmp:
        model.save_pretrained(tmp)
        (tmp / TRAINING_ARGS).write_text(json.dumps(training_args, indent=2, allow_nan=False) + "\n")
        write_evaluation(tmp, frame, history, report, title, recipe.model.target)
        (tmp / "README.md").write_text(_model_card(model, training_args, report), encoding="utf-8")


def _model_card(model: LSTMForecaster, training_args: dict, report: dict) -> str:
    from .card import render_model_card

    parts = {
        "config": model.config,
        "training_args": training_args,
        "metrics": report,
        "plots": sorted(  # the order render_model_card finds them in a folder
            [FORECAST_PLOT, PERCENT_CHANGE_PLOT]
            + ([last_step_plot(model.config.horizon)] if model.config.horizon > 1 else [])
        ),
    }
    return render_model_card(parts)


def read_training_args(model_id: str | Path, revision: str | None = None) -> dict:
    """`training_args.json` of a model folder or Hub repo."""
    path = Path(model_id) / TRAINING_ARGS
    if Path(model_id).is_dir():
        if not path.is_file():
            raise ValueError(
                f"{model_id} has no {TRAINING_ARGS}: evaluate needs the splits recorded by `lstm-forecaster train`"
            )
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            path = Path(hf_hub_download(str(model_id), TRAINING_ARGS, revision=revision))
        except EntryNotFoundError as e:
            raise ValueError(
                f"{model_id} has no {TRAINING_ARGS}: evaluate needs the splits recorded by `lstm-forecaster train`"
            ) from e
    try:
        args = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(args, dict) or not isinstance(args.get("splits"), dict) or "test" not in args["splits"]:
        raise ValueError(f"{TRAINING_ARGS} of {model_id} records no test split (key 'splits.test')")
    return args


def write_evaluation_folder(output: str | Path, frame, history, report: dict, title: str, target: str) -> Path:
    """Write `metrics.json` and the plots into `output` (created if needed), all or nothing."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give a folder name")
    with staged_folder(output, merge=True) as tmp:
        write_evaluation(tmp, frame, history, report, title, target)
    return output
