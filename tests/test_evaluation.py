"""Tests of lstm_forecaster.evaluation: hand-computed answers, causality of baselines, bad inputs."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lstm_forecaster import evaluation as ev

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LEVELS = [0.1, 0.5, 0.9]


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------


def make_history(n: int = 160, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2021-01-01", periods=n, freq="D", tz="UTC")
    values = 100.0 * np.exp(np.cumsum(rng.normal(0.001, 0.02, n)))
    return pd.Series(values, index=index, name="close")


def make_frame(history: pd.Series, first: int, last: int, horizon: int = 3, seed: int = 1) -> pd.DataFrame:
    """Backtest frame with origins at rows first..last of ``history`` and a noisy forecast."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(first, last + 1):
        base = float(history.iloc[p])
        for s in range(1, horizon + 1):
            forecast = base * (1.0 + rng.normal(0.0, 0.01))
            row = {
                "origin": history.index[p],
                "step": s,
                "timestamp": history.index[p + s],
                "base": base,
                "actual": float(history.iloc[p + s]),
                "forecast": forecast,
            }
            for q, z in zip(LEVELS, (-1.2816, 0.0, 1.2816), strict=True):
                row[ev.quantile_column(q)] = forecast * math.exp(0.02 * math.sqrt(s) * z)
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture()
def setup():
    history = make_history()
    train_end = history.index[80]
    frame = make_frame(history, first=80, last=150)
    return frame, history, train_end


# --------------------------------------------------------------------------------------------------
# point metrics
# --------------------------------------------------------------------------------------------------


def test_point_metrics_by_hand():
    actual, pred = [1.0, 2.0, 4.0], [2.0, 2.0, 2.0]  # errors -1, 0, 2
    assert ev.mae(actual, pred) == pytest.approx(1.0)
    assert ev.rmse(actual, pred) == pytest.approx(math.sqrt(5.0 / 3.0))
    assert ev.mape(actual, pred) == pytest.approx(100.0 * (1.0 + 0.0 + 0.5) / 3.0)
    assert ev.mase(actual, pred, [1.0, 1.0, 1.0]) == pytest.approx(1.0 / (4.0 / 3.0))


def test_mase_of_naive_is_one():
    actual, naive = [10.0, 11.0, 9.0, 12.0], [9.0, 10.0, 11.0, 9.0]
    assert ev.mase(actual, naive, naive) == 1.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ev.mae([1.0, 2.0], [1.0]), "same length"),
        (lambda: ev.mae([1.0, np.nan], [1.0, 2.0]), "actual holds 1 non-finite"),
        (lambda: ev.rmse([], []), "empty"),
        (lambda: ev.mape([0.0, 1.0], [1.0, 1.0]), "actual is 0"),
        (lambda: ev.mase([1.0, 2.0], [1.0, 1.0], [1.0, 2.0]), "zero MAE"),
    ],
)
def test_point_metric_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------------------
# direction
# --------------------------------------------------------------------------------------------------


def test_direction_confusion_by_hand():
    base = [100.0, 100.0, 100.0, 100.0]
    actual = [110.0, 90.0, 105.0, 95.0]  # up, down, up, down
    pred = [105.0, 95.0, 99.0, 101.0]  # up, down, down, up  -> tp, tn, fn, fp
    m = ev.direction_metrics(base, actual, pred)
    assert (m["tp"], m["fp"], m["tn"], m["fn"], m["n"]) == (1, 1, 1, 1, 4)
    assert m["accuracy"] == m["precision"] == m["recall"] == m["f1"] == 0.5
    assert m["p_value"] == pytest.approx(1.0)  # two-sided binomial, 2 of 4
    assert m["up_share"] == 0.5


def test_direction_uses_real_base_not_previous_prediction():
    # A forecast that lags the price: always a bit below the last real close.
    base = np.array([100.0, 110.0, 120.0])
    actual = np.array([110.0, 120.0, 130.0])  # every real move is up
    pred = np.array([101.0, 109.0, 119.0])
    # Judged against the previous *prediction* (the anti-pattern) rows 2 and 3 would be "up"
    # (109 > 101, 119 > 109) and every call right. From the same real base they are "down".
    wrong_way = np.mean((pred[1:] > pred[:-1]) == (actual[1:] > base[1:]))
    assert wrong_way == 1.0
    m = ev.direction_metrics(base, actual, pred)
    assert m["accuracy"] == pytest.approx(1.0 / 3.0)
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (1, 2, 0, 0)
    assert m["recall"] == pytest.approx(1.0 / 3.0)
    assert m["precision"] == 1.0


