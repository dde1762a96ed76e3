"""Panels: loading many series, windows that never cross series, one clock for the splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_forecaster import load_ohlcv, panel_path, sample_path
from lstm_forecaster.data import file_sha256
from lstm_forecaster.panel import (
    is_panel,
    symbol_from_name,
    symbols,
)

DATA = Path(__file__).parent / "data" / "panel"
ETH, LTC, XRP = (DATA / f"Binance_{c}USDT_d.csv" for c in ("ETH", "LTC", "XRP"))


def _daily(n: int, start: str = "2021-01-01", seed: int = 0, price: float = 100.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    index = pd.date_range(start, periods=n, freq="D", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1000.0}, index=index
    )


def _long(**series: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([df.reset_index().assign(symbol=name) for name, df in series.items()], ignore_index=True)


# ----- loading -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("Binance_ETHUSDT_d.csv", "ETHUSDT"),
        ("Binance_BTCUSDT_1h.csv", "BTCUSDT"),
        ("BTC-USD.csv", "BTC-USD"),
        ("coinbase_SOL_USD_daily.parquet", "SOL_USD"),
        ("d.csv", "d"),
    ],
)
def test_symbol_from_file_name(name, symbol):
    assert symbol_from_name(name) == symbol


def test_list_of_files_gives_a_long_frame_each_series_cleaned_as_alone():
    panel = load_ohlcv([ETH, LTC, sample_path()])
    assert is_panel(panel)
    assert list(panel.index.names) == ["symbol", "timestamp"]
    assert symbols(panel) == ["ETHUSDT", "LTCUSDT", "BTC-USD"]  # file's symbol column, else its name
    for symbol, path in (("ETHUSDT", ETH), ("LTCUSDT", LTC), ("BTC-USD", sample_path())):
        alone = load_ohlcv(path)
        pd.testing.assert_frame_equal(panel.loc[symbol], alone, check_freq=False, check_index_type=False)
    # Series of different lengths and end dates, newest-first exports turned oldest first.
    assert panel.loc["ETHUSDT"].index.is_monotonic_increasing
    assert panel.loc["LTCUSDT"].index[-1] == pd.Timestamp("2025-03-16", tz="UTC")
    sources = panel.attrs["sources"]
    assert [s["symbols"] for s in sources] == [["ETHUSDT"], ["LTCUSDT"], ["BTC-USD"]]
    assert sources[0]["sha256"] == file_sha256(ETH) and sources[0]["kind"] == "file"


def test_folder_glob_and_long_frame_give_the_same_panel(tmp_path):
    folder = tmp_path / "coins"
    folder.mkdir()
    for path in (ETH, LTC, XRP):
        shutil.copy(path, folder / path.name)
    (folder / "notes.txt").write_text("not a table")
    by_folder = load_ohlcv(folder)
    by_glob = load_ohlcv(str(folder / "Binance_*_d.csv"))
    assert symbols(by_folder) == ["ETHUSDT", "LTCUSDT", "XRPUSDT"]
    pd.testing.assert_frame_equal(by_folder, by_glob)
    long = by_folder.reset_index()
    pd.testing.assert_frame_equal(load_ohlcv(long), by_folder)
    pd.testing.assert_frame_equal(load_ohlcv(by_folder), by_folder)  # a panel loads as itself
    parquet = tmp_path / "long.parquet"
    long.to_parquet(parquet)
    assert load_ohlcv(parquet).attrs["sources"][0]["symbols"] == ["ETHUSDT", "LTCUSDT", "XRPUSDT"]


def test_hub_style_dataset_with_a_symbol_column():
    datasets = pytest.importorskip("datasets")
    long = _long(AAA=_daily(50), BBB=_daily(40, seed=1))
    long["timestamp"] = long["timestamp"].dt.strftime("%Y-%m-%d")
    panel = load_ohlcv(datasets.Dataset.from_pandas(long))
    assert symbols(panel) == ["AAA", "BBB"]
    assert len(panel.loc["BBB"]) == 40


def test_one_source_keeps_the_single_series_frame():
    # A Binance file has a symbol column with one value: still today's frame.
    single = load_ohlcv(ETH)
    assert isinstance(single.index, pd.DatetimeIndex) and single.index.name == "timestamp"
    long = _long(AAA=_daily(30))
    assert isinstance(load_ohlcv(long).index, pd.DatetimeIndex)


def test_bundled_panel_ships_eight_daily_coins_without_the_export_day():
    path = panel_path()
    assert path.is_file() and path.suffix == ".parquet"
    assert path.stat().st_size < 3_000_000
    panel = load_ohlcv(path)
    assert sorted(symbols(panel)) == sorted(
        ["BTC-USD", "ETHUSDT", "XRPUSDT", "TRXUSDT", "LTCUSDT", "DOGEUSDT", "BCHUSDT", "SOLUSDT"]
    )
    # The exports' newest row (2026-05-20, the export day) is dropped; BTC-USD is kept whole.
    assert panel.loc["ETHUSDT"].index[-1] == pd.Timestamp("2026-05-19", tz="UTC")
    assert panel.loc["LTCUSDT"].index[-1] == pd.Timestamp("2025-03-15", tz="UTC")
    pd.testing.assert_frame_equal(
        panel.loc["BTC-USD"], load_ohlcv(sample_path()), check_freq=False, check_index_type=False
    )
    eth = load_ohlcv(ETH)
    pd.testing.assert_frame_equal(
        panel.loc["ETHUSDT"].loc[eth.index[0] : eth.index[-2]], eth.iloc[:-1], check_index_type=False
    )


def test_files_of_different_frequencies_are_refused(tmp_path):
    hourly = _daily(60).set_axis(pd.date_range("2021-01-01", periods=60, freq="h", tz="UTC", name="timestamp"))
    with pytest.raises(
        ValueError, match=r"disagree in frequency: BBB has a candle every 0 days 01:00:00.*one frequency"
    ):
        load_ohlcv(_long(AAA=_daily(60), BBB=hourly))


def test_a_symbol_repeated_with_conflicting_candles_is_refused(tmp_path):
    a = _daily(60)
    a.reset_index().to_csv(tmp_path / "AAA.csv", index=False)
    b = a.iloc[50:].copy()
    b.to_csv(tmp_path / "again.csv")
    (tmp_path / "again.csv").write_text((tmp_path / "again.csv").read_text())
    same = load_ohlcv([tmp_path / "AAA.csv", b.reset_index().assign(symbol="AAA")])
    assert len(same.loc["AAA"]) == 60  # the same candles again: kept once
    b.iloc[3, b.columns.get_loc("close")] *= 1.5
    with pytest.raises(ValueError, match=r"symbol AAA has two different candles at 2021-02-23.*same candles"):
        load_ohlcv([tmp_path / "AAA.csv", b.reset_index().assign(symbol="AAA")])


def test_a_bad_row_names_its_symbol_and_source():
    long = _long(AAA=_daily(30), BBB=_daily(30, seed=1))
    long.loc[35, "close"] = -1.0
    with pytest.raises(ValueError, match=r"symbol BBB \(from a DataFrame\): column 'close' has a non-positive value"):
        load_ohlcv(long)
    with pytest.raises(ValueError, match="no file matches"):
        load_ohlcv("/nonexistent/*.csv")
    with pytest.raises(ValueError, match="empty list"):
        load_ohlcv([])
