"""Hyperparameter search with Optuna over a recipe's declared search space, scored on validation only.

A recipe declares its search space under a `search:` key (`lstm-forecaster train` ignores it):

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
that would change what is scored (the data, its range and splits, the target, horizon, quantile
levels, loss) or that only add noise (`seed`).

Each trial trains the recipe with the trial's values and is scored on the **validation split only**
(`train(..., evaluate_split="validation")`): the mean pinball loss of its quantile forecasts, in price
(or volume) units, over every validation origin and step; for a point model the pinball loss of
level 0.5, half the MAE. Every epoch reports the validation loss of the training objective to Optuna,
whose `MedianPruner` stops a trial that is worse than the median of earlier trials at the same epoch.
The test split is never read by a trial; once the study ends, the best trial's recipe is written
as `best.yaml` and trained into `model/`, whose metrics are read once on the test split as for any
trained model.

The study lives in an Optuna RDB storage: by default the SQLite file `study.db` in the output folder,
or any SQLAlchemy URL (`--storage postgresql://user@host/db`), so several processes or machines can
share one study; each worker runs `--trials` trials of it. The study's table of trials is written as
`trials.csv` and `trials.md`, and `tuning.json` records the search, the storage and the best trial.

Examples
--------
    lstm-forecaster tune --config configs/default.yaml --trials 40 --output runs/tuned
    # two workers on one study, then the best recipe trained once:
    lstm-forecaster tune --config configs/default.yaml --trials 20 --storage sqlite:///runs/study.db \\
        --study btc --output runs/tuned-a --no-train &
    lstm-forecaster tune --config configs/default.yaml --trials 20 --storage sqlite:///runs/study.db \\
        --study btc --output runs/tuned-b --no-train
    lstm-forecaster tune --config configs/default.yaml --trials 0 --storage sqlite:///runs/study.db \\
        --study btc --output runs/tuned

Needs the `tune` extra: `pip install "lstm-forecaster[tune]"` (optuna; psycopg2 for PostgreSQL).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .configuration import LSTMForecasterConfig
from .training import METRICS, TRAINING_ARGS, TrainingConfig, load_training_data, recipe_from_dict, train

SEARCH_KEY = "search"
STORAGE_NAME = "study.db"
BEST_RECIPE = "best.yaml"
TABLE_CSV = "trials.csv"
TABLE_MD = "trials.md"
SUMMARY = "tuning.json"
MODEL_DIR = "model"
OBJECTIVE = "validation pinball loss (price units; point models: level 0.5, half the MAE)"
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
    if not path.is_file():
        raise FileNotFoundError(2, "no such recipe file", str(path))
    try:
        values = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read recipe {path}: {str(e).splitlines()[0]}") from e
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of keys to values. Got {type(values).__name__}.")
    values = dict(values)
    space = values.pop(SEARCH_KEY, None)
    try:
        recipe = recipe_from_dict(values)
        parameters = parse_search(space)
        check_search(recipe, parameters)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    return recipe, parameters


# ----- storage --------------------------------------------------------------------------------------


def redact(url: str) -> str:
    """`url` with its password hidden, for printing and for `tuning.json`."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without anything after a '@'
        return url.split("@")[-1] if "@" in url else url


def open_storage(url: str):
    """An Optuna RDB storage on `url` (SQLite or any SQLAlchemy URL); `ValueError` if it cannot be opened."""
    import optuna

    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"--storage must be a database URL such as sqlite:///study.db or postgresql://... Got {url!r}."
        )
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings():
            # The heartbeat (a crashed worker's trial is marked failed) is flagged experimental.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=30, grace_period=120)
    except Exception as e:  # noqa: BLE001 - every driver, dialect and connection failure is the user's URL
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"cannot open the study storage {redact(url)}: {type(e).__name__}: {first}") from e


# ----- the study ------------------------------------------------------------------------------------


def _validation_score(report: dict) -> float:
    """The objective from a validation report: the model's mean pinball loss (point: MAE / 2)."""
    if "quantile" in report:
        return float(report["quantile"]["model"]["pinball"])
    return 0.5 * float(report["models"]["model"]["mae"])


def _baseline_score(report: dict) -> float | None:
    """The same loss for the rolling-volatility baseline (quantile) or the naive last value (point)."""
    if "quantile" in report:
        return float(report["quantile"]["rolling_volatility"]["pinball"])
    return 0.5 * float(report["models"]["naive_last"]["mae"])


