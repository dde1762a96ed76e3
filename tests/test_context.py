"""Scale-free `context` scaling, the baseline inside the model, multi-step quantiles and calibration."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, Scaler, load_ohlcv, sample_path
from lstm_forecaster.calibration import MIN_ORIGINS, calibrate_quantiles
from lstm_forecaster.scaling import CONTEXT_DECAY
from lstm_forecaster.training import WindowBatches, evaluate_model, fit_baseline, recipe_from_dict, train

LEVELS = [0.1, 0.25, 0.5, 0.75, 0.9]
FEATURES = ["log_return", "log_range", "close", "ema_7", "volume", "volume_ratio_14", "rsi_14", "macd_hist"]


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return load_ohlcv(sample_path()).iloc[-700:]


def context_model(df, horizon=4, quantiles=LEVELS, median_at_last=False, seed=0, **overrides) -> LSTMForecaster:
    """A context model whose baseline is fitted on the first 400 rows; the LSTM random, the head zero."""
    config = LSTMForecasterConfig(
        features=FEATURES,
        target="log_return",
        context_length=20,
        horizon=horizon,
        hidden_size=8,
        quantiles=quantiles,
        median_at_last=median_at_last,
        scaling="context",
        **overrides,
    )
    torch.manual_seed(seed)
    model = LSTMForecaster(config)
    samples = model.samples(df)
    origins = samples.origins(0, 400 - horizon)
    model.scaler = Scaler.fit("context", FEATURES, "log_return", samples.features[:400], samples.targets[origins])
    batches = WindowBatches(samples, model.scaler, torch.device("cpu"))
    fit_baseline(model, batches.targets(torch.from_numpy(origins)).double().numpy())
    return model.eval()


def ewma_volatility(closes: np.ndarray, decay: float = CONTEXT_DECAY) -> float:
    """The classical RiskMetrics volatility of a window of closes, written out by hand."""
    returns = np.diff(np.log(closes))
    weights = decay ** np.arange(len(returns) - 1, -1, -1)
    return float(np.sqrt(np.sum(weights * returns**2) / np.sum(weights)))


@pytest.mark.parametrize("median_at_last", [False, True])
def test_zero_residual_model_is_exactly_the_classical_forecast(daily, median_at_last):
    model = context_model(daily, median_at_last=median_at_last)
    baseline = model.baseline.double().numpy()  # (horizon, levels), saved in model.safetensors
    assert np.all(np.diff(baseline, axis=1) > 0)
    if median_at_last:
        assert np.all(baseline[:, 2] == 0)
    samples = model.samples(daily)
    origins = samples.origins(450, 460)
    got = model.forecast_origins(samples, origins, calibrate=False)
    closes = daily["close"].to_numpy()
    offset = len(daily) - len(samples)
    for i, origin in enumerate(origins):
        row = offset + origin
        sigma = ewma_volatility(closes[row - 19 : row + 1])
        steps = np.sqrt(np.arange(1, 5))[:, None]
        expected = closes[row] * np.exp(sigma * steps * baseline)
        np.testing.assert_allclose(got[i], expected, rtol=1e-6)
    # The network does reach the output: a nonzero head moves the forecast away from the baseline.
    with torch.no_grad():
        model.head.bias.add_(0.3)
    moved = model.forecast_origins(samples, origins, calibrate=False)
    assert not np.allclose(moved, got, rtol=1e-3)


def test_baseline_is_the_standardized_training_quantiles(daily):
    model = context_model(daily)
    samples = model.samples(daily)
    origins = samples.origins(0, 396)
    closes = samples.base
    z = np.empty((len(origins), 4))
    for i, origin in enumerate(origins):
        sigma = ewma_volatility(closes[origin - 19 : origin + 1])
        z[i] = samples.targets[origin] / (sigma * np.sqrt(np.arange(1, 5)))
    np.testing.assert_allclose(model.baseline.double().numpy(), np.quantile(z, LEVELS, axis=0).T, rtol=1e-5)


def test_context_forecasts_are_scale_free(daily):
    """An asset at another price level gets the same forecast in its own units: nothing to refit."""
    model = context_model(daily)
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_(0, 0.3)
    scaled = daily.copy()
    scaled[["open", "high", "low", "close"]] *= 1e-4
    scaled["volume"] *= 1e3
    for calibrate in (False, True):
        a = model.predict(daily, calibrate=calibrate).to_numpy()
        b = model.predict(scaled, calibrate=calibrate).to_numpy()
        np.testing.assert_allclose(b, a * 1e-4, rtol=1e-5)


def test_multi_step_quantiles_never_cross(daily):
    model = context_model(daily, horizon=7)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 2.0)
    frame = model.predict(daily)
    assert len(frame) == 7 and list(frame.columns) == ["forecast", "q0.1", "q0.25", "q0.5", "q0.75", "q0.9"]
    assert (frame.index[1:] - frame.index[:-1] == pd.Timedelta(days=1)).all()
    backtest = model.backtest(daily, start=daily.index[500])
    q = backtest[["q0.1", "q0.25", "q0.5", "q0.75", "q0.9"]].to_numpy()
    assert np.all(np.diff(q, axis=1) >= 0)
    assert sorted(backtest["step"].unique()) == list(range(1, 8))


def test_context_save_load_round_trip_is_exact(daily, tmp_path):
    model = context_model(daily)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.1)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "scaler.json").read_text())["mode"] == "context"
    loaded = LSTMForecaster.from_pretrained(tmp_path)
    assert loaded.config == model.config and loaded.scaler == model.scaler
    assert torch.equal(loaded.baseline, model.baseline)
    pd.testing.assert_frame_equal(loaded.predict(daily), model.predict(daily), check_exact=True)


def test_context_needs_a_log_return_target():
    with pytest.raises(ValueError, match="scaling 'context' .* needs target 'log_return'. Got 'close'"):
        LSTMForecasterConfig(features=["close"], target="close", scaling="context")
    with pytest.raises(ValueError, match="calibration must be one of conformal, none. Got 'isotonic'"):
        LSTMForecasterConfig(calibration="isotonic")


# ----- calibration -----------------------------------------------------------------------------------


def test_backtest_is_predict_at_every_origin_calibration_included(daily):
    model = context_model(daily, horizon=3)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.2)
    start = daily.index[560]
    frame = model.backtest(daily, start=start)
    raw = model.backtest(daily, start=start, calibrate=False)
    assert not np.allclose(frame["q0.1"], raw["q0.1"])  # calibration does act
    for origin in [daily.index[560], daily.index[601], daily.index[650], daily.index[-4]]:
        expected = model.predict(daily.loc[:origin])
        rows = frame[frame["origin"] == origin].set_index("timestamp")[expected.columns]
        np.testing.assert_allclose(rows.to_numpy(), expected.to_numpy(), rtol=1e-6)
        uncalibrated = model.predict(daily.loc[:origin], calibrate=False)
        rows = raw[raw["origin"] == origin].set_index("timestamp")[expected.columns]
        np.testing.assert_allclose(rows.to_numpy(), uncalibrated.to_numpy(), rtol=1e-6)


def test_backtest_is_predict_across_short_gaps(daily):
    """Origins whose rows hold a short gap are forecast by `backtest` as by `predict` (which warns: `short_gap`)."""
    model = context_model(daily, horizon=3)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.2)
    gappy = daily.drop(index=daily.index[[590, 640, 641]])  # context 20: at most 2 missing in the rows read
    frame = model.backtest(gappy, start=gappy.index[560])
    origins = {585: None, 595: "1 row missing", 650: "2 rows missing"}  # 585: before the first gap
    for origin, missing in [(gappy.index[i], m) for i, m in origins.items()]:
        expected = model.predict(gappy.loc[:origin])
        codes = [w["code"] for w in expected.attrs["warnings"]]
        assert codes == (["short_gap"] if missing else [])
        assert missing is None or expected.attrs["warnings"][0]["message"].startswith(missing)
        rows = frame[frame["origin"] == origin]
        np.testing.assert_allclose(rows[expected.columns].to_numpy(), expected.to_numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="miss 3 steps, more than the 2 accepted"):
        model.predict(gappy.drop(index=daily.index[645]).loc[: gappy.index[650]])


def test_calibration_is_causal_and_switchable(daily):
    model = context_model(daily, horizon=3)
    cut = daily.index[600]
    future = daily.copy()
    future.loc[future.index > cut, ["open", "high", "low", "close"]] *= 3.0  # a regime after the origin
    a = model.backtest(daily, start=daily.index[580]).query("origin <= @cut")
    b = model.backtest(future, start=daily.index[580]).query("origin <= @cut")
    cols = ["q0.1", "q0.25", "q0.5", "q0.75", "q0.9"]
    # Points whose outcome is known by the origin are identical; the others differ only in `actual`.
    np.testing.assert_array_equal(a[cols].to_numpy(), b[cols].to_numpy())
    off = LSTMForecasterConfig(**{**model.config.__dict__, "calibration": "none"})
    assert not off.calibrates and model.config.calibrates


def test_calibration_widens_too_narrow_intervals():
    rng = np.random.default_rng(0)
    n, horizon = 1500, 2
    actual = rng.standard_normal((n, horizon))
    true_q = np.array([-1.2816, -0.6745, 0.0, 0.6745, 1.2816])
    raw = np.broadcast_to(0.5 * true_q, (n, horizon, 5)).copy()  # half the true spread
    positions = np.arange(400, n)
    calibrated, known = calibrate_quantiles(raw, actual, LEVELS, positions, window=250, median_index=2)
    assert known.all()
    truth = actual[positions]
    before = np.mean((truth >= raw[positions, :, 0]) & (truth <= raw[positions, :, -1]))
    after = np.mean((truth >= calibrated[..., 0]) & (truth <= calibrated[..., -1]))
    assert before < 0.6 and abs(after - 0.8) < 0.03
    np.testing.assert_array_equal(calibrated[..., 2], raw[positions, :, 2])  # the median is kept
    # At origin MIN_ORIGINS, step 1 has MIN_ORIGINS known errors, step 2 one too few: it stays raw.
    short, known = calibrate_quantiles(raw[:40], actual[:40], LEVELS, np.array([MIN_ORIGINS]), 250, 2)
    assert known[0, 0] and not known[0, 1]
    np.testing.assert_array_equal(short[0, 1], raw[MIN_ORIGINS, 1])
    assert not np.array_equal(short[0, 0], raw[MIN_ORIGINS, 0])


# ----- training --------------------------------------------------------------------------------------


def context_recipe(**changes):
    values = {
        "name": "tiny-context",
        "model": {
            "features": ["log_return", "log_range", "volume"],
            "target": "log_return",
            "context_length": 15,
            "horizon": 3,
            "hidden_size": 6,
            "quantiles": [0.1, 0.5, 0.9],
            "scaling": "context",
            "calibration_window": 60,
        },
        "epochs": 2,
        "batch_size": 32,
        "patience": 0,
        "loss": "pinball",
        "seed": 1,
    }
    values.update(changes)
    return recipe_from_dict(values)


@pytest.mark.parametrize("learning_rate", [1e-3, 3.0])
def test_training_keeps_the_weights_only_where_they_beat_the_baseline(daily, tmp_path, learning_rate):
    folder = train(context_recipe(learning_rate=learning_rate), tmp_path / "m", data=daily, progress=False)
    args = json.loads((folder / "training_args.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    losses = [h["val_loss"] for h in args["history"]]
    assert metrics["kept"] == args["kept"]
    if args["kept"] == "baseline":
        assert min(losses) >= args["baseline_val_loss"] and args["best_epoch"] == 0
        model = LSTMForecaster.from_pretrained(folder)
        assert not model.head.weight.any() and not model.head.bias.any()
    else:
        assert min(losses) < args["baseline_val_loss"]
    steps = metrics["calibration"]["by_step"]
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert all(0 <= s["coverage_before"] <= 1 and 0 <= s["coverage_after"] <= 1 for s in steps)
    # Plots and card per step: the farthest step has its own plot, the card a per-step table.
    assert (folder / "forecast.png").is_file() and (folder / "forecast_step3.png").is_file()
    card = (folder / "README.md").read_text()
    assert "### Per step, before and after calibration" in card and "forecast_step3.png" in card
    first = steps[0]
    assert f"| 1 | {first['n']} | {first['coverage_before']:.1%} -> {first['coverage_after']:.1%} |" in card
    assert ("is the\nbaseline" in card) == (args["kept"] == "baseline")
    # `evaluate` recomputes the same report, the calibration before/after and `kept` included.
    assert evaluate_model(folder, data=daily).report == metrics


def test_default_recipes_are_scale_free_and_multi_step():
    from pathlib import Path

    from lstm_forecaster.training import load_recipe

    configs = Path(__file__).resolve().parents[1] / "configs"
    daily = load_recipe(configs / "default.yaml")
    hourly = load_recipe(configs / "hourly.yaml")
    assert daily.data == "panel" and daily.model.horizon == 7 and daily.validation_start < daily.test_start
    assert hourly.model.horizon == 24 and Path(hourly.data).name == "Binance_BTCUSDT_1h.csv"
    for recipe in (daily, hourly):
        assert recipe.model.scaling == "context" and recipe.model.calibrates and recipe.loss == "pinball"
        assert recipe.model.quantiles[0] == 0.1 and recipe.model.quantiles[-1] == 0.9
    first = load_recipe(configs / "btc_daily_quantile.yaml")  # the first default, kept
    assert first.model.scaling == "standard" and first.model.horizon == 1
