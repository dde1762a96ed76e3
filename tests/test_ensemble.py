"""Ensembles of seeds (`ensemble: N`): one folder, members stacked, quantiles averaged then sorted; bad input."""

from __future__ import annotations

import dataclasses
import json
import uuid

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, __version__, load_ohlcv, sample_path
from lstm_forecaster.configuration import ADDED_KEYS, MAX_ENSEMBLE, config_from_dict
from lstm_forecaster.modeling import combine_members
from lstm_forecaster.training import evaluate_model, recipe_from_dict, train

RECIPE = {
    "name": "tiny-ensemble",
    "model": {
        "features": ["log_return", "log_range", "volatility_7"],
        "target": "log_return",
        "context_length": 16,
        "horizon": 2,
        "hidden_size": 6,
        "quantiles": [0.1, 0.5, 0.9],
        "scaling": "context",
        "median_at_last": True,
        "calibration_window": 60,
    },
    "epochs": 2,
    "batch_size": 32,
    "learning_rate": 0.01,
    "loss": "pinball",
    "seed": 3,
}


def recipe(ensemble: int, **changes):
    values = {**RECIPE, **changes}
    values["model"] = {**RECIPE["model"], "ensemble": ensemble, **changes.pop("model", {})}
    return recipe_from_dict(values)


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return load_ohlcv(sample_path()).iloc[-400:]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, daily):
    """An ensemble of 3 trained by the training code itself (context scaling, its baseline inside)."""
    return train(recipe(3), tmp_path_factory.mktemp("ensemble") / "model", data=daily, progress=False, cpu=True)


def single_of(member: LSTMForecaster, scaler) -> LSTMForecaster:
    """A stand-alone single network holding one member's weights."""
    single = LSTMForecaster(dataclasses.replace(member.config, ensemble=1))
    single.load_state_dict(member.state_dict())
    single.scaler = scaler
    return single.eval()


# ----- the config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, message",
    [
        (0, r"ensemble must be a whole number of members from 1 \(a single network\) to 32\. Got 0\."),
        (-2, r"Got -2\."),
        (2.5, r"Got 2\.5\."),
        ("5", r"Got '5'\."),
        (True, r"Got True\."),
        (MAX_ENSEMBLE + 1, r"ensemble must be at most 32 members\. Got 33\."),
        (10**9, r"at most 32 members\. Got 1,000,000,000\."),
    ],
)
def test_bad_member_counts_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        LSTMForecasterConfig(ensemble=value)


