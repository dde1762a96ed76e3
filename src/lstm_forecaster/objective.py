"""What training minimises and where it starts: the loss, its weights, the head's first weights.

`compute_loss` is MSE or the pinball loss over `quantiles_of(recipe)`, optionally weighted per
window (`volatility_weights`, inverse volatility of the training windows); `init_head_at_baseline`
and `fit_baseline` start the output head at the naive or least-squares baseline
(`recipe.head_init`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.utils.deterministic

from .data import Samples
from .modeling import LSTMForecaster
from .panel import (
    PanelSamples,
)
from .recipe import TrainingConfig


def volatility_weights(samples: Samples, window: int, train_origins: np.ndarray) -> np.ndarray:
    """Loss weight of every row: 1 / (std of the last `window` log returns of the target quantity).

    Causal (a row's weight reads rows up to it); normalised to mean 1 over `train_origins`; rows
    without two returns yet, or with a zero standard deviation, get weight 1.

    Returns
    -------
    np.ndarray
        (rows,) float64 weights.
    """
    series = pd.Series(np.log(samples.base))
    if isinstance(samples, PanelSamples):  # each series' own returns, never across two series
        codes = samples.series_codes
        returns = series.groupby(codes).diff()
        sigma = returns.groupby(codes).rolling(window, min_periods=2).std().droplevel(0).sort_index().to_numpy()
    else:
        returns = series.diff()
        sigma = returns.rolling(window, min_periods=2).std().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = 1.0 / sigma
    weights[~np.isfinite(weights)] = np.nan
    weights /= np.nanmean(weights[train_origins])
    return np.nan_to_num(weights, nan=1.0)


def compute_loss(
    prediction: torch.Tensor, target: torch.Tensor, quantiles: torch.Tensor | None, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error, or the mean pinball loss over quantile levels; optionally weighted per window.

    Parameters
    ----------
    prediction : torch.Tensor
        (batch, ..., horizon, outputs) scaled forecasts.
    target : torch.Tensor
        (batch, ..., horizon) scaled targets.
    quantiles : torch.Tensor, optional
        (outputs,) quantile levels; None for MSE.
    weights : torch.Tensor, optional
        (batch,) weight of each window's loss.
    """
    prediction = prediction.float()
    if quantiles is None:
        per_point = (prediction[..., 0] - target) ** 2
    else:
        error = target[..., None] - prediction
        per_point = torch.maximum(quantiles * error, (quantiles - 1.0) * error)
    if weights is None:
        return per_point.mean()
    return (weights * per_point.flatten(1).mean(dim=1)).mean()


def quantiles_of(recipe: TrainingConfig, device) -> torch.Tensor | None:
    """The pinball loss's quantile levels as a tensor, or None for MSE."""
    return torch.tensor(recipe.model.quantiles, device=device) if recipe.loss == "pinball" else None


@torch.no_grad()
def init_head_at_baseline(model: LSTMForecaster, scaled_targets: np.ndarray, center: np.ndarray | None = None) -> None:
    """Zero the head's weights and set its biases to the training targets' mean or quantiles.

    The network then starts at the constant forecast of the training split; for quantile models the
    bias of level j > 0 is the inverse softplus of the gap between consecutive empirical quantiles
    (the head emits the lowest level and positive increments).

    Parameters
    ----------
    scaled_targets : np.ndarray
        (windows, horizon) scaled targets of the training origins.
    center : np.ndarray, optional
        (horizon,) scaled value the median (point models: the forecast) starts at instead, the
        other levels keeping their distance to the median; e.g. the scaled zero return.
    """
    config = model.config
    bias = np.zeros((config.horizon, config.num_outputs))
    if config.quantiles:
        levels = np.quantile(scaled_targets, config.quantiles, axis=0).T  # (horizon, outputs)
        if center is not None:
            median = np.quantile(scaled_targets, 0.5, axis=0)
            levels = levels - median[:, None] + np.asarray(center)[:, None]
        gaps = np.maximum(np.diff(levels, axis=1), 1e-4)
        gaps = gaps + np.log(-np.expm1(-gaps))  # inverse of softplus
        m = config.median_index
        if config.median_at_last:
            # Output j < m is the gap above level j, output j > m the gap below it (see forward).
            bias[:, :m], bias[:, m + 1 :] = gaps[:, :m], gaps[:, m:]
        else:
            bias[:, 0] = levels[:, 0]
            bias[:, 1:] = gaps
    else:
        bias[:, 0] = scaled_targets.mean(axis=0) if center is None else center
    for network in model.networks:  # every member of an ensemble
        network.head.weight.zero_()
        network.head.bias.copy_(torch.from_numpy(bias.reshape(-1)).to(network.head.bias))


@torch.no_grad()
def fit_baseline(model: LSTMForecaster, standardized_targets: np.ndarray) -> None:
    """Set a `context` model's baseline from the training targets and zero its head.

    The baseline is, per step, the empirical quantiles (point models: the mean) of the training
    targets standardized by their context volatility x sqrt(step); with `median_at_last` the levels
    are shifted so the median is 0. With the head at zero the model then forecasts exactly
    last close x exp(sigma x sqrt(step) x baseline): training starts at the classical forecast.

    Parameters
    ----------
    standardized_targets : np.ndarray
        (windows, horizon) standardized targets of the training origins.
    """
    config = model.config
    targets = np.asarray(standardized_targets, dtype="float64")
    if config.quantiles:
        levels = np.quantile(targets, config.quantiles, axis=0).T  # (horizon, outputs)
        m = config.median_index if config.median_index is not None else 0
        if config.median_at_last:
            levels = levels - levels[:, m : m + 1]
        for j in range(m + 1, levels.shape[1]):  # strictly increasing, away from the anchor level
            levels[:, j] = np.maximum(levels[:, j], levels[:, j - 1] + 1e-4)
        for j in range(m - 1, -1, -1):
            levels[:, j] = np.minimum(levels[:, j], levels[:, j + 1] - 1e-4)
    else:
        levels = targets.mean(axis=0)[:, None]
    for network in model.networks:  # every member of an ensemble
        network.baseline.copy_(torch.from_numpy(levels).to(network.baseline))
        network.head.weight.zero_()
        network.head.bias.zero_()
