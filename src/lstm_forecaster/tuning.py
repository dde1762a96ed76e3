"""Hyperparameter search with Optuna over a recipe's declared search space, scored on validation only.

The search space is the recipe's `search:` mapping of fields to ranges or choices (`search.py`).

Each trial trains the recipe with the trial's values and is scored on the **validation split only**
(`train(..., evaluate_split="validation")`): the mean pinball loss of its quantile forecasts, in price
(or volume) units, over every validation origin and step; for a point model the pinball loss of
level 0.5, half the MAE. For a panel, whose assets' dollars and cents do not add up, it is
unit-free: the geometric mean over the assets of the pinball ratio to the rolling-volatility
baseline (point models: the pooled MASE). Every trial's points are checked to be the study's. Every epoch reports the validation loss of the training objective to Optuna,
whose `MedianPruner` stops a trial that is worse than the median of earlier trials at the same epoch.
A new study's first trial is the recipe as written, so the table always holds it beside the others,
each with its ratio to the EWMA (RiskMetrics 0.94) quantiles on the same validation points.
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

import numpy as np
import pandas as pd
import yaml

from .model_folder import METRICS, TRAINING_ARGS
from .panel import is_panel
from .recipe import TrainingConfig
from .search import Parameter, apply, base_values, load_search_recipe
from .training import train
from .training_data import load_training_data

STORAGE_NAME = "study.db"
BEST_RECIPE = "best.yaml"
TABLE_CSV = "trials.csv"
TABLE_MD = "trials.md"
SUMMARY = "tuning.json"
MODEL_DIR = "model"
OBJECTIVE = "validation pinball loss (price units; point models: level 0.5, half the MAE)"
_OPEN_ATTEMPTS = 5
_SCHEMA_RACES = ("already exists", "UNIQUE constraint failed", "database is locked", "duplicate key")
PANEL_OBJECTIVE = (
    "validation pinball ratio to rolling volatility, geometric mean over the assets (point models: pooled MASE)"
)


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
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                # The heartbeat (a crashed worker's trial is marked failed) is flagged experimental.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=30, grace_period=120
                )
        except Exception as e:  # noqa: BLE001 - every driver, dialect and connection failure is the user's URL
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            # Workers starting together on a new database race to create its tables: the loser retries.
            if attempt + 1 < _OPEN_ATTEMPTS and any(race in first for race in _SCHEMA_RACES):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise ValueError(f"cannot open the study storage {redact(url)}: {type(e).__name__}: {first}") from e
    raise AssertionError("unreachable")


# ----- the study ------------------------------------------------------------------------------------


def ewma_pinball(recipe: TrainingConfig, df: pd.DataFrame, split_name: str = "validation") -> float | None:
    """Pinball loss of the EWMA (RiskMetrics 0.94) baseline on the points a model is scored on.

    `validation`: the points of `train(..., evaluate_split="validation")`, which every trial is
    scored on: each (origin, step) from the first validation origin whose target lies at or before
    the last validation row. `test`: those of the held-out test backtest, each origin from the first
    test origin with all its steps known. The cuts are taken on the raw rows, so they are the same
    for every trial whatever its features and context. The baseline is fitted on the training rows.
    None for point models and volume targets (the baseline forecasts close quantiles).
    """
    from .baselines import baseline_quantiles
    from .data import Samples
    from .metrics import pinball_loss
    from .training_data import chronological_split

    if split_name not in ("validation", "test"):
        raise ValueError(f"split_name must be 'validation' or 'test'. Got {split_name!r}.")
    config = recipe.model
    if not config.quantiles or config.target == "volume" or is_panel(df):
        return None  # a panel's objective is its pooled ratio to a baseline already (`_validation_score`)
    samples = Samples(df, config.features, config.target, config.context_length, config.horizon)
    split = chronological_split(df, samples, recipe)
    prices = df["close"]
    position = {t: i for i, t in enumerate(df.index)}
    train_size = position[samples.index[split.train_last]] + 1
    if split_name == "validation":
        first = position[samples.index[split.validation[0]]]
        last = position[samples.index[split.validation_last]]
    else:
        first, last = position[samples.index[split.test[0]]], len(df) - 1
    origins = np.arange(first, last)
    q = baseline_quantiles(prices, origins, train_size, config.horizon, config.quantiles, names=["ewma"])["ewma"]
    close = prices.to_numpy(dtype="float64")
    rows = origins[:, None] + np.arange(1, config.horizon + 1)[None, :]
    known = rows <= last
    if split_name == "test":
        known &= known.all(axis=1, keepdims=True)  # the test backtest keeps complete origins only
    forecast = close[origins, None, None] * np.exp(q)
    return float(pinball_loss(close[rows[known]], forecast[known], config.quantiles))


def validation_window(recipe: TrainingConfig, df: pd.DataFrame) -> tuple[str, str] | None:
    """(first origin, last target timestamp) of the validation points of one series, as ISO strings.

    Every trial's report must show these: a searched field that moved the split would be caught.
    None for a panel (each asset has its own points; the cuts are the recipe's dates).
    """
    from .data import Samples
    from .training_data import chronological_split

    if is_panel(df):
        return None
    config = recipe.model
    samples = Samples(df, config.features, config.target, config.context_length, config.horizon)
    split = chronological_split(df, samples, recipe)
    index = samples.index
    return index[split.validation[0]].isoformat(), index[split.validation_last].isoformat()


def _validation_score(report: dict) -> float:
    """The objective from a validation report: the model's mean pinball loss (point: MAE / 2).

    A panel's losses are in each asset's own units and do not add up: its objective is the pooled,
    unit-free ratio, the geometric mean over assets of the model's pinball loss over the
    rolling-volatility baseline's (point models: the pooled MASE).
    """
    if report.get("panel"):
        pooled = report["pooled"]
        if "pinball_ratio" in pooled:
            return float(pooled["pinball_ratio"]["rolling_volatility"])
        return float(pooled["mase"]["model"])
    if "quantile" in report:
        return float(report["quantile"]["model"]["pinball"])
    return 0.5 * float(report["models"]["model"]["mae"])


def _baseline_score(report: dict, ewma: float | None) -> float | None:
    """The same loss for the reference baseline: EWMA (quantile models), else the naive last value;
    for a panel, whose objective is already a ratio to the rolling-volatility baseline: 1."""
    if report.get("panel"):
        return 1.0
    if "quantile" in report:
        return ewma
    return 0.5 * float(report["models"]["naive_last"]["mae"])


def _reference(ewma: float | None, panel: bool) -> str:
    """What `ratio_to_baseline` compares with."""
    if ewma is not None:
        return "the EWMA (RiskMetrics 0.94) quantiles"
    if panel:
        return "the rolling-volatility quantiles (the objective is already the pooled ratio)"
    return "the naive last value"


def _ratio(trial, ewma: float | None) -> float | None:
    """A finished trial's objective over the reference baseline's on the same points."""
    reference = ewma if ewma is not None else trial.user_attrs.get("baseline")
    return trial.value / reference if trial.value is not None and reference else None


def _objective(recipe, parameters, df, scratch: Path, cpu: bool, ewma: float | None, window):
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
                compare_baselines=False,  # a trial is scored on its own pinball loss; no GARCH fits
            )
            report = json.loads((out / METRICS).read_text())
            args = json.loads((out / TRAINING_ARGS).read_text())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if report.get("split") != "validation":  # the test split is never a trial's score
            raise RuntimeError(f"a trial was scored on the {report.get('split')!r} split")
        if window is not None and (report["first_origin"], report["last_timestamp"]) != window:
            raise RuntimeError(
                f"trial {trial.number} was scored on {report['first_origin']} to {report['last_timestamp']}, "
                f"not on the study's validation points {window[0]} to {window[1]}: a searched field moved the split"
            )
        score, baseline = _validation_score(report), _baseline_score(report, ewma)
        trial.set_user_attr("split", report["split"])
        trial.set_user_attr("best_epoch", args["best_epoch"])
        trial.set_user_attr("epochs_run", args["epochs_run"])
        trial.set_user_attr("val_loss", args["best_val_loss"])
        trial.set_user_attr("baseline", baseline)
        trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
        return score

    return objective


def study_table(study, parameters: list[Parameter], ewma: float | None = None) -> pd.DataFrame:
    """One row per trial of the study: number, state, objective, the parameters, epochs, ratio, seconds.

    `ratio_to_baseline` is the objective over `ewma` (the EWMA baseline's validation pinball loss),
    or over the trial's recorded naive baseline for point models.

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
        row["base_recipe"] = bool(attrs.get("base_recipe", False))
        row["ratio_to_baseline"] = _ratio(t, ewma)
        row["epochs_run"] = attrs.get("epochs_run")
        row["best_epoch"] = attrs.get("best_epoch")
        row["pruned_at_epoch"] = t.last_step if t.state == TrialState.PRUNED else None
        row["seconds"] = attrs.get("seconds")
        rows.append(row)
    columns = ["trial", "state", "val_pinball", *[p.name for p in parameters]]
    columns += ["base_recipe", "ratio_to_baseline", "epochs_run", "best_epoch", "pruned_at_epoch", "seconds"]
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
    objective: str = OBJECTIVE


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
    names = optuna.study.get_all_study_names(opened)
    if not trials and study_name not in names:
        raise ValueError(
            f"no study {study_name!r} in {redact(url)} (studies there: {', '.join(names) or 'none'}); "
            "run with --trials N (N > 0) to start it"
        )
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

    ewma = ewma_pinball(recipe, df, "validation")
    panel = is_panel(df)  # scored on the pooled ratio to the rolling-volatility baseline
    short_name = "EWMA" if ewma is not None else ("rolling volatility" if panel else "naive")
    base = base_values(recipe, parameters)
    if base is not None and trials:
        # The recipe as written is a trial of the study (its first, in a new one): the table then
        # shows it beside the others on the same validation points, and the best is never worse.
        study.enqueue_trial(base, user_attrs={"base_recipe": True}, skip_if_exists=True)

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
            ratio = _ratio(trial, ewma)
            versus = f", {ratio:.4f}x {short_name}" if ratio else ""
            what = f"val pinball {trial.value:.6g}{versus} (best {best.value:.6g}, trial {best.number})"
        elif trial.state.name == "PRUNED":
            what = f"pruned at epoch {trial.last_step}"
        else:
            what = f"{trial.state.name.lower()}"
        tqdm.write(f"trial {trial.number}: {what} | {values}{took}", file=sys.stderr)

    scratch = Path(tempfile.mkdtemp(prefix=".trials-", dir=output))
    try:
        if trials:
            study.optimize(
                _objective(recipe, parameters, df, scratch, cpu, ewma, validation_window(recipe, df)),
                n_trials=trials,
                callbacks=[report],
                catch=(FloatingPointError,),
            )
    finally:
        bar.close()
        shutil.rmtree(scratch, ignore_errors=True)

    table = study_table(study, parameters, ewma)
    objective = PANEL_OBJECTIVE if panel else OBJECTIVE
    _write_text(output / TABLE_CSV, table.to_csv(index=False))
    _write_text(
        output / TABLE_MD,
        f"Study `{study_name}`, objective: {objective}, lower is better; `ratio_to_baseline`: against "
        f"{_reference(ewma, panel)} on the same points.\n\n" + _markdown(table),
    )
    completed = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if table.empty:
        raise ValueError(f"study {study_name!r} in {redact(url)} has no trials yet; run with --trials N (N > 0)")
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
        f"# {objective} {best.value:.6g}. Written by `lstm-forecaster tune`; train it with\n"
        f"#   lstm-forecaster train --config {output / BEST_RECIPE} --output runs/NAME\n"
    )
    _write_text(output / BEST_RECIPE, header + yaml.safe_dump(best_recipe.to_dict(), sort_keys=False))
    summary = {
        "study": study_name,
        "storage": redact(url),
        "objective": objective,
        "direction": "minimize",
        "recipe": recipe_file,
        "search": [p.describe() for p in parameters],
        "sampler": {"name": "TPESampler", "seed_of_this_run": seed},
        "pruner": type(study.pruner).__name__,
        "baseline": {
            "name": "ewma (RiskMetrics 0.94)"
            if ewma is not None
            else ("rolling volatility (pooled ratio)" if panel else "naive last value"),
            "validation_pinball": ewma,
        },
        "trials": {state: int((table["state"] == state).sum()) for state in sorted(set(table["state"]))},
        "best": {
            **best.user_attrs,
            "trial": best.number,
            "value": best.value,
            "ratio_to_baseline": _ratio(best, ewma),
            "params": best_params,
        },
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
    return TuningResult(
        output, study_name, best.number, best.value, best_params, output / BEST_RECIPE, model, table, objective
    )


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
        f"study {result.study_name}: {len(result.trials)} trials; best trial {result.best_number}, {result.objective} {result.best_value:.6g}"
    )
    print(f"  {', '.join(f'{k}={_short(v)}' for k, v in result.best_params.items())}")
    print(f"wrote {result.output / TABLE_MD}, {result.output / TABLE_CSV}, {result.best_recipe}")
    if result.model is not None:
        from .evaluation import metrics_table

        print(f"wrote {result.model} (the best recipe trained; test split read once)")
        print(metrics_table(json.loads((result.model / METRICS).read_text())), end="")
    return 0
