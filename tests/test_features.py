"""Features: causality, values against hand computation, warm-up handling, name validation."""

import math

import numpy as np
import pandas as pd
import pytest

from lstm_forecaster.features import (
    CALENDAR_FEATURES,
    FEATURES,
    WINDOW_FEATURES,
    available_features,
    compute_features,
    validate_feature_names,
    warmup_rows,
)

REGISTERED = [
    *FEATURES,
    *(f"{prefix}_5" for prefix in WINDOW_FEATURES),
    "ema_7",
    "rsi_14",
    "volatility_14",
    "volume_ratio_24",
]


def ohlcv(rows: int, seed: int = 0) -> pd.DataFrame:
    """A random walk of daily candles, high >= open, close >= low."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, rows)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, rows))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, rows))
    volume = rng.uniform(1e3, 5e3, rows)
    index = pd.date_range("2020-01-01", periods=rows, freq="D", tz="UTC", name="timestamp")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def raw_feature(df: pd.DataFrame, name: str) -> pd.Series:
    """The registered function's output on every row, warm-up rows included (as NaN)."""
    if name in FEATURES:
        return FEATURES[name](df)
    prefix, n = name.rsplit("_", 1)
    return WINDOW_FEATURES[prefix](df, int(n))


# ----- causality -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in REGISTERED if n not in CALENDAR_FEATURES])  # see test_covariates
@pytest.mark.parametrize("t", [40, 41, 77])
def test_changing_future_rows_never_changes_past_features(name, t):
    df = ohlcv(120)
    future = df.copy()
    rng = np.random.default_rng(t)
    future.iloc[t + 1 :] *= rng.uniform(0.5, 2.0, size=(len(df) - t - 1, df.shape[1]))
    before = compute_features(df, [name])
    after = compute_features(future, [name])
    assert (before.loc[df.index[t + 1] :] != after.loc[df.index[t + 1] :]).to_numpy().any(), "the change must be seen"
    np.testing.assert_array_equal(before.loc[: df.index[t]].to_numpy(), after.loc[: df.index[t]].to_numpy())
    # And features up to t computed from rows up to t only are the same numbers.
    truncated = compute_features(df.iloc[: t + 1], [name])
    pd.testing.assert_frame_equal(truncated, before.loc[: df.index[t]], check_exact=True, check_freq=False)


# ----- values against hand computation ----------------------------------------------------------------


def series(values: list[float], **extra) -> pd.DataFrame:
    index = pd.date_range("2021-01-01", periods=len(values), freq="D", tz="UTC", name="timestamp")
    return pd.DataFrame({"close": values, **extra}, index=index)


