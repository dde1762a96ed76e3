"""The search space of a recipe: the `search:` mapping of ranges and choices, parsed and checked.

```yaml
search:
  hidden_size: {low: 16, high: 128, log: true}     # an integer range (the field is an integer)
  learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
  dropout: {low: 0.0, high: 0.3}                   # a float range; `step` is accepted too
  context_length: [20, 30, 60]                     # a list: choices
  features:                                        # choices may be lists
    - [log_return, volatility_7]
    - [log_return, log_range, volatility_7, volatility_30]
```

Any field of the recipe or of its `model:` mapping may be searched, by its plain name, except those
in `FIXED`: they would change what is scored (the data, its range and splits, the target, horizon,
quantile levels, loss) or only add noise (`seed`). `lstm-forecaster tune` (`tuning.py`) searches it;
`lstm-forecaster train` ignores the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .configuration import LSTMForecasterConfig
from .recipe import TrainingConfig, read_recipe_file, recipe_from_dict

SEARCH_KEY = "search"
# Never searched: they change the data, the splits or the objective, or only add noise.
FIXED = {
    "name": "it names the recipe",
    "description": "it describes the recipe",
    "data": "it changes the data scored",
    "data_revision": "it changes the data scored",
    "start": "it changes the data scored",
    "end": "it changes the data scored",
    "train_fraction": "it moves the validation split",
    "validation_fraction": "it moves the validation split",
    "validation_start": "it moves the validation split",
    "test_start": "it moves the validation split",
    "target": "it changes what is scored",
    "horizon": "it changes what is scored",
    "quantiles": "it changes what is scored",
    "loss": "it changes the objective",
    "seed": "tuning a seed only fits noise",
    "mixed_precision": "it does not change the model",
}
_RANGE_KEYS = ("low", "high", "log", "step")
_PRIMITIVES = (str, int, float, bool, type(None))


def _field_types() -> dict[str, type]:
    """Searchable field name -> the Python type of its default (int, float, or other)."""
    types = {}
    for cls in (TrainingConfig, LSTMForecasterConfig):
        instance = cls()
        for f in dataclasses.fields(cls):
            if f.name in ("model", "package_version") or f.name in FIXED:
                continue
            types[f.name] = type(getattr(instance, f.name))
    types["hidden_size"] = int  # an int or a list: searched as an integer range or as choices
    return types


@dataclass
class Parameter:
    """One searched field: an integer or float range, or a list of choices.

    Args:
        name: Field of the recipe or of its `model:` mapping.
        low: Lowest value of a range (None for choices).
        high: Highest value of a range.
        log: Sample the range on a log scale.
        step: Step of the range (None: continuous floats, 1 for integers).
        choices: The values of a categorical parameter (None for a range).
        integer: Whether the range is of integers.
    """

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list | None = None
    integer: bool = False

    def suggest(self, trial) -> Any:
        """The trial's value, decoded (a list choice comes back as the list)."""
        if self.choices is not None:
            return self.decode(trial.suggest_categorical(self.name, [self.encode(c) for c in self.choices]))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    @staticmethod
    def encode(value: Any) -> Any:
        """Optuna stores None, bool, int, float and str choices; anything else goes in as JSON."""
        return value if isinstance(value, _PRIMITIVES) else json.dumps(value)

    def decode(self, stored: Any) -> Any:
        """The choice or range value that Optuna stored as `stored`."""
        if self.choices is None:
            return int(stored) if self.integer else float(stored)
        for choice in self.choices:
            if self.encode(choice) == stored:
                return choice
        raise ValueError(f"search.{self.name}: {stored!r} is not one of the choices {self.choices}")

    def corners(self) -> list:
        """The values to check against the recipe before searching: both ends, or every choice."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def contains(self, value: Any) -> bool:
        """Whether `value` lies in the space (a choice, or a range value on its step)."""
        if self.choices is not None:
            return self.encode(value) in [self.encode(c) for c in self.choices]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            return False
        if self.integer and not isinstance(value, int):
            return False
        step = self.step or (1 if self.integer else None)
        return step is None or math.isclose((value - self.low) / step, round((value - self.low) / step))

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name} in {self.choices}"
        kind = "int" if self.integer else "float"
        extras = "".join([", log" if self.log else "", f", step {self.step:g}" if self.step else ""])
        return f"{self.name} {kind} [{self.low:g}, {self.high:g}{extras}]"


def _number(name: str, key: str, value: Any, integer: bool) -> float:
    if integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"search.{name}.{key} must be an integer ({name} is an integer field). Got {value!r}.")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"search.{name}.{key} must be a finite number. Got {value!r}.")
    return float(value)


def parse_search(space: Any) -> list[Parameter]:
    """The `search:` mapping of a recipe as `Parameter`s; `ValueError` naming the bad entry.

    Raises
    ------
    ValueError
        For an unknown or fixed parameter, an empty or inverted range, a log range through zero,
        an empty list of choices, or an entry that is neither a range nor a list.
    """
    if not isinstance(space, dict) or not space:
        raise ValueError(
            "the recipe has no search space: add a 'search:' mapping of parameters to ranges or choices, "
            "e.g. search: {hidden_size: {low: 16, high: 128}, learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}}"
        )
    types = _field_types()
    parameters = []
    for name, spec in space.items():
        if name in FIXED:
            raise ValueError(f"search.{name} cannot be searched: {FIXED[name]}")
        if name not in types:
            raise ValueError(f"unknown parameter 'search.{name}'; accepted: {', '.join(sorted(types))}")
        kind = types[name]
        if isinstance(spec, list):
            if not spec:
                raise ValueError(f"search.{name} is an empty list of choices; give at least one value")
            encoded = [Parameter.encode(c) for c in spec]
            if len(set(map(str, encoded))) != len(encoded):
                raise ValueError(f"search.{name} repeats a choice. Got {spec!r}.")
            parameters.append(Parameter(name, choices=list(spec)))
            continue
        if not isinstance(spec, dict):
            raise ValueError(f"search.{name} must be a range {{low: .., high: ..}} or a list of choices. Got {spec!r}.")
        if kind not in (int, float):
            raise ValueError(f"search.{name} takes a list of choices ({name} is not a number). Got {spec!r}.")
        unknown = [k for k in spec if k not in _RANGE_KEYS]
        if unknown or "low" not in spec or "high" not in spec:
            raise ValueError(
                f"search.{name} needs low and high (optional: log, step); got keys {', '.join(map(str, spec)) or 'none'}"
            )
        integer = kind is int
        low, high = _number(name, "low", spec["low"], integer), _number(name, "high", spec["high"], integer)
        if low > high:
            raise ValueError(f"search.{name} has an inverted range: low {low!r} > high {high!r}")
        if low == high:
            raise ValueError(f"search.{name} has an empty range (low == high == {low!r}); set the value in the recipe")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ValueError(f"search.{name}.log must be true or false. Got {log!r}.")
        if log and low <= 0:
            raise ValueError(f"search.{name} is on a log scale, so low must be positive. Got {low!r}.")
        step = spec.get("step")
        if step is not None:
            step = _number(name, "step", step, integer)
            if step <= 0 or step > high - low:
                raise ValueError(f"search.{name}.step must be positive and at most high - low. Got {step!r}.")
            if log:
                raise ValueError(f"search.{name} cannot have both log and step")
        parameters.append(Parameter(name, low=low, high=high, log=log, step=step, integer=integer))
    return parameters


def apply(recipe: TrainingConfig, values: dict[str, Any]) -> TrainingConfig:
    """`recipe` with some of its fields (recipe or `model:` fields, by name) set to `values`."""
    data = recipe.to_dict()
    model_fields = {f.name for f in dataclasses.fields(LSTMForecasterConfig)}
    for name, value in values.items():
        if name in model_fields:
            data["model"][name] = value
        else:
            data[name] = value
    return recipe_from_dict(data)


def check_search(recipe: TrainingConfig, parameters: list[Parameter]) -> None:
    """Build the recipe at every parameter's ends (or choices), and at all lows and all highs at once."""
    for p in parameters:
        for value in p.corners():
            try:
                apply(recipe, {p.name: value})
            except ValueError as e:
                raise ValueError(f"search.{p.name} = {value!r} makes an invalid recipe: {e}") from e
    for end in ("low", "high"):
        values = {p.name: getattr(p, end) for p in parameters if p.choices is None}
        try:
            apply(recipe, values)
        except ValueError as e:
            raise ValueError(f"the search space's {end} ends together make an invalid recipe: {e}") from e


def load_search_recipe(path: str | Path) -> tuple[TrainingConfig, list[Parameter]]:
    """A recipe file and its `search:` space, checked against each other.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the recipe or its search space is bad (see `parse_search`, `check_search`).
    """
    path = Path(path)
    values = read_recipe_file(path)
    space = values.pop(SEARCH_KEY, None)
    try:
        recipe = recipe_from_dict(values)
        parameters = parse_search(space)
        check_search(recipe, parameters)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    return recipe, parameters


def base_values(recipe: TrainingConfig, parameters: list[Parameter]) -> dict[str, Any] | None:
    """The recipe's own values of the searched fields as Optuna params, or None if one lies outside the space."""
    data = {**recipe.to_dict(), **recipe.to_dict()["model"]}
    values = {p.name: data[p.name] for p in parameters}
    if not all(p.contains(values[p.name]) for p in parameters):
        return None
    return {p.name: p.encode(values[p.name]) for p in parameters}
