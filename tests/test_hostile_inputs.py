"""Hostile and broken inputs (issue 15): each is refused with one clear line, nothing hangs or leaks.

Hub cases (symlinks, stray files, --include, pickles by content) are in tests/test_hub.py, beside
the local Hub server's fixtures; the header's speed is measured by benchmarks/header_parse.py.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from lstm_forecaster import load_ohlcv, sample_path
from lstm_forecaster.data import MAX_COLUMNS, MAX_HEADER_BYTES, check_csv_header


def _cli_main(capsys, *args: str) -> subprocess.CompletedProcess:
    from lstm_forecaster.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


def _one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _sample_rows(n: int = 60) -> str:
    lines = sample_path().read_text().splitlines()
    return "\n".join(lines[-n:]) + "\n"


# ----- 2. absurd CSV headers are refused before pandas parses them ---------------------------------


def test_header_repeating_a_name_40000_times_is_refused(tmp_path):
    path = tmp_path / "hostile.csv"
    path.write_text(",".join(["close"] * 40_000) + "\n" + _sample_rows())
    with pytest.raises(ValueError, match=rf"hostile.csv.*header line is longer than {MAX_HEADER_BYTES:,} bytes"):
        load_ohlcv(path)


def test_header_limits_columns_and_repeated_names(tmp_path):
    with pytest.raises(ValueError, match=rf"header has 300 columns; at most {MAX_COLUMNS}"):
        check_csv_header(",".join(f"c{i}" for i in range(300)) + "\n1\n")
    with pytest.raises(ValueError, match=r"repeats the column 'close' \(3 times\)"):
        check_csv_header(b"timestamp,close,close,open,close\n")
    header = sample_path().read_text().splitlines()[0]
    assert check_csv_header(header.encode() + b"\n" + b"x" * 10_000_000) == header.split(",")
    path = tmp_path / "dupes.csv"
    path.write_text("Date,Close,Open,Close\n2024-01-01,1,1,1\n")
    with pytest.raises(ValueError, match=r"cannot read .*dupes.csv as CSV: the CSV header repeats the column 'Close'"):
        load_ohlcv(path)


def test_frames_with_too_many_or_repeated_columns_are_refused():
    df = load_ohlcv(sample_path()).iloc[-40:]
    wide = pd.concat([df, pd.DataFrame(np.ones((len(df), MAX_COLUMNS)), index=df.index)], axis=1)
    with pytest.raises(ValueError, match=rf"columns; at most {MAX_COLUMNS}"):
        load_ohlcv(wide)
    twice = df.reset_index().rename(columns={"open": "Close"})
    with pytest.raises(ValueError, match=r"column 'close' is given 2 times"):
        load_ohlcv(twice)
