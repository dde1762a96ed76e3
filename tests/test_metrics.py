"""Multi-step quantile metrics and the model-vs-baselines comparison report, on hand-computed values."""

import json
import math

import numpy as np
import pytest

from lstm_forecaster import evaluation, metrics
from lstm_forecaster.comparison import comparison_report, comparison_table

LV = [0.1, 0.5, 0.9]


def test_evaluation_still_exports_the_moved_metrics():
    for name in ("mae", "rmse", "mape", "mase", "diebold_mariano", "pinball_loss", "interval_coverage"):
        assert getattr(evaluation, name) is getattr(metrics, name)


def test_pinball_per_point_by_hand():
    # u = actual - q = [1, 0, -1]: losses 0.1 * 1, 0, max(0.9 * -1, -0.1 * -1) = 0.1 -> mean 0.2 / 3
    actual = np.array([[0.0, 2.0], [1.0, np.nan]])
    q = np.array([[[-1.0, 0.0, 1.0], [0.0, 1.0, 3.0]], [[0.0, 0.5, 2.0], [9.0, 9.0, 9.0]]])
    loss = metrics.pinball_per_point(actual, q, LV)
    # (1, 0): u = [2, 1, -1] -> 0.2, 0.5, 0.1; (1, 0) row 2: u = [1, 0.5, -1] -> 0.1, 0.25, 0.1
    expected = np.array([[0.2 / 3, 0.8 / 3], [0.45 / 3, np.nan]])
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    np.testing.assert_allclose(metrics.pinball_by_step(actual, q, LV), [(0.2 + 0.45) / 6, 0.8 / 3], rtol=1e-12)
    # agrees with the 1-D pinball loss on the known points of a step
    assert metrics.pinball_by_step(actual, q, LV)[0] == pytest.approx(metrics.pinball_loss([0.0, 1.0], q[:, 0], LV))


def test_coverage_by_step_by_hand():
    actual = np.array([[0.0, 5.0], [0.95, 0.0], [-2.0, np.nan]])
    q = np.tile(np.array([-1.0, 0.0, 1.0]), (3, 2, 1))
    # step 1: 0 in, 0.95 in, -2 out -> 2/3; step 2: 5 out, 0 in (NaN left out) -> 1/2
    np.testing.assert_allclose(metrics.coverage_by_step(actual, q, LV, 0.1, 0.9), [2 / 3, 0.5])
    with pytest.raises(ValueError, match="level 0.25 is not among"):
        metrics.coverage_by_step(actual, q, LV, 0.25, 0.75)


def test_mase_skill_and_geometric_mean_by_hand():
    actual = np.array([[1.0, 2.0], [-2.0, np.nan]])
    median = np.array([[0.5, 1.0], [-1.0, 7.0]])
    # step 1: MAE (0.5 + 1) / 2 = 0.75 vs naive (1 + 2) / 2 = 1.5 -> 0.5; step 2: 1 / 2 = 0.5
    np.testing.assert_allclose(metrics.mase_by_step(actual, median, np.zeros_like(median)), [0.5, 0.5])
    np.testing.assert_allclose(metrics.skill_score([0.9, 1.1], [1.0, 1.0]), [0.1, -0.1])
    assert metrics.geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    assert metrics.geometric_mean([4.0, 1.0, np.nan]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match=">= 0"):
        metrics.geometric_mean([1.0, -1.0])


def test_dm_by_step_is_the_evaluation_diebold_mariano_on_the_losses():
    rng = np.random.default_rng(0)
    e1, e2 = rng.normal(0, 1, (60, 2)), rng.normal(0, 1.3, (60, 2))
    stat, p = metrics.dm_by_step(np.abs(e1), np.abs(e2))
    for h in (1, 2):
        ref = evaluation.diebold_mariano(e1[:, h - 1], e2[:, h - 1], horizon=h, power=1)
        assert (stat[h - 1], p[h - 1]) == pytest.approx(ref, rel=1e-12)
    same, p_same = metrics.dm_by_step(np.abs(e1), np.abs(e1))
    assert np.all(same == 0) and np.all(p_same == 1)


def _asset(scale_model, scale_ewma, n=40, seed=0):
    """Forecasts whose pinball losses have a known ratio: quantiles scaled around 0 on y = 0 points."""
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], size=(n, 2)) * 0.5
    band = np.array([-1.0, 0.0, 1.0])
    return y, {
        "model": np.broadcast_to(band * scale_model, (n, 2, 3)).copy(),
        "ewma": np.broadcast_to(band * scale_ewma, (n, 2, 3)).copy(),
        "naive": np.zeros((n, 2, 3)),
    }


