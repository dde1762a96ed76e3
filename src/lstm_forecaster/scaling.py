"""Scaling of features and target, fitted on the training split only, saved as `scaler.json`.

Three modes:

- `minmax`: (x - min) / (max - min), per feature and for the target;
- `standard`: (x - mean) / std, per feature and for the target;
- `window`: every window divided by its own first row, minus 1; the target divided by the window's
  first value of the target quantity, minus 1. Nothing is fitted.

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
_PARAMS = {"minmax": ("min", "max"), "standard": ("mean", "std"), "window": ()}


@dataclass
class Scaler:
    """Fitted scaling parameters.

    Args:
        mode: `minmax`, `standard` or `window`.
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
        if self.mode != "window":
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
        if mode == "window":
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
        shift, scale = self._arrays()
        return ((windows - shift) / scale).astype("float32")

    def scale_target(self, values: np.ndarray, window_base: np.ndarray | None = None) -> np.ndarray:
        """Scale raw targets (batch, ...); `window_base` (batch,) is needed for `window` mode."""
        values = np.asarray(values, dtype="float64")
        if self.mode == "window":
            base = _window_base(window_base, values)
            return (values / base - 1.0).astype("float32")
        shift, scale = self._target_shift_scale()
        return ((values - shift) / scale).astype("float32")

    def unscale_target(self, values: np.ndarray, window_base: np.ndarray | None = None) -> np.ndarray:
        """Invert `scale_target`; returns float64 in target units."""
        values = np.asarray(values, dtype="float64")
        if self.mode == "window":
            base = _window_base(window_base, values)
            return (values + 1.0) * base
        shift, scale = self._target_shift_scale()
        return values * scale + shift

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


def _check_scales(mode: str, features: dict, target: str, target_params: dict) -> None:
    """A feature's std (or max - min) must not be negative; the target's must be positive.

    A constant feature (scale 0) is shifted but not divided. The target's scale multiplies every
    forecast back into price units: a zero or negative one is refused, not replaced.
    """
    if mode == "window":
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


def _window_base(window_base: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    if window_base is None:
        raise ValueError("window scaling needs the first value of each window (window_base)")
    base = np.asarray(window_base, dtype="float64")
    return base.reshape(base.shape + (1,) * (values.ndim - base.ndim))
