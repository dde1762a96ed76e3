"""The checks around `predict` (guards.py): warnings in `attrs["warnings"]`, refusals, what training saw, uploads."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_forecaster import guards, load_ohlcv, sample_path
from lstm_forecaster.data import max_missing_steps
from lstm_forecaster.features import warmup_rows
from lstm_forecaster.hub import load_model

ROOT = Path(__file__).resolve().parent
GOLDEN = ROOT / "golden" / "tiny-quantile"
ETH_HOURLY = ROOT / "data" / "Binance_ETHUSDT_1h_zero_volume.csv"


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_ohlcv(sample_path())


@pytest.fixture
def model(sample):
    """The golden model (no training_args.json) with the profile of the sample's rows up to 2023."""
    model = load_model(GOLDEN)
    model.training_profile = guards.training_profile(sample[sample.index < "2023-01-01"], 3, "log_return")
    return model


def _codes(frame: pd.DataFrame) -> list[str]:
    return [w["code"] for w in frame.attrs["warnings"]]


def test_an_old_folder_has_no_profile_and_forecasts_without_warnings(sample):
    model = load_model(GOLDEN)
    assert model.training_profile is None
    frame = model.predict(sample.iloc[-300:])
    assert frame.attrs["warnings"] == []


def test_training_records_what_it_saw_and_loading_reads_it(sample, tmp_path):
    from lstm_forecaster import LSTMForecasterConfig
    from lstm_forecaster.training import TrainingConfig, train

    config = LSTMForecasterConfig(
        features=["log_return"], target="log_return", context_length=10, horizon=2, hidden_size=4
    )
    recipe = TrainingConfig(model=config, name="tiny", epochs=1, batch_size=64, seed=0)
    folder = train(recipe, tmp_path / "m", data=sample.iloc[-300:], progress=False, cpu=True)
    args = json.loads((folder / "training_args.json").read_text())
    profile = args["profile"]
    train_rows = sample.iloc[-300:].loc[: args["splits"]["train"]["end"]]
    assert profile["frequency"] == str(pd.Timedelta(days=1))
    assert profile["assets"] == [
        {"symbol": None, "min_close": train_rows["close"].min(), "max_close": train_rows["close"].max()}
    ]
    logs = np.log(train_rows["close"].to_numpy())
    assert profile["max_abs_log_move"] == [round(float(np.abs(logs[k:] - logs[:-k]).max()), 6) for k in (1, 2)]
    assert load_model(folder).training_profile == profile


def test_price_range_outside_training_is_a_warning(model, sample):
    frame = model.predict(sample)  # 2024 closes above every close before 2023
    (warning,) = frame.attrs["warnings"]
    assert warning["code"] == "price_range" and warning["symbol"] is None
    assert "outside the range training saw (178.10 to 67,566.83)" in warning["message"]
    assert _codes(model.predict(sample[sample.index < "2022-06-01"])) == []


def test_a_different_frequency_is_a_warning(model):
    frame = model.predict(ETH_HOURLY)
    warning = next(w for w in frame.attrs["warnings"] if w["code"] == "frequency")
    assert "one row every 1 hour, the model was trained on one every 1 day" in warning["message"]


def test_an_asset_not_in_training_is_a_zero_shot_warning(model, sample):
    model.training_profile["assets"][0]["symbol"] = "BTC-USD"
    eth = load_ohlcv(ETH_HOURLY)
    eth.attrs["symbol"] = "ETH/USDT"
    warning = next(w for w in model.predict(eth).attrs["warnings"] if w["code"] == "zero_shot")
    assert warning == {
        "code": "zero_shot",
        "message": "ETH/USDT was not in the model's training data (BTC-USD): a zero-shot forecast",
        "symbol": "ETH/USDT",
    }
    btc = sample[sample.index < "2022-06-01"].copy()
    btc.attrs["symbol"] = "BTC-USD"
    assert _codes(model.predict(btc)) == []


def test_a_forming_last_candle_is_a_warning_and_can_be_dropped(model, sample):
    df = sample[sample.index < "2022-06-01"].copy()
    df.iloc[-1, df.columns.get_loc("volume")] = df["volume"].iloc[-21:-1].median() / 100
    frame = model.predict(df)
    assert _codes(frame) == ["incomplete_candle"]
    assert "looks incomplete: its volume" in frame.attrs["warnings"][0]["message"]
    assert "1.0 % of the median of the 20 before it" in frame.attrs["warnings"][0]["message"]
    assert frame.index[0] == df.index[-1] + pd.Timedelta(days=1)

    dropped = model.predict(df, drop_incomplete=True)
    assert _codes(dropped) == ["dropped_incomplete"]
    assert dropped.index[0] == df.index[-1]  # forecast from the candle before: its next day is the dropped one
    expected = model.predict(df.iloc[:-1])
    np.testing.assert_array_equal(dropped.to_numpy(), expected.to_numpy())


