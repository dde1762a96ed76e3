"""Market features: the panel's mean return and its volatility, causal, in panels, on the fast path,
in backtests and trained models, and the warning when the market is one series."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from test_fast_path import assert_same, full, walk

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, load_ohlcv
from lstm_forecaster.card import describe_feature
from lstm_forecaster.features import MARKET_WINDOW, compute_features, context_kind, validate_feature_names
from lstm_forecaster.market import market_frame, warn_single_asset, with_market
from lstm_forecaster.panel import PanelSamples
from lstm_forecaster.scaling import Scaler, context_normalize

MARKET = ["market_return", "market_volatility"]


def toy_panel(lengths=(300, 240, 180), seed: int = 0) -> pd.DataFrame:
    """Series that start at different dates and all end on the same day."""
    frames = {}
    for i, rows in enumerate(lengths):
        df = walk(rows, seed + i)
        df.index = pd.date_range(end="2024-06-30", periods=rows, freq="D", tz="UTC", name="timestamp")
        frames[f"A{i}"] = df
    return load_ohlcv(pd.concat(frames, names=["symbol", "timestamp"]))


def market_by_hand(panel: pd.DataFrame) -> pd.DataFrame:
    returns = np.log(panel["close"]).groupby(level="symbol").diff()
    market = returns.groupby(level="timestamp").mean()
    return pd.DataFrame({"market_return": market, "market_volatility": market.rolling(MARKET_WINDOW).std()})


def panel_features(panel: pd.DataFrame, names: list[str], context_length: int = 10) -> pd.DataFrame:
    samples = PanelSamples(panel, names, "log_return", context_length, 1)
    index = pd.MultiIndex.from_arrays([samples.symbol_of(np.arange(len(samples))), samples.index])
    return pd.DataFrame(samples.features, index=index, columns=names)


def test_market_return_is_the_cross_sectional_mean():
    panel = toy_panel()
    expected = market_by_hand(panel)
    got = market_frame(panel)
    np.testing.assert_allclose(got["market_return"], expected["market_return"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["market_volatility"], expected["market_volatility"], rtol=1e-9, atol=1e-15)
    # The first day has no return; the youngest series joins the mean from its second row.
    assert got["assets"].iloc[0] == 0 and got["assets"].iloc[-1] == 3
    first = panel.xs("A2", level="symbol").index[:2]
    assert got["assets"].loc[first].tolist() == [2, 3]
    # Every series' rows carry the market at their own timestamps.
    features = panel_features(panel, [*MARKET, "log_return"])
    for symbol in ("A0", "A2"):
        rows = features.xs(symbol, level=0)
        stamps = rows.index.tz_convert("UTC")
        np.testing.assert_allclose(rows["market_return"], expected["market_return"].loc[stamps], rtol=1e-12)
        np.testing.assert_allclose(rows["market_volatility"], expected["market_volatility"].loc[stamps], rtol=1e-9)
    # The market differs from each series' own return (they are independent walks).
    assert not np.allclose(features["market_return"], features["log_return"])


def test_market_features_are_causal():
    panel = toy_panel(seed=3)
    t = pd.Timestamp("2024-05-01", tz="UTC")
    stamps = panel.index.get_level_values("timestamp")
    changed = panel.copy()
    changed.loc[stamps > t, ["open", "high", "low", "close"]] *= 3.0
    changed = changed[(stamps <= t) | (stamps.day % 3 != 0)]  # later rows changed, and some removed
    late = walk(60, 99)  # and a series that starts after t
    late.index = pd.date_range(t + pd.Timedelta(days=1), periods=60, freq="D", tz="UTC", name="timestamp")
    frames = {s: changed.xs(s, level="symbol") for s in ("A0", "A1", "A2")}
    changed = load_ohlcv(pd.concat({**frames, "LATE": late}, names=["symbol", "timestamp"]))
    before = panel_features(panel, [*MARKET, "log_return"])
    after = panel_features(changed, [*MARKET, "log_return"])
    keep = before.index.get_level_values(1) <= t
    # Exactly the same numbers at every row up to t, whatever came after it.
    pd.testing.assert_frame_equal(after.loc[before.index[keep]], before[keep], check_exact=True)
    later = before.index[~keep].intersection(after.index)[:5]
    assert not np.allclose(after.loc[later], before.loc[later])


def test_one_series_is_its_own_market():
    df = load_ohlcv(walk(120, 5))
    out = compute_features(df, [*MARKET, "log_return", f"volatility_{MARKET_WINDOW}"])
    np.testing.assert_array_equal(out["market_return"], out["log_return"])
    np.testing.assert_array_equal(out["market_volatility"], out[f"volatility_{MARKET_WINDOW}"])
    one = load_ohlcv(pd.concat({"ONLY": df}, names=["symbol", "timestamp"]))
    np.testing.assert_array_equal(panel_features(one, MARKET).to_numpy(), out[MARKET].to_numpy())
    assert with_market(df, MARKET) is df and with_market(one, ["log_return"]) is one


def test_bad_names_rejected_and_context_kind():
    with pytest.raises(ValueError, match="unknown feature 'market_vol'; accepted: .*market_return, market_volatility"):
        validate_feature_names(["market_vol"])
    with pytest.raises(ValueError, match="unknown feature 'market_return_7'"):
        validate_feature_names(["market_return_7"])
    with pytest.raises(ValueError, match="unknown feature 'market_vol'"):
        LSTMForecasterConfig(features=["log_return", "market_vol"])
    assert {context_kind(name) for name in MARKET} == {"return"}
    assert describe_feature("market_return").startswith("The mean over the panel's series of their log returns at t")


def fitted(df: pd.DataFrame, scaling: str = "context") -> LSTMForecaster:
    torch.manual_seed(0)
    config = dict(
        features=["log_return", "log_range", *MARKET],
        target="log_return",
        context_length=24,
        horizon=2,
        hidden_size=8,
        quantiles=[0.1, 0.5, 0.9],
        scaling=scaling,
        calibration_window=40,
    )
    if scaling == "context":
        config.update(median_at_last=True, calibration="conformal")
    model = LSTMForecaster(LSTMForecasterConfig(**config))
    samples = model.samples(df)
    model.scaler = Scaler.fit(
        scaling, model.config.features, model.config.target, samples.features, samples.targets[samples.origins()]
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def test_context_scaling_divides_by_the_assets_own_volatility():
    panel = toy_panel(seed=7)
    model = fitted(panel)
    samples = model.samples(panel)
    origins = samples.origins()[:3]
    windows = samples.windows(origins)
    closes = samples.base_windows(origins)
    scaled, sigma = context_normalize(torch.tensor(windows), torch.tensor(closes), model.config.features)
    expected = np.clip(windows[..., 2:] / sigma.numpy()[:, None, None], -10, 10).astype("float32")
    np.testing.assert_allclose(scaled[..., 2:].numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("scaling", ["context", "standard"])
@pytest.mark.parametrize("calibrate", [False, True])
def test_fast_path_is_exact_and_backtest_is_predict_at_each_origin(scaling, calibrate):
    panel = toy_panel(seed=11)
    model = fitted(panel, scaling)
    assert model.rows_read(calibrate) < 180
    fast = model.predict(panel, calibrate=calibrate)
    assert_same(fast, full(model, panel, calibrate=calibrate))
    assert not [w for w in fast.attrs["warnings"] if w["code"] == "single_asset_market"]
    # A backtest origin forecasts what predict does on the panel cut at that origin (market included).
    stamps = panel.index.get_level_values("timestamp")
    frame = model.backtest(panel, start="2024-06-20", calibrate=calibrate)
    origin = pd.Timestamp("2024-06-24", tz="UTC")
    cut = model.predict(panel[stamps <= origin], calibrate=calibrate)
    rows = frame[frame["origin"] == origin].set_index(["symbol", "timestamp"])
    np.testing.assert_array_equal(rows[cut.columns].to_numpy(), cut.loc[rows.index].to_numpy())


def test_single_series_forecast_warns_that_its_market_is_itself():
    panel = toy_panel(seed=13)
    model = fitted(panel)
    one = panel.xs("A0", level="symbol")
    out = model.predict(one)
    assert_same(out, full(model, one))  # the fast path: its own volatility_30 over the rows read
    codes = [w["code"] for w in out.attrs["warnings"]]
    assert codes.count("single_asset_market") == 1
    message = next(w["message"] for w in out.attrs["warnings"] if w["code"] == "single_asset_market")
    assert "market_return, market_volatility computed from one asset" in message
    with pytest.warns(UserWarning, match="computed from one asset"):
        warn_single_asset(model.config.features, one)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_single_asset(model.config.features, panel)
        warn_single_asset(["log_return"], one)


MARKET_RECIPE = {
    "name": "panel-market",
    "model": {
        "features": ["log_return", "log_range", *MARKET],
        "target": "log_return",
        "context_length": 10,
        "horizon": 2,
        "hidden_size": 8,
        "quantiles": [0.1, 0.5, 0.9],
        "scaling": "context",
        "median_at_last": True,
    },
    "validation_start": "2024-03-01",
    "test_start": "2024-05-01",
    "epochs": 1,
    "batch_size": 32,
    "loss": "pinball",
    "seed": 0,
}


def test_trained_panel_model_round_trips_and_backtests(tmp_path):
    from lstm_forecaster.training import recipe_from_dict, train

    recipe = recipe_from_dict(MARKET_RECIPE)
    data = toy_panel((400, 360, 300), seed=17)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no single-asset warning for a panel
        folder = train(recipe, tmp_path / "model", data=data, progress=False)
    model = LSTMForecaster.from_pretrained(folder)
    assert model.config.features[2:] == MARKET
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["symbols"] == ["A0", "A1", "A2"]
    panel = data.drop(index="A2", level="symbol")
    forecast = model.predict(panel)
    assert forecast.index.get_level_values("symbol").unique().tolist() == ["A0", "A1"]
    model.save_pretrained(tmp_path / "again")
    again = LSTMForecaster.from_pretrained(tmp_path / "again")
    pd.testing.assert_frame_equal(again.predict(panel), forecast, check_exact=True)
    frame = model.backtest(panel, start="2024-05-01")
    assert len(frame) and np.isfinite(frame[["q0.1", "q0.5", "q0.9"]].to_numpy()).all()
    # The market the model reads is the panel's: one asset alone forecasts differently.
    alone = model.predict(panel.xs("A0", level="symbol"))
    assert "single_asset_market" in [w["code"] for w in alone.attrs["warnings"]]
    assert not np.array_equal(alone.to_numpy(), forecast.loc["A0"].to_numpy())


def test_walk_forward_refits_train_and_forecast_with_the_market():
    from lstm_forecaster.backtest import backtest
    from lstm_forecaster.training import recipe_from_dict

    panel = toy_panel((400, 360, 300), seed=19)
    start = pd.Timestamp("2024-06-01", tz="UTC")
    recipe = recipe_from_dict(MARKET_RECIPE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # every refit trains on the panel: no single-asset warning
        result = backtest(None, panel, start=start, refit_every=14, recipe=recipe, progress=False)
    assert [r["refit"] for r in result.report["refits"]] == [1, 2]
    frame = result.frame
    assert set(frame["symbol"]) == {"A0", "A1", "A2"}
    assert np.isfinite(frame[["q0.1", "q0.5", "q0.9"]].to_numpy()).all()
