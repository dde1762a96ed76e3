"""Loading OHLCV data as users bring it, rejecting what cannot be used, and windows that are views."""

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, Scaler, load_ohlcv, sample_path
from lstm_forecaster.data import Samples, check_length, file_sha256, infer_step, sliding_windows
from lstm_forecaster.features import warmup_rows

HOURLY = Path(__file__).parent / "data" / "Binance_BTCUSDT_1h.csv"


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return load_ohlcv(sample_path())


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return load_ohlcv(HOURLY)


def check_normalised(df: pd.DataFrame) -> None:
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC" and df.index.name == "timestamp"
    assert df.index.is_monotonic_increasing and not df.index.has_duplicates
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dtype == np.float64 for dtype in df.dtypes)


# ----- the two real files ----------------------------------------------------------------------------


def test_bundled_daily_sample_loads(daily):
    check_normalised(daily)
    assert sample_path().is_file() and len(file_sha256(sample_path())) == 64
    assert len(daily) == 3484
    assert daily.index[0] == pd.Timestamp("2014-09-17", tz="UTC") and daily.index[-1] == pd.Timestamp(
        "2024-03-31", tz="UTC"
    )
    assert infer_step(daily.index) == pd.Timedelta(days=1)
    # `Close` wins over `Adj Close` (equal in this file), and the first row is read as written.
    first = daily.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        465.864014,
        468.174011,
        452.421997,
        457.334015,
        21056800.0,
    )


def test_daily_last_row_volume(daily):
    # The data notes (shared/data/README.md) say the 2024-03-31 volume is about ten times its
    # neighbours'. The file does not bear that out: it is 17,507,024,896, between 0.5 and 1.5 times
    # each of the three days before it. This records what the file holds.
    last = daily["volume"].iloc[-1]
    assert daily.index[-1] == pd.Timestamp("2024-03-31", tz="UTC") and last == 17_507_024_896.0
    ratios = last / daily["volume"].iloc[-4:-1].to_numpy()
    assert ((ratios > 0.5) & (ratios < 1.5)).all(), ratios


def test_hourly_file_loads(hourly):
    check_normalised(hourly)
    raw = pd.read_csv(HOURLY)
    assert len(raw) == 36_062  # newest first, seconds and milliseconds, two date formats, overlapping rows
    assert raw["unix"].iloc[0] > 1e12 and raw["unix"].iloc[-1] < 1e10
    assert len(hourly) == 33_413  # 2,649 timestamps appear twice in the file: once per export format
    assert hourly.index[-1] == pd.Timestamp("2021-06-10 00:00", tz="UTC")
    assert infer_step(hourly.index) == pd.Timedelta(hours=1)


def test_hourly_oldest_candle_has_impossible_high(hourly):
    oldest = hourly.iloc[0]
    assert hourly.index[0] == pd.Timestamp("2017-08-17 04:00", tz="UTC")
    assert oldest["high"] == 16199.91 and oldest["close"] == 4308.83 and oldest["low"] == 4261.32


def test_hourly_overlapping_duplicates_keep_first_row_in_file_order(hourly):
    # The file lists 2020-08-01 23:00 twice, first in the millisecond format (open 11783.31, volume
    # 2194.598589), then in the AM/PM format (open 11783.30, volume 2194.60): the first is kept.
    row = hourly.loc[pd.Timestamp("2020-08-01 23:00", tz="UTC")]
    assert row["open"] == 11783.31 and row["volume"] == 2194.598589
    row = hourly.loc[pd.Timestamp("2020-08-02 04:00", tz="UTC")]
    assert row["open"] == 11999.96 and row["volume"] == 21611.397748


# ----- formats ---------------------------------------------------------------------------------------

CDD_HEAD = """https://www.CryptoDataDownload.com
unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount
1502953200000,2017-08-17 07:00:00,BTC/USDT,4324.35,4349.99,4287.41,4349.99,4.44,19241.06,10
1502949600,2017-08-17 06-AM,BTC/USDT,4315.32,4345.45,4309.37,4324.35,7.23,31282.31,NULL
1502946000.0,2017-08-17 05-AM,BTC/USDT,4308.83,4328.69,4291.37,4315.32,23.23,100304.82,NULL
"""