def test_comparison_report_pools_with_the_geometric_mean_of_ratios():
    # y = +-0.5. With band b = [-s, 0, s], s >= 0.5: every point is inside the 80 % band; the
    # pinball loss per point is (0.1 (0.5 + s) + 0.5 * 0.5 + 0.1 (s - 0.5)) / 3 = (0.2 s + 0.25) / 3.
    def loss(s):
        return (0.2 * s + 0.25) / 3

    ya, fa = _asset(1.0, 2.0, seed=1)
    yb, fb = _asset(3.0, 1.0, seed=2)
    yb[0, 1] = np.nan  # an unknown target is left out
    report = comparison_report({"A": ya, "B": yb}, {"A": fa, "B": fb}, LV)
    json.dumps(report)  # JSON-able
    assert report["forecasts"] == ["model", "ewma", "naive"]
    ra, rb = loss(1.0) / loss(2.0), loss(3.0) / loss(1.0)
    a = report["per_asset"]["A"]
    assert a["forecasts"]["model"]["pinball"] == pytest.approx([loss(1.0)] * 2)
    assert a["model_vs"]["ewma"]["ratio"] == pytest.approx([ra] * 2)
    assert a["forecasts"]["model"]["skill"] == pytest.approx([1 - ra] * 2)
    assert report["per_asset"]["B"]["n_points"] == [40, 39]
    pooled = report["pooled"]
    assert pooled["model_vs"]["ewma"]["ratio"] == pytest.approx([math.sqrt(ra * rb)] * 2)
    assert pooled["forecasts"]["model"]["ratio"] == pytest.approx([math.sqrt(ra * rb)] * 2)
    assert pooled["forecasts"]["model"]["skill"] == pytest.approx([1 - math.sqrt(ra * rb)] * 2)
    assert pooled["model_vs"]["ewma"]["max_asset_ratio"] == pytest.approx([rb] * 2)
    assert pooled["model_vs"]["ewma"]["worst_asset"] == ["B", "B"]
    assert pooled["forecasts"]["ewma"]["ratio"] == pytest.approx([1.0, 1.0])
    # every point inside 80 % bands except the naive forecast's (a point mass at 0)
    assert pooled["forecasts"]["model"]["coverage_80"] == pytest.approx([1.0, 1.0])
    assert pooled["forecasts"]["naive"]["coverage_80_max"] == pytest.approx([0.0, 0.0])
    assert pooled["forecasts"]["model"]["coverage_50"] is None  # no 0.25/0.75 levels
    # medians are all 0, like the naive forecast: MASE 1
    assert pooled["forecasts"]["model"]["mase"] == pytest.approx([1.0, 1.0])
    # constant loss differentials: DM says "different" with certainty; pooled DM needs origins here
    assert a["model_vs"]["ewma"]["dm_p_value"] == [0.0, 0.0]
    assert pooled["model_vs"]["ewma"]["dm_p_value"] is None

    table = comparison_table(report)
    assert "| model | 1 | " in table and "| B | 40 | " in table and "| B | 39 | " in table
    assert f"{math.sqrt(ra * rb):.4f}" in table


def test_pooled_dm_aligns_assets_by_origin_date():
    rng = np.random.default_rng(3)
    n = 50
    y = rng.normal(0, 1, (n, 1))
    good = np.repeat(y[:, :, None], 3, axis=2) + np.array([-1.0, 0.0, 1.0])
    bad = good * 3.0
    fc = {"model": good, "ewma": bad, "naive": np.zeros((n, 1, 3))}
    one = comparison_report({"A": y}, {"A": fc}, LV)
    # a single asset: the pooled test is the asset's own
    assert one["pooled"]["model_vs"]["ewma"]["dm_p_value"] == pytest.approx(
        one["per_asset"]["A"]["model_vs"]["ewma"]["dm_p_value"]
    )
    dates = np.arange(n)
    two = comparison_report({"A": y, "B": y}, {"A": fc, "B": fc}, LV, origins={"A": dates, "B": dates})
    assert two["pooled"]["model_vs"]["ewma"]["dm_statistic"][0] < 0
    assert two["pooled"]["model_vs"]["ewma"]["dm_p_value"][0] < 0.01


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"actual": {"A": np.zeros((3, 2))}, "forecasts": {"B": {}}}, "different assets"),
        ({"forecasts": {"A": {"model": np.zeros((40, 2, 3))}}}, r"no forecast named \['ewma', 'naive'\]"),
        ({"levels": [0.9, 0.1]}, "strictly increasing"),
        ({"reference": "garch"}, "garch"),
    ],
)
def test_comparison_report_bad_input(kwargs, match):
    y, f = _asset(1.0, 2.0)
    args = {"actual": {"A": y}, "forecasts": {"A": f}, "levels": LV, **kwargs}
    with pytest.raises(ValueError, match=match):
        comparison_report(**args)


def test_comparison_report_names_the_asset_and_forecast_with_bad_shapes():
    y, f = _asset(1.0, 2.0)
    f["model"] = f["model"][:, :1]
    with pytest.raises(ValueError, match="asset 'A', forecast 'model'"):
        comparison_report({"A": y}, {"A": f}, LV)
    with pytest.raises(ValueError, match="steps must be integers in 1..2"):
        comparison_table(comparison_report({"A": y}, {"A": _asset(1.0, 2.0)[1]}, LV), steps=[3])


def test_comparison_report_of_the_real_baselines_end_to_end():
    from lstm_forecaster.baselines import baseline_quantiles, future_returns

    levels = [0.1, 0.25, 0.5, 0.75, 0.9]
    rng = np.random.default_rng(5)
    forecasts, actual, origins = {}, {}, {}
    for asset, vol in (("X", 0.02), ("Y", 0.05)):
        prices = 10.0 * np.exp(np.cumsum(rng.standard_t(4, 500) * vol))
        o = np.arange(349, 500)
        forecasts[asset] = baseline_quantiles(prices, o, 350, 3, levels)
        forecasts[asset]["model"] = forecasts[asset]["ewma"] * 1.1
        actual[asset] = future_returns(prices, o, 3)
        origins[asset] = o
    report = comparison_report(actual, forecasts, levels, origins=origins)
    assert report["forecasts"] == ["model", "ewma", "naive", "constant_quantile", "garch"]
    assert report["per_asset"]["X"]["n_points"] == [150, 149, 148]
    for step in range(3):
        assert 0.6 < report["pooled"]["forecasts"]["garch"]["coverage_80"][step] < 0.95
        assert report["pooled"]["model_vs"]["naive"]["ratio"][step] < 1.0
        assert 0.0 <= report["pooled"]["model_vs"]["garch"]["dm_p_value"][step] <= 1.0
    text = comparison_table(report, steps=[1, 2, 3])
    assert sum(line.startswith("| X | ") for line in text.splitlines()) == 3 and "ratio vs garch" in text
