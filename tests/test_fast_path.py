"""`predict` reads only the rows a forecast needs: exactly the numbers of the computation over every row.

The fast path computes features over `LSTMForecaster.rows_read` rows (warm-up + context, plus the
calibration origins), stacks a panel's series in one pass, and skips `load_ohlcv`'s normalisation of
a frame it already returned. Each test compares it with the full computation (`rows_read` forced to
None: features over the whole history, series by series) on the same machine, with exact equality.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, load_ohlcv
from lstm_forecaster.data import is_clean_ohlcv
from lstm_forecaster.scaling import Scaler

RECIPES = {
    # configs/default.yaml: scale-free context scaling, conformal calibration, median at the last close
    "context": dict(
        features=["log_return", "log_range", "volume", "volatility_30", "volatility_7"],
        target="log_return",
        context_length=40,
        horizon=3,
        hidden_size=8,
        quantiles=[0.1, 0.5, 0.9],
        median_at_last=True,
        scaling="context",
        calibration="conformal",
        calibration_window=60,
    ),
    # configs/btc_daily_quantile.yaml: standardized return features, quantiles
    "standard": dict(
        features=["log_return", "log_range", "volatility_7", "return_mean_7", "volume_ratio_14"],
        target="log_return",
        context_length=30,
        horizon=2,
        hidden_size=8,
        quantiles=[0.1, 0.5, 0.9],
        scaling="standard",
        calibration="conformal",
        calibration_window=50,
    ),
    # recursive features (EMA, RSI, MACD) read the whole history: the fast path must not cut it
    "recursive": dict(
        features=["close", "ema_7", "rsi_14", "macd_hist"],
        target="close",
        context_length=20,
        horizon=2,
        hidden_size=8,
        scaling="standard",
    ),
}


def walk(rows: int, seed: int, start: str = "2019-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 10.0 ** rng.uniform(-1, 3) * np.exp(np.cumsum(rng.normal(0.0, 0.03, rows)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.02, rows))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.02, rows))
    index = pd.date_range(start, periods=rows, freq="D", tz="UTC", name="timestamp")
    volume = rng.uniform(1e3, 1e4, rows)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def fitted(recipe: str, df: pd.DataFrame) -> LSTMForecaster:
    torch.manual_seed(0)
    model = LSTMForecaster(LSTMForecasterConfig(**RECIPES[recipe]))
    samples = model.samples(df)
    origins = samples.origins()
    model.scaler = Scaler.fit(
        model.config.scaling, model.config.features, model.config.target, samples.features, samples.targets[origins]
    )
    with torch.no_grad():  # weights away from zero, so the network's output matters
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def full(model: LSTMForecaster, df, **kwargs) -> pd.DataFrame:
    """`predict` over every row: features over the whole history, series by series."""
    model.rows_read = lambda calibrate=None: None
    try:
        return model.predict(df, **kwargs)
    finally:
        del model.rows_read


def assert_same(fast: pd.DataFrame, slow: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.attrs["warnings"] == slow.attrs["warnings"]


@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("calibrate", [False, True])
def test_single_series_fast_path_is_exact(recipe, calibrate):
    df = load_ohlcv(walk(700, 1))
    model = fitted(recipe, df)
    rows = model.rows_read(calibrate)
    assert (rows is None) == (recipe == "recursive")
    if rows is not None:
        assert rows < len(df)  # the fast path really reads fewer rows
    assert_same(model.predict(df, calibrate=calibrate), full(model, df, calibrate=calibrate))
    # From a raw CSV-like frame (normalised), and from a shorter one than rows_read.
    raw = df.reset_index()
    assert_same(model.predict(raw, calibrate=calibrate), full(model, raw, calibrate=calibrate))
    short = df.iloc[-(model.rows_read(False) or 100) - 10 :]  # shorter than the calibration reads
    assert_same(model.predict(short, calibrate=calibrate), full(model, short, calibrate=calibrate))


@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("calibrate", [False, True])
@pytest.mark.parametrize("ragged", [False, True])
def test_panel_fast_path_is_exact(recipe, calibrate, ragged):
    frames = {f"A{i}": walk(600 - (97 * i if ragged else 0), 10 + i) for i in range(4)}
    panel = load_ohlcv(pd.concat(frames, names=["symbol", "timestamp"]))
    model = fitted(recipe, frames["A0"])
    fast = model.predict(panel, calibrate=calibrate)
    assert fast.index.get_level_values("symbol").unique().tolist() == list(frames)
    assert_same(fast, full(model, panel, calibrate=calibrate))


def test_panel_fast_path_drops_short_series_and_names_bad_ones():
    frames = {"LONG": walk(400, 1), "SHORT": walk(30, 2)}
    panel = load_ohlcv(pd.concat(frames, names=["symbol", "timestamp"]))
    model = fitted("context", frames["LONG"])
    with pytest.warns(UserWarning, match="SHORT"):
        fast = model.predict(panel, calibrate=False)
    assert fast.index.get_level_values("symbol").unique().tolist() == ["LONG"]
    # B misses 5 days among the rows it reads, more than the 4 of a context of 40: left out with a warning (guards)
    gap = pd.concat(
        {"A": walk(400, 1), "B": walk(400, 2).drop(walk(400, 2).index[-25:-20])}, names=["symbol", "timestamp"]
    )
    forecast = model.predict(load_ohlcv(gap), calibrate=False)
    assert forecast.index.get_level_values("symbol").unique().tolist() == ["A"]
    assert [w["symbol"] for w in forecast.attrs["warnings"] if w["code"] == "gap"] == ["B"]
    with pytest.raises(ValueError, match="^B: the rows a forecast reads are not evenly spaced"):
        model.predict_quantiles(load_ohlcv(gap), calibrate=False)


@pytest.mark.parametrize("calibrate", [False, True])
def test_panel_fast_path_is_exact_across_short_gaps(calibrate):
    """Series with short gaps (read as consecutive rows) take the fast path too: the same numbers and warnings."""
    b, c = walk(500, 2), walk(450, 3)
    frames = {"A": walk(500, 1), "B": b.drop(index=b.index[[-30, -12, -11]]), "C": c.drop(index=c.index[-100])}
    panel = load_ohlcv(pd.concat(frames, names=["symbol", "timestamp"]))
    model = fitted("context", frames["A"])
    fast = model.predict(panel, calibrate=calibrate)
    assert fast.index.get_level_values("symbol").unique().tolist() == ["A", "B", "C"]
    assert [(w["code"], w["symbol"]) for w in fast.attrs["warnings"]] == [("short_gap", "B")]  # C's gap is older
    assert_same(fast, full(model, panel, calibrate=calibrate))


def test_clean_frame_is_not_normalised_again():
    df = load_ohlcv(walk(100, 1))
    assert is_clean_ohlcv(df)
    again = load_ohlcv(df)
    assert again is not df
    pd.testing.assert_frame_equal(again, df, check_exact=True)
    # Anything a normalisation would change or refuse is not taken for clean.
    assert not is_clean_ohlcv(df.reset_index())
    assert not is_clean_ohlcv(df.iloc[::-1])
    assert not is_clean_ohlcv(df.astype({"volume": "float32"}))
    broken = df.copy()
    broken.iloc[5, broken.columns.get_loc("close")] = -1.0
    assert not is_clean_ohlcv(broken)
    with pytest.raises(ValueError, match="column 'close' has a non-positive value"):
        load_ohlcv(broken)
    panel = load_ohlcv(pd.concat({"A": walk(50, 1), "B": walk(50, 2)}, names=["symbol", "timestamp"]))
    assert is_clean_ohlcv(panel)
    unmarked = panel.copy()
    unmarked.attrs = {}
    assert not is_clean_ohlcv(unmarked)  # a panel's frequencies are checked by load_panel: its mark is needed


def test_panel_index_from_codes_is_the_index_from_arrays():
    from lstm_forecaster.modeling import _panel_index

    symbols = ["ZEC", "AAVE", "btc", "ÉTH", "A0"]  # not in sorted order
    stamps = np.array([f"2024-01-0{1 + (i % 3) + i // 3}" for i in range(15)], dtype="datetime64[s]")
    index = _panel_index(symbols, stamps, 3)
    expected = pd.MultiIndex.from_arrays(
        [np.repeat(symbols, 3), pd.DatetimeIndex(stamps).tz_localize("UTC")], names=["symbol", "timestamp"]
    )
    pd.testing.assert_index_equal(index, expected, exact=True)
    for mine, theirs in zip(index.levels, expected.levels, strict=True):
        pd.testing.assert_index_equal(mine, theirs, exact=True)
    for mine, theirs in zip(index.codes, expected.codes, strict=True):
        np.testing.assert_array_equal(mine, theirs)