def test_csv_with_url_line_mixed_unix_units(tmp_path):
    path = tmp_path / "cdd.csv"
    path.write_text(CDD_HEAD)
    df = load_ohlcv(path)
    check_normalised(df)
    assert list(df.index) == list(pd.date_range("2017-08-17 05:00", periods=3, freq="h", tz="UTC"))
    assert df["close"].tolist() == [4315.32, 4324.35, 4349.99]
    assert df["volume"].tolist() == [23.23, 7.23, 4.44]  # Volume BTC (the base asset), not Volume USDT


def test_date_column_mixing_am_pm_and_iso(tmp_path):
    path = tmp_path / "dates.csv"
    path.write_text(
        "date,close\n2017-08-17 12-AM,1\n2017-08-17 12-PM,2\n2017-08-17 01-PM,3\n2017-08-17 14:00:00,4\n2017-08-17T15:00:00Z,5\n"
    )
    df = load_ohlcv(path)
    hours = [0, 12, 13, 14, 15]
    assert list(df.index) == [pd.Timestamp(2017, 8, 17, h, tz="UTC") for h in hours]
    assert df["close"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_unix_seconds_and_milliseconds_mixed_in_timestamp_column():
    seconds, millis = 1_700_000_000, 1_700_003_600_000
    df = load_ohlcv(pd.DataFrame({"timestamp": [millis, seconds], "close": [2.0, 1.0]}))
    assert list(df.index) == [pd.Timestamp(seconds, unit="s", tz="UTC"), pd.Timestamp(millis, unit="ms", tz="UTC")]
    assert df["close"].tolist() == [1.0, 2.0]


def test_parquet_round_trip(tmp_path, daily):
    path = tmp_path / "btc.parquet"
    daily.iloc[:100].to_parquet(path)
    pd.testing.assert_frame_equal(load_ohlcv(path), daily.iloc[:100], check_freq=False)
    # A Parquet file with the time in a column, naive, newest first.
    raw = daily.iloc[:50].reset_index()
    raw["timestamp"] = raw["timestamp"].dt.tz_localize(None)
    raw.iloc[::-1].to_parquet(tmp_path / "column.parquet")
    pd.testing.assert_frame_equal(load_ohlcv(tmp_path / "column.parquet"), daily.iloc[:50], check_freq=False)


def test_dataframe_and_datasets_dataset(daily):
    import datasets

    raw = pd.read_csv(sample_path()).iloc[:60]
    from_frame = load_ohlcv(raw)
    pd.testing.assert_frame_equal(from_frame, daily.iloc[:60], check_freq=False)
    assert "Date" in raw.columns  # the caller's frame is not modified
    from_dataset = load_ohlcv(datasets.Dataset.from_pandas(raw))
    pd.testing.assert_frame_equal(from_dataset, daily.iloc[:60], check_freq=False)


def test_datetime_index_made_utc():
    index = pd.date_range("2024-01-01", periods=3, freq="D", tz="America/New_York")
    df = load_ohlcv(pd.DataFrame({"close": [1.0, 2.0, 3.0]}, index=index))
    assert str(df.index.tz) == "UTC" and df.index[0] == pd.Timestamp("2024-01-01 05:00", tz="UTC")
    naive = load_ohlcv(pd.DataFrame({"close": [1.0, 2.0]}, index=pd.date_range("2024-01-01", periods=2, freq="h")))
    assert naive.index[0] == pd.Timestamp("2024-01-01", tz="UTC")


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["Date", "OPEN", "High", " low ", "Close", "Volume"], ["open", "high", "low", "close", "volume"]),
        (["date", "Open", "High", "Low", "Adj Close", "Volume"], ["open", "high", "low", "close", "volume"]),
        (["Timestamp", "Close", "Volume BTC", "Volume USDT"], ["close", "volume"]),
        (["Datetime", "Close", "Volume USDT"], ["close", "volume"]),
        (["open_time", "close"], ["close"]),
    ],
)
def test_column_names_normalised(columns, expected):
    values = {name: [3.0, 3.0] for name in columns}
    values[columns[0]] = ["2024-01-01", "2024-01-02"]
    df = load_ohlcv(pd.DataFrame(values))
    assert list(df.columns) == expected


def test_close_preferred_over_adj_close_and_base_volume_over_quote():
    df = load_ohlcv(
        pd.DataFrame(
            {"Date": ["2024-01-01"], "Close": [10.0], "Adj Close": [9.0], "Volume BTC": [2.0], "Volume USDT": [20.0]}
        )
    )
    assert df["close"].iloc[0] == 10.0 and df["volume"].iloc[0] == 2.0