def test_a_move_beyond_any_in_training_is_refused(model, sample):
    model.training_profile["max_abs_log_move"] = [1e-4, 1e-4, 1e-4]
    with pytest.raises(
        ValueError,
        match=r"forecast refused: the model forecast a move of [+-]\d+\.\d % in 1 step .*"
        r"beyond any 1-step move in its training data \(at most 0\.0 %\)",
    ):
        model.predict(sample)
    named = sample.copy()
    named.attrs["symbol"] = "BTC-USD"  # a single series with a name is checked too (it was skipped)
    with pytest.raises(ValueError, match=r"forecast refused: the model forecast a move of "):
        model.predict(named)


def test_a_price_that_is_not_positive_is_refused(model, sample):
    df = sample.iloc[-300:]
    frame = model.predict(df)
    frame.iloc[1, frame.columns.get_loc("q0.1")] = -33.01
    with pytest.raises(
        ValueError,
        match=r"forecast refused: the model forecast a price of -33\.01 \(q0\.1\) at step 2 "
        r"\(2024-04-02\), which is not a possible price",
    ):
        guards.after_forecast(model, df, frame, [])


def test_a_zero_volume_far_back_never_blocks_a_forecast(model):
    # Issue 12: an hourly ETH export with dead hours in 2018 was refused ("volume_ratio_14 is not finite").
    df = load_ohlcv(ETH_HOURLY)
    assert (df["volume"] == 0).sum() == 20 and "volume_ratio_14" in model.config.features
    frame = model.predict(df)
    assert len(frame) == 3 and np.isfinite(frame.to_numpy()).all()
    with pytest.raises(ValueError, match="feature 'volume_ratio_14' is not finite at 2018-02-08 19:00"):
        model.backtest(df)  # a backtest reads every row: there, the same rows are an error


def test_a_zero_volume_inside_the_rows_read_is_an_error_naming_the_row(model):
    df = load_ohlcv(ETH_HOURLY)
    df.iloc[-30:-10, df.columns.get_loc("volume")] = (
        0.0  # the window is the last 16 rows: its first is the first bad one
    )
    with pytest.raises(ValueError, match=re.escape(f"feature 'volume_ratio_14' is not finite at {df.index[-16]}")):
        model.predict(df)


def test_a_png_upload_is_named_as_such(tmp_path):
    png = tmp_path / "chart.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(ValueError, match=r"^upload\.csv is a PNG image, not a CSV or Parquet file of OHLCV candles$"):
        guards.check_upload(png, "upload.csv")


