"""Scaler: fitted on the training rows only, exact JSON round trip, window math, bad files rejected."""

import json

import numpy as np
import pytest

from lstm_forecaster import Scaler, load_ohlcv, sample_path
from lstm_forecaster.data import Samples
from lstm_forecaster.scaling import SCALER_NAME

FEATURES = ["close", "volume", "ema_7"]


@pytest.fixture(scope="module")
def samples() -> Samples:
    return Samples(load_ohlcv(sample_path()).iloc[800:1200], FEATURES, "close", context_length=10, horizon=2)


def fit(samples: Samples, mode: str, train_end: int = 250) -> Scaler:
    origins = samples.origins(0, train_end - 1 - samples.horizon)
    return Scaler.fit(
        mode, FEATURES, "close", samples.features[:train_end], samples.targets[origins], fitted_on={"rows": train_end}
    )


@pytest.mark.parametrize("mode", ["minmax", "standard"])
def test_fitted_on_training_rows_only(samples, mode):
    train_end = 250
    scaler = fit(samples, mode, train_end)
    train = samples.features[:train_end]
    if mode == "minmax":
        assert scaler.features["close"] == {"min": train[:, 0].min(), "max": train[:, 0].max()}
        # Later rows are outside the training range (BTC rose in 2017): scaled values leave [0, 1].
        later = scaler.scale_windows(samples.windows(np.arange(300, 390)))
        assert later.max() > 1.0
    else:
        assert scaler.features["volume"] == {"mean": train[:, 1].mean(), "std": train[:, 1].std()}
    # Changing every row after the split leaves the scaler as it was.
    changed = samples.features.copy()
    changed[train_end:] *= 10.0
    origins = samples.origins(0, train_end - 1 - samples.horizon)
    again = Scaler.fit(
        mode, FEATURES, "close", changed[:train_end], samples.targets[origins], fitted_on={"rows": train_end}
    )
    assert again == scaler
    # The target's parameters come from training targets only, all of them known.
    targets = samples.targets[origins]
    assert not np.isnan(targets).any()
    expected = (
        {"min": targets.min(), "max": targets.max()}
        if mode == "minmax"
        else {"mean": targets.mean(), "std": targets.std()}
    )
    assert scaler.target_params == expected


def test_minmax_and_standard_math():
    rows = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]])
    targets = np.array([2.0, 4.0, 6.0])
    windows = rows[None]  # (1, 3, 2)
    minmax = Scaler.fit("minmax", ["a", "b"], "close", rows, targets)
    np.testing.assert_array_equal(
        minmax.scale_windows(windows)[0], np.array([[0.0, 0.0], [0.5, 1.0], [1.0, 0.5]], "float32")
    )
    np.testing.assert_array_equal(minmax.scale_target(targets), np.array([0.0, 0.5, 1.0], "float32"))
    standard = Scaler.fit("standard", ["a", "b"], "close", rows, targets)
    std_a = np.sqrt(8.0 / 3.0)  # population std of 1, 3, 5
    np.testing.assert_allclose(standard.scale_windows(windows)[0, :, 0], [-2.0 / std_a, 0.0, 2.0 / std_a], rtol=1e-6)
    for scaler in (minmax, standard):
        assert scaler.scale_windows(windows).dtype == np.float32
        np.testing.assert_allclose(scaler.unscale_target(scaler.scale_target(targets)), targets, rtol=1e-6)
        assert scaler.unscale_target(np.float32(0.5)).dtype == np.float64


def test_window_mode_math():
    scaler = Scaler.fit("window", ["close", "volume"], "close", np.empty((0, 2)), np.empty(0))
    assert scaler.features == {} and scaler.target_params == {}
    windows = np.array([[[100.0, 10.0], [110.0, 5.0], [90.0, 20.0]], [[50.0, 4.0], [25.0, 4.0], [75.0, 1.0]]])
    expected = np.array([[[0.0, 0.0], [0.1, -0.5], [-0.1, 1.0]], [[0.0, 0.0], [-0.5, 0.0], [0.5, -0.75]]], "float32")
    np.testing.assert_allclose(scaler.scale_windows(windows), expected, rtol=1e-6, atol=1e-7)
    base = np.array([100.0, 50.0])  # each window's first close
    targets = np.array([[120.0, 80.0], [40.0, 60.0]])  # (batch, horizon)
    scaled = scaler.scale_target(targets, base)
    np.testing.assert_allclose(scaled, [[0.2, -0.2], [-0.2, 0.2]], rtol=1e-6)
    # (batch, horizon, outputs) forecasts are de-normalised with their own window's base.
    forecasts = np.array([[[0.2], [-0.2]], [[-0.2], [0.2]]])
    np.testing.assert_allclose(scaler.unscale_target(forecasts, base)[..., 0], targets, rtol=1e-12)
    with pytest.raises(ValueError, match=r"window scaling needs the first value of each window \(window_base\)"):
        scaler.unscale_target(forecasts)