def test_exact_duplicates_dropped_and_near_duplicates_keep_first_in_file_order():
    stamps = ["2024-01-02", "2024-01-01", "2024-01-02", "2024-01-01"]
    frame = pd.DataFrame({"date": stamps, "close": [20.0, 10.0, 20.1, 10.0], "volume": [2.0, 1.0, 5.0, 1.0]})
    df = load_ohlcv(frame)
    assert df["close"].tolist() == [10.0, 20.0] and df["volume"].tolist() == [1.0, 2.0]


def test_different_candles_at_one_timestamp_rejected():
    frame = pd.DataFrame({"date": ["2024-01-01", "2024-01-01"], "close": [10.0, 11.0]})
    with pytest.raises(
        ValueError, match=r"two different candles at 2024-01-01 00:00:00\+00:00; keep one row per timestamp"
    ):
        load_ohlcv(frame)


# ----- rejections ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Date,Open,Price\n2024-01-01,1,2\n", r"missing column 'close'; found: date, open, price"),
        (
            "Date,Close\n2024-01-01,1\n2024-01-02,abc\n",
            r"column 'close' has a non-numeric value 'abc' at row 1 \(2024-01-02",
        ),
        ("Date,Close,Volume\n2024-01-01,1,\n", r"column 'volume' has an empty value at row 0 \(2024-01-01"),
        ("Date,Close\n2024-01-01,1\n2024-01-02,0\n", r"column 'close' has a non-positive value 0\.0 at 2024-01-02"),
        ("Date,Open,Close\n2024-01-01,-3,1\n", r"column 'open' has a non-positive value -3\.0 at 2024-01-01"),
        ("Date,Close,Volume\n2024-01-01,1,-5\n", r"column 'volume' has a negative value -5\.0 at 2024-01-01"),
        (
            "Date,High,Low,Close\n2024-01-01,1,2,1.5\n",
            r"high below low at 2024-01-01 00:00:00\+00:00: high 1\.0 < low 2\.0",
        ),
        (
            "Close,Volume\n1,2\n",
            r"no time column; expected one of timestamp, datetime, date, time, open_time, unix .*found: close, volume",
        ),
        (
            "Date,Close\nyesterday,1\n",
            r"column 'date' has an unreadable timestamp 'yesterday' at row 0; accepted: ISO dates",
        ),
        ("unix,close\n1700000000,1\nsoon,2\n", r"column 'unix' has a non-numeric value 'soon' at row 1"),
        ("", r"cannot read .*empty\.csv as CSV: the file has no rows"),
    ],
)
def test_bad_csv_rejected_with_clear_message(tmp_path, text, message):
    path = tmp_path / ("empty.csv" if not text else "bad.csv")
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_ohlcv(path)


def test_unreadable_files_rejected(tmp_path):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\xff\xfe\x81 not text")
    with pytest.raises(ValueError, match=r"cannot read .*binary\.csv as CSV"):
        load_ohlcv(binary)
    fake = tmp_path / "fake.parquet"
    fake.write_text("date,close\n2024-01-01,1\n")
    with pytest.raises(ValueError, match=r"cannot read .*fake\.parquet as Parquet"):
        load_ohlcv(fake)
    with pytest.raises(ValueError, match=r"no such file: .*missing\.csv"):
        load_ohlcv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match=r"is not a file; give a CSV or Parquet file"):
        load_ohlcv(tmp_path)


def test_too_few_rows_for_context_and_warmup(daily):
    features, context = ["close", "rsi_14"], 20
    needed = warmup_rows(features) + context
    assert len(Samples(daily.iloc[:needed], features, "close", context, 1)) == context
    with pytest.raises(
        ValueError,
        match=rf"too few rows: {needed - 1} given, context_length 20 plus the features' warm-up needs at least {needed}",
    ):
        Samples(daily.iloc[: needed - 1], features, "close", context, 1)
    with pytest.raises(ValueError, match=r"too few rows: 3 given, training needs at least 4"):
        check_length(daily.iloc[:3], 4, "training")

    config = LSTMForecasterConfig(features=features, target="close", context_length=context, hidden_size=4)
    model = LSTMForecaster(config)
    samples = model.samples(daily.iloc[:200])
    model.scaler = Scaler.fit("standard", features, "close", samples.features, samples.targets[:-1])
    assert len(model.predict(daily.iloc[:needed])) == 1
    with pytest.raises(ValueError, match=rf"too few rows: {needed - 1} given"):
        model.predict(daily.iloc[: needed - 1])


