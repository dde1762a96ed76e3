"""Backward compatibility: the committed tiny model folder loads and reproduces its recorded forecasts.

`tests/golden/tiny-quantile/` was written once by `tests/golden/make_golden.py`, on another machine. If
this test fails, saved models changed meaning (features, scaling, architecture, inverse transform or
file format): fix the change, do not regenerate the folder.

How the recorded numbers are compared
-------------------------------------
Everything that does not go through the network is compared exactly: timestamps, columns, steps and
the real prices (`base`, `actual`). The network's outputs were computed in float32 on the recording
CPU; another CPU takes other kernels (AVX2 vs AVX512, batch 1 vs a batch of origins), and the outputs
differ in the last bits. So they are compared in the network's own units, the scaled log return
`z = (log(price / base) - mean) / std` that the head emits (|z| < 2 here), with `atol=1e-6`: a float32
ulp there is 1.2e-7 to 2.4e-7, so the bound allows 4-8 ulps, while the CPUs seen so far differ by one
(AMD EPYC recording, Intel Xeon AVX512: 1.19e-7). Why not a tolerance on prices: a price is the last
close times exp(a 1-5 % move), so the network's part is a few percent of the number; moving one head
weight by 1e-4 changes the backtest's prices by only 7.8e-7 relative and `rtol=1e-6` on prices would
miss it, while in `z` it is 1.5e-5, fifteen times the bound. The tests at the end prove that the bound catches
such a change (one weight moved by 1e-4, one feature's window changed). A looser bound would let those
through; a tighter one would fail on the next CPU. Prices are also checked with `rtol=1e-6`, the
figure a user sees. On the same machine a save -> load round trip stays bit-exact (last test).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lstm_forecaster import LSTMForecaster, features, load_ohlcv, sample_path
from lstm_forecaster.data import file_sha256

GOLDEN = Path(__file__).parent / "golden" / "tiny-quantile"
OUTPUT_ATOL = 1e-6  # in the network's scaled units; see the module docstring
PRICE_RTOL = 1e-6


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((GOLDEN / "expected.json").read_text())


def _load() -> LSTMForecaster:
    return LSTMForecaster.from_pretrained(GOLDEN)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as when the folder was written
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model() -> LSTMForecaster:
    return _load()


@pytest.fixture(scope="module")
def data(expected) -> pd.DataFrame:
    assert file_sha256(sample_path()) == expected["data"]["sha256"], "the bundled sample changed"
    return load_ohlcv(sample_path())


def network_units(model: LSTMForecaster, prices: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Invert the price transform: the scaled log return the network emitted for each price."""
    mean, std = model.scaler._target_shift_scale()
    return (np.log(prices / base[:, None]) - mean) / std


def assert_outputs_match(model: LSTMForecaster, got: np.ndarray, recorded: np.ndarray, base: np.ndarray) -> None:
    """The module docstring's rule: network outputs to `OUTPUT_ATOL` in scaled units, prices to `PRICE_RTOL`."""
    assert got.shape == recorded.shape
    np.testing.assert_allclose(
        network_units(model, got, base), network_units(model, recorded, base), rtol=0, atol=OUTPUT_ATOL
    )
    np.testing.assert_allclose(got, recorded, rtol=PRICE_RTOL, atol=0)


def check_predict(model: LSTMForecaster, data: pd.DataFrame, expected: dict) -> None:
    start, stop = expected["data"]["rows"]
    window = data.iloc[start:stop]
    forecast = model.predict(window)
    recorded = expected["predict"]
    assert [str(t) for t in forecast.index] == recorded["index"]
    assert list(forecast.columns) == recorded["columns"]
    base = np.full(len(forecast), window["close"].iloc[-1])
    assert_outputs_match(model, forecast.to_numpy(), np.array(recorded["values"]), base)


def check_backtest(model: LSTMForecaster, data: pd.DataFrame, expected: dict) -> None:
    start, stop = expected["data"]["rows"]
    recorded = expected["backtest"]
    frame = model.backtest(data.iloc[start:stop], start=recorded["start"])
    assert list(frame.columns) == recorded["columns"]
    assert [str(t) for t in frame["origin"]] == recorded["origin"]
    assert [str(t) for t in frame["timestamp"]] == recorded["timestamp"]
    assert frame["step"].tolist() == recorded["step"]
    values, want = frame.drop(columns=["origin", "timestamp", "step"]), np.array(recorded["values"])
    real = [values.columns.get_loc(c) for c in ("base", "actual")]
    np.testing.assert_array_equal(values.iloc[:, real].to_numpy(), want[:, real])  # data: exact
    outputs = [j for j in range(values.shape[1]) if j not in real]
    base = values["base"].to_numpy()
    assert_outputs_match(model, values.iloc[:, outputs].to_numpy(), want[:, outputs], base)


def test_golden_folder_holds_only_safe_files():
    assert sorted(p.name for p in GOLDEN.iterdir()) == [
        "config.json",
        "expected.json",
        "model.safetensors",
        "scaler.json",
    ]
    assert sum(p.stat().st_size for p in GOLDEN.iterdir() if p.name != "expected.json") < 8 * 1024


def test_golden_config_and_scaler_load(model):
    config = model.config
    assert config.features == ["log_return", "log_range", "rsi_14", "volatility_7", "volume_ratio_14"]
    assert (config.target, config.context_length, config.horizon, config.quantiles) == (
        "log_return",
        16,
        3,
        [0.1, 0.5, 0.9],
    )
    assert config.package_version == "0.1.0"  # written by the first release of the format
    assert model.scaler.feature_names == config.features and model.scaler.mode == "standard"
    assert not model.training and model.num_parameters() == 4 * (6 * (5 + 6) + 12) + 6 * 9 + 9


def test_golden_predict_reproduced(model, data, expected):
    check_predict(model, data, expected)


def test_golden_backtest_reproduced(model, data, expected):
    check_backtest(model, data, expected)


@pytest.mark.parametrize("name", ["head.weight", "head.bias"])
@pytest.mark.parametrize("check", [check_predict, check_backtest], ids=["predict", "backtest"])
def test_golden_bound_catches_a_weight_moved_by_1e4(data, expected, name, check):
    moved = _load()
    with torch.no_grad():
        moved.state_dict()[name].view(-1)[0] += 1e-4
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        check(moved, data, expected)


@pytest.mark.parametrize("check", [check_predict, check_backtest], ids=["predict", "backtest"])
def test_golden_bound_catches_a_changed_feature_window(data, expected, check, monkeypatch):
    """`volatility_7` computed over 8 rows instead of 7: a change of meaning the golden test must see."""
    volatility = features._WINDOW_KERNELS["volatility"]  # the kernel compute_features runs
    monkeypatch.setitem(features._WINDOW_KERNELS, "volatility", lambda columns, n: volatility(columns, n + 1))
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        check(_load(), data, expected)


def test_golden_save_load_on_this_machine_is_bit_exact(model, data, expected, tmp_path):
    model.save_pretrained(tmp_path)
    loaded = LSTMForecaster.from_pretrained(tmp_path)
    start, stop = expected["data"]["rows"]
    window = data.iloc[start:stop]
    pd.testing.assert_frame_equal(loaded.predict(window), model.predict(window), check_exact=True)
    before = model.backtest(window, start=expected["backtest"]["start"])
    after = loaded.backtest(window, start=expected["backtest"]["start"])
    pd.testing.assert_frame_equal(after, before, check_exact=True)
