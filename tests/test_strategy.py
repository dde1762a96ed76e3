"""Trading rules on quantile forecasts: timing, costs, hand-computed figures, no look-ahead."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from lstm_forecaster import strategy as S
from lstm_forecaster.baselines import fit_ewma

LV = [0.1, 0.5, 0.9]


def walk(n=400, seed=0, vol=0.03):
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.standard_t(4, n) * vol))


def test_probability_of_rise_by_hand():
    q = np.array(
        [
            [-0.02, 0.01, 0.04],  # 0 is 2/3 of the way from q0.1 to q0.5: F(0) = 0.1 + 2/3 * 0.4
            [0.01, 0.02, 0.03],  # all above 0: F(0) stays at the lowest level
            [-0.03, -0.02, -0.01],  # all below: F(0) = 0.9
            [0.0, 0.0, 0.0],  # the naive forecast's point mass at 0: no rise
            [-0.01, 0.0, 0.01],  # median exactly 0
        ]
    )
    expected = [1 - (0.1 + 2 / 3 * 0.4), 0.9, 0.1, 0.1, 0.5]
    np.testing.assert_allclose(S.probability_of_rise(q, LV), expected, rtol=1e-12)
    # a multi-step forecast is read at step 1
    multi = np.stack([q, q + 5.0], axis=1)
    np.testing.assert_allclose(S.probability_of_rise(multi, LV), expected, rtol=1e-12)


def test_forecast_volatility_and_vol_target_positions_by_hand():
    z = stats.norm.ppf(0.9)
    q = np.array([[-z * 0.05, 0.0, z * 0.05], [-z * 0.001, 0.0, z * 0.001]])
    np.testing.assert_allclose(S.forecast_volatility(q, LV), [0.05, 0.001], rtol=1e-12)
    w = S.positions("vol-target", q, LV, target_vol=0.5, max_leverage=1.0, periods_per_year=365)
    # 0.5 / (0.05 * sqrt(365)) = 0.5236..., the calm day is capped at 1
    np.testing.assert_allclose(w, [0.5 / (0.05 * math.sqrt(365)), 1.0], rtol=1e-12)
    lf = S.positions("long-flat", np.array([[-0.02, 0.01, 0.04], [-0.02, -0.01, 0.04]]), LV, threshold=0.55)
    np.testing.assert_array_equal(lf, [1.0, 0.0])


def test_run_strategy_holds_each_position_from_its_close_to_the_next_by_hand():
    prices = [100.0, 110.0, 99.0, 99.0]
    run = S.run_strategy(prices, [1.0, 0.0, 1.0, 1.0], origins=[0, 1, 2, 3], cost_bps=10)
    # the decision at the last row has no outcome yet and is left out
    np.testing.assert_array_equal(run["origin"], [0, 1, 2])
    np.testing.assert_allclose(run["asset_return"], [0.1, -0.1, 0.0], atol=1e-15)
    np.testing.assert_allclose(run["turnover"], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(run["net"], [0.1 - 0.001, -0.001, -0.001], atol=1e-15)
    np.testing.assert_allclose(run["equity"], np.cumprod([1.099, 0.999, 0.999]), rtol=1e-15)


def test_costs_reduce_every_period_by_exactly_turnover_times_bps():
    prices = walk(300)
    w = np.random.default_rng(1).uniform(0, 1.5, 299)
    free = S.run_strategy(prices, w, np.arange(299), cost_bps=0)
    paid = S.run_strategy(prices, w, np.arange(299), cost_bps=25)
    np.testing.assert_allclose(free["net"] - paid["net"], 25e-4 * free["turnover"], rtol=0, atol=1e-16)
    assert S.performance(paid)["costs"] == pytest.approx(25e-4 * free["turnover"].sum(), rel=1e-12)


def test_performance_by_hand():
    run = {
        "net": np.array([0.1, -0.05]),
        "gross": np.array([0.1, -0.05]),
        "equity": np.array([1.1, 1.045]),
        "position": np.array([1.0, 1.0]),
        "turnover": np.array([1.0, 0.0]),
        "cost": np.zeros(2),
    }
    perf = S.performance(run, periods_per_year=1)
    assert perf["total_return"] == pytest.approx(0.045)
    assert perf["cagr"] == pytest.approx(math.sqrt(1.045) - 1)
    assert perf["max_drawdown"] == pytest.approx(1.045 / 1.1 - 1)
    assert perf["sharpe"] == pytest.approx(0.025 / math.sqrt(2 * 0.075**2))
    assert perf["sortino"] == pytest.approx(0.025 / math.sqrt(0.05**2 / 2))
    assert perf["hit_rate"] == 0.5 and perf["exposure"] == 1.0 and perf["turnover"] == 0.5


def _causal_decide(strategy, train=200):
    """Positions at every row from causal forecasts (flat before the training split ends).

    vol-target runs on the EWMA baseline. long-flat on EWMA would be a constant position (scaling
    quantiles by a volatility never moves 0 across them), so it runs on a momentum forecast: the
    EWMA band shifted by the mean of the last 5 returns, known at the row's close.
    """

    def decide(prices):
        origins = np.arange(train - 1, len(prices))
        q = fit_ewma(prices, train, 1, LV).predict(prices, origins)
        if strategy == "long-flat":
            r = np.diff(np.log(prices), prepend=np.log(prices[0]))
            momentum = np.convolve(r, np.ones(5) / 5)[: len(prices)]  # mean of r[t-4..t]
            q = q + momentum[origins, None, None]
        w = S.positions(strategy, q, LV, threshold=0.5)
        return np.concatenate([np.zeros(train - 1), w])

    return decide


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_no_look_ahead_changing_future_prices_leaves_past_positions_and_returns(strategy):
    prices = walk(400, seed=2)
    decide = _causal_decide(strategy)
    assert S.find_lookahead(decide, prices, probes=[199, 250, 320, 398]) == []
    # the realized returns up to the probe are unchanged too
    w = decide(prices)
    assert np.unique(w[199:]).size > 1  # the rule really trades
    k = int(np.flatnonzero((np.arange(400) >= 300) & (w > 0))[0])  # a row in the market
    moved = prices.copy()
    moved[k + 1 :] *= 1.5
    a = S.run_strategy(prices, w, np.arange(400), 10)
    b = S.run_strategy(moved, decide(moved), np.arange(400), 10)
    np.testing.assert_array_equal(a["position"][: k + 1], b["position"][: k + 1])
    np.testing.assert_array_equal(a["net"][:k], b["net"][:k])  # period k -> k + 1 sees the moved close
    assert a["net"][k] != b["net"][k]


def test_a_strategy_fed_the_future_is_caught():
    prices = walk(400, seed=3)

    def oracle(p):
        nxt = np.append(np.diff(np.log(p)), 0.0)  # the return t -> t + 1, known only at t + 1
        q = nxt[:, None] + np.array([-0.01, 0.0, 0.01])
        return S.positions("long-flat", q, LV)

    found = S.find_lookahead(oracle, prices, probes=[100, 200, 300])
    assert [probe for probe, _ in found] == [100, 200, 300]
    assert all(row == probe for probe, row in found)  # the decision at the probe row itself moved
    # and it would look miraculous: a large Sharpe ratio no real forecast has
    perf = S.performance(S.run_strategy(prices, oracle(prices), np.arange(400)))
    assert perf["sharpe"] > 5


def test_strategy_report_compares_model_ewma_and_buy_and_hold(tmp_path):
    prices = walk(500, seed=4)
    train, origins = 300, np.arange(299, 499)
    ewma = fit_ewma(prices, train, 3, LV).predict(prices, origins)
    model = ewma + 0.001  # a forecast leaning up
    report = S.strategy_report(prices, {"model": model, "ewma": ewma}, LV, "long-flat", origins, cost_bps=[0, 10, 25])
    json.dumps(report)
    assert [c["cost_bps"] for c in report["costs"]] == [0.0, 10.0, 25.0]
    free = report["costs"][0]["results"]
    assert set(free) == {"model", "ewma", "buy-and-hold"}
    assert free["buy-and-hold"]["total_return"] == pytest.approx(prices[499] / prices[299] - 1, rel=1e-12)
    assert free["buy-and-hold"]["exposure"] == 1.0 and free["buy-and-hold"]["turnover_total"] == 1.0
    # costs only ever lower the result
    for name in free:
        assert report["costs"][2]["results"][name]["total_return"] <= free[name]["total_return"]
    table = S.strategy_table(report)
    assert table.count("| buy-and-hold |") == 3
    weights = {n: S.positions("long-flat", q, LV) for n, q in {"model": model, "ewma": ewma}.items()}
    png = S.plot_equity(prices, weights, tmp_path / "plots" / "equity.png", origins, cost_bps=10)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in png.parent.iterdir()) == ["equity.png"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda q: S.positions("momentum", q, LV), "unknown strategy 'momentum'; accepted: long-flat, vol-target"),
        (lambda q: S.positions("long-flat", None, LV), "need a forecast with quantiles"),
        (lambda q: S.positions("vol-target", q[:, :2], [0.1, 0.5]), "symmetric pair"),
        (lambda q: S.positions("long-flat", q, LV, threshold=1.5), "threshold"),
        (lambda q: S.positions("vol-target", q, LV, target_vol=-1.0), "target_vol"),
        (lambda q: S.positions("long-flat", q[:, ::-1], LV), "cross at origin row 0"),
        (lambda q: S.positions("long-flat", q[:, :2], LV), "3 levels"),
        (lambda q: S.run_strategy(walk(10), np.ones(3), [1, 2, 4]), "row 2 is followed by 4"),
        (lambda q: S.run_strategy(walk(10), np.ones(3), cost_bps=-1), "cost_bps"),
        (lambda q: S.strategy_report(walk(10), {"m": q}, LV, "long-flat", cost_bps=[]), "cost_bps is empty"),
        (lambda q: S.strategy_report(walk(10), {"m": q}, LV, "long-flat", lag=2), "unknown rule parameter"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_value(call, match):
    q = np.tile([-0.01, 0.0, 0.02], (3, 1))
    with pytest.raises(ValueError, match=match):
        call(q)
