"""Write `Binance_ETHUSDT_1h_zero_volume.csv`: a synthetic hourly ETH/USDT export with dead hours in 2018.

Like the real export of issue 12: the Binance/CryptoDataDownload layout (a URL line, then
`unix,date,symbol,open,high,low,close,Volume ETH,Volume USDT,tradecount`, newest first, unix in
milliseconds), 1,500 hourly candles from 2018-02-01, with 20 consecutive zero-volume hours
(2018-02-08 06:00 to 2018-02-09 01:00 UTC) and one missing hour far before the last rows. A random
walk from a fixed seed: regenerate with `python tests/data/make_ethusdt_1h.py`.
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "Binance_ETHUSDT_1h_zero_volume.csv"
ZERO_FROM, ZERO_HOURS = pd.Timestamp("2018-02-08 06:00", tz="UTC"), 20
MISSING = pd.Timestamp("2018-02-12 13:00", tz="UTC")


def main() -> None:
    rng = np.random.default_rng(12)
    index = pd.date_range("2018-02-01", periods=1500, freq="h", tz="UTC")
    close = 800.0 * np.exp(np.cumsum(rng.normal(0.0, 0.008, len(index))))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.004, len(index)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.004, len(index)))
    volume = rng.lognormal(7.0, 0.4, len(index))
    dead = (index >= ZERO_FROM) & (index < ZERO_FROM + pd.Timedelta(hours=ZERO_HOURS))
    volume[dead] = 0.0
    frame = pd.DataFrame(
        {
            "unix": (index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1),
            "date": index.strftime("%Y-%m-%d %H:%M:%S"),
            "symbol": "ETH/USDT",
            "open": open_.round(2),
            "high": high.round(2),
            "low": low.round(2),
            "close": close.round(2),
            "Volume ETH": volume.round(4),
            "Volume USDT": (volume * close).round(2),
            "tradecount": np.where(dead, 0, (volume / 3).astype(int)),
        }
    )
    frame = frame[index != MISSING].iloc[::-1]
    text = "https://www.CryptoDataDownload.com\n" + frame.to_csv(index=False)
    OUT.write_text(text)


if __name__ == "__main__":
    main()
