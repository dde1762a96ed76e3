"""Rolling-origin backtests beside the baselines, the trading evaluation and the `backtest` command."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_forecaster import LSTMForecaster, load_ohlcv, sample_path
from lstm_forecaster.backtest import backtest, series_of
from lstm_forecaster.baselines import baseline_quantiles

GOLDEN = Path(__file__).parent / "golden" / "tiny-quantile"
START = "2023-09-01"


@pytest.fixture(scope="module")
def model():
    return LSTMForecaster.from_pretrained(GOLDEN)


@pytest.fixture(scope="module")
def data():
    return load_ohlcv(sample_path())


@pytest.fixture(scope="module")
def result(model, data):
    return backtest(model, data, start=START, strategy="long-flat", cost_bps=[0, 10])


def test_backtest_scores_every_origin_beside_baselines_fitted_before_the_first(result, model, data):
    report = result.report
    frame = model.backtest(data, start=START)
    n = frame["origin"].nunique()
    assert report["n_origins"] == n and report["horizon"] == 3
    info = report["data"]["series"]
    assert info["first_origin"] == frame["origin"].min().isoformat()
    # the baselines saw the rows up to the first origin, nothing later
    assert info["baselines_fitted_on"]["end"] == info["first_origin"]
    # the model's quantiles are the frame's, as log returns from the close at the origin
    first = frame[frame["origin"] == frame["origin"].min()].sort_values("step")
    expected = np.log(first[["q0.1", "q0.5", "q0.9"]].to_numpy() / first["base"].to_numpy()[:, None])
    np.testing.assert_allclose(result.forecasts["series"]["model"][0], expected, rtol=1e-12)
    # the baselines are exactly baseline_quantiles fitted on the rows up to the first origin
    close = data["close"]
    pos = close.index.get_indexer(result.origins["series"])
    ref = baseline_quantiles(close.to_numpy(), pos, int(pos[0]) + 1, 3, [0.1, 0.5, 0.9])
    for name, values in ref.items():
        np.testing.assert_array_equal(result.forecasts["series"][name], values)
    comparison = report["comparison"]
    assert comparison["forecasts"] == ["model", "ewma", "naive", "constant_quantile", "garch"]
    assert len(comparison["pooled"]["model_vs"]["ewma"]["ratio"]) == 3
    json.dumps(report, allow_nan=False)


def test_backtest_strategy_sits_beside_buy_and_hold_and_the_ewma_rule(result, data):
    st = result.report["strategy"]["series"]
    assert [c["cost_bps"] for c in st["costs"]] == [0.0, 10.0]
    free = st["costs"][0]["results"]
    assert set(free) == {"model", "ewma", "buy-and-hold"}
    close = data["close"]
    first, last = result.origins["series"][0], result.origins["series"][-1]
    after_last = close.index[close.index.get_loc(last) + 1]
    assert free["buy-and-hold"]["total_return"] == pytest.approx(close[after_last] / close[first] - 1, rel=1e-10)
    assert free["buy-and-hold"]["periods"] == result.report["n_origins"]


def test_save_writes_the_report_folder_all_or_nothing(result, tmp_path):
    out = result.save(tmp_path / "bt")
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "calibration.png",
        "coverage_rolling.png",
        "equity_series.png",
        "fan_series.png",
        "pinball_by_step.png",
        "report.json",
        "report.md",
    ]
    assert json.loads((out / "report.json").read_text())["n_origins"] == result.report["n_origins"]
    assert "| model | 1 |" in (out / "report.md").read_text()
    with pytest.raises(ValueError, match="exists and is not empty"):
        result.save(out)
    result.save(out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bt"]  # no temp folder left behind


class PerSymbol:
    """A panel model's backtest frame, built from a single-series model applied to each symbol."""

    def __init__(self, model):
        self.config = model.config
        self.model = model

    def backtest(self, df, start=None):
        parts = [self.model.backtest(part, start=start).assign(symbol=s) for s, part in series_of(df).items()]
        return pd.concat(parts, ignore_index=True)


