"""LSTMForecasterConfig: validation of every field, and the parameter counts of the DESIGN.md recipes."""

from dataclasses import asdict

import pytest

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig

# ----- validation ------------------------------------------------------------------------------------

BAD_VALUES = [
    # (field overrides, regex the message must match: the field name and what is accepted)
    ({"features": "close"}, r"features must be a list of feature names\. Got 'close'"),
    ({"features": 3}, r"features must be a list of feature names\. Got 3"),
    ({"features": []}, r"features must name at least one feature"),
    ({"features": ["close", "close"]}, r"features must not repeat a name"),
    (
        {"features": ["close", "price"]},
        r"unknown feature 'price'; accepted: open, high, low, close, volume, log_return",
    ),
    ({"features": ["ema_1"]}, r"feature 'ema_1' needs a window of at least 2"),
    ({"target": "price"}, r"target must be one of close, log_return, volume\. Got 'price'"),
    ({"target": None}, r"target must be one of close, log_return, volume\. Got None"),
    ({"cell": "rnn"}, r"cell must be one of lstm, gru\. Got 'rnn'"),
    ({"cell": "LSTM"}, r"cell must be one of lstm, gru\. Got 'LSTM'"),
    ({"scaling": "robust"}, r"scaling must be one of minmax, standard, window, context\. Got 'robust'"),
    ({"context_length": 0}, r"context_length must be a positive integer\. Got 0"),
    ({"context_length": -5}, r"context_length must be a positive integer\. Got -5"),
    ({"context_length": 2.5}, r"context_length must be a positive integer\. Got 2\.5"),
    ({"context_length": "30"}, r"context_length must be a positive integer\. Got '30'"),
    ({"context_length": True}, r"context_length must be a positive integer\. Got True"),
    ({"horizon": 0}, r"horizon must be a positive integer\. Got 0"),
    ({"horizon": None}, r"horizon must be a positive integer\. Got None"),
    ({"num_layers": 0}, r"num_layers must be a positive integer\. Got 0"),
    ({"hidden_size": 0}, r"hidden_size must be a positive integer or a list of them\. Got 0"),
    ({"hidden_size": 12.0}, r"hidden_size must be a positive integer or a list of them\. Got 12\.0"),
    ({"hidden_size": "64"}, r"hidden_size must be a positive integer or a list of them\. Got '64'"),
    (
        {"hidden_size": [8, -1], "num_layers": 2},
        r"hidden_size must be a positive integer or a list of them\. Got \[8, -1\]",
    ),
    ({"hidden_size": [8, 8], "num_layers": 3}, r"hidden_size lists one size per layer: 2 sizes for num_layers=3"),
    ({"hidden_size": [], "num_layers": 1}, r"hidden_size lists one size per layer: 0 sizes for num_layers=1"),
    ({"dropout": -0.1}, r"dropout must be in \[0, 1\)\. Got -0\.1"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)\. Got 1\.0"),
    ({"dropout": "0.2"}, r"dropout must be a number in \[0, 1\)\. Got '0\.2'"),
    ({"dropout": True}, r"dropout must be a number in \[0, 1\)\. Got True"),
    ({"bidirectional": "yes"}, r"bidirectional must be true or false\. Got 'yes'"),
    ({"bidirectional": 1}, r"bidirectional must be true or false\. Got 1"),
    ({"quantiles": 0.5}, r"quantiles must be None or a non-empty list of levels in \(0, 1\)\. Got 0\.5"),
    ({"quantiles": []}, r"quantiles must be None or a non-empty list of levels in \(0, 1\)\. Got \[\]"),
    ({"quantiles": "0.5"}, r"quantiles must be None or a non-empty list of levels in \(0, 1\)\. Got '0\.5'"),
    ({"quantiles": [0.0, 0.5]}, r"quantiles must be levels strictly between 0 and 1\. Got \[0\.0, 0\.5\]"),
    ({"quantiles": [0.5, 1]}, r"quantiles must be levels strictly between 0 and 1\. Got \[0\.5, 1\]"),
    ({"quantiles": [0.1, "0.9"]}, r"quantiles must be levels strictly between 0 and 1"),
    ({"quantiles": [True]}, r"quantiles must be levels strictly between 0 and 1"),
    ({"quantiles": [0.9, 0.1]}, r"quantiles must be strictly increasing\. Got \[0\.9, 0\.1\]"),
    ({"quantiles": [0.1, 0.5, 0.5]}, r"quantiles must be strictly increasing"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_VALUES, ids=[repr(o) for o, _ in BAD_VALUES])
def test_bad_value_raises_value_error_naming_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        LSTMForecasterConfig(**overrides)


@pytest.mark.parametrize(
    ("features", "target", "message"),
    [
        (
            ["close", "log_return"],
            "close",
            r"scaling 'window'.*log_return can be zero or negative\. Accepted: open, high, low, close, volume, ema_N",
        ),
        (["close", "rsi_14", "macd_hist"], "close", r"rsi_14, macd_hist can be zero or negative"),
        (["volume", "volume_ratio_24"], "volume", r"volume_ratio_24 can be zero or negative"),
        (
            ["close", "ema_7"],
            "log_return",
            r"scaling 'window' applies to price or volume targets; target 'log_return' is not one",
        ),
    ],
)
def test_window_scaling_restrictions(features, target, message):
    with pytest.raises(ValueError, match=message):
        LSTMForecasterConfig(features=features, target=target, scaling="window")


@pytest.mark.parametrize(
    ("features", "target"),
    [(["open", "high", "low", "close", "volume", "ema_7", "ema_21"], "close"), (["volume"], "volume")],
)
def test_window_scaling_accepts_positive_features(features, target):
    config = LSTMForecasterConfig(features=features, target=target, scaling="window")
    assert config.scaling == "window"


def test_hidden_size_int_or_list():
    assert LSTMForecasterConfig(hidden_size=16, num_layers=3).hidden_sizes == [16, 16, 16]
    config = LSTMForecasterConfig(hidden_size=(49, 98, 49), num_layers=3)
    assert config.hidden_size == [49, 98, 49]  # a tuple becomes a list, as written to config.json
    assert config.hidden_sizes == [49, 98, 49]
    # hidden_sizes is a copy: changing it does not change the config.
    config.hidden_sizes.append(1)
    assert config.hidden_size == [49, 98, 49]


def test_quantiles_normalised_and_named():
    config = LSTMForecasterConfig(quantiles=(0.1, 0.5, 0.9))
    assert config.quantiles == [0.1, 0.5, 0.9]
    assert all(isinstance(q, float) for q in config.quantiles)
    assert config.num_outputs == 3
    assert config.output_names == ["q0.1", "q0.5", "q0.9"]
    assert config.median_index == 1
    assert LSTMForecasterConfig(quantiles=[0.05, 0.95]).median_index is None
    point = LSTMForecasterConfig()
    assert (point.num_outputs, point.output_names, point.median_index) == (1, ["forecast"], None)


def test_config_dict_round_trip():
    config = LSTMForecasterConfig(
        features=["close", "rsi_14"], target="close", hidden_size=[8, 4], num_layers=2, quantiles=[0.2, 0.8]
    )
    assert LSTMForecasterConfig(**asdict(config)) == config


# ----- parameter counts of the DESIGN.md recipes -----------------------------------------------------


def rnn_layer_parameters(size_in: int, hidden: int, gates: int) -> int:
    """Weights of one direction of one recurrent layer: gates * (h*(in + h) + 2h), torch's two bias vectors."""
    return gates * (hidden * (size_in + hidden) + 2 * hidden)


def expected_parameters(features: int, hidden: list[int], cell: str, bidirectional: bool, outputs: int) -> int:
    gates = {"lstm": 4, "gru": 3}[cell]
    directions = 2 if bidirectional else 1
    total, size_in = 0, features
    for h in hidden:
        total += directions * rnn_layer_parameters(size_in, h, gates)
        size_in = directions * h
    return total + size_in * outputs + outputs  # the dense head: weight and bias


CRYPTO_PRICE_FEATURES = [
    "open",
    "high",
    "low",
    "close",
    "volume",
    "ema_7",
    "rsi_14",
    "macd_hist",
    "log_return",
    "volatility_14",
]
# Window scaling divides by each window's first value, so the bidirectional recipe's indicators are the
# strictly positive ones: OHLCV and EMAs.
BIDIRECTIONAL_FEATURES = ["open", "high", "low", "close", "volume", "ema_7", "ema_21"]
RETURNS_FEATURES = ["log_return", "return_mean_24", "return_std_24", "volume_ratio_24"]

RECIPES = {
    "CryptoPriceForecaster": dict(
        features=CRYPTO_PRICE_FEATURES, target="close", hidden_size=128, num_layers=3, dropout=0.2, scaling="minmax"
    ),
    "Volume LSTM": dict(features=["volume"], target="volume", context_length=30, hidden_size=50, scaling="minmax"),
    "Bidirectional LSTM": dict(
        features=BIDIRECTIONAL_FEATURES,
        target="close",
        context_length=49,
        hidden_size=[49, 98, 49],
        num_layers=3,
        dropout=0.2,
        bidirectional=True,
        scaling="window",
    ),
    "PyTorch OHLCV LSTM": dict(
        features=["open", "high", "low", "close", "volume"],
        target="close",
        hidden_size=10,
        num_layers=2,
        scaling="standard",
    ),
    "LSTM returns": dict(
        features=RETURNS_FEATURES, target="log_return", context_length=48, hidden_size=64, scaling="standard"
    ),
    "GRU returns": dict(
        features=RETURNS_FEATURES,
        target="log_return",
        context_length=48,
        hidden_size=64,
        cell="gru",
        scaling="standard",
    ),
}


@pytest.mark.parametrize("name", list(RECIPES))
def test_recipe_parameter_count_matches_formula(name):
    config = LSTMForecasterConfig(**RECIPES[name])
    expected = expected_parameters(
        len(config.features),
        config.hidden_sizes,
        config.cell,
        config.bidirectional,
        config.horizon * config.num_outputs,
    )
    assert LSTMForecaster(config).num_parameters() == expected


def test_crypto_price_forecaster_has_336001_parameters():
    # The figure DESIGN.md and the issue quote, written out: 4*(128*(10+128)+256) + 2*4*(128*256+256) + 129.
    assert expected_parameters(10, [128, 128, 128], "lstm", False, 1) == 336_001
    assert LSTMForecaster(LSTMForecasterConfig(**RECIPES["CryptoPriceForecaster"])).num_parameters() == 336_001


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("Volume LSTM", 4 * (50 * (1 + 50) + 100) + 51),  # 10,651
        ("PyTorch OHLCV LSTM", 4 * (10 * 15 + 20) + 4 * (10 * 20 + 20) + 11),  # 1,571
        ("LSTM returns", 4 * (64 * 68 + 128) + 65),  # 17,985
        ("GRU returns", 3 * (64 * 68 + 128) + 65),  # 13,505
        (
            "Bidirectional LSTM",  # 7 inputs; layers 49, 98, 49 in both directions; head reads 2*49
            2 * 4 * (49 * (7 + 49) + 98) + 2 * 4 * (98 * (98 + 98) + 196) + 2 * 4 * (49 * (196 + 49) + 98) + 99,
        ),
    ],
)
def test_recipe_parameter_counts_written_out(name, count):
    assert LSTMForecaster(LSTMForecasterConfig(**RECIPES[name])).num_parameters() == count


def test_quantiles_and_horizon_widen_only_the_head():
    base = dict(features=RETURNS_FEATURES, target="log_return", hidden_size=64)
    point = LSTMForecaster(LSTMForecasterConfig(**base)).num_parameters()
    wide = LSTMForecaster(LSTMForecasterConfig(**base, horizon=3, quantiles=[0.1, 0.5, 0.9])).num_parameters()
    assert wide - point == (64 + 1) * (3 * 3 - 1)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(target="close", quantiles=[0.1, 0.5, 0.9]),
        dict(target="log_return", quantiles=None),
        dict(target="log_return", quantiles=[0.1, 0.9]),
    ],
)
def test_median_at_last_needs_log_returns_and_a_median_level(overrides):
    with pytest.raises(ValueError, match="median_at_last needs target 'log_return' and a 0.5 level"):
        LSTMForecasterConfig(features=["log_return"], median_at_last=True, **overrides)
