"""Training: recipes, chronological splits, train-only scaling, determinism, resume, the model folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from huggingface_hub import ModelCard

from lstm_forecaster import LSTMForecaster, load_ohlcv, sample_path
from lstm_forecaster.data import Samples
from lstm_forecaster.scaling import Scaler
from lstm_forecaster.training import (
    TrainingConfig,
    WindowBatches,
    checkpoint_dir,
    chronological_split,
    compute_loss,
    evaluate_model,
    get_lr,
    init_head_at_baseline,
    load_recipe,
    recipe_from_dict,
    train,
    volatility_weights,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

TINY = {
    "name": "tiny",
    "model": {
        "features": ["log_return", "volatility_5", "log_range"],
        "target": "log_return",
        "context_length": 8,
        "horizon": 2,
        "hidden_size": 8,
        "quantiles": [0.1, 0.5, 0.9],
        "scaling": "standard",
    },
    "epochs": 2,
    "batch_size": 32,
    "loss": "pinball",
    "head_init": "baseline",
    "patience": 0,
    "seed": 3,
}


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return load_ohlcv(sample_path()).iloc[-420:]


def tiny(**changes) -> TrainingConfig:
    values = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        if key == "model":
            values["model"].update(value)
        else:
            values[key] = value
    return recipe_from_dict(values)


@pytest.fixture(scope="module")
def trained(df, tmp_path_factory) -> Path:
    return train(tiny(), tmp_path_factory.mktemp("runs") / "tiny", data=df, progress=False)


# ----- recipes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_recipe_loads(path):
    recipe = load_recipe(path)
    assert recipe.train_fraction + recipe.validation_fraction < 1
    LSTMForecaster(recipe.model)  # the architecture builds


def test_recipes_of_every_system_exist():
    names = {p.stem for p in CONFIGS}
    assert {
        "default",
        "crypto_price_forecaster",
        "volume_lstm",
        "bidirectional_lstm",
        "pytorch_ohlcv_lstm",
        "lstm_returns_hourly",
        "gru_returns_hourly",
    } <= names


def test_recipe_architectures_are_the_systems():
    cpf = load_recipe(ROOT / "configs/crypto_price_forecaster.yaml")
    assert LSTMForecaster(cpf.model).num_parameters() == 336_001
    assert len(cpf.model.features) == 10 and cpf.model.scaling == "minmax" and cpf.model.dropout == 0.2
    bidi = load_recipe(ROOT / "configs/bidirectional_lstm.yaml")
    assert bidi.model.hidden_size == [49, 98, 49] and bidi.model.bidirectional and bidi.model.scaling == "window"
    assert (
        bidi.model.context_length == 49 and bidi.batch_size == 1024 and bidi.validation_fraction == pytest.approx(0.1)
    )
    ohlcv = load_recipe(ROOT / "configs/pytorch_ohlcv_lstm.yaml")
    assert ohlcv.loss_on_all_steps and ohlcv.learning_rate == 0.01 and ohlcv.model.hidden_size == 10
    assert ohlcv.model.num_layers == 2 and ohlcv.model.scaling == "standard"
    volume = load_recipe(ROOT / "configs/volume_lstm.yaml")
    assert volume.model.features == ["volume"] and volume.model.hidden_size == 50 and volume.batch_size == 32
    cells = {load_recipe(ROOT / f"configs/{c}_returns_hourly.yaml").model.cell for c in ("lstm", "gru")}
    assert cells == {"lstm", "gru"}


def test_default_recipe_is_quantile_returns():
    recipe = load_recipe(ROOT / "configs/default.yaml")
    assert recipe.model.target == "log_return" and recipe.loss == "pinball"
    assert {0.1, 0.5, 0.9} <= set(recipe.model.quantiles)
    assert recipe.model.quantiles[0] == 0.1 and recipe.model.quantiles[-1] == 0.9  # the 80 % interval


def test_unknown_key_names_it_and_the_accepted_ones(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 3\nlearning_rat: 0.01\n")
    with pytest.raises(ValueError, match=r"unknown key 'learning_rat'.*accepted: .*learning_rate"):
        load_recipe(path)
    path.write_text("model:\n  hiden_size: 3\n")
    with pytest.raises(ValueError, match=r"unknown key 'model.hiden_size'.*hidden_size"):
        load_recipe(path)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"train_fraction": 0.9, "validation_fraction": 0.1}, "leave rows for the test split"),
        ({"optimizer": "sgd"}, "optimizer must be one of adamw, adam"),
        ({"loss": "mse"}, "need loss 'pinball'"),
        ({"model": {"quantiles": None}}, "loss 'pinball' needs quantile levels"),
        ({"model": {"cell": "rnn"}}, "cell must be one of"),
        ({"learning_rate": -1}, "learning_rate must be a non-negative number"),
        ({"loss_weighting": "volume"}, "loss_weighting must be one of none, inverse_volatility"),
        (
            {"head_init": "persistence", "loss": "mse", "model": {"target": "close", "quantiles": None}},
            "needs target 'log_return'",
        ),
    ],
)
def test_bad_recipe_values(changes, match):
    with pytest.raises(ValueError, match=match):
        tiny(**changes)


def test_recipe_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(ValueError, match="cannot read recipe"):
        load_recipe(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        load_recipe(bad)


def test_start_and_end_select_the_rows(df, tmp_path):
    recipe = tiny(start="2023-06-01", end=pd.Timestamp("2024-02-29"))
    assert recipe.start == "2023-06-01T00:00:00+00:00" and recipe.end == "2024-02-29T00:00:00+00:00"
    folder = train(recipe, tmp_path / "sliced", data=df, progress=False)
    args = json.loads((folder / "training_args.json").read_text())
    assert args["data"]["start"] == recipe.start and args["data"]["end"] == recipe.end
    assert args["splits"]["train"]["start"] == recipe.start and args["splits"]["test"]["end"] == recipe.end
    csv = tmp_path / "data.csv"
    df.to_csv(csv)
    assert evaluate_model(folder, data=str(csv)).report == json.loads((folder / "metrics.json").read_text())
    with pytest.raises(ValueError, match="start must be a date"):
        tiny(start="yesterday-ish")
    with pytest.raises(ValueError, match="start must be before end"):
        tiny(start="2024-01-01", end="2023-01-01")
    with pytest.raises(ValueError, match="no rows between start"):
        train(tiny(start="2030-01-01"), tmp_path / "none", data=df, progress=False)


def test_recipe_round_trip():
    recipe = tiny()
    assert recipe_from_dict(recipe.to_dict()) == recipe


# ----- splits, batches, schedule ------------------------------------------------------------------------


def test_split_is_chronological_and_targets_stay_inside(df):
    recipe = tiny()
    c = recipe.model
    samples = Samples(df, c.features, c.target, c.context_length, c.horizon)
    split = chronological_split(df, samples, recipe)
    # Every target of a training origin is a training row; validation targets are validation rows.
    assert split.train[-1] + c.horizon <= split.train_last
    assert split.validation[0] >= split.train_last and split.validation[-1] + c.horizon <= split.validation_last
    assert split.test[0] == split.validation_last and split.test[-1] + c.horizon == len(samples) - 1
    assert split.train[0] == c.context_length - 1
    # The cut is on the raw rows: another warm-up gives the same test period.
    other = Samples(df, ["log_return", "macd_hist"], c.target, c.context_length, c.horizon)
    assert other.index[chronological_split(df, other, recipe).test[0]] == samples.index[split.test[0]]


def test_too_few_rows_names_the_split(df):
    with pytest.raises(ValueError, match="too few rows: the (train|validation|test) split has"):
        recipe = tiny()
        c = recipe.model
        short = df.iloc[:22]
        chronological_split(short, Samples(short, c.features, c.target, c.context_length, c.horizon), recipe)


@pytest.mark.parametrize("scaling", ["standard", "minmax", "window"])
def test_batches_equal_scaled_windows(df, scaling):
    features = ["close", "volume", "ema_7"] if scaling == "window" else ["close", "log_return", "rsi_14"]
    target = "close" if scaling == "window" else "log_return"
    samples = Samples(df, features, target, 10, 3)
    origins = samples.origins(0, 200)
    scaler = Scaler.fit(scaling, features, target, samples.features[:200], samples.targets[origins])
    batches = WindowBatches(samples, scaler, torch.device("cpu"))
    pick = origins[[0, 5, 17, len(origins) - 1]]
    x, y = batches(torch.from_numpy(pick))
    expected_x = scaler.scale_windows(samples.windows(pick))
    expected_y = scaler.scale_target(samples.targets[pick], samples.window_base(pick))
    np.testing.assert_array_equal(x.numpy(), expected_x)
    np.testing.assert_allclose(y.numpy(), expected_y, rtol=1e-6, atol=1e-7)
    _, y_all = batches(torch.from_numpy(pick), all_steps=True)
    assert y_all.shape == (4, 10, 3)
    np.testing.assert_allclose(y_all[:, -1].numpy(), y.numpy(), rtol=1e-6)


def test_learning_rate_schedule():
    recipe = tiny(learning_rate=1e-2, warmup_steps=4, lr_schedule="cosine", min_lr_ratio=0.1)
    assert get_lr(0, 100, recipe) == pytest.approx(1e-2 / 5)
    assert get_lr(3, 100, recipe) == pytest.approx(1e-2 * 4 / 5)
    assert get_lr(4, 100, recipe) == pytest.approx(1e-2)
    assert get_lr(100, 100, recipe) == pytest.approx(1e-3)
    assert get_lr(52, 100, recipe) == pytest.approx(1e-3 + 0.5 * 9e-3)
    assert get_lr(50, 100, tiny(lr_schedule="constant", learning_rate=0.5)) == 0.5


def test_baseline_head_starts_at_the_training_quantiles():
    model = LSTMForecaster(tiny().model)
    targets = np.random.default_rng(0).standard_normal((500, 2)) * [1.0, 2.0]
    init_head_at_baseline(model, targets)
    out = model(torch.randn(4, 8, 3)).detach().numpy()
    expected = np.quantile(targets, [0.1, 0.5, 0.9], axis=0).T
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=1e-4, atol=1e-5)


def test_persistence_head_starts_at_the_last_close(df):
    recipe = tiny(head_init="persistence")
    c = recipe.model
    samples = Samples(df, c.features, c.target, c.context_length, c.horizon)
    origins = samples.origins(0, 300)
    scaler = Scaler.fit(c.scaling, c.features, c.target, samples.features[:300], samples.targets[origins])
    model = LSTMForecaster(c)
    model.scaler = scaler
    scaled = scaler.scale_target(samples.targets[origins]).astype("float64")
    init_head_at_baseline(model, scaled, center=scaler.scale_target(np.zeros(c.horizon)))
    forecast = model.forecast_origins(samples, origins[-3:])  # (3, horizon, quantiles) in dollars
    median = forecast[..., c.quantiles.index(0.5)]
    np.testing.assert_allclose(median, np.broadcast_to(samples.base[origins[-3:], None], median.shape), rtol=1e-5)
    assert (forecast[..., 0] < median).all() and (forecast[..., -1] > median).all()


def test_volatility_weights_are_causal_and_normalised(df):
    samples = Samples(df, ["log_return"], "log_return", 8, 1)
    train_origins = samples.origins(0, 250)
    weights = volatility_weights(samples, 30, train_origins)
    assert weights.shape == (len(samples),) and np.isfinite(weights).all() and (weights > 0).all()
    assert weights[train_origins].mean() == pytest.approx(1.0)
    returns = np.diff(np.log(samples.base))
    row = 200
    expected = 1.0 / np.std(returns[row - 30 : row], ddof=1)
    raw = 1.0 / pd.Series(np.log(samples.base)).diff().rolling(30, min_periods=2).std().to_numpy()
    assert weights[row] == pytest.approx(expected / np.nanmean(raw[train_origins]))
    changed = df.copy()
    changed.iloc[-50:, changed.columns.get_loc("close")] *= 2.0
    later = volatility_weights(Samples(changed, ["log_return"], "log_return", 8, 1), 30, train_origins)
    np.testing.assert_array_equal(later[: len(samples) - 50], weights[: len(samples) - 50])


def test_weighted_loss_by_hand():
    prediction = torch.tensor([[[[0.0]]], [[[1.0]]]])  # (batch 2, horizon 1, outputs 1)
    target = torch.tensor([[1.0], [1.0]])
    assert compute_loss(prediction, target, None).item() == pytest.approx(0.5)
    assert compute_loss(prediction, target, None, torch.tensor([2.0, 0.0])).item() == pytest.approx(1.0)
    levels = torch.tensor([0.1, 0.9])
    quantiles = torch.tensor([[[0.0, 2.0]]])  # one window, target 1: losses 0.1 * 1 and 0.1 * 1
    assert compute_loss(quantiles, torch.tensor([[1.0]]), levels).item() == pytest.approx(0.1)


# ----- training ---------------------------------------------------------------------------------------


def test_model_folder_is_complete(trained, df):
    names = {p.name for p in trained.iterdir()}
    expected = {"config.json", "model.safetensors", "scaler.json", "training_args.json", "metrics.json", "README.md"}
    expected |= {"forecast.png", "percent_change.png", "forecast_step2.png"}  # horizon 2: the last step plotted too
    assert names == expected
    model = LSTMForecaster.from_pretrained(str(trained))
    assert model.predict(df).shape == (2, 4)
    args = json.loads((trained / "training_args.json").read_text())
    assert args["seed"] == 3 and args["epochs"] == 2 and args["epochs_run"] == 2 and 1 <= args["best_epoch"] <= 2
    assert args["data"]["kind"] == "dataframe" and len(args["data"]["sha256"]) == 64
    assert args["package_version"] and args["torch_version"] == torch.__version__ and args["num_processes"] == 1
    splits = args["splits"]
    assert (
        splits["train"]["end"] < splits["validation"]["start"] <= splits["validation"]["end"] < splits["test"]["start"]
    )
    assert sum(s["rows"] for s in splits.values()) == len(df)
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["first_origin"] == splits["test"]["first_origin"]
    assert {"model", "naive_last", "drift", "moving_average"} <= set(metrics["models"])
    assert [s["step"] for s in metrics["by_step"]] == [1, 2]
    assert {"constant_quantile", "rolling_volatility"} <= set(metrics["quantile"])
    card = ModelCard.load(trained / "README.md")
    assert card.data.pipeline_tag == "time-series-forecasting" and card.data.library_name == "lstm-forecaster"
    assert "| model |" in card.text and "naive_last" in card.text
    scaler = json.loads((trained / "scaler.json").read_text())
    assert scaler["fitted_on"]["end"] == splits["train"]["end"]
    assert not list(trained.parent.glob(".tiny.tmp-*"))


def test_evaluate_recomputes_the_recorded_test_metrics(trained, df, tmp_path):
    csv = tmp_path / "data.csv"
    df.to_csv(csv)
    result = evaluate_model(trained, data=str(csv))
    recorded = json.loads((trained / "metrics.json").read_text())
    assert result.report == recorded


def test_metrics_hold_the_test_split_beside_the_field_baselines(trained, df):
    from lstm_forecaster.backtest import compare_frame
    from lstm_forecaster.card import render_model_card
    from lstm_forecaster.comparison import comparison_table
    from lstm_forecaster.evaluation import metrics_table

    metrics = json.loads((trained / "metrics.json").read_text())
    args = json.loads((trained / "training_args.json").read_text())
    comparison = metrics["comparison"]
    assert comparison["forecasts"] == ["model", "ewma", "naive", "constant_quantile", "garch"]
    assert comparison["assets"] == ["series"] and comparison["horizon"] == 2
    # Baselines fitted on the training split only, on exactly the test origins and steps of the model.
    assert comparison["baselines_fitted_on"]["series"]["end"] == args["splits"]["train"]["end"]
    assert comparison["per_asset"]["series"]["n_origins"] == metrics["n_origins"] == args["splits"]["test"]["origins"]
    row = comparison["per_asset"]["series"]["forecasts"]["model"]
    assert {"pinball", "coverage_80", "coverage_50", "mase", "skill", "ratio"} <= set(row)
    assert {"ratio", "ratio_all", "dm_p_value"} <= set(comparison["pooled"]["model_vs"]["garch"])
    # The same figures as compare_frame on the same test frame.
    model = LSTMForecaster.from_pretrained(str(trained))
    frame = model.backtest(df, start=pd.Timestamp(args["splits"]["test"]["first_origin"]))
    again = compare_frame(frame, df, model.config.quantiles, train_end=args["splits"]["train"]["end"])
    assert json.loads(json.dumps(again)) == comparison
    # Printed (once) with the held-out table; shown in the card, whose model-index carries the ratios.
    table = metrics_table(metrics)
    assert table.count(comparison_table(comparison)) == 1 and table.count("Beside the field's baselines") == 1
    card = ModelCard.load(trained / "README.md")
    assert comparison_table(comparison) in card.text
    results = {(r.metric_type, r.metric_config): r.metric_value for r in card.data.eval_results}
    for baseline in ("ewma", "garch"):
        ratio = comparison["pooled"]["model_vs"][baseline]["ratio_all"]
        assert results[("pinball_loss_ratio", baseline)] == pytest.approx(ratio, rel=1e-12)
    assert ("mae", None) in results and ("pinball_loss", "constant_quantile") in results  # the older entries stay
    # A metrics.json written before the comparison existed still prints and renders, without it.
    old = {k: v for k, v in metrics.items() if k != "comparison"}
    assert "Beside the field's baselines" not in metrics_table(old)
    parts = {"config": model.config, "training_args": args, "metrics": old, "plots": []}
    old_results = ModelCard(render_model_card(parts)).data.eval_results
    assert ("mae", None) in {(r.metric_type, r.metric_config) for r in old_results}
    assert "pinball_loss_ratio" not in {r.metric_type for r in old_results}


def test_a_run_that_scores_only_itself_fits_no_baselines(df, tmp_path):
    out = train(tiny(epochs=1), tmp_path / "trial", data=df, progress=False, compare_baselines=False)
    metrics = json.loads((out / "metrics.json").read_text())
    assert "comparison" not in metrics and "comparison_skipped" not in metrics and "quantile" in metrics


def test_volume_and_point_models_say_why_they_are_not_compared(df):
    from lstm_forecaster.backtest import held_out_comparison
    from lstm_forecaster.configuration import LSTMForecasterConfig
    from lstm_forecaster.evaluation import comparison_section

    frame = pd.DataFrame({"origin": [], "step": []})
    point = held_out_comparison(LSTMForecasterConfig(quantiles=None), frame, df, df.index[100])
    assert list(point) == ["comparison_skipped"] and "point model" in point["comparison_skipped"]
    volume = held_out_comparison(LSTMForecasterConfig(target="volume", quantiles=[0.1, 0.5, 0.9]), frame, df, None)
    assert "volume model" in volume["comparison_skipped"]
    assert comparison_section(volume) == f"\nNot compared with the field's baselines: {volume['comparison_skipped']}.\n"


def test_scaler_and_weights_ignore_the_test_rows(df, tmp_path):
    first = train(tiny(), tmp_path / "a", data=df, progress=False)
    args = json.loads((first / "training_args.json").read_text())
    changed = df.copy()
    test_rows = changed.index >= pd.Timestamp(args["splits"]["test"]["start"])
    changed.loc[test_rows, ["open", "high", "low", "close"]] *= 3.0
    changed.loc[test_rows, "volume"] *= 10.0
    second = train(tiny(), tmp_path / "b", data=changed, progress=False)
    assert (first / "scaler.json").read_bytes() == (second / "scaler.json").read_bytes()
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert (first / "metrics.json").read_bytes() != (second / "metrics.json").read_bytes()


def test_same_seed_gives_bit_identical_weights(df, tmp_path):
    a = train(tiny(), tmp_path / "a", data=df, progress=False)
    b = train(tiny(), tmp_path / "b", data=df, progress=False)
    c = train(tiny(seed=4), tmp_path / "c", data=df, progress=False)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_resume_continues_exactly(df, tmp_path):
    recipe = dict(lr_schedule="constant", model={"dropout": 0.1, "num_layers": 2})
    straight = train(tiny(epochs=4, **recipe), tmp_path / "straight", data=df, progress=False)
    partial = train(tiny(epochs=2, **recipe), tmp_path / "resumed", data=df, progress=False)
    assert checkpoint_dir(partial).is_dir()
    resumed = train(tiny(epochs=4, **recipe), tmp_path / "resumed", data=df, progress=False, resume=True)
    args = json.loads((resumed / "training_args.json").read_text())
    assert args["resumed_from_epoch"] == 2 and args["epochs_run"] == 4 and len(args["history"]) == 4
    assert (straight / "model.safetensors").read_bytes() == (resumed / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="cannot resume: the recipe's 'batch_size' differs"):
        train(tiny(epochs=5, batch_size=16, **recipe), tmp_path / "resumed", data=df, progress=False, resume=True)
    with pytest.raises(ValueError, match="no checkpoint to resume from"):
        train(tiny(), tmp_path / "never", data=df, progress=False, resume=True)


def test_checkpoint_holds_no_pickle(trained):
    state = checkpoint_dir(trained)
    assert sorted(p.name for p in state.iterdir()) == ["state.json", "state.safetensors"]
    json.loads((state / "state.json").read_text())


def test_early_stopping_keeps_the_best_validation_epoch(df, tmp_path):
    recipe = tiny(epochs=30, patience=2, learning_rate=0.05, loss_weighting="inverse_volatility")
    folder = train(recipe, tmp_path / "es", data=df, progress=False)
    args = json.loads((folder / "training_args.json").read_text())
    losses = [h["val_loss"] for h in args["history"]]
    assert args["best_epoch"] == int(np.argmin(losses)) + 1
    if args["stopped_early"]:
        assert args["epochs_run"] == args["best_epoch"] + 2


def test_loss_on_all_steps_and_window_scaling_train(df, tmp_path):
    recipe = tiny(
        loss="mse",
        loss_on_all_steps=True,
        head_init="default",
        model={"features": ["close", "volume"], "target": "close", "scaling": "window", "quantiles": None},
    )
    folder = train(recipe, tmp_path / "all_steps", data=df, progress=False)
    assert LSTMForecaster.from_pretrained(str(folder)).predict(df)["forecast"].gt(0).all()


def test_existing_output_needs_overwrite_and_failures_leave_nothing(df, trained, tmp_path):
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        train(tiny(), trained, data=df, progress=False)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match="too few rows"):
        train(tiny(), tmp_path / "short", data=df.iloc[:22], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


PANEL_DATA = ROOT / "tests" / "data" / "panel"
PANEL_TINY = {
    **TINY,
    "name": "tiny-panel",
    "model": {**TINY["model"], "features": ["log_return", "log_range"], "scaling": "context"},
    "validation_start": "2026-03-20",
    "test_start": "2026-04-20",
}


@pytest.mark.parametrize("kind", ["series", "panel"])
def test_two_process_accelerate_run(df, tmp_path, kind):
    # `--multi_gpu` picks Accelerate's torchrun launcher; our `--cpu` makes both processes use gloo
    # on the CPU. (`accelerate launch --cpu --num_processes 2` needs MPI and otherwise runs one process.)
    if kind == "panel":  # the same command on a folder of raw exports: one global model over the panel
        csv, data = PANEL_DATA, load_ohlcv(PANEL_DATA)
    else:
        csv, data = tmp_path / "data.csv", df
        df.to_csv(csv)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps(PANEL_TINY if kind == "panel" else TINY))  # JSON is YAML
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_DISABLE_RICH": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
        str(ROOT / "scripts/train.py"), "--cpu", "--config", str(recipe), "--output", str(tmp_path / "ddp"), "--data", str(csv),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / "ddp"
    args = json.loads((folder / "training_args.json").read_text())
    assert args["num_processes"] == 2 and args["epochs_run"] == 2
    model = LSTMForecaster.from_pretrained(str(folder))
    if kind == "panel":
        assert json.loads((folder / "metrics.json").read_text())["panel"]  # scored per asset and pooled
        data = data.drop(index="LTCUSDT", level="symbol")  # its rows end in 2025: the others' last rows are forecast
        data = data[data.index.get_level_values("timestamp") < pd.Timestamp("2026-03-01", tz="UTC")]
    assert np.isfinite(model.predict(data, calibrate=False).to_numpy()).all()
    assert json.loads((folder / "metrics.json").read_text())["split"] == "test"
