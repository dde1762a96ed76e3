"""Backward compatibility: the committed tiny model folder loads and reproduces its recorded forecasts exactly.

`tests/golden/tiny-quantile/` was written once by `tests/golden/make_golden.py`. If this test fails,
saved models changed meaning (features, scaling, architecture, inverse transform or file format): fix
the change, do not regenerate the folder.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lstm_forecaster import LSTMForecaster, load_ohlcv, sample_path
from lstm_forecaster.data import file_sha256

GOLDEN = Path(__file__).parent / "golden" / "tiny-quantile"


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((GOLDEN / "expected.json").read_text())


@pytest.fixture(scope="module")
def model() -> LSTMForecaster:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as when the folder was written
    try:
        yield LSTMForecaster.from_pretrained(GOLDEN)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(expected) -> pd.DataFrame:
    assert file_sha256(sample_path()) == expected["data"]["sha256"], "the bundled sample changed"
    return load_ohlcv(sample_path())


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


def test_golden_predict_reproduced_exactly(model, data, expected):
    start, stop = expected["data"]["rows"]
    forecast = model.predict(data.iloc[start:stop])
    recorded = expected["predict"]
    assert [str(t) for t in forecast.index] == recorded["index"]
    assert list(forecast.columns) == recorded["columns"]
    np.testing.assert_array_equal(forecast.to_numpy(), np.array(recorded["values"]))
    np.testing.assert_allclose(forecast.to_numpy(), np.array(recorded["values"]), rtol=0, atol=0)


def test_golden_backtest_reproduced_exactly(model, data, expected):
    start, stop = expected["data"]["rows"]
    recorded = expected["backtest"]
    frame = model.backtest(data.iloc[start:stop], start=recorded["start"])
    assert list(frame.columns) == recorded["columns"]
    assert [str(t) for t in frame["origin"]] == recorded["origin"]
    assert [str(t) for t in frame["timestamp"]] == recorded["timestamp"]
    assert frame["step"].tolist() == recorded["step"]
    values = frame.drop(columns=["origin", "timestamp", "step"]).to_numpy()
    np.testing.assert_array_equal(values, np.array(recorded["values"]))
