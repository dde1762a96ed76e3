"""LSTMForecaster: exact save/load round trips, safe loading, predict in price units, shapes, quantiles."""

import itertools
import json
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, Scaler, load_ohlcv, sample_path
from lstm_forecaster.configuration import CELLS, SCALINGS, TARGETS
from lstm_forecaster.scaling import SCALER_NAME, context_target_scale
from lstm_forecaster.training import fit_baseline

HOURLY = Path(__file__).parent / "data" / "Binance_BTCUSDT_1h.csv"
QUANTILES = [0.1, 0.5, 0.9]
POSITIVE_FEATURES = ["close", "volume", "ema_5"]  # window scaling divides by each window's first value
MIXED_FEATURES = ["close", "log_return", "rsi_5", "volume"]


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return load_ohlcv(sample_path()).iloc[1000:1300]


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    raw = pd.read_csv(HOURLY, nrows=400)  # newest first: the last 400 hours of the file
    return load_ohlcv(raw).iloc[-300:]


def pinball_loss(prediction: torch.Tensor, target: torch.Tensor, levels: list[float]) -> torch.Tensor:
    """Mean quantile loss of (batch, horizon, quantiles) predictions against (batch, horizon) targets."""
    q = torch.tensor(levels)
    error = target[..., None] - prediction
    return torch.maximum(q * error, (q - 1) * error).mean()


def make_model(df: pd.DataFrame, steps: int = 3, seed: int = 0, **overrides) -> LSTMForecaster:
    """A tiny model with a scaler fitted on the first 200 rows and a few SGD steps taken on them."""
    options = dict(
        features=MIXED_FEATURES, target="close", context_length=10, horizon=2, hidden_size=8, scaling="standard"
    )
    options.update(overrides)
    config = LSTMForecasterConfig(**options)
    torch.manual_seed(seed)
    model = LSTMForecaster(config)
    samples = model.samples(df)
    train_end = 200
    origins = samples.origins(0, train_end - 1 - config.horizon)
    model.scaler = Scaler.fit(
        config.scaling, config.features, config.target, samples.features[:train_end], samples.targets[origins]
    )
    if config.scaling == "context":
        windows, sigma = model.scaler.context_windows(samples.windows(origins), samples.base_windows(origins))
        x = torch.from_numpy(windows)
        y = torch.from_numpy(
            model.scaler.scale_target(samples.targets[origins], scale=context_target_scale(sigma, config.horizon))
        )
        fit_baseline(model, y.double().numpy())
    else:
        x = torch.from_numpy(model.scaler.scale_windows(samples.windows(origins)))
        y = torch.from_numpy(model.scaler.scale_target(samples.targets[origins], samples.window_base(origins)))
    model.train()
    for _ in range(steps):  # plain SGD, lr 0.1
        out = model(x)
        loss = pinball_loss(out, y, config.quantiles) if config.quantiles else torch.mean((out[..., 0] - y) ** 2)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    return model.eval()


def combinations():
    for cell, target, scaling, quantiles in itertools.product(CELLS, TARGETS, SCALINGS, [None, QUANTILES]):
        if scaling == "window" and target == "log_return":
            continue  # rejected by the config: a log return is not a positive quantity
        if scaling == "context" and target != "log_return":
            continue  # rejected by the config: context scaling forecasts log returns
        yield pytest.param(
            cell, target, scaling, quantiles, id=f"{cell}-{target}-{scaling}-{'q' if quantiles else 'point'}"
        )


