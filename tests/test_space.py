"""The Gradio Space: the forecast API through gradio_client and MCP, a real browser, load, and loading from the Hub.

The app is served on 127.0.0.1 by the tests themselves; nothing may leave the machine. A guard on the
socket layer records (and refuses) every connection or name lookup outside loopback made by this
process (gradio, gradio_client, huggingface_hub, mcp), and the browser aborts and records every
request that is not to the local server.

`UPDATE_SCREENSHOT=1` serves the default model (`runs/default`, trained by `make run`) in the
browser test, when it exists, and writes the screenshot to `docs/space.png` for the README.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from lstm_forecaster import LSTMForecasterConfig, guards, load_ohlcv, sample_path  # noqa: E402
from lstm_forecaster.app import DEFAULT_MODEL_DIR, build_demo, notice_markdown, resolve_model  # noqa: E402
from lstm_forecaster.app_plots import interval_bands  # noqa: E402
from lstm_forecaster.hub import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOURLY = ROOT / "tests" / "data" / "Binance_BTCUSDT_1h.csv"
ETH_HOURLY = ROOT / "tests" / "data" / "Binance_ETHUSDT_1h_zero_volume.csv"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
BROKEN_CSV = "date,open,high,low,close,volume\n2024-01-01,1,2,1,1.5,10\n2024-01-02,1,2,1,abc,10\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(120)
HORIZON = 3
LEVELS = [0.1, 0.25, 0.5, 0.75, 0.9]
QUANTILE_FIELDS = ["q0.1", "q0.25", "q0.5", "q0.75", "q0.9"]


# ----- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outside() -> list[str]:
    """Refuse and record connections and name lookups outside loopback for the whole module."""
    attempts: list[str] = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            attempts.append(f"connect {address}")
            raise OSError(f"test guard: no network outside loopback ({address})")
        return connect(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in LOOPBACK:
            attempts.append(f"lookup {name}")
            raise socket.gaierror(f"test guard: no name lookups outside loopback ({name})")
        return getaddrinfo(host, *args, **kwargs)

    from huggingface_hub import constants

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", guarded_connect)
        mp.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
        # HF_HUB_DISABLE_TELEMETRY above is read when huggingface_hub is imported, which an earlier test
        # module may have done: without it, a gradio_client.Client can fetch an agent registry from the Hub
        # (conftest empties that registry at the start of the session, yet the lookups came back when
        # tests/test_hub.py ran first: seen in `pytest tests/test_hub.py tests/test_space.py`).
        mp.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
        yield attempts
    assert attempts == [], f"the app tried to reach outside the machine: {attempts}"


def _train_tiny(folder: Path, seed: int, target: str = "log_return") -> Path:
    """A real training run, 1 epoch on the last 400 days of the sample (named BTC-USD): a complete model folder."""
    from lstm_forecaster.training import TrainingConfig, train

    config = LSTMForecasterConfig(
        features=["log_return", "rsi_14", "volume_ratio_14"],
        target=target,
        context_length=20,
        horizon=HORIZON,
        hidden_size=8,
        quantiles=LEVELS,
    )
    recipe = TrainingConfig(model=config, name="tiny", epochs=1, batch_size=64, loss="pinball", seed=seed)
    df = load_ohlcv(sample_path()).iloc[-400:]
    df.attrs["symbol"] = "BTC-USD"
    return train(recipe, folder, data=df, progress=False, cpu=True)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return _train_tiny(tmp_path_factory.mktemp("space_model") / "tiny", seed=0)


@pytest.fixture(scope="module")
def negative_model(tmp_path_factory) -> Path:
    """A trained price-level model whose head is shifted 100 standard deviations down: it forecasts negative prices."""
    import torch

    trained = _train_tiny(tmp_path_factory.mktemp("space_close") / "trained", seed=0, target="close")
    model = load_model(trained)
    with torch.no_grad():
        model.head.bias -= 100.0
    folder = trained.parent / "negative"
    model.save_pretrained(folder)
    shutil.copyfile(trained / "training_args.json", folder / "training_args.json")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(demo, mcp_server: bool = False) -> str:
    port = _free_port()
    demo.launch(
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        server_port=port,
        share=False,
        quiet=True,
        mcp_server=mcp_server,
    )
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def served(tiny_model, outside):
    """The app serving the tiny model on a free loopback port, with its MCP server: (url, model)."""
    demo = build_demo(str(tiny_model))
    url = _launch(demo, mcp_server=True)
    try:
        yield url, load_model(tiny_model)
    finally:
        demo.close()


def _client(url: str):
    return gradio_client.Client(url, verbose=False, download_files=False)


def _table(records) -> pd.DataFrame:
    """The records of `/forecast` as a frame, after checking every record's fields and types."""
    assert isinstance(records, list) and records
    for record in records:
        assert list(record) == ["symbol", "timestamp", "step", "forecast", *QUANTILE_FIELDS, "warnings"]
        assert isinstance(record["step"], int) and isinstance(record["timestamp"], str)
        assert all(isinstance(record[k], float) for k in ("forecast", *QUANTILE_FIELDS))
        assert all(set(w) == {"code", "message", "symbol"} for w in record["warnings"])
    return pd.DataFrame(records)