def test_uploads_over_the_limits_are_refused(tmp_path, monkeypatch):
    data = tmp_path / "big.csv"
    shutil.copyfile(ETH_HOURLY, data)
    monkeypatch.setattr(guards, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(ValueError, match=r"big\.csv is 0\.1 MiB; uploads are limited to 0 MiB"):
        guards.check_upload(data)
    monkeypatch.setattr(guards, "MAX_UPLOAD_ROWS", 100)
    with pytest.raises(ValueError, match=r"big\.csv has 1,499 rows; uploads are limited to 100"):
        guards.check_upload_rows(load_ohlcv(data), "big.csv")


def test_panels_are_checked_per_series(model, sample):
    btc = sample[sample.index < "2022-06-01"].iloc[-200:]
    eth = btc.copy()
    eth.iloc[-1, eth.columns.get_loc("volume")] = 1.0
    panel = pd.concat({"BTC-USD": btc, "ETH-USD": eth}, names=["symbol", "timestamp"])
    model.training_profile["assets"][0]["symbol"] = "BTC-USD"
    _, warnings = guards.before_forecast(model, panel)
    assert [(w["code"], w["symbol"]) for w in warnings] == [("incomplete_candle", "ETH-USD"), ("zero_shot", "ETH-USD")]
    trimmed, warnings = guards.before_forecast(model, panel, drop_incomplete=True)
    assert len(trimmed.loc["ETH-USD"]) == len(eth) - 1 and len(trimmed.loc["BTC-USD"]) == len(btc)


def test_a_short_gap_is_read_as_consecutive_rows_with_a_warning_naming_it(model, sample):
    """The Binance exports miss a day here and there in 2026: such a series is forecast, as training reads it."""
    btc = sample[sample.index < "2022-06-01"].iloc[-200:]
    eth = btc.drop(index=btc.index[-5])  # one missing day among the rows a forecast reads (at most 1 for context 16)
    assert max_missing_steps(model.config.context_length) == 1
    panel = pd.concat({"BTC-USD": btc, "ETH-USD": eth}, names=["symbol", "timestamp"])
    forecast = model.predict(panel)
    assert forecast.index.get_level_values("symbol").unique().tolist() == ["BTC-USD", "ETH-USD"]
    short = [w for w in forecast.attrs["warnings"] if w["code"] == "short_gap"]
    assert [w["symbol"] for w in short] == ["ETH-USD"]
    missing = btc.index[-5].strftime("%Y-%m-%d")
    rows = warmup_rows(model.config.features) + model.config.context_length
    assert short[0]["message"].startswith(f"ETH-USD: 1 row missing among the {rows} the forecast reads ({missing})")
    # The forecast timestamps follow the last row at the data's step; the rows are read as consecutive:
    # the same numbers as from the same rows stamped one day apart.
    eth_forecast = forecast.loc["ETH-USD"]
    assert eth_forecast.index.equals(forecast.loc["BTC-USD"].index)
    restamped = eth.set_axis(btc.index[1:])
    expected = model.predict(restamped)
    assert expected.attrs["warnings"] == []
    np.testing.assert_array_equal(eth_forecast.to_numpy(), expected.to_numpy())
    single = model.predict(eth)  # a single series: the same warning, no symbol
    assert [(w["code"], w["symbol"]) for w in single.attrs["warnings"]] == [("short_gap", None)]
    assert single.attrs["warnings"][0]["message"].startswith(f"1 row missing among the {rows} the forecast reads")
    np.testing.assert_array_equal(single.to_numpy(), expected.to_numpy())
    # A gap before the rows the forecast reads is no concern.
    old = btc.drop(index=btc.index[10:40])
    assert model.predict(old).attrs["warnings"] == []


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda df: df.drop(index=df.index[[-5, -9]]), r"the last 30 rows miss 2 steps, more than the 1 accepted"),
        (lambda df: df.drop(index=df.index[-40:-10]), r"not evenly spaced: 31 days 00:00:00 from .*more than the 1"),
        (
            lambda df: df.set_axis(
                df.index[:-5].append(df.index[-5:-4] + pd.Timedelta(hours=13, minutes=37)).append(df.index[-4:])
            ),
            r"not evenly spaced: 1 days 13:37:00 from .*a row off its grid of steps",
        ),
    ],
    ids=["two missing days", "a missing month", "a 13:37 row"],
)
def test_a_long_gap_or_an_off_grid_row_leaves_a_series_out_with_a_warning(model, sample, edit, match):
    """More missing steps than `max_missing_steps`, or a row off the grid: not forecast (an error for one series)."""
    btc = sample[sample.index < "2022-06-01"].iloc[-200:]
    eth = edit(btc)
    panel = pd.concat({"BTC-USD": btc, "ETH-USD": eth}, names=["symbol", "timestamp"])
    forecast = model.predict(panel)
    assert forecast.index.get_level_values("symbol").unique().tolist() == ["BTC-USD"]
    gaps = [w for w in forecast.attrs["warnings"] if w["code"] == "gap"]
    assert [w["symbol"] for w in gaps] == ["ETH-USD"] and gaps[0]["message"].startswith("ETH-USD is not forecast: ")
    assert re.search(match, gaps[0]["message"])
    assert "short_gap" not in _codes(forecast)
    with pytest.raises(ValueError, match="no series can be forecast: BTC-USD: the rows a forecast reads"):
        model.predict(pd.concat({"BTC-USD": eth, "ETH-USD": eth}, names=["symbol", "timestamp"]))
    with pytest.raises(ValueError, match=match):
        model.predict(eth)
    with pytest.raises(ValueError, match="^ETH-USD: the rows a forecast reads are not evenly spaced"):
        model.predict(pd.concat({"ETH-USD": eth}, names=["symbol", "timestamp"]))  # a panel of one series
    with pytest.raises(ValueError, match="^ETH-USD: the rows a forecast reads are not evenly spaced"):
        model.predict_quantiles(panel)  # the same check without the guards


def test_a_forming_last_candle_is_dropped_without_a_training_profile(sample):
    """An old folder (no profile, so no frequency check) drops a forming candle too (was a TypeError)."""
    model = load_model(GOLDEN)
    df = sample[sample.index < "2022-06-01"].copy()
    df.iloc[-1, df.columns.get_loc("volume")] = df["volume"].iloc[-21:-1].median() / 100
    dropped = model.predict(df, drop_incomplete=True)
    assert _codes(dropped) == ["dropped_incomplete"]
    pd.testing.assert_frame_equal(dropped, model.predict(df.iloc[:-1]), check_exact=True)


def test_warnings_of_many_series_are_those_of_each_series_alone(model, sample):
    """`check_rows` works on every series at once: each series' warnings are those it gets on its own."""
    base = sample[sample.index < "2022-06-01"].iloc[-200:]
    frames = {}
    for i in range(6):
        frame = base * (1.0 + 0.5 * i)  # outside the training range from the second one on
        if i % 2:
            frame.iloc[-1, frame.columns.get_loc("volume")] = 1.0  # a forming last candle
        frames[f"S{i}"] = frame
    frames["BTC-USD"] = base
    trained = model.training_profile["assets"][0]
    trained["symbol"] = "BTC-USD"
    model.training_profile["assets"] += [{**trained, "symbol": s} for s in ("S0", "S2", "S3")]
    panel = load_ohlcv(pd.concat(frames, names=["symbol", "timestamp"]))
    for drop in (False, True):
        _, together = guards.before_forecast(model, panel, drop_incomplete=drop)
        alone = []
        for symbol, frame in frames.items():
            one = load_ohlcv(frame)
            one.attrs["symbol"] = symbol
            alone += guards.before_forecast(model, one, drop_incomplete=drop)[1]
        assert together == alone
        codes = {w["code"] for w in together}
        assert codes >= {"zero_shot", "price_range", "incomplete_candle" if not drop else "dropped_incomplete"}