# ----- save -> load round trip -----------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "target", "scaling", "quantiles"), list(combinations()))
def test_save_load_round_trip_is_exact(daily, tmp_path, cell, target, scaling, quantiles):
    features = POSITIVE_FEATURES if scaling == "window" else MIXED_FEATURES
    init = LSTMForecaster(
        LSTMForecasterConfig(
            features=features,
            target=target,
            context_length=10,
            horizon=2,
            cell=cell,
            hidden_size=8,
            quantiles=quantiles,
            scaling=scaling,
        )
    )
    model = make_model(daily, cell=cell, target=target, scaling=scaling, quantiles=quantiles, features=features)
    changed = [name for name, p in model.state_dict().items() if not torch.equal(p, init.state_dict()[name])]
    assert changed, "the SGD steps must move the weights away from the initialisation"

    model.save_pretrained(tmp_path)
    loaded = LSTMForecaster.from_pretrained(tmp_path)

    assert not loaded.training and not any(m.training for m in loaded.modules())
    assert loaded.config == model.config
    assert loaded.scaler == model.scaler
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    # predict_quantiles: the network's forecast as it is. A few SGD steps can forecast a negative price
    # on the last rows, which predict refuses (guards.py); the round trip must be exact either way.
    (expected, expected_mean), (got, got_mean) = model.predict_quantiles(daily), loaded.predict_quantiles(daily)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    pd.testing.assert_series_equal(got_mean, expected_mean, check_exact=True)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=0)
    assert list(got.columns) == (["q0.1", "q0.5", "q0.9"] if quantiles else ["forecast"])
    backtest_before, backtest_after = (
        model.backtest(daily, start=daily.index[250]),
        loaded.backtest(daily, start=daily.index[250]),
    )
    pd.testing.assert_frame_equal(backtest_after, backtest_before, check_exact=True)
    assert np.isfinite(got.to_numpy()).all()


def test_saved_folder_holds_no_pickle(daily, tmp_path):
    make_model(daily, quantiles=QUANTILES).save_pretrained(tmp_path)
    names = sorted(os.listdir(tmp_path))
    assert (
        {"config.json", "model.safetensors", SCALER_NAME}
        <= set(names)
        <= {"config.json", "model.safetensors", SCALER_NAME, "README.md"}
    )
    for name in names:
        data = (tmp_path / name).read_bytes()
        assert not data.startswith(b"PK\x03\x04"), f"{name} is a zip (torch.save format)"
        if name == "model.safetensors":
            # 8-byte little-endian header length, a JSON header, then raw tensor bytes: nothing else.
            (length,) = struct.unpack("<Q", data[:8])
            header = json.loads(data[8 : 8 + length])
            end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
            assert 8 + length + end == len(data)
        else:
            assert not (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), (
                f"{name} is a pickle"
            )
            text = data.decode("utf-8")
            if name.endswith(".json"):
                json.loads(text)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["features"] == MIXED_FEATURES and config["quantiles"] == QUANTILES and config["target"] == "close"


# ----- refusing what does not fit or could run code -------------------------------------------------


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("scaler_changes", "message"),
    [
        (
            {"feature_names": ["close", "log_return", "rsi_7", "volume"], "features": "rename"},
            r"scaler\.json and config\.json disagree on the features: scaler has 4 \(close, log_return, rsi_7, volume\), "
            r"config has 4 \(close, log_return, rsi_5, volume\)",
        ),
        (
            {"feature_names": ["close", "log_return", "rsi_5"], "features": "drop"},
            r"disagree on the features: scaler has 3 \(close, log_return, rsi_5\), config has 4",
        ),
        ({"target": "volume"}, r"scaler\.json is for target 'volume', config\.json for 'close'"),
        (
            {"mode": "window", "features": {}, "target_params": {}},
            r"scaler\.json uses scaling 'window', config\.json 'standard'",
        ),
    ],
)
def test_folder_whose_scaler_and_config_disagree_refused(daily, tmp_path, scaler_changes, message):
    make_model(daily).save_pretrained(tmp_path)
    path = tmp_path / SCALER_NAME
    data = json.loads(path.read_text())
    if scaler_changes.get("features") == "rename":
        data["features"]["rsi_7"] = data["features"].pop("rsi_5")
        scaler_changes = {k: v for k, v in scaler_changes.items() if k != "features"}
    elif scaler_changes.get("features") == "drop":
        del data["features"]["volume"]
        scaler_changes = {k: v for k, v in scaler_changes.items() if k != "features"}
    data.update(scaler_changes)
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        LSTMForecaster.from_pretrained(tmp_path)


def test_config_edited_to_other_features_refused(daily, tmp_path):
    make_model(daily).save_pretrained(tmp_path)
    edit_json(tmp_path / "config.json", features=["close", "log_return", "rsi_5", "volume", "ema_7"])
    with pytest.raises(ValueError, match=r"scaler has 4 \(close, log_return, rsi_5, volume\), config has 5"):
        LSTMForecaster.from_pretrained(tmp_path)


