"""Hostile and broken inputs (issue 15): each is refused with one clear line, nothing hangs or leaks.

Hub cases (symlinks, stray files, --include, pickles by content) are in tests/test_hub.py, beside
the local Hub server's fixtures; the header's speed is measured by benchmarks/header_parse.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, load_ohlcv, sample_path
from lstm_forecaster.configuration import ADDED_KEYS
from lstm_forecaster.data import MAX_COLUMNS, MAX_HEADER_BYTES, check_csv_header
from lstm_forecaster.output_folder import check_output_path, claim_output, lock_path
from lstm_forecaster.repo_files import is_pickle
from lstm_forecaster.training import recipe_from_dict, train


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
        LSTMForecasterConfig(hidden_size=12, head="attention", bidirectional=True, horizon=2),
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
    assert ADDED_KEYS["median_at_last"] == ("0.1.1", False) and ADDED_KEYS["head"] == ("0.2.0", "last")
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


# ----- 4, 5. integer dates, Excel serials, separate date and time columns --------------------------


def _daily_frame(n: int = 40) -> pd.DataFrame:
    return load_ohlcv(sample_path()).iloc[-n:]


def test_integer_yyyymmdd_dates_are_dates(tmp_path):
    df = _daily_frame()
    path = tmp_path / "yyyymmdd.csv"
    frame = df.reset_index(drop=True).assign(Date=df.index.strftime("%Y%m%d").astype(int))
    frame.to_csv(path, index=False)
    loaded = load_ohlcv(path)
    assert loaded.index[0] == df.index[0] and loaded.index[-1] == df.index[-1]  # not 1970-08-23
    np.testing.assert_array_equal(loaded["close"].to_numpy(), df["close"].to_numpy())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            np.arange(45_300, 45_340),
            r"column 'date' has 45300 at row 0: not a unix time from 1980 to 2100.*Excel serial",
        ),
        (np.arange(40), r"column 'unix' has 0 at row 0: not a unix time"),
        (np.full(40, 9e12), r"column 'unix' has .* not a unix time"),  # ms in year 2255
    ],
)
def test_implausible_numeric_times_are_refused(values, message):
    column = "date" if "'date'" in message else "unix"
    df = _daily_frame().reset_index(drop=True).assign(**{column: values})
    with pytest.raises(ValueError, match=message):
        load_ohlcv(df)


def test_unix_seconds_milliseconds_and_nanoseconds_still_read():
    df = _daily_frame()
    seconds = df.index.as_unit("s").asi8
    for scale in (1, 1000, 10**9):
        loaded = load_ohlcv(df.reset_index(drop=True).assign(unix=seconds * scale))
        assert (loaded.index == df.index).all()


def test_separate_date_and_time_columns_are_combined(tmp_path):
    hourly = pd.date_range("2024-01-01", periods=2880, freq="h", tz="UTC")
    close = 40_000 + np.arange(len(hourly), dtype=float)
    path = tmp_path / "date_time.csv"
    pd.DataFrame(
        {"Date": hourly.strftime("%Y-%m-%d"), "Time": hourly.strftime("%H:%M"), "Close": close, "Volume": 1.0}
    ).to_csv(path, index=False)
    loaded = load_ohlcv(path)
    assert len(loaded) == 2880 and (loaded.index == hourly).all()  # not 120 "daily" rows
    numeric = pd.DataFrame({"date": hourly.strftime("%Y%m%d").astype(int), "time": hourly.hour * 100, "close": close})
    assert (load_ohlcv(numeric).index == hourly).all()
    with pytest.raises(ValueError, match=r"'time' holds 'noon' at row 3, not a time of day"):
        load_ohlcv(
            pd.DataFrame({"date": ["2024-01-01"] * 4, "time": ["00:00", "01:00", "02:00", "noon"], "close": 1.0})
        )
    with pytest.raises(ValueError, match=r"'date' holds a time of day too"):
        load_ohlcv(pd.DataFrame({"date": ["2024-01-01 05:00"], "time": ["06:00"], "close": [1.0]}))


def test_multiindex_columns_are_flattened_or_refused(tmp_path):
    df = _daily_frame()
    yfinance = df.copy()
    yfinance.columns = pd.MultiIndex.from_product(
        [[c.title() for c in df.columns], ["BTC-USD"]], names=["Price", "Ticker"]
    )
    assert load_ohlcv(yfinance).equals(df)
    path = tmp_path / "multi.parquet"
    yfinance.to_parquet(path)
    assert (load_ohlcv(path)["close"] == df["close"]).all()
    two = pd.concat([yfinance, yfinance.rename(columns={"BTC-USD": "ETH-USD"}, level=1)], axis=1)
    with pytest.raises(ValueError, match=r"the columns have several levels \(a MultiIndex: Price, Ticker\).*df.xs"):
        load_ohlcv(two)
    two.to_parquet(path)
    with pytest.raises(ValueError, match=r"the columns have several levels"):
        load_ohlcv(path)


# ----- 6. the rows a forecast reads must be evenly spaced ------------------------------------------


def test_a_gap_in_the_rows_a_forecast_reads_is_an_error_naming_it(tmp_path, capsys):
    model = LSTMForecaster.from_pretrained(GOLDEN)
    df = load_ohlcv(sample_path()).iloc[-200:]
    assert len(model.predict(df)) == model.config.horizon
    gap = pd.concat([df.iloc[:-1], df.iloc[-1:].set_axis(df.index[-1:] + pd.Timedelta(days=30))])
    with pytest.raises(
        ValueError,
        match=r"not evenly spaced: 31 days 00:00:00 from 2024-03-30 00:00:00\+00:00 to 2024-04-30.*step is 1 days.*forecast from before it with rows up to 2024-03-30",
    ):
        model.predict(gap)
    assert len(model.predict(gap.iloc[:-1])) == model.config.horizon  # from before the gap
    intraday = pd.concat([df, df.iloc[-1:].set_axis(df.index[-1:] + pd.Timedelta(hours=13, minutes=37))])
    with pytest.raises(ValueError, match=r"not evenly spaced: 0 days 13:37:00 from 2024-03-31"):
        model.predict(intraday)
    # An old gap, before the rows the forecast reads, is no concern.
    old = pd.concat([df.iloc[:50].set_axis(df.index[:50] - pd.Timedelta(days=60)), df.iloc[50:]])
    assert len(model.predict(old)) == model.config.horizon
    path = tmp_path / "gap.csv"
    gap.to_csv(path)
    line = _one_error_line(_cli_main(capsys, "predict", "--model", str(GOLDEN), "--data", str(path)))
    assert "not evenly spaced: 31 days" in line
    # A short gap (one missing day: at most context_length // 10, at least 1) is read as consecutive rows.
    short = df.drop(index=df.index[-3])
    forecast = model.predict(short)
    assert len(forecast) == model.config.horizon and forecast.index[0] == df.index[-1] + pd.Timedelta(days=1)
    assert [w["code"] for w in forecast.attrs["warnings"]] == ["short_gap"]
    assert (
        "1 row missing" in forecast.attrs["warnings"][0]["message"]
        and "(2024-03-29)" in forecast.attrs["warnings"][0]["message"]
    )
    short.to_csv(path)
    result = _cli_main(capsys, "predict", "--model", str(GOLDEN), "--data", str(path))
    assert result.returncode == 0 and "warning: 1 row missing among the" in result.stderr


# ----- 8. non-finite weights, broken scalers, impossible forecasts ---------------------------------


def _edit_weights(folder: Path, name: str, fn) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    tensors[name] = fn(tensors[name])
    save_file(tensors, folder / "model.safetensors")


def _edit_scaler(folder: Path, key: str, value) -> None:
    scaler = json.loads((folder / "scaler.json").read_text())
    scaler["target_params"][key] = value
    (folder / "scaler.json").write_text(json.dumps(scaler))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(folder, capsys, bad):
    _edit_weights(folder, "head.bias", lambda t: t.fill_(bad))
    with pytest.raises(ValueError, match=r"model.safetensors: the weights head.bias hold 9 NaN or infinite value\(s\)"):
        LSTMForecaster.from_pretrained(folder)
    line = _one_error_line(_cli_main(capsys, "predict", "--model", str(folder), "--data", str(sample_path())))
    assert "NaN or infinite" in line


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.0, r"the std of the target 'log_return' is 0.0; it must be positive"),
        (-0.05, r"the std of the target 'log_return' is -0.05; it must be positive"),
    ],
)
def test_target_scale_that_is_not_positive_is_refused(folder, value, message):
    _edit_scaler(folder, "std", value)
    with pytest.raises(ValueError, match=message):
        LSTMForecaster.from_pretrained(folder)


def test_non_finite_scaler_is_refused(folder):
    text = (folder / "scaler.json").read_text()
    (folder / "scaler.json").write_text(text.replace('"std": 0.03773444327592139', '"std": NaN', 1))
    with pytest.raises(ValueError, match=r"scaler parameter std of 'log_return' must be a finite number. Got nan"):
        LSTMForecaster.from_pretrained(folder)


@pytest.mark.parametrize(
    ("bias", "message"),
    [(1e6, r"the model forecasts inf: not a number"), (-1e6, r"forecasts a price of 0.0: not positive")],
)
def test_forecasts_that_are_not_finite_and_positive_are_refused(folder, capsys, bias, message):
    _edit_weights(folder, "head.bias", lambda t: t.fill_(bias))
    model = LSTMForecaster.from_pretrained(folder)  # finite weights: loads
    with pytest.raises(ValueError, match=message):
        model.predict(sample_path())
    line = _one_error_line(_cli_main(capsys, "predict", "--model", str(folder), "--data", str(sample_path())))
    assert re.search(message, line)


# ----- 9. train --output: locked, checked before training, debris of killed runs cleaned -----------

TINY_RECIPE = {
    "name": "tiny",
    "model": {"features": ["log_return"], "target": "log_return", "context_length": 8, "horizon": 1, "hidden_size": 4},
    "epochs": 1,
    "batch_size": 64,
}


@pytest.fixture
def recipe_file(tmp_path) -> Path:
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_RECIPE))
    return path


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=60)
    return process.pid


def test_a_second_run_on_the_same_output_says_it_is_in_use(tmp_path, recipe_file, capsys):
    output = tmp_path / "runs" / "btc"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from lstm_forecaster.output_folder import claim_output; "
         "lock = claim_output(sys.argv[1]); print('held', flush=True); sys.stdin.read()", str(output)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        line = _one_error_line(_cli_main(capsys, "train", "--config", str(recipe_file), "--output", str(output)))
        assert f"--output {output} is in use by another training run (process {holder.pid})" in line
        assert not output.exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # The holder is gone (its lock with it): the run goes through, and a third one is told it exists.
    folder = train(
        recipe_from_dict(TINY_RECIPE), output, data=load_ohlcv(sample_path()).iloc[-300:], progress=False, cpu=True
    )
    assert (folder / "model.safetensors").is_file() and not lock_path(output).exists()
    with pytest.raises(ValueError, match=r"exists; pass --overwrite"):
        claim_output(output)


def test_stale_temporary_folders_of_dead_runs_are_cleaned(tmp_path):
    output = tmp_path / "btc"
    dead, alive = _dead_pid(), os.getppid()
    for pid in (dead, alive):
        (tmp_path / f".btc.tmp-{pid}").mkdir()
        (tmp_path / f".btc.tmp-{pid}" / "model.safetensors").write_bytes(b"half")
    (tmp_path / f".other.tmp-{dead}").mkdir()
    lock = claim_output(output)
    try:
        assert not (tmp_path / f".btc.tmp-{dead}").exists()
        assert (tmp_path / f".btc.tmp-{alive}").exists() and (tmp_path / f".other.tmp-{dead}").exists()
    finally:
        lock.release()


def test_an_unusable_output_path_fails_before_training(tmp_path, recipe_file, capsys):
    (tmp_path / "notes.txt").write_text("a file")
    output = tmp_path / "notes.txt" / "sub"
    line = _one_error_line(_cli_main(capsys, "train", "--config", str(recipe_file), "--output", str(output)))
    assert f"--output {output}: {tmp_path / 'notes.txt'} is a file, not a folder" in line
    with pytest.raises(ValueError, match=r"is a file; give a folder name"):
        check_output_path(tmp_path / "notes.txt")


# ----- 1. pickles by content; 10. invalid JSON names its file ---------------------------------------


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("wrap", ["plain", "gzip", "bz2", "xz", "zip"])
def test_pickles_are_recognised_by_content_whatever_the_protocol_or_compression(tmp_path, protocol, wrap):
    import bz2
    import gzip
    import lzma
    import pickle
    import zipfile

    data = pickle.dumps({"weights": [0.5, 1.5], "name": "x"}, protocol=protocol)
    path = tmp_path / "innocent.txt"
    if wrap == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/content", data)
    else:
        path.write_bytes({"plain": bytes, "gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[wrap](data))
    assert is_pickle(path)


def test_the_package_files_are_not_taken_for_pickles(tmp_path):
    root = Path(__file__).resolve().parents[1]
    files = [*GOLDEN.iterdir(), sample_path(), root / "README.md", root / "model_card.md", root / "pyproject.toml"]
    assert not [path.name for path in files if is_pickle(path)]
    for text in (b"a.", b"N", b"(", b"I1\n", b'{"a": 1}', b"# Title\n\nSome text."):
        (tmp_path / "t.txt").write_bytes(text)
        assert not is_pickle(tmp_path / "t.txt"), text


def test_invalid_scaler_json_names_the_file(folder, capsys):
    (folder / "scaler.json").write_text('{"mode": "standard",')
    line = _one_error_line(_cli_main(capsys, "predict", "--model", str(folder), "--data", str(sample_path())))
    assert f"{folder / 'scaler.json'} is not valid JSON" in line