def _check_forecast(table: pd.DataFrame, df: pd.DataFrame, model, horizon: int) -> None:
    """Timestamps follow the last row at the data's spacing; values are the model's, in price units."""
    last_time, last_close = df.index[-1], float(df["close"].iloc[-1])
    step = df.index[-1] - df.index[-2]
    expected_times = [last_time + step * k for k in range(1, horizon + 1)]
    assert list(table["timestamp"]) == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in expected_times]
    assert list(table["step"]) == list(range(1, horizon + 1))
    forecast = table["forecast"].to_numpy(dtype=float)
    assert np.all(forecast > 0)
    # Price units: near the last close (a day's or an hour's move), not a scaled value near 0 or 1.
    assert np.all(np.abs(forecast / last_close - 1) < 0.25), (forecast, last_close)
    levels = table[QUANTILE_FIELDS].to_numpy(dtype=float)
    assert np.all(np.diff(levels, axis=1) >= 0)
    np.testing.assert_array_equal(forecast, levels[:, 2])  # the median
    expected = model.predict(df, horizon=horizon)
    np.testing.assert_allclose(table[["forecast", *QUANTILE_FIELDS]].to_numpy(), expected.to_numpy(), rtol=1e-12)


def _codes(records) -> list[str]:
    return sorted({w["code"] for record in records for w in record["warnings"]})


# ----- the forecast endpoint through gradio_client -----------------------------------------------------


@pytest.mark.parametrize("horizon", [1, HORIZON])
def test_api_forecast_on_the_sample(served, horizon):
    url, model = served
    records = _client(url).predict(None, horizon, api_name="/forecast")
    table = _table(records)
    assert len(table) == horizon and table["symbol"].isna().all()
    _check_forecast(table, load_ohlcv(sample_path()), model, horizon)
    # Trained on 2023-2024 closes up to its split; the sample's last closes lie above them.
    assert _codes(records) == ["price_range"]


def test_api_forecast_on_an_uploaded_file(served, tmp_path):
    url, model = served
    # An hourly exchange export (URL line first, newest first, unix milliseconds): what users bring.
    lines = HOURLY.read_text().splitlines()
    upload = tmp_path / "btc_hourly.csv"
    upload.write_text("\n".join(lines[:400]) + "\n")
    records = _client(url).predict(gradio_client.handle_file(str(upload)), HORIZON, api_name="/forecast")
    table = _table(records)
    df = load_ohlcv(upload)
    assert df.index[-1] - df.index[-2] == pd.Timedelta(hours=1)
    _check_forecast(table, df, model, HORIZON)
    assert set(table["symbol"]) == {"BTC/USDT"}
    frequency = next(w for w in records[0]["warnings"] if w["code"] == "frequency")
    assert "one row every 1 hour, the model was trained on one every 1 day" in frequency["message"]


def test_api_hourly_eth_with_dead_hours_in_2018_forecasts(served):
    url, model = served
    # Issue 12: refused before because of zero-volume rows years before the rows a forecast reads.
    records = _client(url).predict(gradio_client.handle_file(str(ETH_HOURLY)), HORIZON, api_name="/forecast")
    table = _table(records)
    _check_forecast(table, load_ohlcv(ETH_HOURLY), model, HORIZON)
    assert _codes(records) == ["frequency", "zero_shot"]  # no price range for an asset it never saw
    zero_shot = next(w for w in records[0]["warnings"] if w["code"] == "zero_shot")
    assert zero_shot == {
        "code": "zero_shot",
        "message": "ETH/USDT was not in the model's training data (BTC-USD): a zero-shot forecast",
        "symbol": "ETH/USDT",
    }


def test_api_incomplete_last_candle_is_a_warning_and_can_be_dropped(served, tmp_path):
    url, model = served
    df = load_ohlcv(sample_path()).iloc[-300:].copy()
    df.iloc[-1, df.columns.get_loc("volume")] /= 1000
    upload = tmp_path / "forming.csv"
    df.to_csv(upload)
    client = _client(url)
    records = client.predict(gradio_client.handle_file(str(upload)), HORIZON, None, False, api_name="/forecast")
    assert "incomplete_candle" in _codes(records)
    dropped = client.predict(gradio_client.handle_file(str(upload)), HORIZON, None, True, api_name="/forecast")
    assert "dropped_incomplete" in _codes(dropped)
    assert dropped[0]["timestamp"] == df.index[-1].strftime("%Y-%m-%dT%H:%M:%SZ")
    _check_forecast(_table(dropped), df.iloc[:-1], model, HORIZON)