def test_missing_target_column_for_samples():
    df = load_ohlcv(
        pd.DataFrame({"date": pd.date_range("2024-01-01", periods=40).astype(str), "close": 1.0 + np.arange(40.0)})
    )
    with pytest.raises(ValueError, match=r"missing column 'volume' for target 'volume'; found: close"):
        Samples(df, ["close"], "volume", 5, 1)


# ----- samples and windows ---------------------------------------------------------------------------


def test_samples_align_features_targets_and_bases(daily):
    df = daily.iloc[:120]
    samples = Samples(df, ["close", "log_return"], "log_return", context_length=10, horizon=3)
    assert samples.index.equals(df.index[1:])  # one warm-up row for log_return
    close = df["close"].to_numpy()[1:]
    np.testing.assert_array_equal(samples.base, close)
    np.testing.assert_array_equal(samples.features[:, 0], close)
    i = 50
    np.testing.assert_allclose(samples.targets[i], np.log(close[i + 1 : i + 4] / close[i]), rtol=1e-15)
    assert (
        np.isnan(samples.targets[-1]).all()
        and np.isnan(samples.targets[-3, 2])
        and not np.isnan(samples.targets[-4]).any()
    )
    origins = samples.origins()
    assert origins[0] == 9 and origins[-1] == len(samples) - 4
    assert samples.origins(complete=False)[-1] == len(samples) - 1
    np.testing.assert_array_equal(samples.windows(np.array([20, 7 + 9]))[1], samples.features[7:17])
    np.testing.assert_array_equal(samples.window_base(np.array([20])), close[11:12])


def root_buffer(array: np.ndarray) -> np.ndarray:
    """The array that owns the memory behind a chain of views."""
    owner = array
    while getattr(owner, "base", None) is not None:
        owner = owner.base
        if isinstance(owner, np.ndarray) and owner.base is None:
            return owner
    return owner


@pytest.mark.parametrize("context_length", [10, 200])
def test_windows_are_views_not_copies(hourly, context_length):
    df = hourly.iloc[:3000]
    samples = Samples(df, ["close", "log_return", "volume_ratio_24"], "close", context_length, horizon=1)
    tracemalloc.start()
    try:
        windows = samples.windows(samples.origins(complete=False))
        allocated = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rows = len(samples) - context_length + 1
    assert windows.shape == (rows, context_length, 3)
    assert np.shares_memory(windows, samples.features) and not windows.flags.writeable
    assert root_buffer(windows) is samples.features
    assert samples.features.nbytes == len(samples) * 3 * 8  # the only buffer: rows x features
    assert windows.nbytes == rows * context_length * 3 * 8  # what a copy would have cost
    # A view: what is allocated (the origin indices) grows with the rows, not rows x context_length.
    assert allocated < 32 * len(samples) + 16 * 1024 and allocated < windows.nbytes / 8
    for i in (0, rows // 2, rows - 1):
        np.testing.assert_array_equal(windows[i], samples.features[i : i + context_length])


def test_sliding_windows_view_and_validation():
    values = np.arange(24.0).reshape(8, 3).copy()
    windows = sliding_windows(values, 5)
    assert windows.shape == (4, 5, 3) and np.shares_memory(windows, values) and root_buffer(windows) is values
    np.testing.assert_array_equal(windows[3], values[3:8])
    with pytest.raises(ValueError, match=r"too few rows: 8 given, a window needs 9"):
        sliding_windows(values, 9)
    with pytest.raises(ValueError, match=r"values must be 2-D \(rows, features\)\. Got shape \(8,\)"):
        sliding_windows(values[:, 0], 2)


def test_windows_reject_origins_without_a_full_window(daily):
    samples = Samples(daily.iloc[:100], ["close"], "close", context_length=10, horizon=1)
    with pytest.raises(ValueError, match=r"origins must be rows 9 to 99 \(a full window before each\); got 3 to 3"):
        samples.windows(np.array([3]))
    with pytest.raises(ValueError, match=r"origins must be rows 9 to 99"):
        samples.windows(np.array([50, 100]))
