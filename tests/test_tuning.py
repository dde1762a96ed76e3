"""Optuna tuning: two workers share one SQLite study, trials scored on validation, pruning, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from lstm_forecaster import load_ohlcv, sample_path
from lstm_forecaster.cli import main
from lstm_forecaster.search import apply, load_search_recipe, parse_search
from lstm_forecaster.training import load_recipe
from lstm_forecaster.tuning import ewma_pinball, tune

TINY = {
    "name": "tune-tiny",
    "model": {
        "features": ["log_return", "volatility_5"],
        "target": "log_return",
        "context_length": 8,
        "horizon": 1,
        "hidden_size": 4,
        "quantiles": [0.1, 0.5, 0.9],
    },
    "epochs": 2,
    "batch_size": 64,
    "loss": "pinball",
    "head_init": "baseline",
    "seed": 0,
    "search": {
        "hidden_size": {"low": 3, "high": 6},
        "learning_rate": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
        "features": [["log_return", "volatility_5"], ["log_return"]],
    },
}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tune")
    load_ohlcv(sample_path()).iloc[-300:].to_csv(folder / "btc.csv")
    (folder / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "data": str(folder / "btc.csv")}, sort_keys=False))
    return folder


def test_two_workers_share_one_sqlite_study_and_every_trial_counts_once(work, tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    common = ["--config", str(work / "tiny.yaml"), "--storage", storage, "--study", "shared"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "lstm_forecaster.cli", "tune", *common, "--trials", "2", "--no-train"]
            + ["--seed", str(seed), "--output", str(tmp_path / f"worker-{seed}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in (1, 2)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err[-3000:]
        assert err.count(": val pinball ") == 2  # one progress line per trial of this worker

    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert {t.user_attrs["split"] for t in trials} == {"validation"}  # never the test split
    assert any(t.user_attrs.get("base_recipe") for t in trials)  # the recipe as written is among them

    # --trials 0: the study's table and best recipe, trained once into model/ (its test split read once)
    out = tmp_path / "tuned"
    assert main(["tune", *common, "--trials", "0", "--output", str(out)]) == 0
    assert "best trial" in capsys.readouterr().out
    table = pd.read_csv(out / "trials.csv")
    assert sorted(table["trial"]) == [0, 1, 2, 3] and list(table["val_pinball"]) == sorted(table["val_pinball"])
    assert "| trial | state | val_pinball | hidden_size | learning_rate | features |" in (out / "trials.md").read_text()
    best = study.best_trial
    recipe, parameters = load_search_recipe(work / "tiny.yaml")
    best_params = {p.name: p.decode(best.params[p.name]) for p in parameters}
    assert load_recipe(out / "best.yaml") == apply(recipe, best_params)
    summary = json.loads((out / "tuning.json").read_text())
    assert summary["best"]["trial"] == best.number and summary["trials"] == {"complete": 4}
    ewma = ewma_pinball(recipe, load_ohlcv(work / "btc.csv"), "validation")  # the same points for every trial
    assert summary["baseline"]["validation_pinball"] == ewma
    assert table["ratio_to_baseline"].tolist() == pytest.approx((table["val_pinball"] / ewma).tolist(), rel=1e-12)
    args = json.loads((out / "model" / "training_args.json").read_text())
    assert args["recipe_config"] == apply(recipe, best_params).to_dict()
    assert json.loads((out / "model" / "metrics.json").read_text())["split"] == "test"


def test_bad_trials_are_pruned_at_the_epoch_they_report(work, tmp_path):
    recipe, parameters = load_search_recipe(work / "tiny.yaml")
    prune_all = optuna.pruners.ThresholdPruner(upper=-1.0)  # any validation loss is above it
    with pytest.raises(ValueError, match="no trial of study 'tune-tiny' completed"):
        tune(recipe, parameters, tmp_path / "out", 2, seed=0, pruner=prune_all, train_best=False)
    table = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert list(table["state"]) == ["pruned", "pruned"] and list(table["pruned_at_epoch"]) == [1, 1]
    assert list(table["base_recipe"]) == [True, False]  # trial 0 is the recipe as written
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["study.db", "trials.csv", "trials.md"]


def test_train_ignores_the_search_key_and_choices_round_trip(work):
    assert load_recipe(work / "tiny.yaml").model.hidden_size == 4
    (features,) = [p for p in parse_search(TINY["search"]) if p.name == "features"]
    assert [features.decode(features.encode(c)) for c in features.choices] == TINY["search"]["features"]


@pytest.mark.parametrize(
    "search, storage, message",
    [
        ({"hidden_size": {"low": 8, "high": 4}}, None, "search.hidden_size has an inverted range: low 8 > high 4"),
        ({"dropout": {"low": 0.1, "high": 0.1}}, None, "search.dropout has an empty range"),
        ({"cell": []}, None, "search.cell is an empty list of choices"),
        ({"hiden_size": {"low": 4, "high": 8}}, None, "unknown parameter 'search.hiden_size'; accepted: batch_size"),
        ({"train_fraction": {"low": 0.5, "high": 0.7}}, None, "search.train_fraction cannot be searched"),
        ({"hidden_size": {"low": 4.5, "high": 8}}, None, "search.hidden_size.low must be an integer"),
        ({"learning_rate": {"low": 0.0, "high": 0.1, "log": True}}, None, "low must be positive"),
        ({"dropout": {"low": 0.0, "high": 1.5}}, None, "search.dropout = 1.5 makes an invalid recipe"),
        (None, None, "the recipe has no search space"),
        (TINY["search"], "sqlite:///{tmp}/no/such/folder/study.db", "cannot open the study storage sqlite:///"),
        (TINY["search"], "postgresql://tuner:s3cret@127.0.0.1:1/optuna", "cannot open the study storage postgresql"),
        (TINY["search"], "study.db", "--storage must be a database URL"),
        (TINY["search"], "sqlite:///{tmp}/empty.db", "no study 'tune-tiny' in sqlite:///"),
    ],
)
def test_bad_input_exits_2_with_one_line(search, storage, message, work, tmp_path, capsys):
    recipe = {k: v for k, v in TINY.items() if k != "search"} | {"data": str(work / "btc.csv")}
    if search is not None:
        recipe["search"] = search
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(recipe))
    trials = "0" if storage and "empty.db" in storage else "1"
    argv = ["tune", "--config", str(tmp_path / "bad.yaml"), "--trials", trials, "--output", str(tmp_path / "out")]
    if storage:
        argv += ["--storage", storage.format(tmp=tmp_path)]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert "s3cret" not in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_trial_scored_on_other_points_than_the_study_stops_the_study(work, tmp_path, monkeypatch):
    import lstm_forecaster.tuning as tuning

    recipe, parameters = load_search_recipe(work / "tiny.yaml")
    expected = tuning.validation_window(recipe, load_ohlcv(work / "btc.csv"))
    assert expected[0] < expected[1]
    monkeypatch.setattr(tuning, "validation_window", lambda recipe, df: ("2000-01-01T00:00:00+00:00", expected[1]))
    with pytest.raises(RuntimeError, match="a searched field moved the split"):
        tune(recipe, parameters, tmp_path / "out", 1, seed=0, train_best=False)


def test_the_objective_of_a_panel_is_its_unit_free_pooled_ratio():
    from lstm_forecaster.tuning import _baseline_score, _validation_score

    panel = {"panel": True, "pooled": {"pinball_ratio": {"rolling_volatility": 0.98, "constant_quantile": 0.9}}}
    assert _validation_score(panel) == 0.98 and _baseline_score(panel, None) == 1.0  # already a ratio
    assert _validation_score({"panel": True, "pooled": {"mase": {"model": 1.02}}}) == 1.02
    point = {"models": {"model": {"mae": 4.0}, "naive_last": {"mae": 5.0}}}
    assert _validation_score(point) == 2.0 and _baseline_score(point, None) == 2.5  # pinball at 0.5 = MAE / 2


def test_a_worker_that_loses_the_race_to_create_the_tables_retries(tmp_path, monkeypatch):
    import lstm_forecaster.tuning as tuning

    real, calls = optuna.storages.RDBStorage, []

    def racing(url, **kwargs):
        calls.append(url)
        if len(calls) == 1:  # what SQLite says when another worker created the schema first
            raise RuntimeError("(sqlite3.IntegrityError) UNIQUE constraint failed: alembic_version.version_num")
        return real(url, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    monkeypatch.setattr(tuning.time, "sleep", lambda seconds: None)
    assert tuning.open_storage(f"sqlite:///{tmp_path / 'race.db'}") is not None and len(calls) == 2
