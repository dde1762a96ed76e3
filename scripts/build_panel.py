"""Build the embedded daily panel, `src/lstm_forecaster/data/panel.parquet`, from the raw exports.

Examples (from the repository root):

    python scripts/build_panel.py --multi ../shared/data/multi --btc src/lstm_forecaster/data/BTC-USD.csv
    python scripts/build_panel.py --multi ../shared/data/multi --btc ../shared/data/BTC-USD.csv --output /tmp/panel.parquet

Every file is read and cleaned by `load_ohlcv` (one panel: symbols from each file's `symbol` column,
else its name). The CryptoDataDownload (Binance) exports are newest first, and their newest row is
the candle of the export day, possibly incomplete: that row is dropped from each Binance file. The
Yahoo BTC-USD file ends on a complete day and is kept whole. The panel is written long
(`symbol, timestamp, open, high, low, close, volume`), sorted by symbol then time, zstd-compressed;
the sha256 of every raw file is printed and stored in the Parquet metadata (`lstm_forecaster.sources`,
which training records as `data.built_from`). Rebuilding gives the same rows and values; the file's
bytes (so its sha256) can differ with the pandas and pyarrow versions, which write their own metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lstm_forecaster.data import file_sha256, load_ohlcv
from lstm_forecaster.panel import SYMBOL, iter_series, panel_path


def build(multi: Path, btc: Path, output: Path) -> dict:
    """Write the panel Parquet file; returns its description (rows and range per symbol, sources)."""
    binance = sorted(multi.glob("Binance_*_d.csv"))
    if not binance:
        raise SystemExit(f"no Binance_*_d.csv file in {multi}")
    panel = load_ohlcv([*binance, btc])
    exported = {str(path) for path in binance}
    sources = panel.attrs["sources"]
    parts = []
    for symbol, frame in iter_series(panel):
        record = next(s for s in sources if symbol in s["symbols"])
        if record["source"] in exported:
            frame = frame.iloc[:-1]  # the export day's candle, possibly incomplete
        parts.append(frame.assign(**{SYMBOL: symbol}).reset_index())
    import pandas as pd

    table = pd.concat(parts, ignore_index=True)[[SYMBOL, "timestamp", "open", "high", "low", "close", "volume"]]
    description = {
        "sources": [
            {"file": Path(s["source"]).name, "symbol": ", ".join(s["symbols"]), "sha256": s["sha256"]} for s in sources
        ],
        "series": {
            symbol: {"rows": len(rows), "start": str(rows["timestamp"].min()), "end": str(rows["timestamp"].max())}
            for symbol, rows in table.groupby(SYMBOL, sort=False)
        },
    }
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    metadata = {**(arrow.schema.metadata or {}), b"lstm_forecaster.sources": json.dumps(description).encode()}
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    pq.write_table(arrow.replace_schema_metadata(metadata), tmp, compression="zstd", compression_level=19)
    tmp.replace(output)
    return description


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--multi", type=Path, required=True, help="folder of Binance_*_d.csv exports")
    parser.add_argument("--btc", type=Path, required=True, help="the Yahoo BTC-USD.csv daily file")
    parser.add_argument("--output", type=Path, default=panel_path(), help="Parquet file to write")
    args = parser.parse_args(argv)
    description = build(args.multi, args.btc, args.output)
    print(json.dumps(description, indent=2))
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes); sha256 {file_sha256(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
