"""The Gradio app: forecasts in price units from a model in a folder or on the Hub.

Examples (each works as written from the repository root after `make run` trained `runs/default`):

    lstm-forecaster serve                                    # MODEL_ID, else runs/default
    lstm-forecaster serve --model runs/default --port 7860
    lstm-forecaster serve --model user/btc-daily --revision v1.0
    MODEL_ID=user/btc-daily MODEL_REVISION=v1.0 python space/app.py

From Python, the forecast is also an API endpoint:

    from gradio_client import Client, handle_file
    summary, plot, table = Client("http://127.0.0.1:7860/").predict(None, 1, api_name="/forecast")
    # or with a file: Client(...).predict(handle_file("my.csv"), 1, api_name="/forecast")

The model is loaded once, when the app is built. Nothing here unpickles: the model comes through
`hub.load_model` (safetensors + JSON) and its `training_args.json` / `metrics.json` are read as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .configuration import quantile_column
from .data import file_sha256, infer_step, load_ohlcv, sample_path, utc_timestamp
from .errors import user_message
from .modeling import LSTMForecaster

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path("runs/default")
"""The model that the README's main command (`make run`) trains, relative to the current directory."""

HISTORY_ROWS = 40
"""Rows of recent history drawn before the forecast (at least 15 per forecast step)."""

BACKTEST_CACHE_SIZE = 8
"""Backtests kept in memory, one per distinct data file (by sha256)."""

DISCLAIMER = (
    "For research and education only; **not financial advice**. The model reads past prices and volume "
    "only: it knows nothing about news, regulation or other markets, and its past accuracy (Backtest tab) "
    "does not promise future accuracy."
)

TARGET_DESCRIPTIONS = {
    "close": "the close price",
    "log_return": "the close price (as log returns from the last close, compounded back into prices)",
    "volume": "the traded volume",
}


# ----- the model and what is known about it --------------------------------------------------------


@dataclass
class ModelInfo:
    """Where a model comes from and what its folder or repo records about its training.

    Args:
        source: Hub repo id or local folder.
        revision: Requested revision (tag, branch or commit), None for the default branch.
        commit: Resolved commit sha on the Hub, None for a local folder or when unknown.
        card_url: Link (Hub) or path (local) of the model card.
        training_args: Contents of `training_args.json` ({} when absent).
        metrics: Contents of `metrics.json` ({} when absent).
    """

    source: str
    revision: str | None
    commit: str | None
    card_url: str
    training_args: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return Path(self.source).is_dir()


def resolve_model(model_id: str | None = None, revision: str | None = None) -> tuple[str, str | None]:
    """The model to serve: `model_id`, else `MODEL_ID`, else `DEFAULT_MODEL_DIR`; and its revision.

    Raises
    ------
    ValueError
        When nothing is named and the default model folder does not exist.
    """
    model_id = model_id or os.environ.get("MODEL_ID") or None
    revision = revision or os.environ.get("MODEL_REVISION") or None
    if model_id is None:
        if not (DEFAULT_MODEL_DIR / "config.json").is_file():
            raise ValueError(
                f"no model to serve: {DEFAULT_MODEL_DIR} (relative to {Path.cwd()}) holds no trained model. "
                "Train the default model with `make run`, or set MODEL_ID (or --model) to a model folder "
                "or a Hub repo id."
            )
        model_id = str(DEFAULT_MODEL_DIR)
    return model_id, revision


def _read_json(source: str, revision: str | None, filename: str) -> dict:
    """A JSON file of a model folder or Hub repo, {} when it has none. JSON only: nothing is unpickled."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    if Path(source).is_dir():
        path = Path(source) / filename
        if not path.is_file():
            return {}
    else:
        try:
            path = Path(hf_hub_download(repo_id=source, filename=filename, revision=revision))
        except EntryNotFoundError:
            return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{filename} of {source} is not valid JSON: {e}") from e
    return data if isinstance(data, dict) else {}


def model_info(source: str, revision: str | None) -> ModelInfo:
    """Collect the header facts of a model: card link, commit, `training_args.json`, `metrics.json`."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    commit = None
    if Path(source).is_dir():
        card_url = str(Path(source) / "README.md")
    else:
        endpoint = constants.ENDPOINT.rstrip("/")
        card_url = f"{endpoint}/{source}" + (f"/tree/{revision}" if revision else "")
        try:
            commit = HfApi(endpoint=endpoint).model_info(source, revision=revision).sha
        except (HfHubHTTPError, OSError) as e:  # the header then shows no commit; loading decides
            logger.warning("could not resolve the commit of %s@%s: %s", source, revision, e)
    return ModelInfo(
        source=source,
        revision=revision,
        commit=commit,
        card_url=card_url,
        training_args=_read_json(source, revision, "training_args.json"),
        metrics=_read_json(source, revision, "metrics.json"),
    )


