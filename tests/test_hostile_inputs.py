"""Hostile and broken inputs (issue 15): each is refused with one clear line, nothing hangs or leaks.

Hub cases (symlinks, stray files, --include, pickles by content) are in tests/test_hub.py, beside
the local Hub server's fixtures; the header's speed is measured by benchmarks/header_parse.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, load_ohlcv, sample_path
from lstm_forecaster.configuration import ADDED_KEYS
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


# ----- 3, 7, 10. config.json: limits, size, shape, missing keys ------------------------------------

GOLDEN = Path(__file__).parent / "golden" / "tiny-quantile"


@pytest.fixture
def folder(tmp_path) -> Path:
    """A copy of the committed golden model folder, to break."""
    target = tmp_path / "model"
    shutil.copytree(GOLDEN, target)
    return target


def _edit_config(folder: Path, **changes) -> dict:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is _DROP:
            config.pop(key)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    return config


_DROP = object()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_layers": 1_000_000}, r"num_layers must be at most 16\. Got 1,000,000"),
        ({"hidden_size": 10_000}, r"hidden_size must be at most 4,096 per layer\. Got 10,000"),
        ({"context_length": 10**9}, r"context_length must be at most 10,000"),
        ({"horizon": 5000}, r"horizon must be at most 1,000"),
        ({"quantiles": [i / 1000 for i in range(1, 1000)]}, r"quantiles must hold at most 99 levels\. Got 999"),
        ({"features": ["close"] * 300}, r"features must name at most 256 features\. Got 300"),
        ({"hidden_size": 4096, "num_layers": 4}, r"has [\d,]+ parameters; at most 50,000,000"),
        ({"features": [["log_return"]]}, r"features must be a list of feature names \(strings\)"),
    ],
)
def test_config_beyond_the_limits_is_refused_before_allocating(folder, changes, message):
    _edit_config(folder, **changes)
    with pytest.raises(ValueError, match=message):
        LSTMForecaster.from_pretrained(folder)


def test_parameter_count_is_computed_without_building_the_network():
    for config in (
        LSTMForecasterConfig(),
        LSTMForecasterConfig(
            features=["close", "volume"],
            target="close",
            hidden_size=[49, 98, 49],
            num_layers=3,
            bidirectional=True,
            horizon=4,
        ),
        LSTMForecasterConfig(cell="gru", hidden_size=10, num_layers=2, quantiles=[0.1, 0.5, 0.9], horizon=3),
    ):
        assert config.num_parameters == LSTMForecaster(config).num_parameters()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2, 3]", r"config.json must hold a JSON object of the config's keys\. Got list"),
        (b"null", r"config.json must hold a JSON object.*Got NoneType"),
        (b'"a string"', r"config.json must hold a JSON object.*Got str"),
        (b'{"features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", r"config.json is nested too deeply"),
        (b'{"features": [[[["x"]]]]}', r"config.json is nested too deeply \(at most 3 levels\)"),
        (b'{"features": ["close"], oops}', r"config.json is not valid JSON: Expecting"),
        (
            b'{"a": "' + b"x" * 1_100_000 + b'"}',
            r"config.json is 1,100,0\d\d bytes; a config.json is at most 1,000,000",
        ),
    ],
)
def test_broken_config_json_is_one_line_naming_the_file(folder, capsys, content, message):
    (folder / "config.json").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        LSTMForecaster.from_pretrained(folder)
    line = _one_error_line(_cli_main(capsys, "predict", "--model", str(folder), "--data", str(sample_path())))
    assert re.search(message, line) and str(folder) in line


def test_missing_keys_are_errors_unless_added_after_the_folders_version(folder, capsys):
    # The golden folder (0.1.0) predates median_at_last: it loads with that version's default.
    assert "median_at_last" not in json.loads((folder / "config.json").read_text())
    assert ADDED_KEYS["median_at_last"] == ("0.1.1", False)
    assert LSTMForecaster.from_pretrained(folder).config.median_at_last is False
    # A folder written since 0.1.1 always has it: a missing one is an error, not today's default.
    _edit_config(folder, package_version="0.1.1")
    with pytest.raises(
        ValueError, match=r"config.json lacks the key median_at_last \(written by lstm-forecaster 0.1.1"
    ):
        LSTMForecaster.from_pretrained(folder)
    _edit_config(folder, package_version="0.1.0", hidden_size=_DROP)
    line = _one_error_line(_cli_main(capsys, "predict", "--model", str(folder), "--data", str(sample_path())))
    assert "config.json lacks the key hidden_size" in line
    _edit_config(folder, hidden_size=6, package_version=_DROP)
    with pytest.raises(ValueError, match=r"has no package_version"):
        LSTMForecaster.from_pretrained(folder)
    _edit_config(folder, package_version="soon")
    with pytest.raises(ValueError, match=r"package_version must be a version such as '0.1.0'\. Got 'soon'"):
        LSTMForecaster.from_pretrained(folder)


def test_every_config_field_is_required_or_in_added_keys():
    # A field added without an ADDED_KEYS entry would make every older folder fail to load.
    names = {f.name for f in dataclasses.fields(LSTMForecasterConfig)}
    assert set(ADDED_KEYS) <= names
    original = set(json.loads((GOLDEN / "config.json").read_text()))
    assert names - original == set(ADDED_KEYS)


# ----- 10. model.safetensors truncated or of another architecture ----------------------------------


def test_truncated_or_mismatched_weights_are_one_line(folder, tmp_path, capsys):
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    for content, message in (
        (data[: len(data) // 2], r"model.safetensors is truncated: tensor \S+ ends at byte"),
        (data[:5], r"model.safetensors is not a safetensors file: 5 bytes"),
        (b"\xff" * 64, r"model.safetensors is truncated or not a safetensors file: its header claims"),
    ):
        weights.write_bytes(content)
        with pytest.raises(ValueError, match=message):
            LSTMForecaster.from_pretrained(folder)
        line = _one_error_line(_cli_main(capsys, "predict", "--model", str(folder), "--data", str(sample_path())))
        assert re.search(message, line)
    other = tmp_path / "other"
    shutil.copytree(GOLDEN, other)
    _edit_config(other, hidden_size=7)
    shutil.copy(GOLDEN / "model.safetensors", other / "model.safetensors")
    with pytest.raises(
        ValueError,
        match=r"does not match config.json: tensor rnn.0.weight_ih_l0 has shape \[24, 5\], the config needs \[28, 5\]",
    ):
        LSTMForecaster.from_pretrained(other)