class RunsCode:
    """A pickle that creates a folder when unpickled: proof that a loader ran it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickled_weights_refused_without_unpickling(daily, tmp_path):
    folder = tmp_path / "model"
    make_model(daily).save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(
        ValueError,
        match=r"holds its weights as pytorch_model\.bin, a pickle; .* refused\. Only model\.safetensors is accepted",
    ):
        LSTMForecaster.from_pretrained(folder)
    assert not marker.exists()


def test_pickled_scaler_refused_without_unpickling(daily, tmp_path):
    folder = tmp_path / "model"
    make_model(daily).save_pretrained(folder)
    (folder / SCALER_NAME).unlink()
    marker = tmp_path / "unpickled"
    (folder / "scaler.pkl").write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(
        ValueError, match=r"holds its scaler as scaler\.pkl, a pickle; .* refused\. Only scaler\.json is accepted"
    ):
        LSTMForecaster.from_pretrained(folder)
    assert not marker.exists()


def test_missing_files_refused(daily, tmp_path):
    folder = tmp_path / "model"
    make_model(daily).save_pretrained(folder)
    (folder / SCALER_NAME).unlink()
    with pytest.raises(ValueError, match=r"has no scaler\.json"):
        LSTMForecaster.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"has no model\.safetensors"):
        LSTMForecaster.from_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ValueError, match=r"has no config\.json: not an lstm-forecaster model"):
        LSTMForecaster.from_pretrained(folder)


def test_weights_of_another_shape_refused(daily, tmp_path):
    model = make_model(daily)
    model.save_pretrained(tmp_path)
    save_file({k: torch.zeros(3) for k in model.state_dict()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"does not match config.json: tensor \S+ has shape \[3\]"):
        LSTMForecaster.from_pretrained(tmp_path)


def test_unfitted_model_refuses_predict_and_save(daily, tmp_path):
    model = LSTMForecaster(LSTMForecasterConfig(features=["close"], target="close", context_length=10))
    message = r"this model has no fitted scaler: train it .* or load a trained one with LSTMForecaster\.from_pretrained"
    with pytest.raises(ValueError, match=message):
        model.predict(daily)
    with pytest.raises(ValueError, match=message):
        model.save_pretrained(tmp_path / "unfitted")
    assert not (tmp_path / "unfitted" / "model.safetensors").exists()


# ----- predict ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "step"), [("daily", pd.Timedelta(days=1)), ("hourly", pd.Timedelta(hours=1))])
def test_predict_future_timestamps_at_data_frequency(request, data, step):
    df = request.getfixturevalue(data)
    model = make_model(df, horizon=3, quantiles=QUANTILES)
    forecast = model.predict(df)
    expected = pd.DatetimeIndex([df.index[-1] + k * step for k in (1, 2, 3)], name="timestamp")
    assert forecast.index.equals(expected) and str(forecast.index.tz) == "UTC"
    assert list(forecast.columns) == ["forecast", "q0.1", "q0.5", "q0.9"]
    assert forecast.dtypes.eq(np.float64).all()
    np.testing.assert_array_equal(forecast["forecast"], forecast["q0.5"])
    quantiles, central = model.predict_quantiles(df)
    assert list(quantiles.columns) == ["q0.1", "q0.5", "q0.9"] and central.name == "forecast"
    pd.testing.assert_frame_equal(quantiles, forecast[["q0.1", "q0.5", "q0.9"]], check_exact=True)


def test_predict_reads_a_file_like_load_ohlcv(daily, tmp_path):
    model = make_model(daily)
    daily.to_parquet(tmp_path / "candles.parquet")
    pd.testing.assert_frame_equal(model.predict(tmp_path / "candles.parquet"), model.predict(daily), check_exact=True)


def network_output(model: LSTMForecaster, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The scaled network output for the last window of `df`, computed step by step; and that window."""
    samples = model.samples(df)
    window = samples.features[-model.config.context_length :][None]  # (1, context, features)
    with torch.no_grad():
        out = model(torch.from_numpy(model.scaler.scale_windows(window))).numpy()
    return out[0].astype("float64"), window