def _split_range(training_args: dict, split: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(first, last) timestamp of a split's rows, as `training.train` records them in `training_args.json`."""
    splits = training_args.get("splits")
    entry = splits.get(split) if isinstance(splits, dict) else None
    if not isinstance(entry, dict):
        return None
    start, end = entry.get("start", entry.get("first")), entry.get("end", entry.get("last"))
    if not start or not end:
        return None
    return utc_timestamp(start), utc_timestamp(end)


def _first_origin(training_args: dict, split: str) -> pd.Timestamp | None:
    """The first forecast origin of a split (its first origin whose targets all lie in it)."""
    entry = (training_args.get("splits") or {}).get(split) or {}
    return utc_timestamp(entry["first_origin"]) if entry.get("first_origin") else None


def _data_record(training_args: dict) -> dict:
    data = training_args.get("data")
    return data if isinstance(data, dict) else {}


# ----- forecasts and backtests, independent of the web page ------------------------------------------


@dataclass
class Forecast:
    """One forecast after the last row of some data, in price (or volume) units.

    Args:
        history: (rows,) the real target quantity (close or volume), indexed by UTC timestamps.
        frame: (horizon, columns) `model.predict` output: `forecast` and the `q{level}` columns.
        lower, upper: Names of the band's columns (lowest and highest quantile), None for point models.
        step: The data's spacing between rows.
    """

    history: pd.Series
    frame: pd.DataFrame
    lower: str | None
    upper: str | None
    step: pd.Timedelta

    @property
    def last(self) -> float:
        return float(self.history.iloc[-1])

    def table(self) -> pd.DataFrame:
        """The forecast as a table: timestamp, step, forecast, band, change from the last close (%).

        Values are rounded to 2 decimals, more for prices below 1,000 (six significant digits).
        """
        decimals = max(2, 5 - math.floor(math.log10(abs(self.last)))) if self.last else 6
        table = pd.DataFrame(
            {
                "timestamp": [_iso(t) for t in self.frame.index],
                "step": np.arange(1, len(self.frame) + 1),
                "forecast": self.frame["forecast"].to_numpy().round(decimals),
            }
        )
        if self.lower and self.upper:
            table[f"lower ({self.lower})"] = self.frame[self.lower].to_numpy().round(decimals)
            table[f"upper ({self.upper})"] = self.frame[self.upper].to_numpy().round(decimals)
        table["change (%)"] = [round(100 * (v / self.last - 1), 3) for v in self.frame["forecast"]]
        return table


class ForecastService:
    """The loaded model and the data it is applied to; what the page and the API call.

    Parameters
    ----------
    model : LSTMForecaster
        A trained model (with its scaler).
    info : ModelInfo
        What its folder or repo records.
    """

    def __init__(self, model: LSTMForecaster, info: ModelInfo):
        self.model = model
        self.info = info
        self.config = model.config
        self.quantity = "volume" if self.config.target == "volume" else "close"
        self.sample = load_ohlcv(sample_path())
        self._backtests: dict[str, tuple[pd.DataFrame, dict, pd.Series]] = {}
        self._lock = threading.Lock()

    # data

    def load_data(self, path: str | None) -> tuple[pd.DataFrame, str]:
        """The bundled sample (path None) or an uploaded CSV/Parquet; and a name for it.

        Error messages name the uploaded file by its own name, not the server's temporary path.
        """
        if not path:
            return self.sample, "the bundled BTC-USD daily sample"
        name = Path(path).name
        try:
            return load_ohlcv(path), name
        except ValueError as e:
            raise ValueError(f"{name}: {str(e).replace(str(path), name)}") from e

    # forecast

    def forecast(self, df: pd.DataFrame, horizon: int) -> Forecast:
        """Forecast `horizon` steps after the last row of `df`."""
        frame = self.model.predict(df, horizon=horizon)
        levels = self.config.quantiles or []
        lower = upper = None
        if len(levels) >= 2:
            lower, upper = self.config.output_names[0], self.config.output_names[-1]
        return Forecast(history=df[self.quantity], frame=frame, lower=lower, upper=upper, step=infer_step(df.index))

    # backtest

    def backtest(self, path: str | None) -> tuple[pd.DataFrame, dict, pd.Series, str]:
        """Rolling-origin forecasts over the held-out (test) period and their metrics beside baselines.

        Returns
        -------
        (frame, report, history, note)
            The backtest frame (one row per origin and step) restricted to the test period, the
            `evaluate_backtest` report, the real series, and a note on the data used.
        """
        from .evaluation import evaluate_backtest

        args = self.info.training_args
        test, train = _split_range(args, "test"), _split_range(args, "train")
        if test is None or train is None:
            raise ValueError(
                "this model's training_args.json records no train and test periods (splits.train, splits.test), "
                "so its held-out period is unknown"
            )
        start = _first_origin(args, "test") or test[0]
        df, name = self.load_data(path)
        sha = file_sha256(path) if path else file_sha256(sample_path())
        with self._lock:
            cached = self._backtests.get(sha)
        if cached is None:
            if df.index[0] > start or df.index[-1] < start:
                raise ValueError(
                    f"{name} covers {_day(df.index[0])} to {_day(df.index[-1])}; the model's held-out period "
                    f"starts {_day(start)}: give data that covers it"
                )
            frame = self.model.backtest(df, start=start)
            frame = frame[frame["timestamp"] <= test[1]].reset_index(drop=True)
            if frame.empty:
                raise ValueError(
                    f"{name} has no complete forecast in the held-out period {_day(start)} to {_day(test[1])}"
                )
            history = df[self.quantity]
            report = evaluate_backtest(frame, history, train[1], self.config.quantiles)
            cached = (frame, report, history)
            with self._lock:
                while len(self._backtests) >= BACKTEST_CACHE_SIZE:  # oldest first: dicts keep insertion order
                    self._backtests.pop(next(iter(self._backtests)))
                self._backtests[sha] = cached
        frame, report, history = cached
        note = f"Data: {name}."
        data = _data_record(args)
        if data.get("kind") in ("sample", "file") and data.get("sha256") and data["sha256"] != sha:
            note += (
                " This is not the file the model was trained on (its sha256 differs from the one in "
                "training_args.json): the model is run on these rows over its held-out dates."
            )
        return frame, report, history, note


# ----- text and figures ----------------------------------------------------------------------------


def _iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(stamp) -> str:
    stamp = pd.Timestamp(stamp)
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float) -> str:
    value = float(value)
    if abs(value) >= 100:
        return f"{value:,.2f}"
    return f"{value:.6g}"


