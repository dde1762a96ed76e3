"""Walk-forward forecasts with refits: retrain a recipe on the data before each block of origins.

The origins from ``start`` to ``end`` are cut into blocks of ``refit_every`` consecutive origin dates.
At the first date ``D`` of each block a model is trained with the recipe on the rows at or before
``D`` only (an expanding window): the recipe's train/validation proportions are kept, its validation
split is the last part before ``D`` (early stopping and the kept checkpoint look at it), and the few
rows its held-out split needs are the last ones before ``D``; they are never read (the refit is scored
on validation), so nothing after ``D`` is ever seen. That model then forecasts the origins of its
block, exactly as its ``backtest`` (``predict`` at each origin) would. Training is deterministic with
the recipe's seed, so a walk-forward run is too.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["origin_dates", "outcome_cut", "refit_block", "refit_recipe", "walk_forward"]

HELD_OUT_ROWS = 5
"""Rows (beyond the horizon) left to each refit's unused held-out split, the fewest the recipe's
split accepts."""


def _timestamps(df: pd.DataFrame) -> pd.DatetimeIndex:
    return df.index.get_level_values("timestamp") if isinstance(df.index, pd.MultiIndex) else df.index


def origin_dates(parts: dict[str, pd.DataFrame], horizon: int, start: Any, end: Any) -> pd.DatetimeIndex:
    """Sorted union over the series of the rows in ``[start, end]`` whose ``horizon`` targets exist."""
    dates = []
    for part in parts.values():
        index = part.index[: max(len(part) - horizon, 0)]
        keep = np.ones(len(index), dtype=bool)
        if start is not None:
            keep &= index >= start
        if end is not None:
            keep &= index <= end
        dates.append(index[keep])
    out = dates[0].append(dates[1:]) if len(dates) > 1 else dates[0]
    return pd.DatetimeIndex(out.unique()).sort_values()


def refit_recipe(recipe: Any, rows: int, horizon: int) -> Any:
    """The recipe for one refit on ``rows`` rows: same proportions of train and validation, the held-out
    split cut to ``horizon + HELD_OUT_ROWS`` rows (it is never read), no end date.

    Recipes cut by dates (``validation_start``/``test_start``, where a recipe has them) fall back to
    fractions: fixed dates cannot move with the refit date.
    """
    from .recipe import recipe_from_dict

    values = recipe.to_dict()
    tf, vf = float(values["train_fraction"]), float(values["validation_fraction"])
    held_out = (horizon + HELD_OUT_ROWS) / rows
    if held_out >= 0.5:
        raise ValueError(f"a refit on {rows} rows is too short for horizon {horizon}; start the backtest later.")
    scale = (1.0 - held_out) / (tf + vf)
    values.update(train_fraction=tf * scale, validation_fraction=vf * scale, end=None)
    for key in ("validation_start", "test_start"):
        if key in values:
            values[key] = None
    return recipe_from_dict(values)


def walk_forward(
    recipe: Any,
    df: pd.DataFrame,
    parts: dict[str, pd.DataFrame],
    start: Any,
    end: Any,
    refit_every: int,
    progress: bool | None = None,
) -> tuple[pd.DataFrame, list[pd.Timestamp], list[dict[str, Any]], list[float]]:
    """Train at every block start and forecast the block; see the module docstring.

    Parameters
    ----------
    recipe : TrainingConfig or path
        The recipe retrained at every refit (a quantile recipe).
    df : pandas.DataFrame
        The whole OHLCV data (one series or a panel); each refit sees only its rows up to its date.
    parts : dict
        ``df`` split by symbol (:func:`lstm_forecaster.backtest.series_of`).
    start, end : pandas.Timestamp or None
        First and last origin.
    refit_every : int
        Origin dates per block.
    progress : bool, optional
        Show a progress bar naming the refit (default: when stderr is a terminal).

    Returns
    -------
    frame : pandas.DataFrame
        The backtest frames of every block, concatenated.
    block_starts : list of pandas.Timestamp
    refits : list of dict
        Per refit: ``refit``, ``first_origin``, ``last_origin``, ``origins`` and the ``train`` and
        ``validation`` ranges its ``training_args.json`` records, and the epochs it ran.
    levels : list of float
    """
    import sys

    from tqdm.auto import tqdm

    from .recipe import load_recipe

    if isinstance(recipe, (str, Path)):
        recipe = load_recipe(recipe)
    if recipe is None:
        raise ValueError("refits need the recipe to retrain (--config).")
    levels = [float(q) for q in (recipe.model.quantiles or [])]
    if not levels:
        raise ValueError("the recipe trains a model without quantiles; the backtest compares quantile forecasts.")
    if isinstance(refit_every, bool) or not isinstance(refit_every, (int, np.integer)) or refit_every < 1:
        raise ValueError(f"--refit-every must be a positive integer (origins per refit); got {refit_every!r}.")
    horizon = int(recipe.model.horizon)
    dates = origin_dates(parts, horizon, start, end)
    if len(dates) == 0:
        raise ValueError("no origin with known targets between --start and --end.")
    if refit_every > len(dates):
        raise ValueError(
            f"--refit-every {refit_every} is larger than the period ({len(dates)} origins from {dates[0].date()} "
            f"to {dates[-1].date()}); give a smaller interval or an earlier --start."
        )
    block_starts = list(dates[::refit_every])
    frames, refits = [], []
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(block_starts), disable=not show, unit="refit")
    try:
        for k, first in enumerate(block_starts):
            bar.set_description(f"refit {k + 1}/{len(block_starts)}: train to {first.date()}")
            frame, refit = refit_block(recipe, df, parts, dates, block_starts, k)
            frames.append(frame)
            refits.append(refit)
            bar.update(1)
    finally:
        bar.close()
    return pd.concat(frames, ignore_index=True), block_starts, refits, levels


def outcome_cut(parts: dict[str, pd.DataFrame], last_origin: pd.Timestamp, horizon: int) -> pd.Timestamp:
    """The last timestamp a block ending at ``last_origin`` needs: every series' ``horizon``-th row after
    it (rows, not ``horizon`` steps of time: a series with missing days needs later dates)."""
    cuts = []
    for part in parts.values():
        pos = int(part.index.searchsorted(last_origin, side="right")) - 1
        if pos >= 0:
            cuts.append(part.index[min(pos + horizon, len(part) - 1)])
    return max(cuts)


def refit_block(
    recipe: Any,
    df: pd.DataFrame,
    parts: dict[str, pd.DataFrame],
    dates: pd.DatetimeIndex,
    block_starts: list[pd.Timestamp],
    k: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Block ``k`` of a walk-forward: train the recipe on the rows up to its first date, forecast its origins.

    Returns the block's backtest frame and its refit record (see :func:`walk_forward`). Deterministic
    with the recipe's seed: block ``k`` run alone gives what it gives inside :func:`walk_forward`.
    """
    from .modeling import LSTMForecaster
    from .training import train

    horizon = int(recipe.model.horizon)
    first = block_starts[k]
    nxt = block_starts[k + 1] if k + 1 < len(block_starts) else None
    block = dates[(dates >= first) & ((dates < nxt) if nxt is not None else True)]
    stamps = _timestamps(df)
    history = df[stamps <= first]
    rows = max(len(p[p.index <= first]) for p in parts.values())
    with tempfile.TemporaryDirectory(prefix="lstm-forecaster-refit-") as tmp:
        folder = train(
            refit_recipe(recipe, rows, horizon),
            Path(tmp) / "model",
            data=history,
            progress=False,
            evaluate_split="validation",
            compare_baselines=False,  # the backtest compares the whole period itself
        )
        model = LSTMForecaster.from_pretrained(folder)
        args = json.loads((Path(folder) / "training_args.json").read_text())
    # Each origin's forecast reads rows up to it only; the rows after the block are its outcomes.
    visible = df[stamps <= outcome_cut(parts, block[-1], horizon)]
    frame = model.backtest(visible, start=first)
    frame = frame[(frame["origin"] >= first) & (frame["origin"] <= block[-1])]
    splits = args.get("splits", {})
    refit = {
        "refit": k + 1,
        "first_origin": first.isoformat(),
        "last_origin": block[-1].isoformat(),
        "origins": int(frame["origin"].nunique()),
        "train": {key: splits.get("train", {}).get(key) for key in ("start", "end")},
        "validation": {key: splits.get("validation", {}).get(key) for key in ("start", "end")},
        "epochs": args.get("epochs_run", len(args.get("history", []))),
    }
    return frame, refit