def test_direction_ties_are_not_up_and_zero_division_is_silent():
    base = [100.0, 100.0]
    actual = [100.0, 101.0]  # unchanged counts as not up; then up
    pred = [100.0, 100.0]  # the naive forecast predicts "not up"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = ev.direction_metrics(base, actual, pred)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (0, 0, 1, 1)
    assert m["precision"] == m["recall"] == m["f1"] == 0.0


def test_direction_p_value_all_correct():
    base = np.full(10, 100.0)
    actual = base + np.arange(1, 11)
    m = ev.direction_metrics(base, actual, actual)
    assert m["accuracy"] == 1.0
    assert m["p_value"] == pytest.approx(2 * 0.5**10)


# --------------------------------------------------------------------------------------------------
# quantiles
# --------------------------------------------------------------------------------------------------


def test_pinball_loss_by_hand():
    actual = [10.0, 20.0]
    preds = [[8.0, 12.0], [18.0, 25.0]]
    # point 1: q=.1, u=2 -> 0.2; q=.9, u=-2 -> 0.2. point 2: q=.1, u=2 -> 0.2; q=.9, u=-5 -> 0.5
    assert ev.pinball_loss(actual, preds, [0.1, 0.9]) == pytest.approx((0.2 + 0.2 + 0.2 + 0.5) / 4)


def test_pinball_of_median_is_half_mae():
    actual, pred = [1.0, 2.0, 4.0], [2.0, 2.0, 2.0]
    assert ev.pinball_loss(actual, np.array(pred)[:, None], [0.5]) == pytest.approx(0.5 * ev.mae(actual, pred))


def test_interval_coverage_by_hand():
    actual = [1.0, 2.0, 3.0, 4.0]
    lower = [0.0, 2.5, 3.0, 5.0]
    upper = [2.0, 3.0, 3.0, 6.0]  # inside, below, on both bounds (inclusive), below
    assert ev.interval_coverage(actual, lower, upper) == 0.5


@pytest.mark.parametrize(
    ("levels", "match"),
    [([0.1, 1.0], "strictly between 0 and 1"), ([0.0, 0.5], "strictly between 0 and 1"), ([0.9, 0.1], "sorted")],
)
def test_pinball_bad_levels(levels, match):
    with pytest.raises(ValueError, match=match):
        ev.pinball_loss([1.0], [[1.0, 2.0]], levels)


def test_pinball_bad_shape():
    with pytest.raises(ValueError, match=r"shape \(n, Q\) = \(2, 2\)"):
        ev.pinball_loss([1.0, 2.0], [[1.0, 2.0, 3.0]], [0.1, 0.9])


# --------------------------------------------------------------------------------------------------
# Diebold-Mariano
# --------------------------------------------------------------------------------------------------


def test_dm_identical_errors_gives_zero_and_p_one():
    e = [1.0, -2.0, 0.5, 3.0]
    assert ev.diebold_mariano(e, e) == (0.0, 1.0)


def test_dm_clearly_better_model_has_small_p():
    rng = np.random.default_rng(0)
    stat, p = ev.diebold_mariano(rng.normal(0, 0.5, 60), rng.normal(0, 3.0, 60))
    assert stat < 0
    assert p < 1e-4


def test_dm_horizon_one_equals_one_sample_t_test():
    rng = np.random.default_rng(3)
    e1, e2 = rng.normal(0, 1, 40), rng.normal(0, 1.2, 40)
    stat, p = ev.diebold_mariano(e1, e2)
    ref = stats.ttest_1samp(e1**2 - e2**2, 0.0)
    assert stat == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue)


def test_dm_horizon_two_by_hand():
    # power=1: d = |e1| - |e2| = [-1, 0, 1, 2, 3], mean 1, centred [-2, -1, 0, 1, 2]
    # gamma0 = 10/5 = 2, gamma1 = (2 + 0 + 0 + 2)/5 = 0.8, var(dbar) = (2 + 2*0.8)/5 = 0.72
    # DM = 1/sqrt(0.72); HLN factor sqrt((5 + 1 - 4 + 2/5)/5) = sqrt(0.48); DM* = sqrt(2/3)
    stat, p = ev.diebold_mariano([1.0, 2.0, 3.0, 4.0, 5.0], [2.0] * 5, horizon=2, power=1)
    assert stat == pytest.approx(math.sqrt(2.0 / 3.0))
    assert p == pytest.approx(2 * stats.t.sf(math.sqrt(2.0 / 3.0), df=4))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"errors_model": [1.0, 2.0, 3.0], "errors_baseline": [1.0, 2.0]}, "same length"),
        ({"errors_model": [1.0, 2.0], "errors_baseline": [2.0, 1.0]}, "at least 3 points; got 2"),
        ({"errors_model": [1.0, 2.0, 3.0], "errors_baseline": [3.0, 2.0, 1.0], "horizon": 3}, "horizon"),
        ({"errors_model": [1.0, 2.0, 3.0], "errors_baseline": [3.0, 2.0, 1.0], "power": 0}, "power"),
    ],
)
def test_dm_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ev.diebold_mariano(**kwargs)


