"""The training recipe: `TrainingConfig`, read from YAML, validated once.

A *recipe* (a YAML file in `configs/`) holds the model's architecture (the `model:` mapping, an
`LSTMForecasterConfig`) and how to train it: data and split dates, optimizer, schedule, loss,
epochs, seed. `load_recipe` reads a file, `recipe_from_dict` builds one from a mapping, and
`TrainingConfig.__post_init__` raises a `ValueError` naming any bad value. The accepted choices
(`OPTIMIZERS`, `SCHEDULES`, `LOSSES`, ...) live here too.

Examples
--------
    from lstm_forecaster.recipe import load_recipe
    recipe = load_recipe("configs/default.yaml")
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .configuration import LSTMForecasterConfig
from .data import utc_timestamp

OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "constant")
LOSSES = ("mse", "pinball")
HEAD_INITS = ("default", "baseline", "persistence")
LOSS_WEIGHTINGS = ("none", "inverse_volatility")
MIXED_PRECISIONS = ("auto", "no", "bf16", "fp16")
SETUP_KEYS = (
    "train_fraction",
    "validation_fraction",
    "batch_size",
    "optimizer",
    "learning_rate",
    "weight_decay",
    "lr_schedule",
    "warmup_steps",
    "min_lr_ratio",
    "grad_clip",
    "patience",
    "loss",
    "loss_on_all_steps",
    "head_init",
    "loss_weighting",
    "volatility_window",
)
BUNDLED_PANEL = "panel"  # the recipe's `data: panel`: the embedded daily panel


@dataclass
class TrainingConfig:
    """A training recipe: the model's architecture and how to train and evaluate it.

    Args:
        model: The architecture, inputs and outputs (`LSTMForecasterConfig`; in YAML, the `model:` mapping).
        name: Short name of the recipe, used in the model card.
        description: One or two sentences on what the recipe reproduces.
        data: OHLCV source: a CSV/Parquet path (relative paths are read from the current directory) or
            a Hub dataset id `user/name`; for a panel of several series, a list of them, a folder, a
            glob (`"data/*.csv"`), or `panel`: the bundled daily panel of 8 coins (`panel_path()`).
            None: the bundled BTC-USD daily sample.
        data_revision: Revision of a Hub dataset.
        start: First timestamp of the data to use (e.g. `2018-02-10`); None: from the first row.
        end: Last timestamp of the data to use; None: to the last row.
        train_fraction: Share of the rows, oldest first, in the training split. For a panel the
            rows of every series are pooled and sorted by time, and the cut is a date: the same for
            every series.
        validation_fraction: Share of the rows after them in the validation split (early stopping and
            best-checkpoint selection); the remaining rows are the test split, read once at the end.
        validation_start: First timestamp of the validation split (e.g. `2023-01-01`), for every
            series; with `test_start`, replaces the fractions. None: cut by the fractions.
        test_start: First timestamp of the test split, for every series (after `validation_start`).
        epochs: Maximum number of passes over the training windows.
        batch_size: Windows per optimisation step (per process under `accelerate launch`).
        optimizer: `adamw` (decoupled weight decay) or `adam`.
        learning_rate: Peak learning rate.
        weight_decay: Weight decay (decoupled for `adamw`, L2 for `adam`).
        lr_schedule: `cosine` (decay to `min_lr_ratio` x the peak over all epochs) or `constant`.
        warmup_steps: Steps of linear warm-up before the schedule.
        min_lr_ratio: Final learning rate of the cosine schedule, as a fraction of the peak.
        grad_clip: Largest global gradient norm; 0 turns clipping off.
        patience: Epochs without a better validation loss before stopping; 0 never stops early.
        loss: `mse` on the scaled target (point forecasts) or `pinball` (mean quantile loss over the
            model's quantile levels).
        loss_on_all_steps: Train on the forecast made at every time step of a window, not only the
            last one (the PyTorch OHLCV system). Validation always scores the last step.
        head_init: `default` (PyTorch's init); `baseline`: zero weights and biases set to the training
            targets' mean (point) or empirical quantiles, so training starts at the constant forecast;
            `persistence` (target `log_return` only): the same, shifted so that the median (point:
            the forecast) is a zero return, i.e. the last close.
        loss_weighting: `none`, or `inverse_volatility`: each window's loss divided by the standard
            deviation of the last `volatility_window` log returns of the target quantity at its origin
            (weights normalised to mean 1 over the training windows), so calm periods count as much as
            turbulent ones. Applies to training and to the validation loss.
        volatility_window: Returns in the volatility of `inverse_volatility` weighting.
        seed: Seeds weights, dropout and the shuffle; same seed and data give the same weights on CPU.
        mixed_precision: `auto` (bf16 on a GPU that has it, else full precision), `no`, `bf16`, `fp16`.
    """

    model: LSTMForecasterConfig = field(default_factory=LSTMForecasterConfig)
    name: str = "lstm-forecaster"
    description: str = ""
    data: str | list[str] | None = None
    data_revision: str | None = None
    start: str | None = None
    end: str | None = None
    train_fraction: float = 0.7
    validation_fraction: float = 0.15
    validation_start: str | None = None
    test_start: str | None = None
    epochs: int = 50
    batch_size: int = 64
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    patience: int = 10
    loss: str = "mse"
    loss_on_all_steps: bool = False
    head_init: str = "default"
    loss_weighting: str = "none"
    volatility_window: int = 30
    seed: int = 0
    mixed_precision: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = model_config_from_dict(self.model)
        if not isinstance(self.model, LSTMForecasterConfig):
            raise ValueError(f"model must be a mapping of LSTMForecasterConfig fields. Got {self.model!r}.")
        for name in ("name", "description"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string. Got {getattr(self, name)!r}.")
        if isinstance(self.data, (list, tuple)):
            if not self.data or not all(isinstance(item, str) for item in self.data):
                raise ValueError(
                    f"data must be a path, a Hub id, a non-empty list of them, or null. Got {self.data!r}."
                )
            self.data = list(self.data)
        elif self.data is not None and not isinstance(self.data, str):
            raise ValueError(f"data must be a path, a Hub id, a list of them, or null. Got {self.data!r}.")
        if self.data_revision is not None and not isinstance(self.data_revision, str):
            raise ValueError(f"data_revision must be a string or null. Got {self.data_revision!r}.")
        for name in ("start", "end", "validation_start", "test_start"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                setattr(self, name, utc_timestamp(value).isoformat())
            except (TypeError, ValueError) as e:
                raise ValueError(
                    f"{name} must be a date or timestamp such as 2018-02-10, or null. Got {value!r}."
                ) from e
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(f"start must be before end. Got start {self.start}, end {self.end}.")
        if (self.validation_start is None) != (self.test_start is None):
            raise ValueError(
                "validation_start and test_start go together (dates of the splits) or are both null (the "
                f"fractions cut). Got validation_start {self.validation_start}, test_start {self.test_start}."
            )
        if self.validation_start is not None and self.validation_start >= self.test_start:
            raise ValueError(
                f"validation_start must be before test_start. Got {self.validation_start} and {self.test_start}."
            )
        for name, low, high in (("train_fraction", 0.0, 1.0), ("validation_fraction", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
                raise ValueError(f"{name} must be a number strictly between {low:g} and {high:g}. Got {value!r}.")
            setattr(self, name, float(value))
        if self.train_fraction + self.validation_fraction >= 1.0:
            raise ValueError(
                f"train_fraction + validation_fraction must leave rows for the test split (sum < 1). "
                f"Got {self.train_fraction} + {self.validation_fraction}."
            )
        integers = (
            ("epochs", 1),
            ("batch_size", 1),
            ("warmup_steps", 0),
            ("patience", 0),
            ("seed", 0),
            ("volatility_window", 2),
        )
        for name, smallest in integers:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
                raise ValueError(f"{name} must be an integer >= {smallest}. Got {value!r}.")
        for name in ("learning_rate", "weight_decay", "min_lr_ratio", "grad_clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number. Got {value!r}.")
            setattr(self, name, float(value))
        if self.learning_rate == 0:
            raise ValueError("learning_rate must be positive. Got 0.")
        for name, accepted in (
            ("optimizer", OPTIMIZERS),
            ("lr_schedule", SCHEDULES),
            ("loss", LOSSES),
            ("head_init", HEAD_INITS),
            ("loss_weighting", LOSS_WEIGHTINGS),
            ("mixed_precision", MIXED_PRECISIONS),
        ):
            if getattr(self, name) not in accepted:
                raise ValueError(f"{name} must be one of {', '.join(accepted)}. Got {getattr(self, name)!r}.")
        if not isinstance(self.loss_on_all_steps, bool):
            raise ValueError(f"loss_on_all_steps must be true or false. Got {self.loss_on_all_steps!r}.")
        if self.loss == "pinball" and not self.model.quantiles:
            raise ValueError("loss 'pinball' needs quantile levels: set model.quantiles, e.g. [0.1, 0.5, 0.9].")
        if self.loss == "mse" and self.model.quantiles:
            raise ValueError(
                f"model.quantiles {self.model.quantiles} need loss 'pinball'; loss 'mse' is for point forecasts."
            )
        if self.head_init == "persistence" and self.model.target != "log_return":
            raise ValueError(
                f"head_init 'persistence' needs target 'log_return' (a zero return); got {self.model.target!r}."
            )
        if self.loss_on_all_steps and self.model.bidirectional:
            raise ValueError("loss_on_all_steps needs a one-directional network (model.bidirectional: false).")
        if self.loss_on_all_steps and self.model.head != "last":
            raise ValueError(
                f"loss_on_all_steps needs model.head: last (the head at every step). Got {self.model.head!r}."
            )

    @property
    def test_fraction(self) -> float:
        """Share of the rows, newest last, in the test split."""
        return 1.0 - self.train_fraction - self.validation_fraction

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-ready dict; `recipe_from_dict` reads it back."""
        out = dataclasses.asdict(self)
        out["model"] = {k: v for k, v in dataclasses.asdict(self.model).items() if k != "package_version"}
        return out


def model_config_from_dict(values: dict) -> LSTMForecasterConfig:
    """An `LSTMForecasterConfig` from a mapping; unknown keys raise `ValueError` naming them."""
    if not isinstance(values, dict):
        raise ValueError(f"model must be a mapping of LSTMForecasterConfig fields. Got {values!r}.")
    accepted = [f.name for f in dataclasses.fields(LSTMForecasterConfig) if f.name != "package_version"]
    unknown = [k for k in values if k not in accepted]
    if unknown:
        raise ValueError(f"unknown key 'model.{unknown[0]}' in the recipe; accepted under model: {', '.join(accepted)}")
    return LSTMForecasterConfig(**values)


def recipe_from_dict(values: dict) -> TrainingConfig:
    """A `TrainingConfig` from a mapping; unknown keys raise `ValueError` naming the key and the accepted ones."""
    if not isinstance(values, dict):
        raise ValueError(f"a recipe must be a mapping of keys to values. Got {type(values).__name__}.")
    accepted = [f.name for f in dataclasses.fields(TrainingConfig)]
    unknown = [k for k in values if k not in accepted]
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}' in the recipe; accepted: {', '.join(accepted)}")
    values = dict(values)
    values["model"] = model_config_from_dict(values.get("model", {}) or {})
    return TrainingConfig(**values)


def load_recipe(path: str | Path) -> TrainingConfig:
    """Read a recipe from a YAML (or JSON) file.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it is not YAML, or names an unknown key or a bad value.
    """
    path = Path(path)
    values = read_recipe_file(path)
    values.pop("search", None)  # the search space of `lstm-forecaster tune`
    try:
        return recipe_from_dict(values)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


def read_recipe_file(path: str | Path) -> dict:
    """The mapping a recipe file holds (YAML or JSON), before any key is checked.

    Raises `FileNotFoundError` for a missing file and `ValueError` naming the file when it is not
    YAML or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such recipe file", str(path))
    try:
        values = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read recipe {path}: {str(e).splitlines()[0]}") from e
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of keys to values. Got {type(values).__name__}.")
    return dict(values)