def test_ema_by_hand():
    # span 3: alpha = 2 / (3 + 1) = 1/2, seeded with the first close; the first 2 rows are warm-up.
    df = series([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(compute_features(df, ["ema_3"])["ema_3"].to_numpy(), [2.25, 3.125, 4.0625], rtol=1e-15)


def test_rsi_wilder_by_hand():
    # closes 10, 11, 10, 12, 12, 11: changes +1, -1, +2, 0, -1. Wilder's smoothing with alpha = 1/3,
    # seeded with the first change: gains 1, 2/3, 10/9, 20/27, 40/81; losses 0, 1/3, 2/9, 4/27, 35/81.
    # RSI = 100 - 100 / (1 + gain/loss) from row 3 (three changes seen).
    df = series([10.0, 11.0, 10.0, 12.0, 12.0, 11.0])
    expected = [100 - 100 / (1 + 5), 100 - 100 / (1 + 5), 100 - 100 / (1 + 8 / 7)]  # 83.33, 83.33, 53.33
    np.testing.assert_allclose(compute_features(df, ["rsi_3"])["rsi_3"].to_numpy(), expected, rtol=1e-13)


def test_rsi_is_100_without_losses():
    assert compute_features(series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), ["rsi_3"])["rsi_3"].tolist() == [100.0] * 3


def test_log_return_volatility_mean_by_hand():
    # closes 100, 110, 99, 99: log returns ln(1.1), ln(0.9), 0.
    df = series([100.0, 110.0, 99.0, 99.0])
    r1, r2, r3 = math.log(1.1), math.log(0.9), 0.0
    np.testing.assert_allclose(compute_features(df, ["log_return"])["log_return"].to_numpy(), [r1, r2, r3], rtol=1e-12)
    # Over the last 2 returns: rows 2 and 3. Sample std (n - 1 in the denominator).
    mean_2 = [(r1 + r2) / 2, (r2 + r3) / 2]
    std_2 = [abs(r1 - r2) / math.sqrt(2), abs(r2 - r3) / math.sqrt(2)]
    features = compute_features(df, ["return_mean_2", "volatility_2", "return_std_2"])
    np.testing.assert_allclose(features["return_mean_2"].to_numpy(), mean_2, rtol=1e-12)
    np.testing.assert_allclose(features["volatility_2"].to_numpy(), std_2, rtol=1e-12)
    np.testing.assert_allclose(features["return_std_2"].to_numpy(), std_2, rtol=1e-12)


def test_volume_ratio_and_log_range_by_hand():
    df = series(
        [1.0, 1.0, 1.0, 1.0], volume=[10.0, 30.0, 20.0, 40.0], high=[2.0, 3.0, 4.0, 5.0], low=[1.0, 1.0, 2.0, 4.0]
    )
    # volume over its mean of the last 3 rows, this row included: 20 / 20, 40 / 30.
    np.testing.assert_allclose(
        compute_features(df, ["volume_ratio_3"])["volume_ratio_3"].to_numpy(), [1.0, 4 / 3], rtol=1e-15
    )
    np.testing.assert_allclose(
        compute_features(df, ["log_range"])["log_range"].to_numpy(), np.log([2.0, 3.0, 2.0, 1.25]), rtol=1e-15
    )


# Plain-Python references, one number at a time.


def ema_reference(x: list[float], span: int) -> list[float]:
    alpha, out = 2.0 / (span + 1), [x[0]]
    for value in x[1:]:
        out.append(alpha * value + (1 - alpha) * out[-1])
    return out


def rsi_reference(close: list[float], n: int) -> list[float]:
    gain = loss = None
    out = [math.nan]
    for t in range(1, len(close)):
        change = close[t] - close[t - 1]
        up, down = max(change, 0.0), max(-change, 0.0)
        gain = up if gain is None else (1 - 1 / n) * gain + up / n
        loss = down if loss is None else (1 - 1 / n) * loss + down / n
        out.append(100.0 if loss == 0 else 100.0 - 100.0 / (1.0 + gain / loss))
    return [math.nan if t < n else v for t, v in enumerate(out)]


def macd_hist_reference(close: list[float]) -> list[float]:
    fast, slow = ema_reference(close, 12), ema_reference(close, 26)
    macd = [f - s for f, s in zip(fast, slow, strict=True)][25:]  # the slow EMA is complete from row 25
    signal = ema_reference(macd, 9)
    return [math.nan] * 33 + [m - s for m, s in zip(macd[8:], signal[8:], strict=True)]


def rolling_reference(x: list[float], n: int, fn) -> list[float]:
    return [
        math.nan if t < n - 1 or any(map(math.isnan, x[t - n + 1 : t + 1])) else fn(x[t - n + 1 : t + 1])
        for t in range(len(x))
    ]


def sample_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_indicators_match_plain_python_references():
    df = ohlcv(90, seed=3)
    close, volume = df["close"].tolist(), df["volume"].tolist()
    returns = [math.nan] + [math.log(b / a) for a, b in zip(close[:-1], close[1:], strict=True)]
    references = {
        "ema_7": [math.nan] * 6 + ema_reference(close, 7)[6:],
        "rsi_14": rsi_reference(close, 14),
        "macd_hist": macd_hist_reference(close),
        "log_return": returns,
        "volatility_14": rolling_reference(returns, 14, sample_std),
        "return_mean_24": rolling_reference(returns, 24, lambda w: sum(w) / len(w)),
        "volume_ratio_24": [
            v / m for v, m in zip(volume, rolling_reference(volume, 24, lambda w: sum(w) / len(w)), strict=True)
        ],
        "log_range": [math.log(h / lo) for h, lo in zip(df["high"], df["low"], strict=True)],
    }
    features = compute_features(df, list(references))
    assert features.index[0] == df.index[33]  # the MACD histogram's warm-up is the longest
    for name, expected in references.items():
        np.testing.assert_allclose(features[name].to_numpy(), expected[33:], rtol=1e-10, atol=1e-12, err_msg=name)
        # The reference's warm-up is the registered one: NaN exactly before warmup_rows([name]).
        assert (
            np.isnan(expected[: warmup_rows([name])]).all() and not np.isnan(expected[warmup_rows([name]) :]).any()
        ), name


# ----- warm-up ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REGISTERED)
def test_warmup_rows_are_exactly_the_incomplete_ones(name):
    df = ohlcv(80)
    raw = raw_feature(df, name).to_numpy()
    n = warmup_rows([name])
    assert np.isnan(raw[:n]).all() and np.isfinite(raw[n:]).all()
    features = compute_features(df, [name])
    assert features.index.equals(df.index[n:])
    np.testing.assert_array_equal(features[name].to_numpy(), raw[n:])


def test_warmup_rows_dropped_not_filled():
    df = ohlcv(60)
    names = ["close", "ema_7", "rsi_14", "macd_hist"]
    features = compute_features(df, names)
    assert warmup_rows(names) == 33 and len(features) == len(df) - 33
    assert not features.isna().to_numpy().any()
    # The first kept row holds the values computed from the whole past, not a restarted or back-filled one.
    assert features["ema_7"].iloc[0] == raw_feature(df, "ema_7").iloc[33]
    assert features["close"].iloc[0] == df["close"].iloc[33]


def test_series_shorter_than_warmup_gives_no_rows():
    assert compute_features(ohlcv(20), ["macd_hist"]).empty


# ----- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["price", "ema", "ema_x", "foo_5", "RSI_14", "sma_20"])
def test_unknown_feature_rejected_with_accepted_list(name):
    accepted = ", ".join(available_features())
    assert "ema_N" in accepted and "macd_hist" in accepted
    with pytest.raises(ValueError, match=rf"unknown feature '{name}'; accepted: {accepted} \(N a window length\)"):
        validate_feature_names(["close", name])
    with pytest.raises(ValueError, match=rf"unknown feature '{name}'"):
        compute_features(ohlcv(40), [name])


def test_window_of_one_rejected():
    with pytest.raises(ValueError, match=r"feature 'rsi_1' needs a window of at least 2\. Got 1"):
        validate_feature_names(["rsi_1"])


def test_missing_input_column_named():
    with pytest.raises(ValueError, match=r"missing column 'volume'; found: close"):
        compute_features(series([1.0, 2.0, 3.0]), ["volume_ratio_2"])


def test_non_finite_feature_named():
    df = series([1.0, 2.0, 3.0, 4.0], volume=[0.0, 0.0, 0.0, 5.0])
    with pytest.raises(ValueError, match=r"feature 'volume_ratio_2' is not finite at 2021-01-02"):
        compute_features(df, ["volume_ratio_2"])
