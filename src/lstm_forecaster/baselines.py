"""The field's baselines for multi-step quantile forecasts of log returns.

Every forecast here is of the **log return from the close at the origin to the close ``h`` rows
later**, ``y[o, h] = log(p[o + h] / p[o])`` for ``h = 1..H``, as quantiles at given levels. Each
baseline is *fitted* once on the training split (the first ``train_size`` rows of one series) and its
parameters are then fixed; its forecast at an origin ``o`` reads only ``p[0..o]`` (causal), so
changing any row after ``o`` never changes it. A panel is handled by calling these functions once per
symbol.

Baselines
---------
``naive``
    The last value: every quantile is a 0 return (a point forecast; its median is the reference of
    MASE).
``constant_quantile``
    Unconditional: the empirical quantiles of the ``h``-step log returns of the training split.
``ewma``
    RiskMetrics (1996) volatility, ``s[t+1] = lam * s[t] + (1 - lam) * r[t]**2`` with
    ``lam = 0.94``, times *empirical standardized quantiles*: for each step ``h`` the quantiles of
    ``y[o, h] / sqrt(h * s[o])`` over the training origins. The quantiles of each step are fitted
    separately, so the fat tails of daily returns and the way they thin out with aggregation are
    learnt, not assumed.
``garch``
    GARCH(1,1) with a constant mean and standardized Student-t innovations, fitted with the ``arch``
    package (``arch_model(100 * r, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(disp="off")``)
    on the training returns, parameters fixed afterwards. See :class:`GarchBaseline` for how its
    ``h``-step quantiles are computed and why.

Positions and splits
--------------------
``prices`` is a 1-D array (or a :class:`pandas.Series`) of strictly positive closes, oldest first (a
series of log returns ``r`` is passed as the prices ``np.exp(np.cumsum(np.r_[0.0, r]))``).
``origins`` are integer row positions into it (or timestamps when ``prices`` is a Series with a
:class:`~pandas.DatetimeIndex`). ``train_size`` is the number of leading rows of the training split
(or, with a Series, its last timestamp, inclusive). A baseline is fitted on returns and ``h``-step
returns whose **both ends** lie inside the training rows, and it forecasts only at origins at or
after the last training row (``o >= train_size - 1``), so no evaluation point was seen by the fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from .metrics import _check_levels
from .returns import check_horizon, future_returns, log_prices, resolve_positions

__all__ = [
    "BASELINES",
    "ConstantQuantileBaseline",
    "EwmaBaseline",
    "GarchBaseline",
    "NaiveBaseline",
    "baseline_quantiles",
    "fit_baselines",
    "fit_constant_quantile",
    "fit_ewma",
    "fit_garch",
    "fit_naive",
    "future_returns",
    "resolve_positions",
]

BASELINES: tuple[str, ...] = ("naive", "constant_quantile", "ewma", "garch")
"""Names of the baselines, in the order reports list them."""

EWMA_BURN_IN = 30
"""Training origins skipped before the EWMA standardized quantiles are fitted (the recursion forgets
its starting value with a half-life of about 11 rows at ``lam = 0.94``)."""

MIN_TRAIN_POINTS = 20
"""Fewest training points (per step) any fitted quantile may rest on."""

GARCH_GRID_POINTS = 32
"""Grid points of ``log s[o]`` at which the GARCH simulation is tabulated at fit time."""

GARCH_GRID_MARGIN = math.log(10.0)
"""The grid spans the training split's one-step variances widened by a factor 10 each way."""

BACKCAST_ROWS = 75
"""Returns in the variance backcast, exactly as ``arch`` starts its recursions."""


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------


def _check_origins(origins: Any, n: int, train_size: int, name: str) -> np.ndarray:
    pos = np.atleast_1d(np.asarray(origins))
    if pos.ndim != 1 or (pos.size and not np.issubdtype(pos.dtype, np.integer)):
        raise ValueError(f"origins must be a 1-D array of integer row positions; got {pos[:3].tolist()}.")
    pos = pos.astype(int)
    if np.any(pos >= n):
        raise ValueError(f"origin position {int(pos.max())} is past the end of the series ({n} rows).")
    early = pos < train_size - 1
    if early.any():
        raise ValueError(
            f"origin position {int(pos[early][0])} lies inside the training split of the {name} baseline "
            f"(train_size={train_size}); origins must be >= {train_size - 1}, the last training row."
        )
    return pos


