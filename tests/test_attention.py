"""The attention pooling head (`head: attention`): what it computes, exact save/load, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, Scaler, load_ohlcv, sample_path
from lstm_forecaster.modeling import AttentionPooling
from lstm_forecaster.training import recipe_from_dict

FEATURES = ["log_return", "volatility_7", "log_range"]


def test_pooling_is_a_convex_combination_of_the_steps():
    torch.manual_seed(0)
    pool = AttentionPooling(4)
    hidden = torch.randn(3, 7, 4)
    weights = torch.softmax(pool.score(torch.tanh(pool.project(hidden))), dim=1)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3, 1))
    torch.testing.assert_close(pool(hidden), (weights * hidden).sum(dim=1), rtol=0, atol=0)
    same = torch.randn(2, 1, 4).expand(2, 7, 4)  # every step equal: the mean is that step
    torch.testing.assert_close(pool(same), same[:, 0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell, bidirectional", [("lstm", False), ("gru", True)])
def test_attention_model_reads_every_step_and_round_trips_exactly(cell, bidirectional, tmp_path):
    config = LSTMForecasterConfig(
        features=FEATURES, context_length=12, horizon=2, hidden_size=5, num_layers=2, cell=cell,
        bidirectional=bidirectional, quantiles=[0.1, 0.5, 0.9], head="attention",
    )  # fmt: skip
    torch.manual_seed(0)
    model = LSTMForecaster(config).eval()
    x = torch.randn(4, 12, 3)
    with torch.no_grad():
        out = model(x)
        early = x.clone()
        early[:, 3] += 1.0
        moved = model(early)
    assert out.shape == (4, 2, 3) and not torch.equal(out, moved)  # an early step moves the forecast
    assert (
        sum(p.numel() for p in model.pool.parameters()) == (5 * (1 + bidirectional)) ** 2 + 5 * (1 + bidirectional) * 2
    )

    df = load_ohlcv(sample_path()).iloc[2000:2300]
    samples = model.samples(df)
    origins = samples.origins()
    model.scaler = Scaler.fit(config.scaling, FEATURES, config.target, samples.features, samples.targets[origins])
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["head"] == "attention"
    loaded = LSTMForecaster.from_pretrained(tmp_path)
    assert loaded.config.head == "attention" and not loaded.training
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)
    np.testing.assert_array_equal(loaded.forecast_origins(samples, origins), model.forecast_origins(samples, origins))


def test_bad_head_and_all_steps_with_attention_are_refused():
    with pytest.raises(ValueError, match=r"head must be one of last, attention. Got 'mean'."):
        LSTMForecasterConfig(features=FEATURES, head="mean")
    model = LSTMForecaster(LSTMForecasterConfig(features=FEATURES, context_length=5, head="attention"))
    with pytest.raises(ValueError, match="needs head 'last'"):
        model(torch.zeros(1, 5, 3), all_steps=True)
    with pytest.raises(ValueError, match="loss_on_all_steps needs model.head: last"):
        recipe_from_dict({"model": {"features": FEATURES, "head": "attention"}, "loss_on_all_steps": True})