# --------------------------------------------------------------------------------------------------
# baselines
# --------------------------------------------------------------------------------------------------


def test_point_baselines_by_hand():
    index = pd.date_range("2022-01-01", periods=5, freq="D", tz="UTC")
    history = pd.Series([100.0, 110.0, 121.0, 133.1, 146.41], index=index)  # +10 % a day
    frame = pd.DataFrame(
        {
            "origin": [index[2], index[2]],
            "step": [1, 2],
            "timestamp": [index[3], index[4]],
            "base": [121.0, 121.0],
            "actual": [133.1, 146.41],
            "forecast": [125.0, 130.0],
        }
    )
    out = ev.baseline_forecasts(frame, history, train_end=index[2], window=2)
    np.testing.assert_allclose(out["naive_last"]["forecast"], [121.0, 121.0])
    np.testing.assert_allclose(out["drift"]["forecast"], [121.0 * 1.1, 121.0 * 1.21])
    np.testing.assert_allclose(out["moving_average"]["forecast"], [115.5, 115.5])
    assert out["drift"].index.equals(frame.index)


def test_quantile_baselines_by_hand():
    index = pd.date_range("2022-01-01", periods=40, freq="D", tz="UTC")
    returns = np.resize([-0.1, 0.0, 0.1, 0.2], 39)
    history = pd.Series(100.0 * np.exp(np.concatenate([[0.0], np.cumsum(returns)])), index=index)
    train_end, origin = index[8], index[30]  # train returns: -0.1, 0.0, 0.1, 0.2 twice
    base = float(history[origin])
    frame = pd.DataFrame(
        {
            "origin": [origin] * 2,
            "step": [1, 4],
            "timestamp": [index[31], index[34]],
            "base": [base] * 2,
            "actual": [float(history.iloc[31]), float(history.iloc[34])],
            "forecast": [base] * 2,
            "q0.25": [base] * 2,
            "q0.75": [base] * 2,
        }
    )
    out = ev.baseline_forecasts(frame, history, train_end, quantiles=[0.25, 0.75], vol_window=3)
    cq = out["constant_quantile"]
    # np.quantile([-0.1, 0, 0.1, 0.2]) at 0.25 / 0.75 (linear) = -0.025 / 0.125; step 4 scales by 2
    np.testing.assert_allclose(cq["q0.25"], [base * math.exp(-0.025), base * math.exp(-0.05)])
    np.testing.assert_allclose(cq["q0.75"], [base * math.exp(0.125), base * math.exp(0.25)])
    np.testing.assert_allclose(cq["forecast"], [base * math.exp(0.05), base * math.exp(0.1)])

    # rolling volatility, written out with loops: sigma known at row t = std of the 3 returns ending at t
    r = np.diff(np.log(history.to_numpy()))

    def sigma_at(row: int) -> float:
        return float(np.std(r[row - 3 : row], ddof=1))

    n_train = 9  # rows 0..8
    z = [r[k] / sigma_at(k) for k in range(3, n_train - 1)]  # return r[k] ends at row k+1
    z_q = np.quantile(z, [0.25, 0.75])
    rv = out["rolling_volatility"]
    for j, step in enumerate([1, 4]):
        expected = base * np.exp(math.sqrt(step) * sigma_at(30) * z_q)
        np.testing.assert_allclose(rv[["q0.25", "q0.75"]].iloc[j], expected)


def test_baselines_are_causal(setup):
    frame, history, train_end = setup
    before = ev.baseline_forecasts(frame, history, train_end, quantiles=LEVELS)
    cut = history.index[110]
    changed = history.copy()
    changed[changed.index > cut] *= np.linspace(1.5, 0.5, int((changed.index > cut).sum()))
    after = ev.baseline_forecasts(frame, changed, train_end, quantiles=LEVELS)
    past = (frame["origin"] <= cut).to_numpy()
    for name in before:
        pd.testing.assert_frame_equal(before[name][past], after[name][past], check_exact=True)
    # the test can see a change: later origins do move
    assert not np.allclose(before["drift"]["forecast"][~past], after["drift"]["forecast"][~past])
    assert not np.allclose(before["rolling_volatility"]["q0.9"][~past], after["rolling_volatility"]["q0.9"][~past])