def test_a_panel_is_scored_per_asset_and_pooled(model, data):
    late = data.iloc[400:].copy()
    late[["open", "high", "low", "close"]] *= 0.001  # same moves, another price level
    panel = pd.concat({"BTC": data, "MINI": late}, names=["symbol", "timestamp"])
    result = backtest(PerSymbol(model), panel, start=START)
    comp = result.report["comparison"]
    assert comp["assets"] == ["BTC", "MINI"]
    # scale-free: the same returns at 1/1000 of the price give the same losses
    a, b = comp["per_asset"]["BTC"]["forecasts"], comp["per_asset"]["MINI"]["forecasts"]
    assert a["model"]["pinball"] == pytest.approx(b["model"]["pinball"], rel=1e-6)
    # pooled: the geometric mean of the per-asset ratios (MINI's GARCH is fitted on fewer rows)
    ra, rb = (np.array(comp["per_asset"][s]["model_vs"]["garch"]["ratio"]) for s in ("BTC", "MINI"))
    assert comp["pooled"]["model_vs"]["garch"]["ratio"] == pytest.approx(np.sqrt(ra * rb), rel=1e-12)


class NoQuantiles:
    class config:  # noqa: N801 - stands in for a config object
        quantiles = None
        target = "close"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start": "2030-01-01"}, "after the data's end"),
        ({"start": "2001-01-01"}, "before the data's first row"),
        ({"start": "2014-09-20"}, "before the data's first full window"),
        ({"start": "2023-01-01", "end": "2022-01-01"}, "before --start"),
        ({"strategy": "momentum"}, "unknown strategy 'momentum'; accepted: long-flat, vol-target"),
        ({"baselines": ["garch"]}, "must include 'naive' and 'ewma'"),
    ],
)
def test_bad_input(model, data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        backtest(model, data, **kwargs)


def test_a_model_without_quantiles_is_refused(data):
    with pytest.raises(ValueError, match="no quantiles"):
        backtest(NoQuantiles(), data, strategy="long-flat")


def _cli(*args, cwd=None):
    command = [sys.executable, "-m", "lstm_forecaster.cli", "backtest", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_backtest_command_writes_the_folder_and_refuses_bad_input_in_one_line(tmp_path):
    out = tmp_path / "bt"
    common = ["--model", str(GOLDEN), "--data", str(sample_path())]
    done = _cli(
        *common, "--start", "2024-01-01", "--strategy", "vol-target", "--cost-bps", "0", "25", "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "Strategy vol-target" in done.stdout and (out / "report.json").exists()
    report = json.loads((out / "report.json").read_text())
    assert [c["cost_bps"] for c in report["strategy"]["series"]["costs"]] == [0.0, 25.0]
    bad = _cli(*common, "--strategy", "momentum")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "momentum" in bad.stderr
    late = _cli(*common, "--start", "2031-01-01")
    assert late.returncode == 2 and "after the data's end" in late.stderr
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps(TINY))  # JSON is YAML
    wide = _cli(*common, "--start", "2024-03-01", "--refit-every", "1000", "--config", str(recipe))
    assert wide.returncode == 2 and "--refit-every 1000 is larger than the period" in wide.stderr
    unrecorded = _cli(*common, "--refit-every", "10")
    assert unrecorded.returncode == 2 and "training_args.json" in unrecorded.stderr


TINY = {
    "name": "walk-tiny",
    "model": {
        "features": ["log_return", "volatility_5", "log_range", "volume_ratio_5"],
        "target": "log_return",
        "context_length": 8,
        "horizon": 3,
        "hidden_size": 8,
        "quantiles": [0.1, 0.5, 0.9],
    },
    "epochs": 1,
    "batch_size": 64,
    "loss": "pinball",
    "head_init": "baseline",
    "seed": 1,
}


def test_walk_forward_refits_on_the_data_before_each_block(data):
    from lstm_forecaster.training import recipe_from_dict

    df = data.iloc[-420:]
    start = df.index[-60]
    result = backtest(None, df, start=start, refit_every=30, recipe=recipe_from_dict(TINY), progress=False)
    refits = result.report["refits"]
    assert [r["refit"] for r in refits] == [1, 2] and sum(r["origins"] for r in refits) == result.report["n_origins"]
    fits = result.report["data"]["series"]["baselines_fitted_on"]
    for refit, fit in zip(refits, fits, strict=True):
        first = pd.Timestamp(refit["first_origin"])
        # the model trained, validated and the baselines fitted on rows up to the block's first origin only
        assert pd.Timestamp(refit["train"]["end"]) < pd.Timestamp(refit["validation"]["end"]) < first
        assert pd.Timestamp(fit["end"]) == first
    assert "## Walk-forward" in result.markdown()
    with pytest.raises(ValueError, match="larger than the period"):
        backtest(None, df, start=start, refit_every=1000, recipe=recipe_from_dict(TINY))
    with pytest.raises(ValueError, match="need the recipe"):
        backtest(None, df, start=start, refit_every=30)


def test_a_real_panel_model_frozen_and_walking_forward(tmp_path):
    from lstm_forecaster.training import recipe_from_dict, train

    panel = load_ohlcv(sorted(str(p) for p in (Path(__file__).parent / "data" / "panel").glob("*.csv")))
    recipe = recipe_from_dict(TINY)
    model = LSTMForecaster.from_pretrained(train(recipe, tmp_path / "m", data=panel, progress=False))
    start = panel.index.get_level_values("timestamp").unique().sort_values()[-40]
    frozen = backtest(model, panel, start=start, strategy="vol-target", cost_bps=[10])
    # LTC's file ends before the period: it is named, not silently scored
    assert frozen.report["series_without_origins"] == ["LTCUSDT"]
    assert frozen.report["comparison"]["assets"] == ["ETHUSDT", "XRPUSDT"]
    assert set(frozen.report["strategy"]) == {"ETHUSDT", "XRPUSDT"}
    walked = backtest(None, panel, start=start, refit_every=20, recipe=recipe, progress=False)
    assert len(walked.report["refits"]) == 2
    assert walked.report["n_origins"] == frozen.report["n_origins"]
    for refit in walked.report["refits"]:
        assert pd.Timestamp(refit["validation"]["end"]) < pd.Timestamp(refit["first_origin"])


def test_compare_frame_fits_the_baselines_on_the_training_split(result, model, data):
    from lstm_forecaster.backtest import compare_frame
    from lstm_forecaster.comparison import comparison_report

    frame = model.backtest(data, start=START)
    # default: fitted on the rows up to the first origin, as the backtest does
    assert compare_frame(frame, data, [0.1, 0.5, 0.9])["pooled"] == result.report["comparison"]["pooled"]
    report = compare_frame(frame, data, [0.1, 0.5, 0.9], train_end="2021-12-31")
    assert report["baselines_fitted_on"]["series"]["end"].startswith("2021-12-31")
    close = data["close"]
    pos = close.index.get_indexer(result.origins["series"])
    train_rows = int(close.index.searchsorted(pd.Timestamp("2021-12-31", tz="UTC"), side="right"))
    ref = baseline_quantiles(close.to_numpy(), pos, train_rows, 3, [0.1, 0.5, 0.9])
    expected = comparison_report(
        result.actual, {"series": {"model": result.forecasts["series"]["model"], **ref}}, [0.1, 0.5, 0.9]
    )
    assert report["pooled"]["model_vs"]["garch"]["ratio"] == pytest.approx(
        expected["pooled"]["model_vs"]["garch"]["ratio"], rel=1e-12
    )


def test_score_backtest_rescores_one_frame_with_every_rule_as_backtest_does(result, model, data):
    from lstm_forecaster.backtest import score_backtest

    frame = result.frame
    blocks = [pd.Timestamp(frame["origin"].min())]
    again = score_backtest(frame, data, model.config.quantiles, blocks, strategy="long-flat", cost_bps=[0, 10])
    assert again.report == result.report
    other = score_backtest(frame, data, model.config.quantiles, blocks, strategy="vol-target", cost_bps=[0, 10])
    assert other.report["comparison"] == result.report["comparison"]
    assert other.report["strategy"] != result.report["strategy"]
    with pytest.raises(ValueError, match="unknown strategy"):
        score_backtest(frame, data, model.config.quantiles, blocks, strategy="momentum")


def test_a_block_ending_before_missing_days_keeps_its_last_origins():
    # Two series; B misses two days after 01-10: its 3rd row after 01-10 is 01-15, not 01-13.
    from lstm_forecaster.walkforward import outcome_cut

    days = pd.date_range("2024-01-01", periods=20, freq="D", tz="UTC")
    parts = {"A": pd.DataFrame(index=days), "B": pd.DataFrame(index=days.delete([10, 11]))}
    assert outcome_cut(parts, days[9], 3) == pd.Timestamp("2024-01-15", tz="UTC")
    assert outcome_cut({"A": parts["A"]}, days[9], 3) == days[12]
    assert outcome_cut(parts, days[-1], 3) == days[-1]  # no rows after the data's end