def test_constant_column_is_shifted_not_divided():
    rows = np.array([[7.0, 1.0], [7.0, 2.0], [7.0, 3.0]])
    for mode in ("minmax", "standard"):
        scaler = Scaler.fit(mode, ["const", "x"], "volume", rows, np.array([5.0, 6.0]))
        scaled = scaler.scale_windows(rows[None])
        assert np.isfinite(scaled).all()
        np.testing.assert_array_equal(scaled[0, :, 0], [0.0, 0.0, 0.0])
        np.testing.assert_array_equal(scaler.unscale_target(scaler.scale_target(np.array([5.0, 6.0]))), [5.0, 6.0])
        # A constant target has no scale to multiply forecasts back with: refused, not replaced by 1.
        with pytest.raises(ValueError, match=r"of the target 'volume' is 0.0; it must be positive"):
            Scaler.fit(mode, ["const", "x"], "volume", rows, np.array([5.0, 5.0]))


def test_feature_count_mismatch_rejected():
    scaler = Scaler.fit("minmax", ["a", "b"], "close", np.ones((3, 2)), np.arange(3.0))
    with pytest.raises(ValueError, match=r"windows have 3 features, the scaler was fitted on 2 \(a, b\)"):
        scaler.scale_windows(np.ones((1, 4, 3)))


@pytest.mark.parametrize("mode", ["minmax", "standard", "window"])
def test_exact_json_round_trip(samples, mode, tmp_path):
    scaler = fit(samples, mode)
    path = tmp_path / SCALER_NAME
    scaler.save(path)
    loaded = Scaler.load(path)
    assert loaded == scaler
    assert loaded.to_dict() == scaler.to_dict() == json.loads(path.read_text())
    origins = samples.origins(100, 300)
    windows = samples.windows(origins)
    np.testing.assert_allclose(loaded.scale_windows(windows), scaler.scale_windows(windows), rtol=0, atol=0)
    base = samples.window_base(origins)
    values = np.linspace(-1.0, 1.0, len(origins) * 2).reshape(-1, 2)
    np.testing.assert_allclose(loaded.unscale_target(values, base), scaler.unscale_target(values, base), rtol=0, atol=0)
    # Every parameter is the same double, bit for bit.
    for name in FEATURES:
        for key, value in scaler.features.get(name, {}).items():
            assert np.float64(loaded.features[name][key]).tobytes() == np.float64(value).tobytes()


def test_awkward_floats_round_trip_exactly(tmp_path):
    values = [0.1 + 0.2, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, -2.2250738585072014e-308, 123456789.123456789]
    scaler = Scaler(
        "standard",
        ["x"],
        "close",
        features={"x": {"mean": values[0], "std": values[1]}},
        target_params={"mean": values[3], "std": values[2]},
    )
    scaler.save(tmp_path / SCALER_NAME)
    loaded = Scaler.load(tmp_path / SCALER_NAME)
    assert loaded.features["x"]["mean"] == values[0] and loaded.features["x"]["std"] == values[1]
    assert loaded.target_params == {"mean": values[3], "std": values[2]}


VALID = {
    "mode": "minmax",
    "feature_names": ["close"],
    "target": "close",
    "features": {"close": {"min": 1.0, "max": 2.0}},
    "target_params": {"min": 1.0, "max": 2.0},
}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"scaler\.json is not valid JSON"),
        ("[1, 2]", r"scaler\.json needs the keys feature_names, features, mode, target, target_params; found: list"),
        (
            json.dumps({k: v for k, v in VALID.items() if k != "target_params"}),
            r"needs the keys .*; found: feature_names, features, mode, target$",
        ),
        (
            json.dumps({**VALID, "mode": "robust"}),
            r"scaler mode must be one of minmax, standard, window, context\. Got 'robust'",
        ),
        (json.dumps({**VALID, "features": {}}), r"scaler has no min/max for feature\(s\) close"),
        (
            json.dumps({**VALID, "features": {"close": {"mean": 0.0, "std": 1.0}}}),
            r"scaler has no min/max for feature\(s\) close",
        ),
        (json.dumps({**VALID, "target_params": {"min": 1.0}}), r"scaler has no min/max for the target 'close'"),
        (
            json.dumps({**VALID, "target_params": {"min": 1.0, "max": float("inf")}}),
            r"scaler parameter max of 'target' must be a finite number",
        ),
        (
            json.dumps({**VALID, "features": {"close": {"min": float("nan"), "max": 2.0}}}),
            r"scaler parameter min of 'close' must be a finite number",
        ),
        (
            json.dumps({**VALID, "features": {"close": {"min": "low", "max": 2.0}}}),
            r"scaler parameter min of 'close' must be a finite number\. Got 'low'",
        ),
        (
            json.dumps({**VALID, "features": ["close"]}),
            r"scaler\.json 'features' must map each feature name to its parameters",
        ),
        (json.dumps({**VALID, "feature_names": "close"}), r"scaler\.json 'feature_names' must be a list of names"),
    ],
)
def test_bad_scaler_json_rejected(tmp_path, text, message):
    path = tmp_path / SCALER_NAME
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        Scaler.load(path)


def test_valid_scaler_json_loads(tmp_path):
    path = tmp_path / SCALER_NAME
    path.write_text(json.dumps(VALID))
    assert Scaler.load(path).features == {"close": {"min": 1.0, "max": 2.0}}


def test_empty_training_split_rejected():
    with pytest.raises(ValueError, match=r"cannot fit a scaler on an empty training split"):
        Scaler.fit("standard", ["x"], "close", np.empty((0, 1)), np.empty(0))
