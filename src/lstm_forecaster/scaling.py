"""Scaling of features and target, fitted on the training split only, saved as `scaler.json`.

Four modes:

- `minmax`: (x - min) / (max - min), per feature and for the target;
- `standard`: (x - mean) / std, per feature and for the target;
- `window`: every window divided by its own first row, minus 1; the target divided by the window's
  first value of the target quantity, minus 1. Nothing is fitted.
- `context`: every window made scale-free from its own context only (`context_normalize`): returns
  and ranges divided by the context's EWMA volatility, prices relative to the last close, volume
  relative to its context mean; the target (log returns to each step) divided by that volatility
  times sqrt(step). Nothing is fitted, so a new asset needs no refit.

`scaler.json` is plain JSON: Python writes floats with the shortest repr that reads back to the same
double, so the round trip is exact. Nothing is pickled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCALER_NAME = "scaler.json"
_PARAMS = {"minmax": ("min", "max"), "standard": ("mean", "std"), "window": (), "context": ()}
_FITLESS = ("window", "context")
CONTEXT_DECAY = 0.94
"""Decay of the context volatility's exponential weights (RiskMetrics' daily lambda)."""
VOLATILITY_FLOOR = 1e-6
"""Smallest context volatility (log-return units): a flat context is not divided by zero."""
FEATURE_CLIP = 50.0
"""Scale-free features are clipped to +-FEATURE_CLIP, so one absurd candle cannot blow up a window."""


@dataclass
class Scaler:
    """Fitted scaling parameters.

    Args:
        mode: `minmax`, `standard`, `window` or `context`.
        feature_names: Names of the feature columns, in order.
        target: Name of the target (`close`, `log_return`, `volume`).
        features: Per feature name, its parameters (`{"min", "max"}` or `{"mean", "std"}`).
        target_params: The target's parameters, same keys.
        fitted_on: Description of the rows the scaler was fitted on (first and last timestamp, rows).
    """

    mode: str
    feature_names: list[str]
    target: str
    features: dict[str, dict[str, float]] = field(default_factory=dict)
    target_params: dict[str, float] = field(default_factory=dict)
    fitted_on: dict[str, str | int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in _PARAMS:
            raise ValueError(f"scaler mode must be one of {', '.join(_PARAMS)}. Got {self.mode!r}.")
        keys = _PARAMS[self.mode]
        if self.mode not in _FITLESS:
            missing = [n for n in self.feature_names if set(self.features.get(n, {})) != set(keys)]
            if missing:
                raise ValueError(f"scaler has no {'/'.join(keys)} for feature(s) {', '.join(missing)}")
            if set(self.target_params) != set(keys):
                raise ValueError(f"scaler has no {'/'.join(keys)} for the target '{self.target}'")
        for name, params in [*self.features.items(), ("target", self.target_params)]:
            for key, value in params.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"scaler parameter {key} of '{name}' must be a finite number. Got {value!r}.")
        _check_scales(self.mode, self.features, self.target, self.target_params)

    @classmethod
    def fit(
        cls,
        mode: str,
        feature_names: list[str],
        target: str,
        feature_rows: np.ndarray,
        target_values: np.ndarray,
        fitted_on: dict | None = None,
    ) -> Scaler:
        """Fit on training rows only.

        Parameters
        ----------
        feature_rows : np.ndarray
            (rows, features) raw feature values of the training split.
        target_values : np.ndarray
            Raw target values of the training samples, any shape.
        """
        feature_rows = np.asarray(feature_rows, dtype="float64")
        target_values = np.asarray(target_values, dtype="float64").ravel()
        if mode in _FITLESS:
            return cls(mode, list(feature_names), target, fitted_on=fitted_on or {})
        if len(feature_rows) == 0 or len(target_values) == 0:
            raise ValueError("cannot fit a scaler on an empty training split")
        features = {name: _params(mode, feature_rows[:, j]) for j, name in enumerate(feature_names)}
        return cls(mode, list(feature_names), target, features, _params(mode, target_values), fitted_on or {})

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mode == "minmax":
            lo = np.array([self.features[n]["min"] for n in self.feature_names])
            hi = np.array([self.features[n]["max"] for n in self.feature_names])
            return lo, _safe_scale(hi - lo)
        mean = np.array([self.features[n]["mean"] for n in self.feature_names])
        std = np.array([self.features[n]["std"] for n in self.feature_names])
        return mean, _safe_scale(std)

    def _target_shift_scale(self) -> tuple[float, float]:
        if self.mode == "minmax":
            lo, hi = self.target_params["min"], self.target_params["max"]
            return lo, float(_safe_scale(np.array(hi - lo)))
        return self.target_params["mean"], float(_safe_scale(np.array(self.target_params["std"])))

    def scale_windows(self, windows: np.ndarray) -> np.ndarray:
        """Scale raw windows of shape (batch, length, features); returns float32."""
        windows = np.asarray(windows, dtype="float64")
        if windows.shape[-1] != len(self.feature_names):
            raise ValueError(
                f"windows have {windows.shape[-1]} features, the scaler was fitted on "
                f"{len(self.feature_names)} ({', '.join(self.feature_names)})"
            )
        if self.mode == "window":
            return (windows / windows[:, :1, :] - 1.0).astype("float32")
        if self.mode == "context":
            raise ValueError("context scaling needs each window's closes: use Scaler.context_windows")
        shift, scale = self._arrays()
        return ((windows - shift) / scale).astype("float32")

    def scale_target(
        self, values: np.ndarray, window_base: np.ndarray | None = None, scale: np.ndarray | None = None
    ) -> np.ndarray:
        """Scale raw targets (batch, ...); `window_base` (batch,) is needed for `window` mode, `scale`
        (batch, horizon) (`context_target_scale`) for `context` mode."""
        values = np.asarray(values, dtype="float64")
        if self.mode == "context":
            return (values / _context_scale(scale, values)).astype("float32")
        if self.mode == "window":
            base = _window_base(window_base, values)
            return (values / base - 1.0).astype("float32")
        shift, scale = self._target_shift_scale()
        return ((values - shift) / scale).astype("float32")

    def unscale_target(
        self, values: np.ndarray, window_base: np.ndarray | None = None, scale: np.ndarray | None = None
    ) -> np.ndarray:
        """Invert `scale_target`; returns float64 in target units."""
        values = np.asarray(values, dtype="float64")
        if self.mode == "context":
            return values * _context_scale(scale, values)
        if self.mode == "window":
            base = _window_base(window_base, values)
            return (values + 1.0) * base
        shift, scale = self._target_shift_scale()
        return values * scale + shift

    def context_windows(self, windows: np.ndarray, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scale-free windows of `context` mode and each window's volatility.

        Parameters
        ----------
        windows : np.ndarray
            (batch, length, features) raw feature windows.
        closes : np.ndarray
            (batch, length) the closes of the same rows.

        Returns
        -------
        (np.ndarray, np.ndarray)
            float32 (batch, length, features) scaled windows and float64 (batch,) volatilities.
        """
        import torch

        x, sigma = context_normalize(
            torch.from_numpy(np.array(windows, dtype="float64")),
            torch.from_numpy(np.array(closes, dtype="float64")),
            self.feature_names,
        )
        return x.numpy(), sigma.numpy()

    def check_matches(self, features: list[str], target: str, scaling: str) -> None:
        """Raise `ValueError` saying what differs when this scaler does not fit a config."""
        if self.feature_names != list(features):
            raise ValueError(
                f"scaler.json and config.json disagree on the features: scaler has {len(self.feature_names)} "
                f"({', '.join(self.feature_names)}), config has {len(features)} ({', '.join(features)})"
            )
        if self.target != target:
            raise ValueError(f"scaler.json is for target '{self.target}', config.json for '{target}'")
        if self.mode != scaling:
            raise ValueError(f"scaler.json uses scaling '{self.mode}', config.json '{scaling}'")

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "feature_names": list(self.feature_names),
            "target": self.target,
            "features": self.features,
            "target_params": self.target_params,
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Scaler:
        expected = {"mode", "feature_names", "target", "features", "target_params"}
        if not isinstance(data, dict) or not expected <= set(data):
            found = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"scaler.json needs the keys {', '.join(sorted(expected))}; found: {found}")
        names, features, target_params = data["feature_names"], data["features"], data["target_params"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"scaler.json 'feature_names' must be a list of names. Got {names!r}.")
        if not isinstance(features, dict) or not all(isinstance(p, dict) for p in features.values()):
            raise ValueError(f"scaler.json 'features' must map each feature name to its parameters. Got {features!r}.")
        if not isinstance(target_params, dict):
            raise ValueError(f"scaler.json 'target_params' must map parameter names to numbers. Got {target_params!r}.")

        def number(value):
            # Numbers become floats; anything else is left for __post_init__ to reject by name.
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

        return cls(
            mode=data["mode"],
            feature_names=list(names),
            target=data["target"],
            features={k: {p: number(v) for p, v in params.items()} for k, params in features.items()},
            target_params={k: number(v) for k, v in target_params.items()},
            fitted_on=data.get("fitted_on", {}),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Scaler:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from e
        return cls.from_dict(data)


def context_volatility(closes, decay: float = CONTEXT_DECAY):
    """EWMA volatility of the log returns inside each context window (torch, float64).

    sigma^2 = sum_i w_i r_i^2 / sum_i w_i over the window's length - 1 close-to-close log returns,
    with w_i = decay^(age of r_i): the newest return has weight 1. Reads the window only.

    Parameters
    ----------
    closes : torch.Tensor
        (batch, length) closes, length >= 2, strictly positive.

    Returns
    -------
    torch.Tensor
        (batch,) volatilities, at least `VOLATILITY_FLOOR`.
    """
    import torch

    returns = torch.log(closes[:, 1:] / closes[:, :-1])
    ages = torch.arange(returns.shape[1] - 1, -1, -1, dtype=closes.dtype, device=closes.device)
    weights = decay**ages
    variance = (returns.square() * weights).sum(dim=1) / weights.sum()
    return variance.sqrt().clamp_min(VOLATILITY_FLOOR)


def context_normalize(windows, closes, feature_names: list[str], decay: float = CONTEXT_DECAY):
    """Normalise each window from its own context only (the `context` scaling mode).

    Per feature kind (`features.context_kind`): returns divided by the window's volatility sigma;
    prices as log(x / last close) / sigma; price differences as x / last close / sigma; volume as
    x / (its window mean) - 1; ratios minus 1; oscillators (x - 50) / 50; calendar features unchanged.
    Clipped to +-`FEATURE_CLIP`.

    Parameters
    ----------
    windows : torch.Tensor
        (batch, length, features) raw features, float64.
    closes : torch.Tensor
        (batch, length) closes of the same rows, float64.
    feature_names : list of str
        The features' names, in column order.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        float32 (batch, length, features) scaled windows and float64 (batch,) volatilities.
    """
    import torch

    from .features import context_kind

    sigma = context_volatility(closes, decay)
    s = sigma[:, None]
    last = closes[:, -1:]
    scaled = torch.empty(windows.shape, dtype=windows.dtype, device=windows.device)
    for j, name in enumerate(feature_names):
        x = windows[..., j]
        kind = context_kind(name)
        if kind == "return":
            x = x / s
        elif kind == "price":
            x = torch.log(x / last) / s
        elif kind == "price_difference":
            x = x / last / s
        elif kind == "volume":
            mean = x.mean(dim=1, keepdim=True)
            x = torch.where(mean > 0, x / torch.where(mean > 0, mean, 1.0) - 1.0, torch.zeros_like(x))
        elif kind == "ratio":
            x = x - 1.0
        elif kind == "calendar":
            pass
        else:  # bounded
            x = (x - 50.0) / 50.0
        scaled[..., j] = x  # written in place: the same numbers as stacking the columns, with one copy
    scaled.clamp_(-FEATURE_CLIP, FEATURE_CLIP)
    return scaled.nan_to_num_(nan=0.0).float(), sigma


def context_target_scale(sigma: np.ndarray, horizon: int) -> np.ndarray:
    """(batch, horizon) scale of `context` targets: the window's volatility times sqrt(step)."""
    return np.asarray(sigma, dtype="float64")[:, None] * np.sqrt(np.arange(1, horizon + 1, dtype="float64"))


def _check_scales(mode: str, features: dict, target: str, target_params: dict) -> None:
    """A feature's std (or max - min) must not be negative; the target's must be positive.

    A constant feature (scale 0) is shifted but not divided. The target's scale multiplies every
    forecast back into price units: a zero or negative one is refused, not replaced.
    """
    if mode in _FITLESS:
        return

    def scale(params: dict) -> float:
        return params["std"] if mode == "standard" else params["max"] - params["min"]

    what = "std" if mode == "standard" else "max - min"
    for name, params in features.items():
        if scale(params) < 0:
            raise ValueError(f"scaler.json: the {what} of feature '{name}' is negative ({scale(params)!r}); refused")
    if scale(target_params) <= 0:
        raise ValueError(
            f"scaler.json: the {what} of the target '{target}' is {scale(target_params)!r}; it must be positive "
            "(a target that is constant on the training split cannot be scaled)"
        )


def _params(mode: str, values: np.ndarray) -> dict[str, float]:
    if mode == "minmax":
        return {"min": float(np.min(values)), "max": float(np.max(values))}
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def _safe_scale(scale: np.ndarray) -> np.ndarray:
    # A constant column (zero range or std) is shifted but not divided.
    return np.where(scale > 0, scale, 1.0)


def _context_scale(scale: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    if scale is None:
        raise ValueError("context scaling needs each window's target scale (context_target_scale)")
    scale = np.asarray(scale, dtype="float64")
    return scale.reshape(scale.shape + (1,) * (values.ndim - scale.ndim))


def _window_base(window_base: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    if window_base is None:
        raise ValueError("window scaling needs the first value of each window (window_base)")
    base = np.asarray(window_base, dtype="float64")
    return base.reshape(base.shape + (1,) * (values.ndim - base.ndim))
