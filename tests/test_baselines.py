"""Baselines for multi-step quantile forecasts: values, agreement with arch, causality, bad input."""

import math

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from scipy import stats

from lstm_forecaster import baselines as B

LEVELS = [0.1, 0.25, 0.5, 0.75, 0.9]


def garch_prices(n=900, seed=3):
    """A GARCH(1,1)-t price path (daily-crypto-like parameters)."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta, nu, mu = 2e-5, 0.1, 0.88, 5.0, 5e-4
    s = omega / (1 - alpha - beta)
    r = np.empty(n - 1)
    for t in range(n - 1):
        z = rng.standard_t(nu) * math.sqrt((nu - 2) / nu)
        r[t] = mu + math.sqrt(s) * z
        s = omega + alpha * (r[t] - mu) ** 2 + beta * s
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))


@pytest.fixture(scope="module")
def prices():
    return garch_prices()


def test_future_returns_are_log_returns_from_the_origin_with_nan_past_the_end():
    p = np.array([1.0, 2.0, 4.0, 2.0])
    out = B.future_returns(p, [0, 2], horizon=2)
    expected = np.array([[math.log(2), math.log(4)], [math.log(0.5), np.nan]])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)


def test_naive_is_zero_everywhere(prices):
    out = B.fit_naive(prices, 600, 3, LEVELS).predict(prices, [599, 700])
    assert out.shape == (2, 3, 5)
    assert np.all(out == 0.0)


def test_constant_quantile_is_the_empirical_quantile_of_training_h_step_returns():
    r = np.tile([0.01, -0.02, 0.03, 0.0, -0.01], 6)  # 30 returns, 31 prices
    p = np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    base = B.fit_constant_quantile(p, 25, 2, [0.25, 0.5])
    # h-step returns with both ends in rows 0..24: origins 0..22 for h=2, 0..23 for h=1.
    one = [r[i] for i in range(24)]
    two = [r[i] + r[i + 1] for i in range(23)]
    np.testing.assert_allclose(base.quantiles[0], np.quantile(one, [0.25, 0.5]), atol=1e-15)
    np.testing.assert_allclose(base.quantiles[1], np.quantile(two, [0.25, 0.5]), atol=1e-15)
    out = base.predict(p, [24, 27])
    np.testing.assert_array_equal(out[0], base.quantiles)
    np.testing.assert_array_equal(out[1], base.quantiles)
    # With four 0.01 returns and others, the median of one-step returns is 0.0 by hand.
    assert base.quantiles[0, 1] == pytest.approx(0.0, abs=1e-15)


def test_ewma_recursion_and_standardized_quantiles_match_a_plain_loop(prices):
    train, h = 500, 3
    base = B.fit_ewma(prices, train, h, LEVELS)
    r = np.diff(np.log(prices))
    w = 0.94 ** np.arange(75)
    s = [float(np.sum(r[:75] ** 2 * w) / w.sum())]
    for t in range(len(prices) - 1):
        s.append(0.94 * s[-1] + 0.06 * r[t] ** 2)
    s = np.array(s)
    np.testing.assert_allclose(base.variance(prices), s, rtol=1e-12)
    lp = np.log(prices)
    for step in range(1, h + 1):
        z = [(lp[o + step] - lp[o]) / math.sqrt(step * s[o]) for o in range(B.EWMA_BURN_IN, train - step)]
        np.testing.assert_allclose(base.z_quantiles[step - 1], np.quantile(z, LEVELS), rtol=1e-12)
    out = base.predict(prices, [499, 800])
    for i, o in enumerate([499, 800]):
        for step in range(1, h + 1):
            expected = math.sqrt(step * s[o]) * base.z_quantiles[step - 1]
            np.testing.assert_allclose(out[i, step - 1], expected, rtol=1e-12)


def test_garch_variance_equals_arch_conditional_volatility_and_analytic_forecast(prices):
    train = 600
    base = B.fit_garch(prices, train, 5, LEVELS, method="analytic")
    r = np.diff(np.log(prices))[: train - 1]
    res = arch_model(100 * r, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(disp="off")
    assert base.converged
    assert base.mu == pytest.approx(res.params["mu"] / 100, rel=1e-12)
    s = base.variance(prices)
    np.testing.assert_allclose(np.sqrt(s[: train - 1]), res.conditional_volatility / 100, rtol=1e-10)
    # arch's analytic h-step variances from the last training return equal E[s[o + k]].
    arch_var = res.forecast(horizon=5, reindex=False).variance.to_numpy()[-1] / 1e4
    np.testing.assert_allclose(base.expected_variances(np.array([s[train - 1]]))[0], arch_var, rtol=1e-10)
    # analytic quantiles: h * mu + sqrt(cumulative variance) * standardized t quantile.
    out = base.predict(prices, [train - 1])
    zq = stats.t.ppf(LEVELS, base.nu) * math.sqrt((base.nu - 2) / base.nu)
    expected = 5 * base.mu + math.sqrt(arch_var.sum()) * zq
    np.testing.assert_allclose(out[0, 4], expected, rtol=1e-9)
    # the fitted parameters are near the simulating ones
    assert 0.8 < base.alpha + base.beta < 1.0


def test_garch_simulation_matches_the_analytic_quantile_at_step_one(prices):
    sim = B.fit_garch(prices, 600, 3, LEVELS, simulations=20_000)
    ana = B.GarchBaseline(**{**sim.__dict__, "method": "analytic"})
    a, b = sim.predict(prices, [599, 700]), ana.predict(prices, [599, 700])
    # antithetic draws: the simulated step-1 median is exactly mu
    np.testing.assert_allclose(a[:, 0, 2], sim.mu, rtol=1e-9)
    np.testing.assert_allclose(a[:, 0], b[:, 0], rtol=0.03)
    # beyond step 1 the cumulative return is not t-distributed, but the spread stays comparable
    spread_sim, spread_ana = a[:, 2, -1] - a[:, 2, 0], b[:, 2, -1] - b[:, 2, 0]
    np.testing.assert_allclose(spread_sim, spread_ana, rtol=0.1)
    # seeded: the same call twice gives the same numbers
    np.testing.assert_array_equal(a, sim.predict(prices, [599, 700]))


@pytest.mark.parametrize("name", B.BASELINES)
def test_changing_rows_after_an_origin_never_changes_its_forecast(prices, name):
    train, origin = 600, 700
    origins = np.array([599, 650, origin])
    fitted = B.fit_baselines(prices, train, 4, LEVELS, names=[name])[name]
    before = fitted.predict(prices, origins)
    changed = prices.copy()
    changed[origin + 1 :] *= np.exp(np.random.default_rng(1).normal(0, 0.3, changed.size - origin - 1))
    refit = B.fit_baselines(changed, train, 4, LEVELS, names=[name])[name]
    np.testing.assert_array_equal(refit.predict(changed, origins), before)
    # asking for an origin alone, on a series cut right after it, gives the same numbers too
    np.testing.assert_array_equal(refit.predict(changed[: origin + 1], [origin])[0], before[-1])
    # and a change at or before the origin is seen (except by the forecasts that ignore the data)
    if name not in ("naive", "constant_quantile"):
        moved = prices.copy()
        moved[origin] *= 1.2
        assert not np.array_equal(fitted.predict(moved, [origin]), before[-1:])


def test_baseline_quantiles_accepts_a_series_with_timestamps(prices):
    index = pd.date_range("2020-01-01", periods=prices.size, freq="D", tz="UTC")
    series = pd.Series(prices, index=index)
    by_time = B.baseline_quantiles(series, index[[599, 700]], index[599], 2, LEVELS, names=["ewma"])
    by_pos = B.baseline_quantiles(prices, [599, 700], 600, 2, LEVELS, names=["ewma"])
    np.testing.assert_array_equal(by_time["ewma"], by_pos["ewma"])


def test_to_dict_is_json_able(prices):
    import json

    for base in B.fit_baselines(prices, 600, 2, LEVELS).values():
        d = json.loads(json.dumps(base.to_dict()))
        assert d["name"] == base.name and d["train_size"] == 600


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: B.fit_ewma(p, 600, 2, LEVELS).predict(p, [598]), "inside the training split"),
        (lambda p: B.fit_ewma(p, 600, 2, LEVELS).predict(p, [900]), "past the end"),
        (lambda p: B.fit_ewma(np.r_[p[:10], -1.0, p[11:]], 600, 2, LEVELS), "position 10"),
        (lambda p: B.fit_ewma(p, 600, 2, [0.5, 0.1]), "strictly increasing"),
        (lambda p: B.fit_ewma(p, 600, 0, LEVELS), "horizon"),
        (lambda p: B.fit_ewma(p, 600, 2, LEVELS, lam=1.5), "lam"),
        (lambda p: B.fit_constant_quantile(p, 15, 2, LEVELS), "needs at least 20"),
        (lambda p: B.fit_garch(p, 600, 2, LEVELS, method="bootstrap"), "'bootstrap'"),
        (lambda p: B.fit_baselines(p, 600, 2, LEVELS, names=["arima"]), "arima"),
        (lambda p: B.baseline_quantiles(p, [1.5], 600, 2, LEVELS), "integer row positions"),
        (lambda p: B.fit_naive(np.ones((3, 2)), 2, 2, LEVELS), "1-D"),
        (lambda p: B.fit_naive(p, 5000, 2, LEVELS), "training split"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_value(prices, call, match):
    with pytest.raises(ValueError, match=match):
        call(prices)


def test_garch_grid_lookup_equals_simulating_every_origin(prices):
    from dataclasses import replace

    fitted = B.fit_garch(prices, 600, 4, LEVELS, simulations=2000)
    assert fitted.grid_log_variance.size == B.GARCH_GRID_POINTS
    origins = np.arange(599, prices.size)
    direct = replace(fitted, grid_log_variance=np.zeros(0)).predict(prices, origins)
    np.testing.assert_allclose(fitted.predict(prices, origins), direct, rtol=0, atol=2e-4)
    # an origin whose variance is off the grid is simulated directly
    narrow = fitted.with_grid(-30.0, -29.0, points=8)
    np.testing.assert_allclose(narrow.predict(prices, origins[:5]), direct[:5], rtol=0, atol=1e-15)
