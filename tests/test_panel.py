"""Panels: loading many series, windows that never cross series, one clock for the splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_forecaster import load_ohlcv, panel_path, sample_path
from lstm_forecaster.data import Samples, file_sha256
from lstm_forecaster.panel import (
    PanelSamples,
    date_split,
    is_panel,
    iter_series,
    pooled_cut_dates,
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


# ----- windows over a panel ------------------------------------------------------------------------


@pytest.fixture
def two_series() -> pd.DataFrame:
    # Different lengths, start and end dates and price levels.
    return load_ohlcv(_long(AAA=_daily(90, "2021-01-01"), BBB=_daily(70, "2021-02-10", seed=1, price=0.1)))


def test_windows_come_from_every_series_and_never_cross_one(two_series):
    context, horizon = 10, 2
    samples = PanelSamples(two_series, ["log_return", "close"], "log_return", context, horizon)
    assert samples.symbols == ["AAA", "BBB"]
    origins = samples.origins()
    # Each series alone: rows after the warm-up, minus the context, minus the steps without targets.
    assert len(origins) == (89 - context + 1 - horizon) + (69 - context + 1 - horizon)
    for origin in origins:
        code, local = samples.codes[origin], samples.positions[origin]
        alone = samples.series[code]
        np.testing.assert_array_equal(samples.windows([origin])[0], alone.windows([local])[0])
        np.testing.assert_array_equal(samples.targets[origin], alone.targets[local])
        assert samples.symbol_of([origin])[0] == ["AAA", "BBB"][code]
    # Strided views: the window array shares the feature rows' memory (rows, not rows x context).
    assert np.shares_memory(samples._windows, samples.features)
    assert np.shares_memory(samples.windows(origins[:5]), samples.features)
    with pytest.raises(ValueError, match=r"fewer than 10 rows of its own series"):
        samples.windows([samples.starts[1] + 3])  # a window that would start in AAA


def test_short_series_are_dropped_with_a_warning_and_none_left_is_an_error(two_series):
    short = load_ohlcv(_long(AAA=_daily(90), TINY=_daily(12, seed=2)))
    with pytest.warns(UserWarning, match=r"dropped series too short for 13 rows .*: TINY \(12 rows\)"):
        samples = PanelSamples(short, ["log_return"], "log_return", 10, 2)
    assert samples.symbols == ["AAA"]
    with pytest.raises(ValueError, match=r"no series is long enough: each needs at least 13 rows.*AAA \(12 rows\)"):
        PanelSamples(load_ohlcv(_long(AAA=_daily(12), BBB=_daily(5))), ["log_return"], "log_return", 10, 2)


def test_a_gap_longer_than_the_context_is_refused(two_series):
    gappy = _daily(90).drop(_daily(90).index[40:52])  # 12 days missing, context 10
    panel = load_ohlcv(_long(AAA=_daily(90), GAP=gappy))
    with pytest.raises(
        ValueError,
        match=r"symbol GAP misses 12 steps of 1 days 00:00:00 before row 40 \(2021-02-09 to 2021-02-22\).*up to 10",
    ):
        PanelSamples(panel, ["log_return"], "log_return", 10, 1)
    PanelSamples(panel, ["log_return"], "log_return", 20, 1)  # within a longer context: accepted


# ----- one clock for the splits --------------------------------------------------------------------


def test_every_split_is_cut_at_the_same_dates_in_every_asset():
    panel = load_ohlcv(panel_path())
    samples = PanelSamples(panel, ["log_return", "volatility_7"], "log_return", 30, 7)
    validation_start, test_start = pd.Timestamp("2023-01-01", tz="UTC"), pd.Timestamp("2024-01-01", tz="UTC")
    split = date_split(samples, validation_start, test_start)
    h = samples.horizon
    for name, origins in (("train", split.train), ("validation", split.validation), ("test", split.test)):
        assert len(origins), name
        # Every target lies in the origin's own series.
        assert (samples.codes[origins + h] == samples.codes[origins]).all()
        assert (samples.positions[origins] >= samples.context_length - 1).all()
    # No training window's target date is at or after the validation start, in any asset.
    for step in range(1, h + 1):
        assert (samples.index[split.train + step] < validation_start).all()
        assert (samples.index[split.validation + step] >= validation_start).all()
        assert (samples.index[split.validation + step] < test_start).all()
        assert (samples.index[split.test + step] >= test_start).all()
    assert (samples.index[split.train_rows] < validation_start).all()
    assert len(split.train_rows) == (samples.index < validation_start).sum()
    # Every asset that has data on both sides of a cut is cut there: the last training target of each
    # asset is the day before validation_start.
    for code, symbol in enumerate(samples.symbols):
        mine = split.train[samples.codes[split.train] == code]
        assert samples.index[mine[-1] + h] == validation_start - pd.Timedelta(days=1), symbol
    # The splits partition the complete origins (no origin is in two splits).
    assert not set(split.train) & set(split.validation) and not set(split.validation) & set(split.test)


def test_pooled_fractions_of_one_series_are_the_single_series_cuts():
    from lstm_forecaster.training import TrainingConfig, chronological_split

    df = load_ohlcv(sample_path())
    recipe = TrainingConfig()
    samples = Samples(df, ["log_return"], "log_return", 30, 1)
    split = chronological_split(df, samples, recipe)
    validation_start, test_start = pooled_cut_dates(df.index, recipe.train_fraction, recipe.validation_fraction)
    assert samples.index[split.train_last + 1] == validation_start
    assert samples.index[split.validation_last + 1] == test_start
    # The same cut as dates in the recipe gives the same split.
    dated = TrainingConfig(validation_start=str(validation_start), test_start=str(test_start))
    again = chronological_split(df, samples, dated)
    assert (again.train_last, again.validation_last) == (split.train_last, split.validation_last)
    np.testing.assert_array_equal(again.test, split.test)


def test_split_dates_in_the_recipe_are_checked():
    from lstm_forecaster.training import recipe_from_dict

    with pytest.raises(ValueError, match="validation_start and test_start go together"):
        recipe_from_dict({"validation_start": "2024-01-01"})
    with pytest.raises(ValueError, match="validation_start must be before test_start"):
        recipe_from_dict({"validation_start": "2024-01-01", "test_start": "2023-01-01"})
    with pytest.raises(ValueError, match="validation_start must be a date"):
        recipe_from_dict({"validation_start": "soon", "test_start": "2023-01-01"})
    with pytest.raises(ValueError, match="data must be a path, a Hub id, a non-empty list"):
        recipe_from_dict({"data": []})
    assert recipe_from_dict({"data": ["a.csv", "b.csv"]}).data == ["a.csv", "b.csv"]


# ----- training, evaluation and forecasts on a panel -----------------------------------------------

PANEL_RECIPE = {
    "name": "panel-tiny",
    "model": {
        "features": ["log_return", "log_range"],
        "target": "log_return",
        "context_length": 10,
        "horizon": 2,
        "hidden_size": 8,
        "quantiles": [0.1, 0.5, 0.9],
    },
    # The raw slices: ETH and XRP 2026-01-14 .. 2026-05-20 (gaps of up to 4 days), LTC 2024-11-17 ..
    # 2025-03-16 (training rows only).
    "validation_start": "2026-03-20",
    "test_start": "2026-04-20",
    "epochs": 2,
    "batch_size": 32,
    "loss": "pinball",
    "head_init": "persistence",
    "loss_weighting": "inverse_volatility",
    "seed": 0,
}


@pytest.fixture(scope="module")
def panel_model(tmp_path_factory):
    from lstm_forecaster.training import recipe_from_dict, train

    out = tmp_path_factory.mktemp("panel") / "model"
    train(recipe_from_dict(PANEL_RECIPE), out, data=[str(ETH), str(LTC), str(XRP)])
    return out


def test_train_on_raw_files_records_every_source_and_asset(panel_model):
    import json

    assert {"config.json", "model.safetensors", "scaler.json", "metrics.json", "README.md", "forecast.png"} <= {
        p.name for p in panel_model.iterdir()
    }
    args = json.loads((panel_model / "training_args.json").read_text())
    data = args["data"]
    assert data["kind"] == "files" and data["symbols"] == ["ETHUSDT", "LTCUSDT", "XRPUSDT"]
    assert [(s["source"], s["sha256"], s["symbols"]) for s in data["sources"]] == [
        (str(p), file_sha256(p), [p.stem.split("_")[1]]) for p in (ETH, LTC, XRP)
    ]
    assert data["assets"]["LTCUSDT"]["end"].startswith("2025-03-16")
    assert data["assets"]["ETHUSDT"]["start"].startswith("2026-01-14")  # 120 rows, with the exchange's gaps
    assert args["split_dates"] == {
        "validation_start": "2026-03-20T00:00:00+00:00",
        "test_start": "2026-04-20T00:00:00+00:00",
        "how": "dates",
    }
    assert data["assets"]["LTCUSDT"]["splits"]["test"]["origins"] == 0
    assert args["splits"]["test"]["start"].startswith("2026-04-20")
    scaler = json.loads((panel_model / "scaler.json").read_text())
    assert scaler["fitted_on"]["end"] < "2026-03-20"  # the scaler saw training rows only
    metrics = json.loads((panel_model / "metrics.json").read_text())
    assert metrics["panel"] and metrics["split"] == "test"
    assert metrics["symbols"] == ["ETHUSDT", "XRPUSDT"] and "LTCUSDT" in metrics["not_scored"]
    assert metrics["first_origin"] >= "2026-04-19"  # the first test origin's first target is 2026-04-20
    eth = metrics["assets"]["ETHUSDT"]
    assert eth["n_origins"] == 30 and eth["horizon"] == 2  # origins 2026-04-19 .. 2026-05-18
    pooled = metrics["pooled"]
    mase = [metrics["assets"][s]["models"]["model"]["mase"] for s in metrics["symbols"]]
    assert pooled["mase"]["model"] == pytest.approx(float(np.exp(np.mean(np.log(mase)))))
    assert "ETHUSDT" in (panel_model / "README.md").read_text()
    from huggingface_hub import ModelCard

    results = {(r.metric_type, r.metric_config): r for r in ModelCard.load(panel_model / "README.md").data.eval_results}
    assert results[("mase", None)].metric_value == pytest.approx(pooled["mase"]["model"])
    assert "pooled over 2 assets" in results[("mase", None)].metric_name
    ratio = results[("pinball_loss_ratio", "constant_quantile")]
    assert ratio.metric_value == pytest.approx(pooled["pinball_ratio"]["constant_quantile"])
    assert results[("coverage", "rolling_volatility")].metric_value == pytest.approx(
        pooled["coverage"]["rolling_volatility"]
    )
    # Beside the field's baselines, each fitted on its asset's training rows only (before 2026-03-20).
    comparison = metrics["comparison"]
    assert comparison["assets"] == ["ETHUSDT", "XRPUSDT"]  # the scored assets: LTC has no test origin
    assert all(fit["end"] < "2026-03-20" for fit in comparison["baselines_fitted_on"].values())
    assert comparison["per_asset"]["ETHUSDT"]["n_origins"] == eth["n_origins"]
    for baseline in ("ewma", "garch"):
        ratio = comparison["pooled"]["model_vs"][baseline]["ratio_all"]
        assert results[("pinball_loss_ratio", baseline)].metric_value == pytest.approx(ratio, rel=1e-12)
        assert "geometric mean over 2 assets" in results[("pinball_loss_ratio", baseline)].metric_name


def test_predict_a_panel_gives_every_asset_in_one_frame(panel_model):
    from lstm_forecaster import LSTMForecaster

    model = LSTMForecaster.from_pretrained(panel_model)
    panel = load_ohlcv([ETH, LTC, XRP])
    forecast = model.predict(panel)
    assert list(forecast.index.names) == ["symbol", "timestamp"]
    assert list(forecast.columns) == ["forecast", "q0.1", "q0.5", "q0.9"]
    assert symbols(forecast) == ["ETHUSDT", "LTCUSDT", "XRPUSDT"] and len(forecast) == 6
    for symbol, series in iter_series(panel):
        mine = forecast.loc[symbol]
        assert list(mine.index) == [series.index[-1] + pd.Timedelta(days=k) for k in (1, 2)]
        # Each asset in its own units, as if forecast alone (one batch: float32 tolerance).
        alone = model.predict(series)
        np.testing.assert_allclose(mine.to_numpy(), alone.to_numpy(), rtol=1e-6)
        pd.testing.assert_index_equal(mine.index, alone.index, check_exact=True, exact=False)
    assert isinstance(model.predict(load_ohlcv(ETH)).index, pd.DatetimeIndex)  # one series: today's format
    assert model.predict(panel, horizon=1).shape == (3, 4)


def test_evaluate_a_panel_model_reproduces_its_metrics(panel_model):
    import json

    from lstm_forecaster.training import evaluate_model

    result = evaluate_model(panel_model)
    recorded = json.loads((panel_model / "metrics.json").read_text())
    assert result.report == recorded
    with pytest.raises(ValueError, match="was trained on a panel"):
        evaluate_model(panel_model, data=str(ETH))


def test_bundled_panel_trains_from_the_recipe(tmp_path):
    import json

    from lstm_forecaster.training import load_recipe, recipe_from_dict, train

    recipe = load_recipe(Path(__file__).parents[1] / "configs" / "panel_smoke.yaml")
    quick = recipe_from_dict({**recipe.to_dict(), "start": "2024-01-01", "epochs": 1})
    out = train(quick, tmp_path / "bundled")
    args = json.loads((out / "training_args.json").read_text())
    assert args["data"]["kind"] == "panel" and args["data"]["sha256"] == file_sha256(panel_path())
    assert args["data"]["source"] == "lstm_forecaster/data/panel.parquet"
    assert len(args["data"]["assets"]) == 8
    built_from = {s["file"]: s["sha256"] for s in args["data"]["built_from"]}  # the raw exports
    assert {"BTC-USD.csv", "Binance_ETHUSDT_d.csv"} <= set(built_from) and len(built_from) == 8
    assert built_from["BTC-USD.csv"] == file_sha256(sample_path())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["not_scored"] == {"BTC-USD": "no forecast origin in the evaluated split"}  # ends 2024-03-31
    assert len(metrics["symbols"]) == 7


def test_cli_trains_on_a_glob_and_predicts_csv(tmp_path, capsys):
    import yaml

    from lstm_forecaster.cli import main

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(PANEL_RECIPE))
    out = tmp_path / "model"
    glob = str(DATA / "Binance_*_d.csv")
    assert main(["train", "--config", str(tmp_path / "tiny.yaml"), "--output", str(out), "--data", glob]) == 0
    assert "Held-out rolling-origin evaluation of 2 assets" in capsys.readouterr().out
    assert main(["predict", "--model", str(out), "--data", glob]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "symbol,timestamp,forecast,q0.1,q0.5,q0.9" and len(lines) == 7
    assert lines[1].startswith("ETHUSDT,2026-05-21T00:00:00Z,")


def test_panel_dataset_and_model_through_the_hub(hub_env, panel_model, tmp_path):
    import json
    import uuid

    from huggingface_hub import HfApi, ModelCard, hf_hub_download

    from lstm_forecaster import LSTMForecaster
    from lstm_forecaster.hub import push_folder, versions

    api = HfApi()
    dataset_id = f"alice/panel-{uuid.uuid4().hex[:8]}"
    api.create_repo(dataset_id, repo_type="dataset")
    (tmp_path / "dataset" / "data").mkdir(parents=True)
    load_ohlcv([ETH, XRP]).reset_index().to_csv(tmp_path / "dataset" / "data" / "train.csv", index=False)
    api.upload_folder(repo_id=dataset_id, repo_type="dataset", folder_path=tmp_path / "dataset")
    panel = load_ohlcv(dataset_id)  # a Hub dataset whose symbol column names two series
    assert symbols(panel) == ["ETHUSDT", "XRPUSDT"] and panel.attrs["hub_dataset"]["id"] == dataset_id
    pd.testing.assert_frame_equal(panel, load_ohlcv([ETH, XRP]), check_index_type=False)

    repo_id = f"alice/panel-model-{uuid.uuid4().hex[:8]}"
    pushed = push_folder(panel_model, repo_id, tag="v1.0")
    remote = LSTMForecaster.from_pretrained(repo_id, revision="v1.0")
    local = LSTMForecaster.from_pretrained(panel_model)
    pd.testing.assert_frame_equal(remote.predict(panel), local.predict(panel), check_exact=True)
    metrics = json.loads((panel_model / "metrics.json").read_text())
    row = next(r for r in versions(repo_id) if r.commit == pushed.oid)
    assert row.tags == ["v1.0"] and row.metrics["model_mase"] == metrics["pooled"]["mase"]["model"]
    card = ModelCard.load(hf_hub_download(repo_id, "README.md", revision="v1.0"))
    assert "| ETHUSDT |" in card.content and "Held-out rolling-origin evaluation of 2 assets" in card.content


def test_panel_training_is_deterministic_and_resumes_exactly(tmp_path):
    from lstm_forecaster.training import recipe_from_dict, train

    files = [str(ETH), str(LTC), str(XRP)]
    recipe = {**PANEL_RECIPE, "patience": 0, "lr_schedule": "constant"}  # a schedule that epochs do not change
    straight = train(recipe_from_dict({**recipe, "epochs": 3}), tmp_path / "straight", data=files)
    again = train(recipe_from_dict({**recipe, "epochs": 3}), tmp_path / "again", data=files)
    assert (straight / "model.safetensors").read_bytes() == (again / "model.safetensors").read_bytes()
    train(recipe_from_dict({**recipe, "epochs": 1}), tmp_path / "resumed", data=files)
    resumed = train(recipe_from_dict({**recipe, "epochs": 3}), tmp_path / "resumed", data=files, resume=True)
    assert (straight / "model.safetensors").read_bytes() == (resumed / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="cannot resume: the data differs"):
        train(recipe_from_dict({**recipe, "epochs": 4}), tmp_path / "resumed", data=files[:2], resume=True)


def test_a_panel_recipe_without_dates_cuts_the_pooled_rows_at_one_date():
    from lstm_forecaster.training import TrainingConfig, split_samples

    panel = load_ohlcv(panel_path())
    samples = PanelSamples(panel, ["log_return"], "log_return", 30, 1)
    recipe = TrainingConfig(train_fraction=0.7, validation_fraction=0.15)
    split = split_samples(panel, samples, recipe)
    stamps = np.sort(panel.index.get_level_values("timestamp"))
    n = len(stamps)
    assert split.how == "fractions"
    assert split.validation_start == stamps[stamps > stamps[round(0.7 * n) - 1]][0]
    assert split.test_start == stamps[stamps > stamps[round(0.85 * n) - 1]][0]
    # About the fractions of all the rows fall before each date, pooled over the assets.
    rows = panel.index.get_level_values("timestamp")
    assert abs((rows < split.validation_start).mean() - 0.7) < 0.01
    assert abs((rows < split.test_start).mean() - 0.85) < 0.01


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: [str(d / "none" / "*.csv")], "no file matches"),
        (
            lambda d: [str(ETH), str(d / "hourly.csv")],
            "disagree in frequency: hourly has a candle every 0 days 01:00:00",
        ),
        (lambda d: [str(ETH), str(d / "ETHUSDT.csv")], r"symbol ETHUSDT has two different candles at 2026-05-10"),
        (lambda d: [str(ETH), str(d / "gap.csv")], r"symbol gap misses 30 steps of 1 days 00:00:00 before row 40"),
    ],
    ids=["no match", "frequencies", "conflicting candles", "gap"],
)
def test_cli_refuses_a_bad_panel_with_one_line(make, match, tmp_path, capsys):
    import yaml

    from lstm_forecaster.cli import main

    hourly = _daily(60).set_axis(pd.date_range("2021-01-01", periods=60, freq="h", tz="UTC", name="timestamp"))
    hourly.to_csv(tmp_path / "hourly.csv")
    other = load_ohlcv(ETH).iloc[-20:].copy()
    other.loc[pd.Timestamp("2026-05-10", tz="UTC"), "close"] *= 1.2
    other.to_csv(tmp_path / "ETHUSDT.csv")
    gappy = _daily(120)
    gappy.drop(gappy.index[40:70]).to_csv(tmp_path / "gap.csv")
    (tmp_path / "list.yaml").write_text(yaml.safe_dump({**PANEL_RECIPE, "data": make(tmp_path)}))
    assert main(["train", "--config", str(tmp_path / "list.yaml"), "--output", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert pd.Series(lines).str.contains(match).all(), lines[0]
    assert not (tmp_path / "out").exists()


def test_tuning_a_panel_recipe_scores_the_pooled_validation_ratio(tmp_path):
    pytest.importorskip("optuna")
    from lstm_forecaster.search import parse_search
    from lstm_forecaster.training import recipe_from_dict
    from lstm_forecaster.tuning import tune

    parameters = parse_search({"hidden_size": {"low": 4, "high": 8}})
    result = tune(
        recipe_from_dict({**PANEL_RECIPE, "epochs": 1}),
        parameters,
        tmp_path / "study",
        1,
        data=[str(ETH), str(LTC), str(XRP)],
        train_best=False,
        progress=False,
    )
    # The objective of a panel: the geometric mean over assets of the model's validation pinball loss
    # over the rolling-volatility baseline's, unit-free (the assets' own losses do not add up).
    import json

    from lstm_forecaster.search import apply
    from lstm_forecaster.training import train

    recipe = apply(recipe_from_dict({**PANEL_RECIPE, "epochs": 1}), result.best_params)
    again = train(recipe, tmp_path / "again", data=[str(ETH), str(LTC), str(XRP)], evaluate_split="validation")
    pooled = json.loads((again / "metrics.json").read_text())["pooled"]
    assert result.best_value == pytest.approx(pooled["pinball_ratio"]["rolling_volatility"], rel=1e-9)
    assert 0.5 < result.best_value < 2.0  # a ratio, not a loss in any asset's units


# ----- forecasting the bundled panel, short gaps included ------------------------------------------


def test_every_asset_of_the_bundled_panel_is_forecast_across_the_exchange_gaps():
    """configs/default.yaml on the bundled panel: the six Binance coins miss 8 days among the 150 rows a
    forecast reads (at most 12 for a context of 120), read as consecutive rows with a `short_gap` warning."""
    import torch

    from lstm_forecaster import LSTMForecaster
    from lstm_forecaster.data import max_missing_steps
    from lstm_forecaster.scaling import Scaler
    from lstm_forecaster.training import load_recipe

    config = load_recipe(Path(__file__).parents[1] / "configs" / "default.yaml").model
    assert (config.context_length, max_missing_steps(config.context_length)) == (120, 12)
    panel = load_ohlcv(panel_path())
    torch.manual_seed(0)
    model = LSTMForecaster(config)
    samples = model.samples(panel)
    origins = samples.origins()
    model.scaler = Scaler.fit(
        config.scaling, config.features, config.target, samples.features, samples.targets[origins]
    )
    with torch.no_grad():  # a network whose output matters (a zero head is the classical forecast)
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.eval()
    forecast = model.predict(panel)
    assert sorted(forecast.index.get_level_values("symbol").unique()) == sorted(symbols(panel))
    codes = {(w["code"], w["symbol"]) for w in forecast.attrs["warnings"]}
    gapped = ["BCHUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT", "TRXUSDT", "XRPUSDT"]
    assert codes == {("short_gap", s) for s in gapped}
    dates = "2026-01-08, 2026-01-20, 2026-03-20 to 2026-03-22, 2026-03-25, 2026-04-14 to 2026-04-15"
    for w in forecast.attrs["warnings"]:
        assert w["message"].startswith(f"{w['symbol']}: 8 rows missing among the 150 the forecast reads ({dates})")
    eth = forecast.loc["ETHUSDT"]
    assert eth.index[0] == pd.Timestamp("2026-05-20", tz="UTC") and len(eth) == config.horizon
    # The calibration acts, and a backtest origin with the gaps in its rows is what predict gives there.
    raw = model.predict(panel, calibrate=False)
    assert np.isfinite(forecast.to_numpy()).all() and not np.allclose(forecast["q0.1"], raw["q0.1"])
    origin = pd.Timestamp("2026-05-01", tz="UTC")
    frame = model.backtest(panel, start=origin)
    before = panel[panel.index.get_level_values("timestamp") <= origin]
    expected = model.predict(before)
    assert {w["code"] for w in expected.attrs["warnings"]} == {"short_gap"}
    for symbol in gapped:
        rows = frame[(frame["symbol"] == symbol) & (frame["origin"] == origin)]
        np.testing.assert_allclose(rows[expected.columns].to_numpy(), expected.loc[symbol].to_numpy(), rtol=1e-6)