@pytest.mark.parametrize("value, shown", [(0, "0"), (1.5, "1.5"), (1000, "1,000"), ("three", "'three'")])
def test_cli_refuses_a_bad_ensemble_in_one_line(value, shown, tmp_path, capsys):
    import yaml

    from lstm_forecaster.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**RECIPE, "model": {**RECIPE["model"], "ensemble": value}}))
    capsys.readouterr()
    assert main(["train", "--config", str(path), "--output", str(tmp_path / "out")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and "ensemble" in err[0] and f"Got {shown}." in err[0]
    assert not (tmp_path / "out").exists()


def test_member_count_is_a_registered_key_of_config_json():
    assert ADDED_KEYS["ensemble"] == ("0.2.2", 1)
    written = dataclasses.asdict(LSTMForecasterConfig(ensemble=4))
    assert written["ensemble"] == 4 and written["package_version"] == __version__
    older = {k: v for k, v in written.items() if k != "ensemble"}
    assert config_from_dict({**older, "package_version": "0.2.1"}).ensemble == 1  # an older folder: one network
    with pytest.raises(ValueError, match=r"lacks the key ensemble \(written by lstm-forecaster 0\.2\.2"):
        config_from_dict({**older, "package_version": "0.2.2"})


def test_parameters_count_every_member_and_the_limit_holds():
    one = LSTMForecasterConfig(hidden_size=8, head="attention", quantiles=[0.1, 0.5, 0.9], horizon=3)
    five = dataclasses.replace(one, ensemble=5)
    assert five.num_parameters == 5 * one.num_parameters == LSTMForecaster(five).num_parameters()
    assert LSTMForecaster(one).num_parameters() == one.num_parameters
    with pytest.raises(ValueError, match="parameters; at most 50,000,000"):
        LSTMForecasterConfig(hidden_size=1024, num_layers=2, ensemble=20)


# ----- the network --------------------------------------------------------------------------------------


def test_a_single_network_keeps_its_keys_and_an_ensemble_prefixes_them():
    config = LSTMForecasterConfig(features=["log_return"], context_length=5, hidden_size=4, quantiles=[0.1, 0.9])
    keys = list(LSTMForecaster(config).state_dict())
    assert keys == [
        "rnn.0.weight_ih_l0",
        "rnn.0.weight_hh_l0",
        "rnn.0.bias_ih_l0",
        "rnn.0.bias_hh_l0",
        "head.weight",
        "head.bias",
    ]
    ensemble = LSTMForecaster(dataclasses.replace(config, ensemble=3))
    assert list(ensemble.state_dict()) == [f"members.{k}.{key}" for k in range(3) for key in keys]
    assert all(m.config.ensemble == 1 for m in ensemble.members) and len(ensemble.networks) == 3


@pytest.mark.parametrize("quantiles", [None, [0.1, 0.5, 0.9]])
def test_forward_averages_the_members_per_level_then_sorts(quantiles):
    config = LSTMForecasterConfig(
        features=["log_return", "log_range"],
        context_length=8,
        horizon=3,
        hidden_size=5,
        quantiles=quantiles,
        ensemble=4,
    )
    torch.manual_seed(0)
    model = LSTMForecaster(config).eval()
    x = torch.randn(6, 8, 2)
    with torch.no_grad():
        each = model(x, members=True)
        out = model(x)
    assert each.shape == (4, 6, 3, config.num_outputs) and out.shape == (6, 3, config.num_outputs)
    for k, member in enumerate(model.members):
        torch.testing.assert_close(each[k], member(x), rtol=0, atol=0)
    torch.testing.assert_close(out, torch.sort(each.mean(dim=0), dim=-1).values, rtol=0, atol=0)
    assert not torch.equal(each[0], each[1])  # the members differ
    # Crossing inputs come out sorted: the re-sort is what keeps the levels in order.
    crossed = torch.tensor([[[[0.3, 0.1, 0.2]]], [[[0.1, 0.2, 0.6]]]])
    torch.testing.assert_close(combine_members(crossed), torch.tensor([[[0.15, 0.2, 0.4]]]))


# ----- training, saving, loading, forecasting -----------------------------------------------------------


def test_training_writes_one_folder_with_the_members_stacked(folder):
    config = json.loads((folder / "config.json").read_text())
    assert config["ensemble"] == 3
    with safe_open(folder / "model.safetensors", "pt") as f:
        keys = set(f.keys())
    assert {key.split(".")[1] for key in keys} == {"0", "1", "2"} and all(k.startswith("members.") for k in keys)
    model = LSTMForecaster.from_pretrained(folder)
    assert not model.training and model.config.ensemble == 3
    # Seeds 3, 4, 5: different starting weights, the same classical baseline fitted on the training rows.
    first, second = (m.rnn[0].weight_ih_l0 for m in model.members[:2])
    assert not torch.equal(first, second)
    for member in model.members[1:]:
        assert torch.equal(member.baseline, model.members[0].baseline)
    args = json.loads((folder / "training_args.json").read_text())
    assert args["parameters"] == model.num_parameters() == 3 * model.members[0].num_parameters()
    card = (folder / "README.md").read_text()
    assert "An ensemble of 3 1-layer LSTMs" in card and "3 members (seeds seed to seed + 2), quantiles averaged" in card


def test_member_zero_is_the_single_network_trained_alone(tmp_path, daily):
    """Each member trains on its own loss and its own clipped gradient, and keeps its own best epoch
    (or the baseline): member 0 (the recipe's seed) is exactly the model `ensemble: 1` trains."""
    single = train(recipe(1), tmp_path / "one", data=daily, progress=False, cpu=True)
    pair = train(recipe(2), tmp_path / "two", data=daily, progress=False, cpu=True)
    alone = LSTMForecaster.from_pretrained(single)
    member = LSTMForecaster.from_pretrained(pair).members[0]
    assert alone.state_dict().keys() == member.state_dict().keys()
    for name, tensor in alone.state_dict().items():
        torch.testing.assert_close(member.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    one, two = (json.loads((f / "training_args.json").read_text()) for f in (single, pair))
    assert two["member_best_epochs"][0] == one["best_epoch"] and two["member_val_losses"][0] == one["best_val_loss"]
    assert two["kept"] == ("baseline" if max(two["member_best_epochs"]) == 0 else "trained")


def test_save_load_round_trip_is_bit_exact(folder, daily, tmp_path):
    model = LSTMForecaster.from_pretrained(folder)
    model.save_pretrained(tmp_path / "again")
    loaded = LSTMForecaster.from_pretrained(tmp_path / "again")
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)
    assert loaded.scaler == model.scaler
    pd.testing.assert_frame_equal(loaded.predict(daily), model.predict(daily), rtol=0, atol=0, check_exact=True)
    pd.testing.assert_frame_equal(loaded.backtest(daily), model.backtest(daily), check_exact=True)


def test_forecasts_are_the_members_averaged_in_return_units(folder, daily):
    model = LSTMForecaster.from_pretrained(folder)
    samples = model.samples(daily)
    origins = samples.origins()[-50:]
    raw = model.target_origins(samples, origins)  # log returns, before calibration
    members = np.stack([single_of(m, model.scaler).target_origins(samples, origins) for m in model.members])
    np.testing.assert_allclose(raw, np.sort(members.mean(axis=0), axis=-1), rtol=1e-6, atol=1e-9)
    assert (np.diff(raw, axis=-1) >= 0).all()
    forecast = model.predict(daily)
    levels = forecast[["q0.1", "q0.5", "q0.9"]].to_numpy()
    assert (np.diff(levels, axis=1) >= 0).all()
    np.testing.assert_array_equal(forecast["q0.5"].to_numpy(), np.full(2, daily["close"].iloc[-1]))  # median pinned
    # Backtest = predict at every origin, calibration included, as for any model.
    frame = model.backtest(daily)
    last = frame[frame["origin"] == frame["origin"].max()]
    before = daily[daily.index <= last["origin"].iloc[0]]
    np.testing.assert_allclose(last["q0.9"].to_numpy(), model.predict(before)["q0.9"].to_numpy(), rtol=1e-12)


def test_evaluate_reproduces_the_folders_metrics(folder, daily):
    assert evaluate_model(folder, data=daily).report == json.loads((folder / "metrics.json").read_text())


def test_onnx_export_runs_the_whole_ensemble(folder, tmp_path):
    pytest.importorskip("onnxruntime")
    from lstm_forecaster.export import INPUT_NAME, export_onnx, onnx_session

    model = LSTMForecaster.from_pretrained(folder)
    out = export_onnx(model, tmp_path / "onnx")
    windows = np.random.default_rng(0).standard_normal((5, 16, 3), dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(windows)).numpy()
    (actual,) = onnx_session(out).run(None, {INPUT_NAME: windows})
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5)


def test_push_and_from_pretrained_over_the_hub(hub_env, folder, daily):
    from huggingface_hub import HfApi

    from lstm_forecaster.hub import push_folder

    repo_id = f"alice/ensemble-{uuid.uuid4().hex[:8]}"
    result = push_folder(folder, repo_id, tag="v1.0")
    assert result.changed and "model.safetensors" in HfApi().list_repo_files(repo_id)
    loaded = LSTMForecaster.from_pretrained(repo_id, revision="v1.0")
    local = LSTMForecaster.from_pretrained(folder)
    assert loaded.config.ensemble == 3 and not loaded.training
    for name, tensor in local.state_dict().items():
        assert loaded.state_dict()[name].equal(tensor), name
    pd.testing.assert_frame_equal(loaded.predict(daily), local.predict(daily), check_exact=True)


@pytest.mark.parametrize("changes", [{}, {"grad_clip": 0.5, "model": {"cell": "gru", "head": "attention"}}])
def test_members_in_threads_train_the_same_model_bit_for_bit(tmp_path, daily, changes, monkeypatch):
    """`member_threads`: each member's forward, loss and backward in a thread; the weights, the history
    and the metrics are the sequential loop's exactly."""
    from lstm_forecaster import training

    threaded_steps = []
    step = training.ensemble_step
    monkeypatch.setattr(training, "ensemble_step", lambda *a: threaded_steps.append(1) or step(*a))
    folders = [
        train(recipe(3, **changes), tmp_path / f"t{n}", data=daily, progress=False, cpu=True, member_threads=n)
        for n in (1, 2)
    ]
    one, two = (LSTMForecaster.from_pretrained(f).state_dict() for f in folders)
    assert one.keys() == two.keys()
    for name, tensor in one.items():
        assert torch.equal(two[name], tensor), name
    args = [json.loads((f / "training_args.json").read_text()) for f in folders]
    assert len(threaded_steps) == sum(-(-entry["windows"] // 32) for entry in args[1]["history"]) > 0  # every step
    for a in args:
        for entry in a["history"]:
            entry.pop("train_seconds")
    assert args[0]["history"] == args[1]["history"] and args[0]["member_val_losses"] == args[1]["member_val_losses"]
    assert (folders[0] / "metrics.json").read_text() == (folders[1] / "metrics.json").read_text()


def test_members_run_in_threads_only_where_that_gives_the_same_numbers():
    """Not a single network, not with dropout (the threads would draw the masks in a varying order)."""
    from accelerate import Accelerator

    from lstm_forecaster.training import _members_can_run_in_threads

    with_dropout = recipe(2, model={"num_layers": 2, "dropout": 0.2}).model
    plain = recipe(2).model
    accelerator = Accelerator(cpu=True)
    assert _members_can_run_in_threads(plain, accelerator)
    assert not _members_can_run_in_threads(with_dropout, accelerator)
    assert not _members_can_run_in_threads(recipe(1).model, accelerator)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_member_threads_must_be_a_whole_number(value, tmp_path, daily):
    with pytest.raises(ValueError, match=r"member_threads must be a whole number of threads, 1 or more\. Got "):
        train(recipe(2), tmp_path / "m", data=daily, progress=False, cpu=True, member_threads=value)
    assert not (tmp_path / "m").exists()


def test_one_validation_pass_gives_the_ensembles_and_each_members_loss(folder, daily):
    """`estimate_losses`: the combined model's loss and every member's, from one forward pass per chunk,
    are exactly each network's own forward scored chunk by chunk (chunks of 50 windows here)."""
    from accelerate import Accelerator

    from lstm_forecaster.training import WindowBatches, compute_loss, estimate_loss, estimate_losses

    model = LSTMForecaster.from_pretrained(folder).train()  # left in training mode as it found it
    samples = model.samples(daily)
    batches = WindowBatches(samples, model.scaler, torch.device("cpu"))
    origins = torch.from_numpy(samples.origins(0, len(samples) - 3))
    quantiles, accelerator = torch.tensor(model.config.quantiles), Accelerator(cpu=True)

    @torch.no_grad()
    def alone(network) -> float:
        network.eval()
        total = 0.0
        for start in range(0, len(origins), 50):
            x, y = batches(origins[start : start + 50])
            total += compute_loss(network(x), y, quantiles).item() * len(x)
        return total / len(origins)

    combined, members = estimate_losses(model, batches, origins, quantiles, accelerator, batch_size=50)
    assert len(origins) > 100 and model.training
    assert members == [alone(m) for m in model.members] and len(set(members)) == 3
    assert combined == alone(model) == estimate_loss(model, batches, origins, quantiles, accelerator, batch_size=50)
    assert combined not in members
    single = single_of(model.members[1], model.scaler)
    assert estimate_losses(single, batches, origins, quantiles, accelerator, batch_size=50) == (
        members[1],
        [members[1]],
    )


def test_member_threads_default_to_the_free_cores_over_torchs_threads(monkeypatch):
    from lstm_forecaster import training

    monkeypatch.setattr(training.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(training.torch, "get_num_threads", lambda: 1)
    assert training.auto_member_threads() == 2
    monkeypatch.setattr(training.torch, "get_num_threads", lambda: 2)
    assert training.auto_member_threads() == 1  # torch already uses both cores: the members in turn