def _panel_csv(folder: Path, missing: tuple[str, str] | None = None) -> Path:
    """One CSV with two coins' daily candles (a `Symbol` column), as an exchange export of several pairs;
    `missing`: (coin, day) left out."""
    lines = []
    for coin in ("ETHUSDT", "XRPUSDT"):
        text = (ROOT / "tests" / "data" / "panel" / f"Binance_{coin}_d.csv").read_text().splitlines()
        lines += [
            line
            for line in text[2:]
            if missing is None or not line.startswith(f"{line.split(',')[0]},{missing[1]},{missing[0]}")
        ]
        header = text[1]
    path = folder / ("two_coins.csv" if missing is None else "two_coins_short_gap.csv")
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def test_api_forecasts_every_asset_of_a_panel_or_the_one_asked_for(served, tmp_path):
    url, model = served
    upload = _panel_csv(tmp_path)
    panel = load_ohlcv(upload)
    client = _client(url)
    records = client.predict(gradio_client.handle_file(str(upload)), HORIZON, api_name="/forecast")
    table = _table(records)
    assert list(table["symbol"]) == ["ETHUSDT"] * HORIZON + ["XRPUSDT"] * HORIZON
    for symbol, rows in table.groupby("symbol"):
        series = panel.xs(symbol, level="symbol")
        series.attrs["symbol"] = symbol
        _check_forecast(rows.reset_index(drop=True), series, model, HORIZON)
        warnings = records[0 if symbol == "ETHUSDT" else HORIZON]["warnings"]
        assert {w["symbol"] for w in warnings} == {symbol} and "zero_shot" in {w["code"] for w in warnings}
    only = client.predict(gradio_client.handle_file(str(upload)), HORIZON, "XRPUSDT", api_name="/forecast")
    assert only == records[HORIZON:]
    with pytest.raises(
        gradio_client.exceptions.AppError, match=r"^DOGEUSDT is not in two_coins\.csv \(it holds ETHUSDT, XRPUSDT\)"
    ):
        client.predict(gradio_client.handle_file(str(upload)), HORIZON, "DOGEUSDT", api_name="/forecast")

    # One coin with a gap in the rows it reads: the other is still forecast, the refusal named beside it.
    header, *rows = upload.read_text().splitlines()
    gapped = tmp_path / "gapped.csv"
    kept = [r for r in rows if "XRPUSDT" not in r or not r.split(",")[1].startswith("2026-05-1")]
    gapped.write_text("\n".join([header, *kept]) + "\n")
    records = client.predict(gradio_client.handle_file(str(gapped)), HORIZON, api_name="/forecast")
    assert {r["symbol"] for r in records} == {"ETHUSDT"}
    refused = [w for w in records[0]["warnings"] if w["code"] == "refused"]
    assert [w["symbol"] for w in refused] == ["XRPUSDT"] and "XRPUSDT: no forecast: " in refused[0]["message"]
    # 05-10 to 05-19 missing (and 04-14, 04-15): more than the 2 steps accepted for a context of 20.
    assert "the last 34 rows miss 12 steps, more than the 2 accepted" in refused[0]["message"]

    # A short gap (one missing day among the rows XRPUSDT's forecast reads): forecast, with the warning.
    short = _panel_csv(tmp_path, missing=("XRPUSDT", "2026-05-15"))
    records = client.predict(gradio_client.handle_file(str(short)), HORIZON, api_name="/forecast")
    assert [r["symbol"] for r in records] == ["ETHUSDT"] * HORIZON + ["XRPUSDT"] * HORIZON
    warnings = records[HORIZON]["warnings"]
    gaps = [w for w in warnings if w["code"] == "short_gap"]
    assert [w["symbol"] for w in gaps] == ["XRPUSDT"] and "short_gap" not in {w["code"] for w in records[0]["warnings"]}
    assert gaps[0]["message"].startswith("XRPUSDT: 1 row missing among the 34 the forecast reads (2026-05-15)")
    assert f"⚠️ **short gap**: {gaps[0]['message']}" in notice_markdown(warnings)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.csv", BROKEN_CSV, r"broken\.csv: column 'close' has a non-numeric value 'abc' at row 1"),
        ("broken.csv", "when,price\n2024-01-01,3\n", r"broken\.csv: missing column 'close'; found: when, price"),
        (
            "broken.csv",
            "date,close\n" + "".join(f"2024-01-{d:02d},{100 + d}\n" for d in range(1, 11)),
            r"too few rows: 10 given",
        ),
        ("chart.csv", PNG, r"^chart\.csv is a PNG image, not a CSV or Parquet file of OHLCV candles$"),
        ("chart.png", PNG, r"^chart\.png is a PNG image, not a CSV or Parquet file of OHLCV candles$"),
    ],
)
def test_api_bad_file_gives_a_readable_error(served, tmp_path, name, content, message):
    url, _ = served
    broken = tmp_path / name
    broken.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(gradio_client.exceptions.AppError, match=message) as caught:
        _client(url).predict(gradio_client.handle_file(str(broken)), HORIZON, api_name="/forecast")
    assert "Traceback" not in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_api_refuses_a_server_path_as_the_file(served):
    import httpx

    url, _ = served
    # A client that names a file on the server instead of uploading one: gradio refuses it before the app.
    payload = {"data": [{"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}, 1, None, False]}
    event = httpx.post(f"{url}gradio_api/call/forecast", json=payload, timeout=30).json()["event_id"]
    stream = httpx.get(f"{url}gradio_api/call/forecast/{event}", timeout=30).text
    assert "event: error" in stream and Path("/etc/hostname").read_text().strip() not in stream, stream


def test_api_upload_limits(served, tmp_path, monkeypatch):
    url, _ = served
    monkeypatch.setattr(guards, "MAX_UPLOAD_BYTES", 10_000)
    with pytest.raises(gradio_client.exceptions.AppError, match=r"Binance_ETHUSDT_1h_zero_volume\.csv is 0\.1 MiB; "):
        _client(url).predict(gradio_client.handle_file(str(ETH_HOURLY)), HORIZON, api_name="/forecast")
    monkeypatch.setattr(guards, "MAX_UPLOAD_BYTES", 50 * 2**20)
    monkeypatch.setattr(guards, "MAX_UPLOAD_ROWS", 1000)
    with pytest.raises(gradio_client.exceptions.AppError, match=r"has 1,499 rows; uploads are limited to 1,000"):
        _client(url).predict(gradio_client.handle_file(str(ETH_HOURLY)), HORIZON, api_name="/forecast")


@pytest.mark.parametrize(
    ("horizon", "message"),
    [(HORIZON + 2, f"whole number of steps from 1 to {HORIZON}. Got 5"), (2.5, f"from 1 to {HORIZON}. Got 2.5")],
)
def test_api_horizon_outside_the_model_is_refused_and_logged_as_one_line(served, horizon, message, caplog, capfd):
    url, _ = served
    caplog.set_level(logging.WARNING, logger="lstm_forecaster.app")
    with pytest.raises(gradio_client.exceptions.AppError, match=message):
        _client(url).predict(None, horizon, api_name="/forecast")
    logged = [r.getMessage() for r in caplog.records if r.name == "lstm_forecaster.app"]
    assert len(logged) == 1 and logged[0].startswith("forecast: bad input: horizon must be") and "\n" not in logged[0]
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in capfd.readouterr().err


def test_api_refuses_a_negative_price_with_the_reason(negative_model, outside):
    demo = build_demo(str(negative_model))
    url = _launch(demo)
    try:
        with pytest.raises(gradio_client.exceptions.AppError) as caught:
            _client(url).predict(None, HORIZON, api_name="/forecast")
    finally:
        demo.close()
    message = str(caught.value)  # its median is negative: refused by predict_quantiles' own check
    assert re.match(r"the model forecasts a price of -[\d.]+: not positive; .*another asset's prices", message), message


def test_api_refuses_a_move_beyond_any_in_training(tiny_model, outside, tmp_path):
    # The tiny model's folder, with a training record whose largest moves were 0.001 %.
    folder = tmp_path / "calm"
    shutil.copytree(tiny_model, folder)
    args = json.loads((folder / "training_args.json").read_text())
    args["profile"]["max_abs_log_move"] = [1e-5] * HORIZON
    (folder / "training_args.json").write_text(json.dumps(args))
    demo = build_demo(str(folder))
    url = _launch(demo)
    try:
        with pytest.raises(gradio_client.exceptions.AppError) as caught:
            _client(url).predict(None, HORIZON, api_name="/forecast")
    finally:
        demo.close()
    assert re.match(
        r"forecast refused: the model forecast a move of [+-][\d.]+ % in 1 step \(q0\.\d+ [\d,.]+ from the last close "
        r"70,677\.12\), beyond any 1-step move in its training data \(at most 0\.0 %\)",
        str(caught.value),
    ), str(caught.value)


def test_api_backtest_matches_the_recorded_held_out_metrics(served, tiny_model):
    url, _ = served
    # The tiny model was trained on a DataFrame slice: its held-out period lies inside the sample.
    note, metrics, plot, calibration = _client(url).predict(None, 1, api_name="/backtest")
    recorded = json.loads((tiny_model / "metrics.json").read_text())
    assert f"{recorded['models']['model']['mae']:,.2f}" in metrics
    assert f"{recorded['models']['naive_last']['mae']:,.2f}" in metrics
    assert "naive_last" in metrics and plot is not None
    test = json.loads((tiny_model / "training_args.json").read_text())["splits"]["test"]
    assert f"Held-out targets {test['start'][:10]} to {test['end'][:10]}" in note
    # Beside the field's baselines, as `backtest.backtest` measures them over the same origins.
    from lstm_forecaster.backtest import backtest
    from lstm_forecaster.comparison import comparison_table

    result = backtest(
        load_model(tiny_model), load_ohlcv(sample_path()), start=test["first_origin"], end=test["last_origin"]
    )
    assert comparison_table(result.report["comparison"]).strip() in metrics
    assert all(f"| {name} |" in metrics for name in ("ewma", "garch"))
    assert calibration["visible"] and calibration["value"]["path"].endswith(".png"), calibration


def test_header_shows_the_held_out_ratios_to_ewma_and_garch(tiny_model, tmp_path):
    from lstm_forecaster.app import header_markdown, model_info

    metrics = json.loads((tiny_model / "metrics.json").read_text())
    versus = metrics["comparison"]["pooled"]["model_vs"]
    header = header_markdown(load_model(tiny_model), model_info(str(tiny_model), None))
    line = next(t for t in header.split("\n\n") if t.startswith("**Held-out test split:**"))
    assert f"**{versus['ewma']['ratio_all']:.3f}x** EWMA(0.94)'s" in line
    assert f"**{versus['garch']['ratio_all']:.3f}x** GARCH(1,1)-t's" in line
    assert f"DM p = {versus['garch']['dm_p_value'][0]:.3f} at step 1" in line
    # A model folder whose metrics.json predates the comparison: the header, without that line.
    old = tmp_path / "old"
    shutil.copytree(tiny_model, old)
    (old / "metrics.json").write_text(json.dumps({k: v for k, v in metrics.items() if k != "comparison"}))
    header = header_markdown(load_model(old), model_info(str(old), None))
    assert "**Model card:**" in header and "Held-out test split" not in header


def test_header_names_the_network_an_ensemble_and_its_head(tiny_model):
    from lstm_forecaster.app import _architecture

    config = load_model(tiny_model).config
    assert _architecture(config) == f"{config.num_layers}-layer {config.cell.upper()}"
    ensemble = dataclasses.replace(config, ensemble=5, head="attention")
    assert (
        _architecture(ensemble) == f"an ensemble of 5 x {config.num_layers}-layer LSTM with attention pooling, averaged"
    )


def test_api_backtest_on_a_file_over_its_own_dates(served, tiny_model):
    url, model = served
    note, metrics, plot, calibration = _client(url).predict(
        gradio_client.handle_file(str(ETH_HOURLY)), 1, api_name="/backtest"
    )
    df = load_ohlcv(ETH_HOURLY)
    start = df.index[int(len(df) * 0.7)]
    assert "does not cover the model's held-out period" in note and start.strftime("%Y-%m-%d %H:%M UTC") in note
    assert "naive_last" in metrics and plot is not None


# ----- the MCP tool over HTTP ---------------------------------------------------------------------------


def _mcp(url: str, calls):
    """Open an MCP session on the app's streamable HTTP endpoint, run `calls(session)`, return its result."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run():
        async with (
            streamable_http_client(f"{url}gradio_api/mcp/") as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await calls(session)

    return asyncio.run(asyncio.wait_for(run(), timeout=120))


def test_mcp_lists_the_forecast_tool_and_calls_it(served):
    url, model = served

    async def calls(session):
        tools = (await session.list_tools()).tools
        good = await session.call_tool("forecast", {"horizon": 2})
        bad = await session.call_tool("forecast", {"horizon": HORIZON + 1})
        return tools, good, bad

    tools, good, bad = _mcp(url, calls)
    assert [t.name for t in tools] == ["forecast"]
    tool = tools[0]
    assert tool.description.startswith("Forecast the next steps of a crypto asset's price")
    properties = tool.inputSchema["properties"]
    assert list(properties) == ["data_file", "horizon", "symbol", "drop_incomplete"]
    assert (
        properties["horizon"]["type"] == "integer"
        and "from 1 to the model's horizon" in properties["horizon"]["description"]
    )
    assert properties["drop_incomplete"]["type"] == "boolean"
    assert not good.isError
    records = json.loads(good.content[0].text)
    assert records == _client(url).predict(None, 2, api_name="/forecast")
    _check_forecast(_table(records), load_ohlcv(sample_path()), model, 2)
    assert bad.isError and f"whole number of steps from 1 to {HORIZON}" in bad.content[0].text


# ----- load --------------------------------------------------------------------------------------------


def test_twenty_concurrent_forecasts(served):
    url, model = served
    client = _client(url)
    start = time.perf_counter()
    jobs = [client.submit(None, 1 + i % HORIZON, api_name="/forecast") for i in range(20)]
    results = [job.result(timeout=60) for job in jobs]
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"20 concurrent forecasts took {elapsed:.1f} s"
    sample = load_ohlcv(sample_path())
    for i, result in enumerate(results):
        table = _table(result)
        assert len(table) == 1 + i % HORIZON
        _check_forecast(table, sample, model, 1 + i % HORIZON)


def test_twenty_concurrent_clients(served):
    url, _ = served

    def one(i: int) -> int:
        return len(_table(_client(url).predict(None, 1 + i % HORIZON, api_name="/forecast")))

    start = time.perf_counter()
    with ThreadPoolExecutor(20) as pool:
        rows = list(pool.map(one, range(20), timeout=90))
    assert rows == [1 + i % HORIZON for i in range(20)]
    assert time.perf_counter() - start < 90


# ----- a real browser ----------------------------------------------------------------------------------


def _browser_model(tiny_model: Path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOT") == "1" and (ROOT / DEFAULT_MODEL_DIR / "config.json").is_file():
        # Named as `make run` serves it (relative to the repository root) when run from there.
        return DEFAULT_MODEL_DIR if Path.cwd() == ROOT else ROOT / DEFAULT_MODEL_DIR
    return tiny_model


@contextlib.contextmanager
def _page(url: str):
    """A headless Chromium page on `url` that may load nothing from outside it; yields (page, expect)."""
    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is missing at /usr/bin/chromium: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    external: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.set_default_timeout(30_000)
            expect.set_options(timeout=30_000)  # bounded waits, generous for a loaded 2-core machine

            def local_only(route):
                if route.request.url.startswith((url, "data:", "blob:")):
                    route.continue_()
                else:
                    external.append(route.request.url)
                    route.abort()

            page.route("**/*", local_only)
            page.goto(url, wait_until="networkidle")
            yield page, expect
        finally:
            browser.close()
    assert external == [], f"the page tried to load from outside: {external}"


def _forecast_in_page(page, expect, upload: Path | None = None, asset: str | None = None) -> None:
    """Upload `upload` (clearing the file before), wait for the asset picker to show `asset`, press Forecast."""
    if upload is not None:
        file_input = page.locator("#data-file input[type=file]")
        if not file_input.count():  # a file is there: clear it first
            page.locator("#data-file").get_by_role("button", name=re.compile("^(Clear|Remove)")).first.click()
            expect(file_input).to_have_count(1)
        file_input.set_input_files(str(upload))
        expect(page.locator("#data-file")).to_contain_text(upload.name)
    if asset is not None:  # the picker follows the upload: forecast once it has
        expect(page.locator("#asset input")).to_have_value(asset)
    page.click("#forecast-button")


def test_browser_fan_chart_table_download_warnings_and_errors(tiny_model, outside, tmp_path):
    model_dir = _browser_model(tiny_model)
    config = load_model(model_dir).config
    horizon, bands = config.horizon, interval_bands(config.quantiles)
    demo = build_demo(str(model_dir))
    url = _launch(demo)
    forming = tmp_path / "forming.csv"
    df = load_ohlcv(sample_path()).iloc[-300:].copy()
    df.iloc[-1, df.columns.get_loc("volume")] /= 1000
    df.to_csv(forming)
    png, broken = tmp_path / "chart.png", tmp_path / "broken.csv"
    png.write_bytes(PNG)
    broken.write_text(BROKEN_CSV)
    try:
        with _page(url) as (page, expect):
            expect(page.locator("#header")).to_contain_text("Predicts")
            expect(page.locator("#disclaimer")).to_contain_text("not financial advice")

            # The fan chart: history, two edges per band (80 % and 50 %), the median through steps 1..H.
            _forecast_in_page(page, expect)
            plot = page.locator("#forecast-plot .js-plotly-plot")
            expect(plot).to_be_visible()
            expect(plot.locator(".scatterlayer .trace")).to_have_count(2 + 2 * len(bands))
            traces = plot.evaluate("el => el.data.map(t => ({name: t.name, n: t.x.length}))")
            assert traces[-1] == {"name": "forecast (median)", "n": horizon + 1}  # from the last close
            assert [t["name"] for t in traces[1:-1:2]] == [f"{c:.0f} % interval ({lo}–{hi})" for lo, hi, c in bands]
            rows = page.locator("#forecast-table [role=row]:has([role=gridcell])")
            expect(rows).to_have_count(horizon)
            first = load_ohlcv(sample_path()).index[-1] + pd.Timedelta(days=1)
            expect(rows.first).to_contain_text(first.strftime("%Y-%m-%dT%H:%M:%SZ"))
            expect(page.locator("#forecast-summary")).to_contain_text("From the last close")
            if model_dir == tiny_model:
                expect(page.locator("#forecast-notice")).to_contain_text("price range")

            # The CSV download: every step and level.
            with page.expect_download() as download:
                page.click("#forecast-csv")
            csv = pd.read_csv(download.value.path())
            assert len(csv) == horizon and list(csv.columns[:4]) == ["symbol", "timestamp", "step", "forecast"]
            assert [c for c in csv.columns if c.startswith("q")] == config.output_names
            page.wait_for_timeout(500)  # let the plot finish its transition before the picture
            shot = tmp_path / "space.png"
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("UPDATE_SCREENSHOT") == "1":
                (ROOT / "docs").mkdir(exist_ok=True)
                shutil.copyfile(shot, ROOT / "docs" / "space.png")

            # The backtest tab: metrics beside the baselines, the calibration plot.
            page.get_by_role("tab", name="Backtest").click()
            page.click("#backtest-button")
            expect(page.locator("#backtest-metrics")).to_contain_text("ewma", timeout=120_000)
            calibration = page.locator("#backtest-calibration img")
            expect(calibration).to_have_attribute("src", re.compile(r"calibration-[0-9a-f]+\.png$"))
            calibration.scroll_into_view_if_needed()  # loaded lazily, when in view
            expect(calibration).to_be_visible()
            expect(page.locator("#backtest-plot .js-plotly-plot")).to_be_visible()
            page.get_by_role("tab", name="Forecast").click()

            # Another coin, hourly: warnings, and the asset picker offers it beside the training asset.
            _forecast_in_page(page, expect, ETH_HOURLY, asset="ETH/USDT")
            notice = page.locator("#forecast-notice")
            if model_dir == tiny_model:  # trained on a named asset (BTC-USD)
                expect(notice).to_contain_text("ETH/USDT was not in the model's training data")
            expect(notice).to_contain_text("one row every 1 hour, the model was trained on one every 1 day")
            expect(rows).to_have_count(horizon)
            expect(rows.first).to_contain_text("ETH/USDT")

            # A file of two coins (120 days each, enough for the tiny model's window): the picker shows the
            # first, offers each and every series; the chart and the table follow the choice.
            if model_dir == tiny_model:
                _forecast_in_page(
                    page, expect, _panel_csv(tmp_path, missing=("XRPUSDT", "2026-05-15")), asset="ETHUSDT"
                )
                expect(rows).to_have_count(horizon)
                expect(rows.first).to_contain_text("ETHUSDT")
                picker = page.locator("#asset")
                for choice, count in (("every series in the data", 2 * horizon), ("XRPUSDT", horizon)):
                    picker.locator("input").click()
                    page.get_by_role("option", name=choice).click()
                    page.click("#forecast-button")
                    expect(rows).to_have_count(count)
                expect(rows.first).to_contain_text("XRPUSDT")
                expect(page.locator("#forecast-plot")).to_contain_text("XRPUSDT: Recent close")
                expect(notice).to_contain_text(
                    "short gap: XRPUSDT: 1 row missing among the 34 the forecast reads (2026-05-15)"
                )

            # A candle still forming: a warning; ticked, it is dropped.
            _forecast_in_page(page, expect, forming, asset="every series in the data")
            expect(notice).to_contain_text("looks incomplete")
            page.locator("#drop-incomplete input").check()
            page.click("#forecast-button")
            expect(notice).to_contain_text("it was dropped")
            expect(rows.first).to_contain_text(df.index[-1].strftime("%Y-%m-%dT%H:%M:%SZ"))

            # Errors: one plain sentence, and the old results are gone.
            _forecast_in_page(page, expect, png)
            expect(
                page.get_by_text("chart.png is a PNG image, not a CSV or Parquet file of OHLCV candles")
            ).to_be_visible()
            expect(plot).to_have_count(0)
            expect(rows).to_have_count(0)
            expect(page.locator("#forecast-csv")).to_be_hidden()
            _forecast_in_page(page, expect, broken)
            expect(page.get_by_text("column 'close' has a non-numeric value 'abc' at row 1")).to_be_visible()
            assert "Traceback" not in page.inner_text("body")
    finally:
        demo.close()


def test_browser_refuses_a_negative_price(negative_model, outside):
    demo = build_demo(str(negative_model))
    url = _launch(demo)
    try:
        with _page(url) as (page, expect):
            page.click("#forecast-button")
            notice = page.locator("#forecast-notice")
            expect(notice).to_contain_text("the model forecasts a price of -")
            expect(notice).to_contain_text("not positive")
            expect(page.locator("#forecast-plot .js-plotly-plot")).to_have_count(0)
            expect(page.locator("#forecast-table [role=row]:has([role=gridcell])")).to_have_count(0)
    finally:
        demo.close()


# ----- the Space loads its model from the Hub by repo id and revision ----------------------------------


def test_space_serves_a_hub_model_at_a_revision(hub_env, tiny_model, outside, tmp_path):
    from huggingface_hub import HfApi

    api = HfApi()
    repo = "alice/space-btc"
    api.create_repo(repo, exist_ok=True)
    first = api.upload_folder(repo_id=repo, folder_path=tiny_model, commit_message="v1")
    api.create_tag(repo, tag="v1.0", revision=first.oid)
    # A newer, different model on main: the Space must still serve v1.0.
    newer = _train_tiny(tmp_path / "newer", seed=1)
    api.upload_folder(repo_id=repo, folder_path=newer, commit_message="v2")

    demo = build_demo(repo, "v1.0")
    url = _launch(demo)
    try:
        page = gradio_client.Client(url, verbose=False, download_files=False)
        table = _table(page.predict(None, HORIZON, api_name="/forecast"))
        config = page.view_api(print_info=False, return_format="dict")
        assert "/forecast" in config["named_endpoints"]
    finally:
        demo.close()
    sample = load_ohlcv(sample_path())
    _check_forecast(table, sample, load_model(tiny_model), HORIZON)
    newer_forecast = load_model(newer).predict(sample, horizon=HORIZON)["forecast"].to_numpy()
    assert not np.allclose(table["forecast"].to_numpy(dtype=float), newer_forecast, rtol=0, atol=0.01)

    # The header names the repo, the revision, its commit, and links the card on this Hub.
    from lstm_forecaster.app import header_markdown, model_info

    info = model_info(repo, "v1.0")
    header = header_markdown(load_model(tiny_model), info)
    assert info.commit == first.oid
    assert info.training_args == json.loads((tiny_model / "training_args.json").read_text())
    assert f"`{repo}` at revision `v1.0` (commit `{first.oid[:10]}`)" in header
    assert f"({hub_env.url}/{repo}/tree/v1.0)" in header


# ----- python space/app.py, and which model it serves ---------------------------------------------------


@contextlib.contextmanager
def _serve_in_a_process(command: list[str], cwd: Path, model_env: dict[str, str]):
    """Run a Space entry point in its own process on a free port; yield its URL; stop it."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_ID", "MODEL_REVISION")}
    env.update(
        model_env,
        PYTHONUNBUFFERED="1",
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
    )
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Running on" in line for line in output):
            assert process.poll() is None, "".join(output)
            time.sleep(0.2)
        assert any("Running on" in line for line in output), "".join(output)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_space_app_runs_from_the_repo_root(tiny_model):
    with _serve_in_a_process([sys.executable, "space/app.py"], ROOT, {"MODEL_ID": str(tiny_model)}) as url:
        table = _table(_client(url).predict(None, 2, api_name="/forecast"))
        _check_forecast(table, load_ohlcv(sample_path()), load_model(tiny_model), 2)


def test_deployed_space_folder_runs_with_its_space_config(tiny_model, tmp_path):
    from lstm_forecaster.hub import stage_space

    # The folder deploy-space uploads: space/, the package source beside app.py, space_config.json.
    staged = tmp_path / "staged"
    staged.mkdir()
    stage_space(staged, str(tiny_model), None)
    assert json.loads((staged / "space_config.json").read_text())["MODEL_ID"] == str(tiny_model)
    with _serve_in_a_process([sys.executable, "app.py"], staged, {}) as url:
        table = _table(_client(url).predict(None, HORIZON, api_name="/forecast"))
        _check_forecast(table, load_ohlcv(sample_path()), load_model(tiny_model), HORIZON)


def test_model_comes_from_the_argument_then_the_environment_then_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_ID", "alice/from-env")
    monkeypatch.setenv("MODEL_REVISION", "v2")
    assert resolve_model("bob/given", "v1") == ("bob/given", "v1")
    assert resolve_model() == ("alice/from-env", "v2")
    monkeypatch.delenv("MODEL_ID")
    monkeypatch.delenv("MODEL_REVISION")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"runs/default.*make run.*MODEL_ID"):
        resolve_model()
    (tmp_path / "runs" / "default").mkdir(parents=True)
    (tmp_path / "runs" / "default" / "config.json").write_text("{}")
    assert resolve_model() == ("runs/default", None)


def test_serve_without_a_model_exits_2_with_one_line(monkeypatch, tmp_path, capsys):
    from lstm_forecaster.cli import main

    monkeypatch.delenv("MODEL_ID", raising=False)
    monkeypatch.delenv("MODEL_REVISION", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no model to serve") and "make run" in err and len(err.splitlines()) == 1