def test_log_return_forecast_compounds_from_last_close(daily):
    model = make_model(daily, target="log_return", horizon=3)
    out, _ = network_output(model, daily)
    mean, std = model.scaler.target_params["mean"], model.scaler.target_params["std"]
    log_returns = out[:, 0] * std + mean  # cumulative log return from the last close to each step
    last_close = daily["close"].iloc[-1]
    expected = [last_close * np.exp(r) for r in log_returns]
    np.testing.assert_allclose(model.predict(daily)["forecast"].to_numpy(), expected, rtol=1e-14)
    # Compounded from the last close, not from each other's forecasts.
    assert not np.allclose(expected[1], expected[0] * np.exp(log_returns[1]))


def test_close_forecast_inverse_minmax_by_hand(daily):
    model = make_model(daily, scaling="minmax", horizon=2)
    out, _ = network_output(model, daily)
    lo, hi = model.scaler.target_params["min"], model.scaler.target_params["max"]
    np.testing.assert_allclose(model.predict(daily)["forecast"].to_numpy(), out[:, 0] * (hi - lo) + lo, rtol=1e-14)


def test_window_forecast_denormalised_with_window_base_by_hand(daily):
    model = make_model(daily, features=POSITIVE_FEATURES, scaling="window", target="volume", horizon=2)
    out, window = network_output(model, daily)
    base = window[0, 0, POSITIVE_FEATURES.index("volume")]  # the volume at the window's first row
    assert base == daily["volume"].iloc[-10]
    np.testing.assert_allclose(model.predict(daily)["forecast"].to_numpy(), (out[:, 0] + 1.0) * base, rtol=1e-14)


def test_predict_only_reads_the_past(daily):
    model = make_model(daily, horizon=2)
    forecast = model.predict(daily.iloc[:250])
    assert forecast.index[0] == daily.index[250]
    # Rows after the cut do not exist for predict: the same cut always gives the same forecast.
    pd.testing.assert_frame_equal(forecast, model.predict(daily.iloc[:250].copy()), check_exact=True)


@pytest.mark.parametrize("horizon", [0, 4, -1, 1.5, True, "2", np.float64(2.0)])
def test_horizon_argument_validated(daily, horizon):
    model = make_model(daily, horizon=3)
    with pytest.raises(
        ValueError,
        match=rf"horizon must be an integer from 1 to the model's horizon 3\. Got {re.escape(repr(horizon))}\.",
    ):
        model.predict(daily, horizon=horizon)


@pytest.mark.parametrize("horizon", [1, 2, 3, np.int64(2)])
def test_horizon_argument_shortens_forecast(daily, horizon):
    model = make_model(daily, horizon=3, quantiles=QUANTILES)
    full = model.predict(daily)
    part = model.predict(daily, horizon=horizon)
    assert len(part) == horizon
    pd.testing.assert_frame_equal(part, full.iloc[:horizon], check_exact=True)


def test_predict_puts_model_back_in_training_mode_if_it_was(daily):
    model = make_model(daily, dropout=0.5, hidden_size=[8, 8], num_layers=2)
    model.train()
    first = model.predict(daily)
    assert model.training
    pd.testing.assert_frame_equal(model.predict(daily), first, check_exact=True)  # dropout off while predicting


# ----- quantiles never cross -------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_quantile_outputs_never_cross(cell):
    levels = [0.05, 0.25, 0.5, 0.75, 0.95]
    generator = torch.Generator().manual_seed(1)
    for draw in range(20):
        config = LSTMForecasterConfig(
            features=["close", "volume"], context_length=6, horizon=4, cell=cell, hidden_size=6, quantiles=levels
        )
        model = LSTMForecaster(config).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 3.0)
            x = torch.randn(256, 6, 2, generator=generator) * (1 + 10 * draw)
            out = model(x)
        assert out.shape == (256, 4, 5)
        assert (torch.diff(out, dim=-1) >= 0).all(), f"quantiles cross in draw {draw}"