def _objective(recipe, parameters, df, scratch: Path, cpu: bool):
    import optuna

    def objective(trial) -> float:
        values = {p.name: p.suggest(trial) for p in parameters}
        trial_recipe = apply(recipe, values)
        start = time.perf_counter()

        def on_epoch(entry: dict) -> None:
            trial.report(entry["val_loss"], entry["epoch"])
            trial.set_user_attr("epochs_run", entry["epoch"])
            if trial.should_prune():
                trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
                raise optuna.TrialPruned(f"validation loss {entry['val_loss']:.4g} at epoch {entry['epoch']}")

        folder = Path(tempfile.mkdtemp(prefix=f"trial-{trial.number}-", dir=scratch))
        try:
            out = train(
                trial_recipe,
                folder / "model",
                data=df,
                cpu=cpu,
                progress=False,
                evaluate_split="validation",
                on_epoch=on_epoch,
            )
            report = json.loads((out / METRICS).read_text())
            args = json.loads((out / TRAINING_ARGS).read_text())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if report.get("split") != "validation":  # the test split is never a trial's score
            raise RuntimeError(f"a trial was scored on the {report.get('split')!r} split")
        score, baseline = _validation_score(report), _baseline_score(report)
        trial.set_user_attr("split", report["split"])
        trial.set_user_attr("best_epoch", args["best_epoch"])
        trial.set_user_attr("epochs_run", args["epochs_run"])
        trial.set_user_attr("val_loss", args["best_val_loss"])
        trial.set_user_attr("baseline", baseline)
        trial.set_user_attr("ratio_to_baseline", score / baseline if baseline else None)
        trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
        return score

    return objective


def study_table(study, parameters: list[Parameter]) -> pd.DataFrame:
    """One row per trial of the study: number, state, objective, the parameters, epochs, ratio, seconds.

    Completed trials come first, best first; then pruned, failed and running ones by number.
    """
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "state": t.state.name.lower(), "val_pinball": t.value}
        for p in parameters:
            value = p.decode(t.params[p.name]) if p.name in t.params else None
            row[p.name] = json.dumps(value) if isinstance(value, list) else value
        attrs = t.user_attrs
        row["ratio_to_baseline"] = attrs.get("ratio_to_baseline")
        row["epochs_run"] = attrs.get("epochs_run")
        row["best_epoch"] = attrs.get("best_epoch")
        row["pruned_at_epoch"] = t.last_step if t.state == TrialState.PRUNED else None
        row["seconds"] = attrs.get("seconds")
        rows.append(row)
    columns = ["trial", "state", "val_pinball", *[p.name for p in parameters]]
    columns += ["ratio_to_baseline", "epochs_run", "best_epoch", "pruned_at_epoch", "seconds"]
    table = pd.DataFrame(rows, columns=columns)
    order = {"complete": 0, "pruned": 1, "fail": 2, "running": 3, "waiting": 4}
    table["_order"] = table["state"].map(order).fillna(5)
    table = table.sort_values(["_order", "val_pinball", "trial"], na_position="last").drop(columns="_order")
    return table.reset_index(drop=True)


def _markdown(table: pd.DataFrame) -> str:
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return f"{value:.6g}"
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class TuningResult:
    """What `tune` left in its output folder."""

    output: Path
    study_name: str
    best_number: int
    best_value: float
    best_params: dict
    best_recipe: Path
    model: Path | None
    trials: pd.DataFrame


