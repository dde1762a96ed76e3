"""How long `load_ohlcv` takes to refuse a hostile CSV header, against reading a normal file, in one run.

    python benchmarks/header_parse.py                  # a 40,000-name header, 5 repeats
    python benchmarks/header_parse.py --names 200000 --repeats 3

A header repeating one name thousands of times made pandas' parser quadratic (40,000 names: 13.6 s,
issue 15). `check_csv_header` now refuses such a header before pandas sees it, in time linear in its
length. This script times, in the same process and run:

- the baseline: `load_ohlcv` on the bundled BTC-USD sample (3,484 daily rows, read and normalised);
- hostile headers: `close` repeated N times, and N distinct names, each followed by the sample's rows;

and prints the median seconds and the ratio hostile / baseline. A ratio near or below 1 means the
hostile file costs no more than an ordinary one. `--with-pandas` also times `pandas.read_csv` on the
hostile files once (what `load_ohlcv` did before the check). It exits 1 if a hostile file is accepted or takes
more than `--max-ratio` times the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lstm_forecaster import load_ohlcv, sample_path


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def refused(path: Path) -> None:
    try:
        load_ohlcv(path)
    except ValueError:
        return
    raise SystemExit(f"{path.name} was accepted: the header check did not refuse it")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=40_000, help="names in the hostile header")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--with-pandas", action="store_true", help="also time pandas.read_csv on the hostile files")
    parser.add_argument("--max-ratio", type=float, default=5.0, help="fail above this hostile / baseline ratio")
    args = parser.parse_args()

    sample = sample_path()
    rows = sample.read_text().split("\n", 1)[1]
    with tempfile.TemporaryDirectory() as tmp:
        hostile = {
            f"'close' x {args.names:,}": ",".join(["close"] * args.names),
            f"{args.names:,} distinct names": ",".join(f"c{i}" for i in range(args.names)),
        }
        paths = {}
        for i, (label, header) in enumerate(hostile.items()):
            paths[label] = Path(tmp) / f"hostile{i}.csv"
            paths[label].write_text(header + "\n" + rows)
        baseline = median_seconds(lambda: load_ohlcv(sample), args.repeats)
        print(
            f"baseline: load_ohlcv({sample.name}), {sample.stat().st_size:,} bytes: {baseline * 1e3:.1f} ms (median of {args.repeats})"
        )
        worst = 0.0
        for label, path in paths.items():
            seconds = median_seconds(lambda path=path: refused(path), args.repeats)
            ratio = seconds / baseline
            worst = max(worst, ratio)
            print(f"{label} ({path.stat().st_size:,} bytes): refused in {seconds * 1e3:.1f} ms, ratio {ratio:.3f}")
            if args.with_pandas:
                import pandas as pd

                unchecked = median_seconds(lambda path=path: pd.read_csv(path), 1)
                print(f"  pandas.read_csv on it, unchecked: {unchecked:.2f} s, ratio {unchecked / baseline:.1f}")
    if worst > args.max_ratio:
        print(f"FAIL: a hostile header took {worst:.1f}x the baseline (limit {args.max_ratio}x)")
        return 1
    print(f"ok: the worst hostile header took {worst:.3f}x the time of reading the normal file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