def test_quantile_forecasts_in_price_units_never_cross(daily):
    for seed, target, scaling in [(0, "close", "minmax"), (1, "log_return", "standard"), (2, "volume", "window")]:
        features = POSITIVE_FEATURES if scaling == "window" else MIXED_FEATURES
        model = make_model(
            daily,
            seed=seed,
            target=target,
            scaling=scaling,
            features=features,
            horizon=3,
            quantiles=[0.02, 0.1, 0.5, 0.9, 0.98],
        )
        frame = model.backtest(daily, start=daily.index[100])
        values = frame[["q0.02", "q0.1", "q0.5", "q0.9", "q0.98"]].to_numpy()
        assert len(values) > 300 and (np.diff(values, axis=1) >= 0).all()


# ----- forward shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("horizon", "quantiles"), [(1, None), (3, None), (2, QUANTILES)])
def test_forward_shapes(cell, bidirectional, horizon, quantiles):
    config = LSTMForecasterConfig(
        features=["close", "volume", "ema_3"],
        context_length=7,
        horizon=horizon,
        cell=cell,
        hidden_size=[5, 4],
        num_layers=2,
        bidirectional=bidirectional,
        quantiles=quantiles,
    )
    model = LSTMForecaster(config).eval()
    outputs = 3 if quantiles else 1
    x = torch.randn(9, 7, 3)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (9, horizon, outputs) and out.dtype == torch.float32
        assert model.head.in_features == 4 * (2 if bidirectional else 1)
        if bidirectional:
            with pytest.raises(ValueError, match=r"all_steps needs a one-directional network \(bidirectional=False\)"):
                model(x, all_steps=True)
            # The head reads the forward direction at the last step and the backward one at the first.
            hidden = model.rnn[1](model.rnn[0](x)[0])[0]  # (9, 7, 2 * 4)
            expected = model.head(torch.cat([hidden[:, -1, :4], hidden[:, 0, 4:]], dim=-1)).unflatten(
                -1, (horizon, outputs)
            )
            if quantiles:
                expected = torch.cat(
                    [
                        expected[..., :1],
                        expected[..., :1] + torch.cumsum(torch.nn.functional.softplus(expected[..., 1:]), -1),
                    ],
                    -1,
                )
            torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
        else:
            every = model(x, all_steps=True)
            assert every.shape == (9, 7, horizon, outputs)
            torch.testing.assert_close(every[:, -1], out, rtol=1e-6, atol=1e-6)


def test_bidirectional_recipe_round_trip(daily, tmp_path):
    model = make_model(
        daily,
        features=POSITIVE_FEATURES,
        scaling="window",
        hidden_size=[6, 12, 6],
        num_layers=3,
        bidirectional=True,
        dropout=0.2,
    )
    model.save_pretrained(tmp_path)
    loaded = LSTMForecaster.from_pretrained(tmp_path)
    pd.testing.assert_frame_equal(loaded.predict(daily), model.predict(daily), check_exact=True)


def test_median_at_last_pins_the_median_to_the_last_close_exactly(daily, tmp_path):
    levels = [0.1, 0.25, 0.5, 0.75, 0.9]
    model = make_model(daily, target="log_return", quantiles=levels, median_at_last=True, horizon=3, steps=5)
    forecast = model.predict(daily)
    np.testing.assert_array_equal(forecast["forecast"].to_numpy(), daily["close"].iloc[-1])
    np.testing.assert_array_equal(forecast["q0.5"].to_numpy(), daily["close"].iloc[-1])
    values = forecast[[f"q{q:g}" for q in levels]].to_numpy()
    assert (np.diff(values, axis=1) > 0).all(), "levels spread either side of the pinned median, never crossing"
    frame = model.backtest(daily, start=daily.index[250])
    np.testing.assert_array_equal(frame["q0.5"].to_numpy(), frame["base"].to_numpy())
    # The anchor (the scaled zero return) is derived from scaler.json, so the round trip is exact.
    model.save_pretrained(tmp_path / "m")
    loaded = LSTMForecaster.from_pretrained(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(daily), forecast, rtol=0, atol=0)
    assert float(loaded.anchor[0]) == float(model.anchor[0]) != 0.0