def _train_h_returns(lp: np.ndarray, train_size: int, h: int, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Origins ``first..train_size-1-h`` and their ``h``-step log returns (both ends in training)."""
    o = np.arange(first, train_size - h)
    return o, lp[o + h] - lp[o]


def _need(count: int, name: str, h: int, train_size: int) -> None:
    if count < MIN_TRAIN_POINTS:
        raise ValueError(
            f"the {name} baseline has {count} training point(s) at step {h} (train_size={train_size}); it needs "
            f"at least {MIN_TRAIN_POINTS}: give a longer training split or a shorter horizon."
        )


def _backcast(resid: np.ndarray) -> float:
    """``arch``'s starting variance: 0.94-weighted mean of the first 75 squared residuals."""
    tau = min(BACKCAST_ROWS, resid.size)
    w = 0.94 ** np.arange(tau)
    return float(np.sum(resid[:tau] ** 2 * w) / np.sum(w))


# --------------------------------------------------------------------------------------------------
# the baselines
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Baseline:
    """Shared fields: the fitted split, the horizon and the quantile levels."""

    train_size: int
    horizon: int
    levels: tuple[float, ...]

    name = "baseline"

    def predict(self, prices: Any, origins: Any) -> np.ndarray:
        """Quantile forecasts of the log returns from each origin to steps ``1..H``.

        Parameters
        ----------
        prices : array-like, shape (n,)
            The series the baseline was fitted on (same first row), extended as far as wanted;
            rows after an origin are never read for it.
        origins : array-like of int, shape (m,)
            Origin rows, each ``>= train_size - 1``.

        Returns
        -------
        numpy.ndarray, shape (m, H, L), float64
            Quantile ``levels[l]`` of ``log(p[o + h] / p[o])`` at ``[i, h - 1, l]``.
        """
        lp = log_prices(prices)
        pos = _check_origins(origins, lp.size, self.train_size, self.name)
        return self._predict(lp, pos)

    def _predict(self, lp: np.ndarray, pos: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters (arrays as nested lists; lookup tables left out), with the baseline's name."""
        out = {"name": self.name}
        for key, value in asdict(self).items():
            if key.startswith("grid_"):
                continue
            out[key] = np.asarray(value).tolist() if isinstance(value, (np.ndarray, tuple)) else value
        return out


@dataclass(frozen=True)
class NaiveBaseline(_Baseline):
    """The last value: a 0 log return at every step and level (a point forecast)."""

    name = "naive"

    def _predict(self, lp: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return np.zeros((pos.size, self.horizon, len(self.levels)))


@dataclass(frozen=True)
class ConstantQuantileBaseline(_Baseline):
    """Empirical quantiles of the training split's ``h``-step log returns, the same at every origin.

    Attributes
    ----------
    quantiles : numpy.ndarray, shape (H, L)
    """

    quantiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    name = "constant_quantile"

    def _predict(self, lp: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.quantiles, (pos.size, *self.quantiles.shape)).copy()


def _ewma_variance(r: np.ndarray, lam: float, start: float, n_rows: int) -> np.ndarray:
    """``s[t]``: RiskMetrics variance of ``r[t]`` known at row ``t`` (``s[0] = start``), ``t < n_rows``."""
    s = np.empty(n_rows)
    s[0] = start
    # s[t + 1] = lam * s[t] + (1 - lam) * r[t]**2, a first-order linear filter.
    if n_rows > 1:
        from scipy.signal import lfilter

        x = (1.0 - lam) * r[: n_rows - 1] ** 2
        s[1:], _ = lfilter([1.0], [1.0, -lam], x, zi=[lam * start])
    return s


@dataclass(frozen=True)
class EwmaBaseline(_Baseline):
    """RiskMetrics EWMA volatility times empirical standardized quantiles fitted on training.

    Attributes
    ----------
    lam : float
        Decay, 0.94 (RiskMetrics, daily data).
    start_variance : float
        Variance the recursion starts from at row 0 (``arch``'s backcast of the training returns).
    z_quantiles : numpy.ndarray, shape (H, L)
        Quantiles of ``y[o, h] / sqrt(h * s[o])`` over training origins.
    """

    lam: float = 0.94
    start_variance: float = float("nan")
    z_quantiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    name = "ewma"

    def variance(self, prices: Any, n_rows: int | None = None) -> np.ndarray:
        """One-step variance forecast ``s[t]`` of the return ``t -> t+1`` known at row ``t``, for every row."""
        lp = log_prices(prices)
        return _ewma_variance(np.diff(lp), self.lam, self.start_variance, lp.size if n_rows is None else n_rows)

    def _predict(self, lp: np.ndarray, pos: np.ndarray) -> np.ndarray:
        s = _ewma_variance(np.diff(lp), self.lam, self.start_variance, int(pos.max()) + 1 if pos.size else 1)
        scale = np.sqrt(s[pos][:, None] * np.arange(1, self.horizon + 1)[None, :])
        return scale[:, :, None] * self.z_quantiles[None, :, :]


@dataclass(frozen=True)
class GarchBaseline(_Baseline):
    """GARCH(1,1)-t fitted by ``arch`` on the training returns, parameters fixed.

    Model (log returns ``r``, in natural units): ``r[t] = mu + e[t]``, ``e[t] = sqrt(s[t]) z[t]``,
    ``s[t+1] = omega + alpha e[t]**2 + beta s[t]``, ``z`` standardized Student-t with ``nu`` degrees
    of freedom. The recursion starts from ``arch``'s backcast of the training residuals, so in the
    training split ``sqrt(s)`` equals ``arch``'s ``conditional_volatility`` (tested).

    ``h``-step quantiles of the cumulative return ``sum_{k=1..h} r[o+k]``:

    ``method="simulation"`` (default)
        Monte Carlo under the fitted model: ``simulations`` paths of standardized t draws (seeded,
        antithetic: ``z`` and ``-z``, so the simulated step-1 distribution is exactly symmetric about
        ``mu``), the same draws at every origin. The cumulative return of a GARCH-t is not t-distributed:
        volatility feedback fattens its tails and aggregation thins them, so only simulation gives its
        quantiles (exact up to Monte Carlo error; at step 1 it matches the analytic t quantile).
        Common random numbers make the forecast at an origin a deterministic function of the data up
        to it, whichever other origins are asked for.
    ``method="analytic"``
        ``h * mu + sqrt(V_h) * t_nu^std(level)``, with ``V_h = sum_k E[s[o+k]]`` the expected
        cumulative variance (equal to ``arch``'s analytic variance forecasts, tested): exact at step 1,
        an approximation beyond; fast and noise-free.

    ``arch``'s own ``forecast(start=...)`` is not used at the test origins: its variance recursion is
    clipped by bounds computed from the whole sample it is given (so an origin's forecast would depend,
    slightly, on later rows) and its simulations draw fresh numbers per origin.

    Attributes
    ----------
    mu, omega, alpha, beta, nu : float
        Fitted parameters, in log-return units (``arch`` is fitted on percent returns; converted).
    start_variance : float
        ``s[0]``, as ``arch`` starts: ``omega + (alpha + beta) * backcast``.
    method : {"simulation", "analytic"}
    simulations : int
    seed : int
    converged : bool
        ``arch``'s optimiser reported convergence.
    grid_log_variance, grid_quantiles : numpy.ndarray
        Simulation only: the fitted lookup table of :meth:`with_grid` (empty: simulate every origin).
    """

    mu: float = 0.0
    omega: float = 0.0
    alpha: float = 0.0
    beta: float = 0.0
    nu: float = 8.0
    start_variance: float = float("nan")
    method: str = "simulation"
    simulations: int = 10_000
    seed: int = 0
    converged: bool = True
    grid_log_variance: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    grid_quantiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)), repr=False)

    name = "garch"

    def variance(self, prices: Any, n_rows: int | None = None) -> np.ndarray:
        """One-step conditional variance ``s[t]`` of the return ``t -> t+1``, known at row ``t``."""
        lp = log_prices(prices)
        return self._variance(np.diff(lp), lp.size if n_rows is None else n_rows)

    def _variance(self, r: np.ndarray, n_rows: int) -> np.ndarray:
        from scipy.signal import lfilter

        s = np.empty(n_rows)
        s[0] = self.start_variance
        if n_rows > 1:
            x = self.omega + self.alpha * (r[: n_rows - 1] - self.mu) ** 2
            s[1:], _ = lfilter([1.0], [1.0, -self.beta], x, zi=[self.beta * self.start_variance])
        return s

    def expected_variances(self, s1: np.ndarray) -> np.ndarray:
        """``E[s[o+k]]`` for ``k = 1..H`` given ``s[o] = s1``; shape ``(len(s1), H)``."""
        persistence = self.alpha + self.beta
        out = np.empty((np.size(s1), self.horizon))
        out[:, 0] = s1
        for k in range(1, self.horizon):
            out[:, k] = self.omega + persistence * out[:, k - 1]
        return out

    def _std_t(self) -> np.ndarray:
        """Seeded antithetic standardized-t draws, shape ``(simulations, H)`` (``z`` and ``-z``)."""
        rng = np.random.default_rng(self.seed)
        half = rng.standard_t(self.nu, size=((self.simulations + 1) // 2, self.horizon))
        z = np.concatenate([half, -half])[: self.simulations]
        return z * math.sqrt((self.nu - 2.0) / self.nu)

    def _predict(self, lp: np.ndarray, pos: np.ndarray) -> np.ndarray:
        levels = np.asarray(self.levels)
        s = self._variance(np.diff(lp), int(pos.max()) + 1 if pos.size else 1)
        s1 = s[pos]
        steps = np.arange(1, self.horizon + 1)
        if self.method == "analytic":
            cum = np.cumsum(self.expected_variances(s1), axis=1)
            zq = stats.t.ppf(levels, self.nu) * math.sqrt((self.nu - 2.0) / self.nu)
            return (self.mu * steps)[None, :, None] + np.sqrt(cum)[:, :, None] * zq[None, None, :]
        grid = self.grid_log_variance
        if grid.size == 0:
            return self.simulate_quantiles(s1)
        out = np.empty((pos.size, self.horizon, levels.size))
        log_s1 = np.log(s1)
        inside = (log_s1 >= grid[0]) & (log_s1 <= grid[-1])
        for k in range(self.horizon):
            for j in range(levels.size):
                out[inside, k, j] = np.interp(log_s1[inside], grid, self.grid_quantiles[:, k, j])
        out[inside] = (self.mu * steps)[None, :, None] + np.sqrt(s1[inside])[:, None, None] * out[inside]
        if not inside.all():
            out[~inside] = self.simulate_quantiles(s1[~inside])
        return out

    def simulate_quantiles(self, s1: np.ndarray) -> np.ndarray:
        """Simulated quantiles of the cumulative returns given the one-step variances ``s1``.

        Parameters
        ----------
        s1 : numpy.ndarray, shape (m,)
            ``s[o]`` at each origin.

        Returns
        -------
        numpy.ndarray, shape (m, H, L)
        """
        levels = np.asarray(self.levels)
        z = self._std_t()
        s1 = np.asarray(s1, dtype=float)
        out = np.empty((s1.size, self.horizon, levels.size))
        chunk = max(1, 2_000_000 // self.simulations)
        for lo in range(0, s1.size, chunk):
            sig2 = np.repeat(s1[lo : lo + chunk, None], self.simulations, axis=1)
            total = np.zeros_like(sig2)
            for k in range(self.horizon):
                e = np.sqrt(sig2) * z[None, :, k]
                total += self.mu + e
                out[lo : lo + chunk, k, :] = np.quantile(total, levels, axis=1).T
                sig2 = self.omega + self.alpha * e**2 + self.beta * sig2
        return out

    def with_grid(self, low: float, high: float, points: int = GARCH_GRID_POINTS) -> GarchBaseline:
        """A copy holding simulated standardized quantiles on a grid of ``log s[o]`` in ``[low, high]``.

        With the grid, :meth:`predict` interpolates ``(q - h mu) / sqrt(s[o])`` linearly in
        ``log s[o]`` (a nearly flat function; the interpolation error is far below the Monte Carlo
        error) instead of simulating every origin, and simulates only origins off the grid. The grid
        is fixed at fit time, so an origin's forecast still depends only on ``s[o]``.
        """
        grid = np.linspace(float(low), float(high), int(points))
        s1 = np.exp(grid)
        table = self.simulate_quantiles(s1)
        steps = np.arange(1, self.horizon + 1)
        table = (table - (self.mu * steps)[None, :, None]) / np.sqrt(s1)[:, None, None]
        return replace(self, grid_log_variance=grid, grid_quantiles=table)


# --------------------------------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------------------------------


def _prepare(prices: Any, train_size: Any, horizon: Any, levels: Sequence[float]) -> tuple[np.ndarray, int, int, tuple]:
    lp = log_prices(prices)
    _, size = resolve_positions(prices, None, train_size)
    if size is None:
        raise ValueError("train_size is required: the number of training rows (or, with a Series, the last timestamp).")
    return lp, size, check_horizon(horizon), tuple(float(x) for x in _check_levels(levels))


def fit_naive(prices: Any, train_size: Any, horizon: int, levels: Sequence[float]) -> NaiveBaseline:
    """The last-value baseline (nothing is fitted; the split and shape are recorded)."""
    _, size, h, lv = _prepare(prices, train_size, horizon, levels)
    return NaiveBaseline(size, h, lv)


def fit_constant_quantile(
    prices: Any, train_size: Any, horizon: int, levels: Sequence[float]
) -> ConstantQuantileBaseline:
    """Empirical quantiles of the ``h``-step log returns with both ends in the training split."""
    lp, size, h, lv = _prepare(prices, train_size, horizon, levels)
    rows = []
    for step in range(1, h + 1):
        _, y = _train_h_returns(lp, size, step)
        _need(y.size, "constant_quantile", step, size)
        rows.append(np.quantile(y, lv))
    return ConstantQuantileBaseline(size, h, lv, quantiles=np.asarray(rows))


def fit_ewma(prices: Any, train_size: Any, horizon: int, levels: Sequence[float], lam: float = 0.94) -> EwmaBaseline:
    """Fit the EWMA baseline's standardized quantiles on the training split.

    Parameters
    ----------
    prices : array-like, shape (n,)
    train_size : int (or the last training timestamp with a Series)
    horizon : int
    levels : sequence of float
    lam : float, default 0.94
        RiskMetrics decay, in (0, 1).
    """
    lp, size, h, lv = _prepare(prices, train_size, horizon, levels)
    if not (isinstance(lam, (int, float)) and 0.0 < lam < 1.0):
        raise ValueError(f"lam must be a number in (0, 1); got {lam!r}.")
    r = np.diff(lp)
    start = _backcast(r[: size - 1])
    s = _ewma_variance(r, float(lam), start, size)
    rows = []
    for step in range(1, h + 1):
        o, y = _train_h_returns(lp, size, step, first=min(EWMA_BURN_IN, size))
        _need(y.size, "ewma", step, size)
        rows.append(np.quantile(y / np.sqrt(step * s[o]), lv))
    return EwmaBaseline(size, h, lv, lam=float(lam), start_variance=start, z_quantiles=np.asarray(rows))


def fit_garch(
    prices: Any,
    train_size: Any,
    horizon: int,
    levels: Sequence[float],
    method: str = "simulation",
    simulations: int = 10_000,
    seed: int = 0,
) -> GarchBaseline:
    """Fit GARCH(1,1)-t with ``arch`` on the training returns; see :class:`GarchBaseline`.

    The model is fitted on percent returns (``100 * r``, the scaling ``arch`` recommends for its
    optimiser) and the parameters converted back to log-return units.

    Raises
    ------
    ValueError
        On an unknown ``method``, ``simulations < 100``, or fewer than ``MIN_TRAIN_POINTS`` training
        returns.
    """
    from arch import arch_model

    lp, size, h, lv = _prepare(prices, train_size, horizon, levels)
    if method not in ("simulation", "analytic"):
        raise ValueError(f"method must be 'simulation' or 'analytic'; got {method!r}.")
    if isinstance(simulations, bool) or not isinstance(simulations, (int, np.integer)) or simulations < 100:
        raise ValueError(f"simulations must be an integer >= 100; got {simulations!r}.")
    r = np.diff(lp)[: size - 1]
    _need(r.size, "garch", 1, size)
    res = arch_model(100.0 * r, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(disp="off")
    p = res.params
    mu = float(p["mu"]) / 100.0
    base = GarchBaseline(
        size,
        h,
        lv,
        mu=mu,
        omega=float(p["omega"]) / 1e4,
        alpha=float(p["alpha[1]"]),
        beta=float(p["beta[1]"]),
        nu=float(p["nu"]),
        # arch starts at s[0] = omega + (alpha + beta) * backcast of the OLS-demeaned residuals.
        start_variance=(
            float(p["omega"]) + (float(p["alpha[1]"]) + float(p["beta[1]"])) * _backcast(100.0 * (r - r.mean()))
        )
        / 1e4,
        method=method,
        simulations=int(simulations),
        seed=int(seed),
        converged=bool(res.convergence_flag == 0),
    )
    if method == "analytic":
        return base
    log_s = np.log(base._variance(np.diff(lp), size))
    return base.with_grid(log_s.min() - GARCH_GRID_MARGIN, log_s.max() + GARCH_GRID_MARGIN)


_FITTERS = {"naive": fit_naive, "constant_quantile": fit_constant_quantile, "ewma": fit_ewma, "garch": fit_garch}


def fit_baselines(
    prices: Any, train_size: Any, horizon: int, levels: Sequence[float], names: Sequence[str] = BASELINES
) -> dict[str, _Baseline]:
    """Fit several baselines on one series' training split; ``{name: fitted baseline}``."""
    unknown = [n for n in names if n not in _FITTERS]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; accepted: {list(BASELINES)}.")
    return {n: _FITTERS[n](prices, train_size, horizon, levels) for n in names}


def baseline_quantiles(
    prices: Any,
    origins: Any,
    train_end: Any,
    horizon: int,
    levels: Sequence[float],
    names: Sequence[str] = BASELINES,
) -> dict[str, np.ndarray]:
    """Fit every baseline on the training split and forecast at the origins, in one call.

    Parameters
    ----------
    prices : array-like or pandas.Series, shape (n,)
        One series of strictly positive closes, oldest first.
    origins : array-like of int (or timestamps with a Series), shape (m,)
        Forecast origins, each at or after the last training row.
    train_end : int or timestamp
        Number of training rows, or (Series) the last training timestamp, inclusive.
    horizon : int
        Steps ``H``.
    levels : sequence of float, length L
        Quantile levels, strictly increasing in (0, 1).
    names : sequence of str
        Which baselines (default all of :data:`BASELINES`).

    Returns
    -------
    dict of str to numpy.ndarray, each of shape (m, H, L)
        Log-return quantiles from the close at each origin to steps ``1..H``.

    Examples
    --------
    >>> import numpy as np
    >>> prices = np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.02, 400)))
    >>> out = baseline_quantiles(prices, origins=[299, 350], train_end=300, horizon=3,
    ...                          levels=[0.1, 0.5, 0.9], names=["naive", "ewma"])
    >>> out["ewma"].shape
    (2, 3, 3)
    """
    pos, size = resolve_positions(prices, origins, train_end)
    fitted = fit_baselines(prices, size, horizon, levels, names)
    return {n: b.predict(prices, pos) for n, b in fitted.items()}
