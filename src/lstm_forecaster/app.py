"""The Gradio app: fan-chart forecasts in price units from a model in a folder or on the Hub.

Examples (each works as written from the repository root after `make run` trained `runs/default`):

    lstm-forecaster serve                                    # MODEL_ID, else runs/default; MCP server on
    lstm-forecaster serve --model runs/default --port 7860
    lstm-forecaster serve --model user/btc-daily --revision v1.0
    MODEL_ID=user/btc-daily MODEL_REVISION=v1.0 python space/app.py

From Python, `/forecast` returns one typed record per asset and step (README: "The Space's API"):

    from gradio_client import Client, handle_file
    records = Client("http://127.0.0.1:7860/").predict(None, 3, api_name="/forecast")
    # [{"symbol": None, "timestamp": "2024-04-01T00:00:00Z", "step": 1, "forecast": ..., "q0.1": ..., "warnings": []}, ...]
    records = Client(...).predict(handle_file("my.csv"), 3, None, True, api_name="/forecast")

With `mcp_server=True` (as `serve` launches it) the same forecast is the MCP tool `forecast`, at
`http://HOST:PORT/gradio_api/mcp/` (streamable HTTP); it answers JSON text.

The model is loaded once, when the app is built. Nothing here unpickles: the model comes through
`hub.load_model` (safetensors + JSON) and its `training_args.json` / `metrics.json` are read as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import guards
from .app_plots import backtest_figure, forecast_figure, interval_bands
from .app_service import Forecast, ForecastService, held_out_comparison_markdown, split_range
from .app_service import day as _day
from .configuration import LSTMForecasterConfig
from .errors import user_message
from .modeling import LSTMForecaster

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path("runs/default")
"""The model that the README's main command (`make run`) trains, relative to the current directory."""

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


def _data_record(training_args: dict) -> dict:
    data = training_args.get("data")
    return data if isinstance(data, dict) else {}


# ----- text ----------------------------------------------------------------------------------------


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


def _architecture(c) -> str:
    """The network in words: "5 x 1-layer LSTM (attention pooling), averaged" for an ensemble."""
    net = f"{c.num_layers}-layer {'bidirectional ' if c.bidirectional else ''}{c.cell.upper()}"
    if c.head == "attention":
        net += " with attention pooling"
    return f"an ensemble of {c.ensemble} x {net}, averaged" if c.ensemble > 1 else net


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
        f"**Model:** {where}{revision}{commit} — {_architecture(c)}, package version {c.package_version}.",
        f"**Predicts** {TARGET_DESCRIPTIONS.get(c.target, c.target)}, "
        f"**{f'1 to {c.horizon} steps' if c.horizon > 1 else '1 step'} ahead**{quantiles}, from the last {c.context_length} rows of "
        f"{len(c.features)} features ({', '.join(c.features)})."
        + (" Its median is the last close: the network forecasts the spread around it." if c.median_at_last else ""),
    ]
    args = info.training_args
    data = _data_record(args)
    ranges = []
    for split in ("train", "validation", "test"):
        period = split_range(args, split)
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
    held_out = held_out_comparison_markdown(info.metrics)
    if held_out:
        lines.append(held_out)
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
    elif kind == "panel" and data.get("symbols"):
        text = (
            f"a daily panel of {len(data['symbols'])} assets ({', '.join(map(str, data['symbols']))}) from `{source}`"
        )
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


def summary_markdown(result: Forecast, data_name: str, df: pd.DataFrame, units: str, bands) -> str:
    """The implied move from the last value, its outermost interval at the last step, and the data it came from."""
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
        arrow = "■ no change of the median" if bands else "■ no change"
    who = f"{result.symbol}: " if result.symbol else ""
    lines = [
        f"### {who}{arrow} in {steps} step{'s' if steps > 1 else ''} ({_duration(result.step * steps)})",
        f"From the last {units} **{_number(result.last)}** ({_day(result.history.index[-1])}) to "
        f"**{_number(final)}** on {_day(frame.index[-1])} (a move of {final - result.last:+,.2f}"
        f"{'; median forecast' if bands else ''}).",
    ]
    for lower, upper, coverage in bands:
        lo, hi = float(frame[lower].iloc[-1]), float(frame[upper].iloc[-1])
        lines.append(
            f"{coverage:.0f} % interval ({lower} to {upper}) at that step: {_number(lo)} to {_number(hi)} "
            f"({100 * (lo / result.last - 1):+.2f} % to {100 * (hi / result.last - 1):+.2f} %)."
        )
    rows = len(df)
    lines.append(
        f"Data: {data_name}, {rows:,} rows up to {_day(result.history.index[-1])}, one row every {_duration(result.step)}."
    )
    return "\n\n".join(lines)


