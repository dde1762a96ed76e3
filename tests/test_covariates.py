"""Calendar features: values by hand, causal, in every scaling mode, exact on the fast path and in panels."""

import numpy as np
import pandas as pd
import pytest
import torch
from test_fast_path import assert_same, full, walk

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, load_ohlcv
from lstm_forecaster.card import describe_feature
from lstm_forecaster.features import compute_features, context_kind, validate_feature_names
from lstm_forecaster.scaling import Scaler

CALENDAR = ["dow_sin", "dow_cos", "hour_sin", "hour_cos"]


def hourly(rows: int, seed: int) -> pd.DataFrame:
    df = walk(rows, seed)
    df.index = pd.date_range("2024-01-01 05:00", periods=rows, freq="h", tz="UTC", name="timestamp")
    return df


def test_calendar_values_by_hand():
    df = hourly(50, 1)
    out = compute_features(df, CALENDAR)
    # 2024-01-01 was a Monday (0); 05:00 UTC. Row 20 is 2024-01-02 01:00, a Tuesday (1).
    assert out.iloc[0].tolist() == [0.0, 1.0, np.sin(2 * np.pi * 5 / 24), np.cos(2 * np.pi * 5 / 24)]
    np.testing.assert_array_equal(
        out.iloc[20].to_numpy(),
        [np.sin(2 * np.pi / 7), np.cos(2 * np.pi / 7), np.sin(2 * np.pi / 24), np.cos(2 * np.pi / 24)],
    )
    # A timezone-aware index in another zone is read in UTC.
    shifted = df.tz_convert("Asia/Tokyo")
    pd.testing.assert_frame_equal(compute_features(shifted, CALENDAR), out.tz_convert("Asia/Tokyo"))
    daily = compute_features(walk(10, 1, start="2024-01-07"), CALENDAR)  # a Sunday (6)
    assert daily.iloc[0].tolist() == [np.sin(2 * np.pi * 6 / 7), np.cos(2 * np.pi * 6 / 7), 0.0, 1.0]
    assert (daily["hour_cos"] == 1.0).all()


def test_calendar_is_causal():
    df = hourly(80, 2)
    changed = df.copy()
    changed.iloc[60:, :] = changed.iloc[60:, :] * 3.0
    changed = changed.iloc[:70]  # later rows changed and some dropped
    names = ["log_return", *CALENDAR]
    pd.testing.assert_frame_equal(compute_features(changed, names).iloc[:59], compute_features(df, names).iloc[:59])


def test_bad_names_and_missing_timestamps_rejected():
    with pytest.raises(ValueError, match="unknown feature 'dow'"):
        validate_feature_names(["dow"])
    with pytest.raises(ValueError, match="unknown feature 'hour_sin_24'"):
        validate_feature_names(["hour_sin_24"])
    with pytest.raises(ValueError, match="calendar features need timestamps"):
        compute_features(walk(10, 1).reset_index(drop=True), ["dow_sin"])
    assert {context_kind(name) for name in CALENDAR} == {"calendar"}
    assert describe_feature("dow_sin") == "sin(2 pi d / 7), d the UTC day of the week (Monday 0)"


def fitted(df: pd.DataFrame, scaling: str) -> LSTMForecaster:
    torch.manual_seed(0)
    config = dict(
        features=["log_return", "log_range", "volatility_7", *CALENDAR],
        target="log_return",
        context_length=24,
        horizon=2,
        hidden_size=8,
        quantiles=[0.1, 0.5, 0.9],
        scaling=scaling,
    )
    if scaling == "context":
        config.update(median_at_last=True, calibration="conformal", calibration_window=40)
    model = LSTMForecaster(LSTMForecasterConfig(**config))
    samples = model.samples(df)
    model.scaler = Scaler.fit(
        scaling, model.config.features, model.config.target, samples.features, samples.targets[samples.origins()]
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def test_context_scaling_passes_calendar_through():
    df = load_ohlcv(hourly(200, 3))
    model = fitted(df, "context")
    samples = model.samples(df)
    windows = torch.as_tensor(samples.features[:24][None])
    closes = torch.as_tensor(df["close"].to_numpy(copy=True)[7 : 7 + 24][None])
    from lstm_forecaster.scaling import context_normalize

    scaled, _ = context_normalize(windows, closes, model.config.features)
    np.testing.assert_allclose(scaled[0, :, 3:].numpy(), samples.features[:24, 3:].astype("float32"), rtol=1e-6)


@pytest.mark.parametrize("scaling", ["context", "standard"])
@pytest.mark.parametrize("calibrate", [False, True])
def test_calendar_fast_path_is_exact(scaling, calibrate):
    df = load_ohlcv(hourly(500, 4))
    model = fitted(df, scaling)
    assert model.rows_read(calibrate) < len(df)
    assert_same(model.predict(df, calibrate=calibrate), full(model, df, calibrate=calibrate))
    frames = {f"A{i}": hourly(400 - 61 * i, 10 + i) for i in range(3)}
    panel = load_ohlcv(pd.concat(frames, names=["symbol", "timestamp"]))
    assert_same(model.predict(panel, calibrate=calibrate), full(model, panel, calibrate=calibrate))