def tune(
    recipe: TrainingConfig,
    parameters: list[Parameter],
    output: str | Path,
    trials: int,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    data=None,
    data_revision: str | None = None,
    seed: int | None = None,
    pruner=None,
    train_best: bool = True,
    cpu: bool = False,
    progress: bool | None = None,
    recipe_file: str | None = None,
) -> TuningResult:
    """Run `trials` trials of the study, write its table and best recipe, train the best into `output/model`.

    Parameters
    ----------
    recipe, parameters
        The base recipe and its search space (`load_search_recipe`).
    output : str or Path
        Folder for `study.db` (the default storage), `trials.csv`, `trials.md`, `tuning.json`,
        `best.yaml` and `model/`. An existing folder continues its study.
    trials : int
        Trials this process runs (0: only write the table and train the best of the study so far).
        Several processes sharing a storage each run theirs; the study counts every trial once.
    storage : str, optional
        SQLAlchemy URL of the study (default: `sqlite:///OUTPUT/study.db`).
    study_name : str, optional
        Name of the study in the storage (default: the recipe's name).
    data, data_revision
        OHLCV data overriding the recipe's (as for `train`).
    seed : int, optional
        Seed of the TPE sampler (default: fresh entropy, so parallel workers explore differently).
        Each trial trains with the recipe's own `seed`.
    pruner : optuna.pruners.BasePruner, optional
        Default: `MedianPruner(n_startup_trials=5, n_warmup_steps=3)`.
    train_best : bool
        Train the best recipe into `output/model` (its test metrics read once) at the end.
    """
    import optuna
    from tqdm.auto import tqdm

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 0:
        raise ValueError(f"--trials must be a non-negative integer. Got {trials!r}.")
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give a folder name")
    study_name = study_name or recipe.name
    df, _ = load_training_data(recipe, data, data_revision)  # read once; fails before any trial
    if storage is None:
        output.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{(output / STORAGE_NAME).resolve()}"
    url = storage
    opened = open_storage(url)  # a bad URL fails before anything is written
    output.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=opened,
        study_name=study_name,
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3),
    )
    if study.direction != optuna.study.StudyDirection.MINIMIZE:
        raise ValueError(f"study {study_name!r} in {redact(url)} maximizes its objective; give another --study")

    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=trials, disable=not show, desc=f"tune {study_name}", unit="trial", dynamic_ncols=True)

    def report(study, trial) -> None:
        bar.update(1)
        values = ", ".join(
            f"{p.name}={_short(p.decode(trial.params[p.name]))}" for p in parameters if p.name in trial.params
        )
        seconds = trial.user_attrs.get("seconds")
        took = f", {seconds:.1f} s" if seconds is not None else ""
        if trial.state.name == "COMPLETE":
            best = study.best_trial
            what = f"val pinball {trial.value:.6g} (best {best.value:.6g}, trial {best.number})"
        elif trial.state.name == "PRUNED":
            what = f"pruned at epoch {trial.last_step}"
        else:
            what = f"{trial.state.name.lower()}"
        tqdm.write(f"trial {trial.number}: {what} | {values}{took}", file=sys.stderr)

    scratch = Path(tempfile.mkdtemp(prefix=".trials-", dir=output))
    try:
        if trials:
            study.optimize(
                _objective(recipe, parameters, df, scratch, cpu),
                n_trials=trials,
                callbacks=[report],
                catch=(FloatingPointError,),
            )
    finally:
        bar.close()
        shutil.rmtree(scratch, ignore_errors=True)

    table = study_table(study, parameters)
    _write_text(output / TABLE_CSV, table.to_csv(index=False))
    _write_text(
        output / TABLE_MD, f"Study `{study_name}`, objective: {OBJECTIVE}, lower is better.\n\n" + _markdown(table)
    )
    completed = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not completed:
        raise ValueError(
            f"no trial of study {study_name!r} completed ({len(table)} trials: {', '.join(table['state'])}); "
            "run more trials or widen the search"
        )
    best = study.best_trial
    best_params = {p.name: p.decode(best.params[p.name]) for p in parameters if p.name in best.params}
    best_recipe = apply(recipe, best_params)
    header = (
        f"# Best recipe of study {study_name!r} ({redact(url)}): trial {best.number} of {len(table)},\n"
        f"# {OBJECTIVE} {best.value:.6g}. Written by `lstm-forecaster tune`; train it with\n"
        f"#   lstm-forecaster train --config {output / BEST_RECIPE} --output runs/NAME\n"
    )
    _write_text(output / BEST_RECIPE, header + yaml.safe_dump(best_recipe.to_dict(), sort_keys=False))
    summary = {
        "study": study_name,
        "storage": redact(url),
        "objective": OBJECTIVE,
        "direction": "minimize",
        "recipe": recipe_file,
        "search": [p.describe() for p in parameters],
        "sampler": {"name": "TPESampler", "seed": seed},
        "pruner": type(study.pruner).__name__,
        "trials": {state: int((table["state"] == state).sum()) for state in sorted(set(table["state"]))},
        "best": {"trial": best.number, "value": best.value, "params": best_params, **best.user_attrs},
    }
    _write_text(output / SUMMARY, json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n")
    model = None
    if train_best:
        model = train(
            best_recipe,
            output / MODEL_DIR,
            data=data,
            data_revision=data_revision,
            overwrite=True,
            cpu=cpu,
            progress=progress,
            recipe_file=str(output / BEST_RECIPE),
        )
    return TuningResult(output, study_name, best.number, best.value, best_params, output / BEST_RECIPE, model, table)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, list) else str(value)


def tune_command(args: argparse.Namespace) -> int:
    """`lstm-forecaster tune`: search a recipe's space, write the study's table, train the best recipe."""
    try:
        import optuna  # noqa: F401
    except ImportError as e:
        raise ValueError("tuning needs optuna: install the tune extra, pip install 'lstm-forecaster[tune]'") from e
    recipe, parameters = load_search_recipe(args.config)
    result = tune(
        recipe,
        parameters,
        args.output,
        args.trials,
        storage=args.storage,
        study_name=args.study,
        data=args.data,
        data_revision=args.data_revision,
        seed=args.seed,
        train_best=not args.no_train,
        cpu=args.cpu,
        recipe_file=args.config,
    )
    print(
        f"study {result.study_name}: {len(result.trials)} trials; best trial {result.best_number}, {OBJECTIVE} {result.best_value:.6g}"
    )
    print(f"  {', '.join(f'{k}={_short(v)}' for k, v in result.best_params.items())}")
    print(f"wrote {result.output / TABLE_MD}, {result.output / TABLE_CSV}, {result.best_recipe}")
    if result.model is not None:
        from .evaluation import metrics_table

        print(f"wrote {result.model} (the best recipe trained; test split read once)")
        print(metrics_table(json.loads((result.model / METRICS).read_text())), end="")
    return 0
