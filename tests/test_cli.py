"""The command line end to end: train -> evaluate -> predict, and one readable line for bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lstm_forecaster import load_ohlcv, sample_path
from lstm_forecaster.cli import main

TINY = {
    "name": "cli-tiny",
    "model": {
        "features": ["log_return", "volatility_5", "log_range", "volume_ratio_5"],
        "target": "log_return",
        "context_length": 8,
        "horizon": 3,
        "hidden_size": 8,
        "quantiles": [0.1, 0.5, 0.9],
    },
    "epochs": 2,
    "batch_size": 32,
    "loss": "pinball",
    "head_init": "baseline",
    "seed": 1,
}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    load_ohlcv(sample_path()).iloc[-400:].to_csv(folder / "btc.csv")
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return folder


@pytest.fixture(scope="module")
def model_dir(work) -> Path:
    out = work / "runs" / "tiny"
    assert (
        main(["train", "--config", str(work / "tiny.yaml"), "--output", str(out), "--data", str(work / "btc.csv")]) == 0
    )
    return out


def test_train_prints_the_held_out_table(model_dir):
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["horizon"] == 3
    args = json.loads((model_dir / "training_args.json").read_text())
    assert args["config"].endswith("tiny.yaml") and args["data"]["kind"] == "file"


def test_evaluate_reproduces_the_recorded_metrics(model_dir, work, capsys):
    out = work / "eval"
    assert main(["evaluate", "--model", str(model_dir), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| model |" in printed and "| naive_last |" in printed and "| rolling_volatility |" in printed
    recorded = json.loads((model_dir / "metrics.json").read_text())
    from lstm_forecaster.comparison import comparison_table

    assert printed.count(comparison_table(recorded["comparison"])) == 1  # the field's baselines, once
    assert sorted(p.name for p in out.iterdir()) == [
        "forecast.png",
        "forecast_step3.png",  # horizon 3: the last step is plotted too
        "metrics.json",
        "percent_change.png",
    ]
    assert json.loads((out / "metrics.json").read_text()) == json.loads((model_dir / "metrics.json").read_text())


def test_predict_writes_csv_in_price_units(model_dir, work, capsys):
    assert main(["predict", "--model", str(model_dir), "--data", str(work / "btc.csv"), "--horizon", "2"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col=0)
    assert list(frame.columns) == ["forecast", "q0.1", "q0.5", "q0.9"]
    assert list(frame.index) == ["2024-04-01T00:00:00Z", "2024-04-02T00:00:00Z"]
    last_close = load_ohlcv(work / "btc.csv")["close"].iloc[-1]
    assert ((frame["forecast"] / last_close - 1).abs() < 0.5).all()
    assert (frame["q0.1"] <= frame["q0.5"]).all() and (frame["q0.5"] <= frame["q0.9"]).all()


def test_predict_prints_the_guards_warnings_on_stderr_and_drops_a_forming_candle(model_dir, work, tmp_path, capsys):
    df = load_ohlcv(work / "btc.csv")
    df.iloc[-1, df.columns.get_loc("volume")] /= 1000
    forming = tmp_path / "forming.csv"
    df.to_csv(forming)
    assert main(["predict", "--model", str(model_dir), "--data", str(forming), "--horizon", "1"]) == 0
    captured = capsys.readouterr()
    assert "looks incomplete" in captured.err and all(
        line.startswith("warning: ") for line in captured.err.splitlines()
    )
    assert pd.read_csv(io.StringIO(captured.out), index_col=0).index[0] == "2024-04-01T00:00:00Z"
    assert main(["predict", "--model", str(model_dir), "--data", str(forming), "--drop-incomplete"]) == 0
    captured = capsys.readouterr()
    assert "it was dropped" in captured.err
    assert pd.read_csv(io.StringIO(captured.out), index_col=0).index[0] == "2024-03-31T00:00:00Z"


def test_epochs_and_seed_overrides(work, tmp_path, capsys):
    out = tmp_path / "one_epoch"
    argv = ["train", "--config", str(work / "tiny.yaml"), "--output", str(out), "--data", str(work / "btc.csv")]
    assert main([*argv, "--epochs", "1", "--seed", "5"]) == 0
    args = json.loads((out / "training_args.json").read_text())
    assert args["epochs"] == 1 and args["epochs_run"] == 1 and args["seed"] == 5
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed
    # The held-out table, with the field's baselines beside the model, printed once.
    assert (
        printed.count("Held-out rolling-origin evaluation") == 1
        and printed.count("Beside the field's baselines") == 1
        and "| garch |" in printed
    )


def _bad_inputs(work: Path, model_dir: Path) -> dict[str, tuple[list[str], str]]:
    bad_key = work / "bad_key.yaml"
    bad_key.write_text(yaml.safe_dump({**TINY, "epoch": 3}))
    garbage = work / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02\xff\xfe binary \x00 not a csv")
    no_close = work / "no_close.csv"
    no_close.write_text("date,price\n2024-01-01,1\n2024-01-02,2\n")
    not_model = work / "not_a_model"
    not_model.mkdir(exist_ok=True)
    (not_model / "notes.txt").write_text("hello")
    config, data = str(work / "tiny.yaml"), str(work / "btc.csv")
    return {
        "unknown config key": (["train", "--config", str(bad_key), "--data", data], "unknown key 'epoch'"),
        "missing config": (["train", "--config", str(work / "nope.yaml"), "--data", data], "no such file"),
        "missing data": (["train", "--config", config, "--data", str(work / "nope.csv")], "no such file"),
        "unreadable csv": (
            ["train", "--config", config, "--data", str(garbage)],
            "cannot read|missing column|no time column",
        ),
        "csv without close": (["train", "--config", config, "--data", str(no_close)], "missing column 'close'"),
        "existing output": (
            ["train", "--config", config, "--data", data, "--output", str(model_dir)],
            "exists; pass --overwrite",
        ),
        "evaluate not a model": (
            ["evaluate", "--model", str(not_model)],
            "no config.json|not an lstm-forecaster model",
        ),
        "evaluate missing folder": (["evaluate", "--model", str(work / "missing_model")], "no model folder"),
        "evaluate bad data": (
            ["evaluate", "--model", str(model_dir), "--data", str(garbage)],
            "cannot read|missing column|no time column",
        ),
        "predict not a model": (
            ["predict", "--model", str(not_model), "--data", data],
            "no config.json|not an lstm-forecaster model",
        ),
        "predict missing data": (
            ["predict", "--model", str(model_dir), "--data", str(work / "nope.csv")],
            "no such file",
        ),
    }


CASES = [
    "unknown config key",
    "missing config",
    "missing data",
    "unreadable csv",
    "csv without close",
    "existing output",
    "evaluate not a model",
    "evaluate missing folder",
    "evaluate bad data",
    "predict not a model",
    "predict missing data",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, work, model_dir, tmp_path, capsys):
    argv, match = _bad_inputs(work, model_dir)[case]
    output = tmp_path / "out"
    if argv[0] in ("train", "evaluate") and "--output" not in argv:
        argv = [*argv, "--output", str(output)]
    before = sorted(p.name for p in model_dir.iterdir())
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert pd.Series([lines[0]]).str.contains(match).all(), lines[0]
    assert not output.exists() and not list(tmp_path.glob(".out.*"))
    assert sorted(p.name for p in model_dir.iterdir()) == before


def test_console_entry_point_exit_code(work, tmp_path):
    bad = work / "bad_key.yaml"
    bad.write_text(yaml.safe_dump({**TINY, "learning_rat": 0.1}))
    command = [
        sys.executable,
        "-m",
        "lstm_forecaster.cli",
        "train",
        "--config",
        str(bad),
        "--output",
        str(tmp_path / "o"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "unknown key 'learning_rat'" in done.stderr
    assert "accepted: model, name" in done.stderr
    assert not (tmp_path / "o").exists()


# Every error path in a real process, stderr read at the file descriptor: a library's logging handler or
# argparse's usage dump would show there, where the in-process `capsys` test above cannot see them. One
# process runs every case (importing torch once), swapping fd 2 for a file around each call.
_DRIVER = """
import json, os, sys, tempfile
from lstm_forecaster.cli import main
results = {}
for name, argv in json.loads(sys.argv[1]).items():
    with tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            try:
                code = main(argv)
            except SystemExit as exit:
                code = exit.code
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        results[name] = [code, err.read().decode()]
print(json.dumps(results))
"""


def test_every_error_path_prints_one_line_and_exits_2_in_a_real_process(work, model_dir, tmp_path):
    cases = {name: argv for name, (argv, _) in _bad_inputs(work, model_dir).items()}
    config, data = str(work / "tiny.yaml"), str(work / "btc.csv")
    out = str(tmp_path / "out")
    for name, argv in cases.items():
        if argv[0] == "train" and "--output" not in argv:
            cases[name] = [*argv, "--output", out]
    folder_without_config = tmp_path / "configs"
    folder_without_config.mkdir()
    (folder_without_config / "default.yaml").write_text(yaml.safe_dump(TINY))
    cases |= {
        "predict a folder of recipes": ["predict", "--model", str(folder_without_config), "--data", data],
        "predict a horizon the model lacks": ["predict", "--model", str(model_dir), "--data", data, "--horizon", "9"],
        "predict a file as model": ["predict", "--model", data, "--data", data],
        "train zero epochs": ["train", "--config", config, "--output", out, "--data", data, "--epochs", "0"],
        "train epochs not a number": ["train", "--config", config, "--output", out, "--epochs", "x"],
        "train without output": ["train", "--config", config],
        "unknown command": ["frobnicate"],
        "no command": [],
        "push missing folder": ["push", str(tmp_path / "nope"), "--repo-id", "user/model"],
        "push not a model": ["push", str(folder_without_config), "--repo-id", "user/model"],
        "versions bad repo id": ["versions", "not a repo"],
        "serve missing folder": ["serve", "--model", str(tmp_path / "nope")],
    }
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(cases)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (code, err) in results.items():
        lines = err.strip().splitlines()
        assert code == 2, (name, code, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, err)
    assert not Path(out).exists()