def _duration(step: pd.Timedelta) -> str:
    seconds = int(step.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return str(step)


def header_markdown(model: LSTMForecaster, info: ModelInfo) -> str:
    """The page header: which model, which revision, what it predicts, its data and its card."""
    c = model.config
    where = f"folder `{info.source}`" if info.is_local else f"`{info.source}`"
    revision = f" at revision `{info.revision}`" if info.revision else ""
    commit = f" (commit `{info.commit[:10]}`)" if info.commit else ""
    quantiles = (
        f", with the quantiles {', '.join(f'{q:g}' for q in c.quantiles)}" if c.quantiles else " (point forecast)"
    )
    lines = [
        "# LSTM forecaster",
        f"**Model:** {where}{revision}{commit} — {c.num_layers}-layer {'bidirectional ' if c.bidirectional else ''}"
        f"{c.cell.upper()}, package version {c.package_version}.",
        f"**Predicts** {TARGET_DESCRIPTIONS.get(c.target, c.target)}, "
        f"**{f'1 to {c.horizon} steps' if c.horizon > 1 else '1 step'} ahead**{quantiles}, from the last {c.context_length} rows of "
        f"{len(c.features)} features ({', '.join(c.features)})."
        + (" Its median is the last close: the network forecasts the spread around it." if c.median_at_last else ""),
    ]
    args = info.training_args
    data = _data_record(args)
    ranges = []
    for split in ("train", "validation", "test"):
        period = _split_range(args, split)
        if period:
            label = "held-out test" if split == "test" else split
            ranges.append(f"{label} {_day(period[0])} to {_day(period[1])}")
    if data or ranges:
        text = f"**Trained on** {_data_description(data)}"
        if ranges:
            text += ": " + "; ".join(ranges)
        lines.append(text + ".")
    else:
        lines.append("**Trained on:** not recorded (the model has no training_args.json).")
    if info.is_local:
        lines.append(f"**Model card:** `{info.card_url}`")
    else:
        lines.append(f"**Model card:** [{info.card_url}]({info.card_url})")
    return "\n\n".join(lines)


def _data_description(data: dict) -> str:
    """Where the training data came from, from the `data` record of `training_args.json`."""
    kind, source = data.get("kind"), data.get("source")
    if kind == "sample":
        text = "the bundled BTC-USD daily sample"
    elif kind == "hub":
        text = f"the Hub dataset `{source}`" + (f" at `{data['revision']}`" if data.get("revision") else "")
    elif kind == "file" and source:
        text = f"`{Path(str(source)).name}`"
    else:
        text = str(source or "data")
    facts = []
    if data.get("rows"):
        facts.append(f"{data['rows']:,} rows")
    if data.get("frequency"):
        with contextlib.suppress(ValueError):
            facts.append(f"one every {_duration(pd.Timedelta(data['frequency']))}")
    if data.get("sha256"):
        facts.append(f"sha256 `{str(data['sha256'])[:12]}…`")
    return text + (f" ({', '.join(facts)})" if facts else "")


def summary_markdown(result: Forecast, data_name: str, df: pd.DataFrame, units: str) -> str:
    """The implied move from the last close, and what data it came from."""
    frame = result.frame
    final = float(frame["forecast"].iloc[-1])
    change = final / result.last - 1
    steps = len(frame)
    if change > 0:
        arrow = f"▲ up {100 * change:.2f} %"
    elif change < 0:
        arrow = f"▼ down {100 * -change:.2f} %"
    else:
        # Models with `median_at_last` keep the median at the last close: their news is the interval.
        arrow = "■ no change of the median" if result.lower else "■ no change"
    lines = [
        f"### {arrow} in {steps} step{'s' if steps > 1 else ''} ({_duration(result.step * steps)})",
        f"From the last {units} **{_number(result.last)}** ({_day(result.history.index[-1])}) to "
        f"**{_number(final)}** on {_day(frame.index[-1])} (a move of {final - result.last:+,.2f}"
        f"{'; median forecast' if result.lower else ''}).",
    ]
    if result.lower and result.upper:
        lo, hi = float(frame[result.lower].iloc[-1]), float(frame[result.upper].iloc[-1])
        nominal = 100 * (float(result.upper[1:]) - float(result.lower[1:]))
        lines.append(
            f"{nominal:.0f} % interval ({result.lower} to {result.upper}) at that step: "
            f"{_number(lo)} to {_number(hi)} ({100 * (lo / result.last - 1):+.2f} % to {100 * (hi / result.last - 1):+.2f} %)."
        )
    lines.append(
        f"Data: {data_name}, {len(df):,} rows from {_day(df.index[0])} to {_day(df.index[-1])}, "
        f"one row every {_duration(result.step)}."
    )
    return "\n\n".join(lines)


def _naive(index: pd.Index) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(index).tz_convert("UTC").tz_localize(None)


def interval_bands(levels: list[float] | None) -> list[tuple[str, str, float]]:
    """Central intervals of the quantile levels, outermost first: (lower column, upper column, coverage %).

    Levels pair from the outside in: [0.1, 0.25, 0.5, 0.75, 0.9] gives (q0.1, q0.9, 80) and (q0.25, q0.75, 50).
    """
    levels = list(levels or [])
    bands = []
    for i in range(len(levels) // 2):
        lo, hi = levels[i], levels[-1 - i]
        bands.append((quantile_column(lo), quantile_column(hi), 100 * (hi - lo)))
    return bands


def forecast_figure(
    result: Forecast, units: str, bands: list[tuple[str, str, float]], history_rows: int = HISTORY_ROWS
):
    """Plotly figure: recent history, the forecast from the last close, its interval bands (outermost first)."""
    import plotly.graph_objects as go

    history = result.history.iloc[-max(history_rows, 15 * len(result.frame)) :]
    frame = result.frame
    # Every forecast line starts at the last real value, so the eye follows the move from it.
    x = _naive(pd.DatetimeIndex([history.index[-1], *frame.index]))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=_naive(history.index),
            y=history.to_numpy(),
            name=f"{units} (actual)",
            mode="lines",
            line={"color": "#1f2937", "width": 1.6},
        )
    )
    for k, (lo, hi, coverage) in enumerate(bands):
        _add_band(
            fig,
            x,
            [result.last, *frame[lo]],
            [result.last, *frame[hi]],
            f"rgba(234, 88, 12, {0.18 + 0.14 * k:.2f})",
            f"{coverage:.0f} % interval ({lo}–{hi})",
        )
    error = None
    if bands:  # the outermost interval as whiskers too: visible even for a single step
        lo, hi, _ = bands[0]
        error = {
            "type": "data",
            "array": [0.0, *(frame[hi] - frame["forecast"])],
            "arrayminus": [0.0, *(frame["forecast"] - frame[lo])],
            "color": "#c2410c",
            "thickness": 1.2,
            "width": 5,
        }
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[result.last, *frame["forecast"]],
            error_y=error,
            name="forecast",
            mode="lines+markers",
            line={"color": "#ea580c", "width": 2.2},
            marker={"size": 7},
        )
    )
    # Room on the right, so the last forecast is not drawn on the plot's edge.
    fig.update_xaxes(range=[x[0] - (len(history) - 1) * result.step, x[-1] + max(2, len(frame) // 2) * result.step])
    return _styled(fig, f"Last {len(history)} rows and the {len(frame)}-step forecast", units)


def backtest_figure(frame: pd.DataFrame, history: pd.Series, step: int, units: str):
    """Plotly figure: actual values over the held-out period and the model's `step`-ahead forecasts."""
    import plotly.graph_objects as go

    rows = frame[frame["step"] == step].sort_values("timestamp")
    times = pd.DatetimeIndex(rows["timestamp"])
    shown = history[(history.index >= times.min()) & (history.index <= times.max())]
    levels = [c for c in frame.columns if isinstance(c, str) and c.startswith("q")]
    fig = go.Figure()
    if len(levels) >= 2:
        lo, hi = levels[0], levels[-1]
        _add_band(fig, _naive(times), rows[lo], rows[hi], "rgba(234, 88, 12, 0.22)", f"interval {lo}–{hi}")
    fig.add_trace(
        go.Scatter(
            x=_naive(shown.index),
            y=shown.to_numpy(),
            name=f"{units} (actual)",
            mode="lines",
            line={"color": "#1f2937", "width": 1.4},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=_naive(times),
            y=rows["forecast"],
            name=f"forecast, {step} step{'s' if step > 1 else ''} ahead",
            mode="lines",
            line={"color": "#ea580c", "width": 1.4},
        )
    )
    return _styled(fig, f"Held-out period: the model's {step}-step-ahead forecasts against the actual {units}", units)


def _add_band(fig, x, lower, upper, fillcolor: str, name: str) -> None:
    """A shaded band between two lines: an invisible upper edge, then the lower edge filled up to it."""
    import plotly.graph_objects as go

    edge = {"mode": "lines", "line": {"width": 0}}
    fig.add_trace(go.Scatter(x=x, y=upper, showlegend=False, hoverinfo="skip", name=name, **edge))
    fig.add_trace(go.Scatter(x=x, y=lower, fill="tonexty", fillcolor=fillcolor, name=name, **edge))


def _styled(fig, title: str, units: str):
    """The layout both plots share: title, axes in UTC time and `units`, legend above the plot."""
    fig.update_layout(
        title=title,
        xaxis_title="time (UTC)",
        yaxis_title=units,
        hovermode="x unified",
        template="plotly_white",
        height=460,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
    )
    return fig


# ----- the page --------------------------------------------------------------------------------------


def _readable(error: Exception) -> str:
    """One line for the page: the user's mistake as such, anything else without internals."""
    message = user_message(error)
    if message is None:
        logger.exception("unexpected error in the app", exc_info=error)
        return f"internal error ({type(error).__name__}); the server log has the details"
    return message


def build_demo(model_id: str | None = None, revision: str | None = None):
    """Build the Gradio app for one model, loaded once here.

    Parameters
    ----------
    model_id : str, optional
        Hub repo id or model folder (default: `MODEL_ID`, else `DEFAULT_MODEL_DIR`).
    revision : str, optional
        Hub revision: tag, branch or commit (default: `MODEL_REVISION`, else the default branch).

    Returns
    -------
    gradio.Blocks
        With the API endpoints `forecast` (data file or None, horizon -> summary, plot, table) and
        `backtest` (data file or None, step -> summary, metrics, plot).
    """
    import gradio as gr

    from .evaluation import metrics_table
    from .hub import load_model

    source, revision = resolve_model(model_id, revision)
    model = load_model(source, revision=revision)
    info = model_info(source, revision)
    service = ForecastService(model, info)
    horizon_max = model.config.horizon
    units = service.quantity
    bands = interval_bands(model.config.quantiles)

    def run_forecast(data_file: str | None, horizon: float):
        """Forecast up to the model's horizon after the last row of the data (the bundled sample when none)."""
        try:
            h = int(horizon) if horizon is not None else horizon_max
            if h != horizon and horizon is not None:
                raise ValueError(f"horizon must be a whole number of steps from 1 to {horizon_max}. Got {horizon!r}.")
            df, name = service.load_data(data_file)
            result = service.forecast(df, h)
        except Exception as e:  # noqa: BLE001 - every failure becomes a readable line in the page
            raise gr.Error(_readable(e), duration=None, print_exception=False) from None
        return summary_markdown(result, name, df, units), forecast_figure(result, units, bands), result.table()

    def run_backtest(data_file: str | None, step: float):
        """The model against the actual values over its held-out period, with metrics beside naive baselines."""
        try:
            frame, report, history, note = service.backtest(data_file)
            step = min(max(int(step or 1), 1), horizon_max)
        except Exception as e:  # noqa: BLE001
            raise gr.Error(_readable(e), duration=None, print_exception=False) from None
        text = (
            f"{note} Held-out targets {_day(frame['timestamp'].min())} to {_day(frame['timestamp'].max())}, "
            f"forecast from {frame['origin'].nunique():,} origins; every metric is beside the naive forecasts "
            "on the same points."
        )
        return text, metrics_table(report), backtest_figure(frame, history, step, units)

    with gr.Blocks(title=f"LSTM forecaster · {source}", analytics_enabled=False) as demo:
        gr.Markdown(header_markdown(model, info), elem_id="header")
        gr.Markdown(f"⚠️ {DISCLAIMER}", elem_id="disclaimer")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                data_file = gr.File(
                    label="Your OHLCV data (CSV or Parquet; leave empty for the bundled BTC-USD daily sample)",
                    file_types=[".csv", ".parquet", ".pq"],
                    type="filepath",
                    elem_id="data-file",
                )
            with gr.Column(scale=2):
                if horizon_max > 1:
                    horizon = gr.Slider(
                        1, horizon_max, value=horizon_max, step=1, label="Horizon (steps ahead)", elem_id="horizon"
                    )
                else:
                    horizon = gr.Number(
                        value=1,
                        minimum=1,
                        maximum=1,
                        precision=0,
                        label="Horizon (steps ahead)",
                        interactive=False,
                        elem_id="horizon",
                    )
                button = gr.Button("Forecast", variant="primary", elem_id="forecast-button")
        with gr.Tabs():
            with gr.Tab("Forecast", id="forecast"):
                summary = gr.Markdown(
                    "Press **Forecast** to forecast after the last row of the data.", elem_id="forecast-summary"
                )
                plot = gr.Plot(label="Recent history and forecast", elem_id="forecast-plot")
                table = gr.DataFrame(label="Forecast", interactive=False, elem_id="forecast-table")
            with gr.Tab("Backtest (held-out period)", id="backtest"):
                gr.Markdown(
                    "Rolling-origin forecasts over the test period recorded in the model's training_args.json, "
                    "which training never saw, on the data above (the bundled sample when none is uploaded). "
                    "The plot shows the forecasts at the step chosen by the horizon control."
                )
                backtest_button = gr.Button("Run backtest", elem_id="backtest-button")
                backtest_note = gr.Markdown(elem_id="backtest-note")
                backtest_metrics = gr.Markdown(elem_id="backtest-metrics")
                backtest_plot = gr.Plot(label="Held-out forecasts against actual values", elem_id="backtest-plot")
        button.click(
            run_forecast,
            inputs=[data_file, horizon],
            outputs=[summary, plot, table],
            api_name="forecast",
            concurrency_limit=4,
        )
        backtest_button.click(
            run_backtest,
            inputs=[data_file, horizon],
            outputs=[backtest_note, backtest_metrics, backtest_plot],
            api_name="backtest",
            concurrency_limit=1,
        )
    return demo


def serve_command(args: argparse.Namespace) -> int:
    """`lstm-forecaster serve`: build the app and serve it until interrupted."""
    demo = build_demo(args.model, args.revision)
    print(f"Serving on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
    demo.launch(server_name=args.host, server_port=args.port, share=False)
    return 0