def test_constant_quantile_uses_train_split_only(setup):
    frame, history, train_end = setup
    before = ev.baseline_forecasts(frame, history, train_end, quantiles=LEVELS)
    changed = history.copy()
    after_train = changed.index > train_end
    changed[after_train] *= np.exp(np.random.default_rng(9).normal(0, 0.2, int(after_train.sum())))
    after = ev.baseline_forecasts(frame, changed, train_end, quantiles=LEVELS)
    pd.testing.assert_frame_equal(before["constant_quantile"], after["constant_quantile"], check_exact=True)
    assert not np.allclose(before["drift"]["forecast"], after["drift"]["forecast"])


def test_baselines_refuse_origin_before_train_end(setup):
    frame, history, _ = setup
    with pytest.raises(ValueError, match="precedes train_end"):
        ev.baseline_forecasts(frame, history, history.index[100])


def test_baselines_refuse_bad_history(setup):
    frame, history, train_end = setup
    with pytest.raises(ValueError, match="tz-aware"):
        ev.baseline_forecasts(frame, history.tz_localize(None), train_end)
    with pytest.raises(ValueError, match="covering|cover every origin"):
        ev.baseline_forecasts(frame, history.iloc[100:], train_end)
    negative = history.copy()
    negative.iloc[5] = -1.0
    with pytest.raises(ValueError, match="strictly positive"):
        ev.baseline_forecasts(frame, negative, train_end)
    with pytest.raises(ValueError, match="window must be an integer >= 1; got 0"):
        ev.baseline_forecasts(frame, history, train_end, window=0)


# --------------------------------------------------------------------------------------------------
# frame validation
# --------------------------------------------------------------------------------------------------


def test_frame_missing_column(setup):
    frame, history, train_end = setup
    with pytest.raises(ValueError, match=r"missing column\(s\) \['forecast'\]"):
        ev.evaluate_backtest(frame.drop(columns="forecast"), history, train_end)


@pytest.mark.parametrize("column", ["actual", "forecast"])
def test_frame_nan(setup, column):
    frame, history, train_end = setup
    frame.loc[3, column] = np.nan
    with pytest.raises(ValueError, match=f"column '{column}' holds 1 non-finite"):
        ev.evaluate_backtest(frame, history, train_end)


def test_frame_missing_quantile_column(setup):
    frame, history, train_end = setup
    with pytest.raises(ValueError, match=r"missing quantile column\(s\) \['q0.95'\]"):
        ev.evaluate_backtest(frame, history, train_end, quantiles=[0.1, 0.95])


@pytest.mark.parametrize(
    ("levels", "match"),
    [([0.1, 1.5], "strictly between 0 and 1"), ([-0.1, 0.5], "strictly between 0 and 1"), ([0.9, 0.1], "sorted")],
)
def test_frame_bad_levels(setup, levels, match):
    frame, history, train_end = setup
    with pytest.raises(ValueError, match=match):
        ev.evaluate_backtest(frame, history, train_end, quantiles=levels)


def test_frame_bad_step_and_timestamp(setup):
    frame, history, train_end = setup
    bad = frame.copy()
    bad.loc[0, "step"] = 0
    with pytest.raises(ValueError, match="column 'step' must hold integers >= 1"):
        ev.validate_backtest_frame(bad)
    bad = frame.copy()
    bad.loc[0, "timestamp"] = bad.loc[0, "origin"]
    with pytest.raises(ValueError, match="'timestamp' must be after 'origin'"):
        ev.validate_backtest_frame(bad)


# --------------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------------


def _only_plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _only_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_only_plain(v) for v in value)
    return value is None or type(value) in (int, float, str, bool)


def test_evaluate_backtest_report(setup):
    frame, history, train_end = setup
    report = ev.evaluate_backtest(frame, history, train_end, quantiles=LEVELS)
    json.dumps(report, allow_nan=False)
    assert _only_plain(report)
    assert report["n_points"] == len(frame) and report["horizon"] == 3
    assert report["n_origins"] == 71
    assert set(report["models"]) == {"model", "naive_last", "drift", "moving_average"}
    assert report["models"]["naive_last"]["mase"] == 1.0
    actual, forecast, base = frame["actual"], frame["forecast"], frame["base"]
    assert report["models"]["model"]["mae"] == pytest.approx(ev.mae(actual, forecast))
    assert report["models"]["model"]["mase"] == pytest.approx(ev.mae(actual, forecast) / ev.mae(actual, base))
    assert report["direction"]["model"] == ev.direction_metrics(base, actual, forecast)
    assert set(report["direction"]) == {"model", "drift", "moving_average"}
    assert report["diebold_mariano"]["baseline"] == "naive_last"
    assert 0.0 <= report["diebold_mariano"]["p_value"] <= 1.0
    q = report["quantile"]
    assert set(q) == {"model", "constant_quantile", "rolling_volatility"}
    assert q["model"]["nominal_coverage"] == pytest.approx(0.8)
    assert q["model"]["coverage"] == pytest.approx(ev.interval_coverage(actual, frame["q0.1"], frame["q0.9"]))
    assert [s["step"] for s in report["by_step"]] == [1, 2, 3]
    step1 = frame["step"] == 1
    assert report["by_step"][0]["naive_mae"] == pytest.approx(ev.mae(actual[step1], base[step1]))