def notice_markdown(warnings: list[dict]) -> str:
    """The warnings of a forecast as a visible notice, one line each ("" when there are none)."""
    return "\n\n".join(f"⚠️ **{w['code'].replace('_', ' ')}**: {w['message']}" for w in warnings)


def record_type(config: LSTMForecasterConfig) -> type:
    """The typed record of one forecast step, with one field per quantile level of `config`."""
    from typing import TypedDict

    # Functional syntax: real types, not the strings `from __future__ import annotations` would leave.
    warning = TypedDict("ForecastWarning", {"code": str, "message": str, "symbol": str | None})  # noqa: UP013
    fields = {"symbol": str | None, "timestamp": str, "step": int, "forecast": float}
    fields.update({name: float for name in config.output_names if name != "forecast"})
    fields["warnings"] = list[warning]
    return TypedDict("ForecastRecord", fields)


# ----- the page --------------------------------------------------------------------------------------


def _readable(error: Exception, what: str) -> str:
    """One line for the page and one line in the server log: the user's mistake as such, anything else without internals."""
    message = user_message(error)
    if message is None:
        logger.exception("unexpected error in %s", what, exc_info=error)
        return f"internal error ({type(error).__name__}); the server log has the details"
    logger.warning("%s: bad input: %s", what, message)
    return message


def _uploaded(data_file) -> tuple[str | None, str | None]:
    """(path, name as uploaded) of an API upload (gradio FileData; gradio refuses paths it did not receive)."""
    if not data_file:
        return None, None
    path = data_file.get("path") if isinstance(data_file, dict) else getattr(data_file, "path", None)
    if not path:
        raise ValueError("data_file must be a file uploaded with the request (gradio_client.handle_file)")
    name = (data_file.get("orig_name") if isinstance(data_file, dict) else None) or Path(path).name
    return str(path), Path(name).name