def test_evaluate_naive_model_ties_naive_baseline(setup):
    frame, history, train_end = setup
    frame = frame.assign(forecast=frame["base"])
    report = ev.evaluate_backtest(frame, history, train_end)
    assert report["models"]["model"] == report["models"]["naive_last"]
    assert report["diebold_mariano"]["statistic"] == 0.0
    assert report["diebold_mariano"]["p_value"] == 1.0
    assert "quantile" not in report


def test_metrics_table(setup):
    frame, history, train_end = setup
    table = ev.metrics_table(ev.evaluate_backtest(frame, history, train_end, quantiles=LEVELS))
    assert "| forecast | MAE | RMSE | MAPE (%) | MASE | direction accuracy |" in table
    for name in ("model", "naive_last", "drift", "moving_average", "constant_quantile", "rolling_volatility"):
        assert f"| {name} |" in table
    assert "Diebold-Mariano" in table
    assert "nominal coverage" in table
    plain = ev.metrics_table(ev.evaluate_backtest(frame, history, train_end))
    assert "pinball" not in plain


# --------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------


def test_plots_write_png_atomically(setup, tmp_path):
    frame, history, train_end = setup
    p1 = ev.plot_forecast(frame, history, tmp_path / "forecast.png", title="test", last=30, units="USD")
    p2 = ev.plot_percent_change(frame, tmp_path / "pct.png", step=1)
    for path in (p1, p2):
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecast.png", "pct.png"]
    plain = frame.drop(columns=[ev.quantile_column(q) for q in LEVELS])
    p3 = ev.plot_forecast(plain, history, tmp_path / "plain.png", step=2)
    assert p3.read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecast.png", "pct.png", "plain.png"]


def test_plot_bad_step(setup, tmp_path):
    frame, history, _ = setup
    with pytest.raises(ValueError, match="no rows with step 7"):
        ev.plot_forecast(frame, history, tmp_path / "x.png", step=7)
    assert list(tmp_path.iterdir()) == []


def test_a_forecast_that_never_moves_gets_no_direction_score(setup):
    # A model whose median is pinned to the last value predicts no move: scoring it "always down"
    # would report the share of down moves as its skill.
    frame, history, train_end = setup
    pinned = frame.assign(forecast=frame["base"])
    report = ev.evaluate_backtest(pinned, history, train_end, quantiles=LEVELS)
    assert "model" not in report["direction"] and set(report["direction"]) == {"drift", "moving_average"}
    assert all(row["direction_accuracy"] is None for row in report["by_step"])
    assert report["models"]["model"]["mase"] == 1.0
    assert report["diebold_mariano"]["statistic"] == 0.0 and report["diebold_mariano"]["p_value"] == 1.0
    assert "| model |" in ev.metrics_table(report) and "n/a" in ev.metrics_table(report)


@pytest.mark.parametrize(
    ("dm", "says", "never"),
    [
        (
            {"baseline": "naive_last", "statistic": 0.0, "p_value": 1.0, "identical": True},
            "equal naive_last's",
            "lower",
        ),
        (
            {"baseline": "naive_last", "statistic": -2.5, "p_value": 0.012},
            "the model had the lower loss",
            "not significant",
        ),
        (
            {"baseline": "naive_last", "statistic": 3.2, "p_value": 0.0014},
            "naive_last had the lower loss",
            "the model had",
        ),
        ({"baseline": "naive_last", "statistic": 0.8, "p_value": 0.42}, "is not significant at 5%", "the model had"),
        ({"baseline": "naive_last", "statistic": None, "p_value": None}, "too few origins", "lower"),
    ],
)
def test_diebold_mariano_sentence_says_which_forecast_won_in_plain_words(dm, says, never):
    sentence = ev.describe_diebold_mariano(dm)
    assert says in sentence and never not in sentence, sentence
    assert "negative statistic" not in sentence