def _not_an_mcp_tool(fn):
    """Keep an API endpoint out of the MCP server's tool list (gradio lists only `_mcp_type == "tool"` when set)."""
    fn._mcp_type = "api"
    return fn


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
        With the API endpoints `forecast` (typed records), `forecast_json` (the same as JSON text, the MCP
        tool `forecast`) and `backtest` (data file or None, step -> note, metrics, plot, calibration image). Launch it with
        `mcp_server=True` to serve the MCP tool.
    """
    import gradio as gr
    from gradio.data_classes import FileData

    from .evaluation import metrics_table
    from .hub import load_model

    source, revision = resolve_model(model_id, revision)
    model = load_model(source, revision=revision)
    info = model_info(source, revision)
    service = ForecastService(model, info.training_args)
    horizon_max = model.config.horizon
    units = service.quantity
    bands = interval_bands(model.config.quantiles)
    Record = record_type(model.config)

    def _horizon(horizon) -> int:
        if horizon is None:
            return horizon_max
        if isinstance(horizon, bool) or float(horizon) != int(horizon) or not 1 <= int(horizon) <= horizon_max:
            raise ValueError(f"horizon must be a whole number of steps from 1 to {horizon_max}. Got {horizon!r}.")
        return int(horizon)

    def _forecasts(path, name, horizon, symbol, drop_incomplete):
        h = _horizon(horizon)
        df, name = service.load_data(path, name)
        return service.forecast(df, name, h, symbol or None, bool(drop_incomplete)), df, name

    def _records(data_file, horizon, symbol, drop_incomplete) -> list[dict]:
        try:
            path, name = _uploaded(data_file)
            forecasts, _, _ = _forecasts(path, name, horizon, symbol, drop_incomplete)
        except Exception as e:  # noqa: BLE001 - every failure becomes one readable line for the client
            raise gr.Error(_readable(e, "forecast"), print_exception=False) from None
        return [record for f in forecasts for record in f.records()]

    # `Args:` / `Returns:` docstrings here, not NumPy style: gradio reads them into the API page and the MCP
    # tool's description and parameter schema.
    def forecast_records(
        data_file: FileData | None = None,
        horizon: int = horizon_max,
        symbol: str | None = None,
        drop_incomplete: bool = False,
    ):
        """Forecast the next steps of OHLCV candles in price units, with quantiles and warnings.

        Args:
            data_file: OHLCV candles as CSV or Parquet (columns timestamp or date, open, high, low, close, volume; a symbol column for several assets). None: the bundled data (the daily panel of 8 coins for a model trained on it, else the BTC-USD daily sample).
            horizon: Steps to forecast, from 1 to the model's horizon.
            symbol: The asset to forecast, when the file holds several; None: every asset in the file.
            drop_incomplete: Drop a last candle whose volume says it is still forming.
        Returns:
            One record per asset and step: symbol, timestamp (UTC, ISO 8601), step, forecast (the median), one field per quantile level (q0.1, ...), warnings (code, message, symbol).
        """
        return _records(data_file, horizon, symbol, drop_incomplete)

    def forecast(
        data_file: FileData | None = None,
        horizon: int = horizon_max,
        symbol: str | None = None,
        drop_incomplete: bool = False,
    ):
        """Forecast the next steps of a crypto asset's price from its OHLCV candles, with quantiles and warnings.

        Args:
            data_file: URL of OHLCV candles as CSV or Parquet (columns timestamp or date, open, high, low, close, volume; a symbol column for several assets). None: the bundled data (the daily panel of 8 coins for a model trained on it, else the BTC-USD daily sample).
            horizon: Steps to forecast, from 1 to the model's horizon.
            symbol: The asset to forecast, when the file holds several; None: every asset in the file.
            drop_incomplete: Drop a last candle whose volume says it is still forming.
        Returns:
            A JSON list with one record per asset and step: symbol, timestamp (UTC, ISO 8601), step, forecast (the median), one field per quantile level (q0.1, ...), warnings (code, message, symbol). A forecast the model cannot make (a price that is not positive, a move beyond any in its training data) is refused with an error that says why.
        """
        return json.dumps(_records(data_file, horizon, symbol, drop_incomplete))

    parameters = {"data_file": FileData | None, "horizon": int, "symbol": str | None, "drop_incomplete": bool}
    forecast_records.__annotations__ = {**parameters, "return": list[Record]}
    forecast.__annotations__ = {**parameters, "return": str}

    def run_view(data_file: str | None, horizon: float, symbol: str | None, drop_incomplete: bool):
        """The page's forecast: notice, summary, fan chart, table, CSV; an error clears them all but the notice."""
        try:
            forecasts, df, name = _forecasts(data_file, None, horizon, symbol, drop_incomplete)
            shown = forecasts[0]
            title = (
                f"{shown.symbol + ': ' if shown.symbol else ''}Recent {units} and the {len(shown.frame)}-step forecast"
            )
            figure = forecast_figure(shown.history, shown.frame, shown.step, units, bands, title)
            table = pd.concat([f.table() for f in forecasts], ignore_index=True)
            csv = service.write_csv(forecasts)
            if not table["symbol"].any():  # an unnamed single series: no symbol column on the page
                table = table.drop(columns="symbol")
        except Exception as e:  # noqa: BLE001 - every failure becomes a readable line in the page
            message = _readable(e, "forecast")
            return f"❌ {message}", "", None, pd.DataFrame(), gr.DownloadButton(value=None, visible=False)
        warnings = [w for f in forecasts for w in f.warnings]
        return (
            notice_markdown(warnings),
            summary_markdown(shown, name, df, units, bands),
            figure,
            table,
            gr.DownloadButton(value=str(csv), visible=True),
        )

    def pick_assets(data_file: str | None, current: str | None):
        """The asset picker's choices for the data: its series, then the other assets of training."""
        try:
            df, _ = service.load_data(data_file)
        except Exception:  # noqa: BLE001 - the forecast button reports a bad file
            return gr.Dropdown()
        return _asset_picker(gr, service, df, current)

    def run_backtest(data_file: str | None, step: float, symbol: str | None):
        """The frozen model against the actual values, beside the naive forecasts and the field's baselines."""
        try:
            run = service.backtest(data_file, symbol=symbol or None)
            step = min(max(int(step or 1), 1), horizon_max)
        except Exception as e:  # noqa: BLE001
            raise gr.Error(_readable(e, "backtest"), duration=None, print_exception=False) from None
        frame = run.frame
        text = (
            f"{run.note} Held-out targets {_day(frame['timestamp'].min())} to {_day(frame['timestamp'].max())}, "
            f"forecast from {frame['origin'].nunique():,} origins; every metric is beside the naive forecasts "
            "on the same points."
        )
        metrics = metrics_table(run.report)
        if run.comparison:
            metrics += (
                "\n\n#### Beside the field's baselines (losses on log returns from the close at each origin)\n\n"
                + run.comparison
            )
        calibration = gr.Image(value=str(run.calibration) if run.calibration else None, visible=bool(run.calibration))
        return text, metrics, backtest_figure(frame, run.history, step, units), calibration

    with gr.Blocks(title=f"LSTM forecaster · {source}", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(header_markdown(model, info), elem_id="header")
        gr.Markdown(f"⚠️ {DISCLAIMER}", elem_id="disclaimer")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                data_file = gr.File(
                    label=f"Your OHLCV data (CSV or Parquet; leave empty for {service.default_name})",
                    type="filepath",
                    elem_id="data-file",
                )
            with gr.Column(scale=2):
                asset = _asset_picker(gr, service, service.default_data)
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
                drop = gr.Checkbox(
                    value=False,
                    label="Drop the last candle if it looks incomplete (volume far below the recent median)",
                    elem_id="drop-incomplete",
                )
                button = gr.Button("Forecast", variant="primary", elem_id="forecast-button")
        with gr.Tabs():
            with gr.Tab("Forecast", id="forecast"):
                notice = gr.Markdown(elem_id="forecast-notice")
                summary = gr.Markdown(
                    "Press **Forecast** to forecast after the last row of the data.", elem_id="forecast-summary"
                )
                plot = gr.Plot(label="Recent history and the forecast's fan chart", elem_id="forecast-plot")
                table = gr.DataFrame(label="Every step and level", interactive=False, elem_id="forecast-table")
                download = gr.DownloadButton("Download the forecast (CSV)", visible=False, elem_id="forecast-csv")
            with gr.Tab("Backtest", id="backtest"):
                gr.Markdown(
                    "Rolling-origin forecasts of the frozen model on the asset picked above (of the bundled data when "
                    "no file is uploaded): over the model's held-out test period when the data covers it (recorded in its "
                    "training_args.json; training never saw it), else over the file's own last rows; beside the "
                    "naive forecasts and, for quantile models, the field's baselines (constant quantile, "
                    "EWMA(0.94), GARCH(1,1)-t), with a calibration plot. The plot shows the forecasts at the step "
                    "chosen by the horizon control."
                )
                backtest_button = gr.Button("Run backtest", elem_id="backtest-button")
                backtest_note = gr.Markdown(elem_id="backtest-note")
                backtest_metrics = gr.Markdown(elem_id="backtest-metrics")
                backtest_plot = gr.Plot(label="Forecasts against actual values", elem_id="backtest-plot")
                backtest_calibration = gr.Image(
                    label="Calibration: the share of outcomes below each quantile (on the diagonal: calibrated)",
                    type="filepath",
                    interactive=False,
                    visible=False,
                    elem_id="backtest-calibration",
                )
        button.click(
            run_view,
            inputs=[data_file, horizon, asset, drop],
            outputs=[notice, summary, plot, table, download],
            api_visibility="private",
            concurrency_limit=4,
        )
        data_file.change(pick_assets, inputs=[data_file, asset], outputs=[asset], api_visibility="private")
        gr.api(_not_an_mcp_tool(forecast_records), api_name="forecast", concurrency_limit=8)
        gr.api(forecast, api_name="forecast_json", concurrency_limit=8)
        backtest_outputs = [backtest_note, backtest_metrics, backtest_plot, backtest_calibration]
        # The old backtest goes first, so that an error never stands under a previous result.
        backtest_button.click(
            lambda: ("", "", None, gr.Image(value=None, visible=False)),
            outputs=backtest_outputs,
            api_visibility="private",
            queue=False,
        ).then(
            _not_an_mcp_tool(run_backtest),
            inputs=[data_file, horizon, asset],
            outputs=backtest_outputs,
            api_name="backtest",
            concurrency_limit=1,
        )
    return demo


def _asset_picker(gr, service: ForecastService, df: pd.DataFrame, current: str | None = None):
    """The asset dropdown for `df`: every series of the data (""), or one asset; hidden with nothing to pick.

    It keeps the `current` choice when the data holds it, else shows the data's default asset.
    """
    choices = service.assets(df)
    options = [("every series in the data", ""), *((c, c) for c in choices)]
    value = current if current in service.data_symbols(df) else (service.default_asset(df) or "")
    return gr.Dropdown(
        choices=options, value=value, label="Asset", visible=bool(choices), interactive=True, elem_id="asset"
    )


def serve_command(args: argparse.Namespace) -> int:
    """`lstm-forecaster serve`: build the app and serve it, with its MCP server, until interrupted."""
    demo = build_demo(args.model, args.revision)
    print(f"Serving on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        mcp_server=True,
        max_file_size=guards.MAX_UPLOAD_BYTES,
    )
    return 0
