"""ONNX export: every cell and head runs in onnxruntime as in PyTorch; the folder's contract; bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, Scaler, load_ohlcv, sample_path
from lstm_forecaster.cli import main
from lstm_forecaster.export import INPUT_NAME, OPSET, export_onnx, onnx_session

GOLDEN = Path(__file__).parent / "golden" / "tiny-quantile"
FEATURES = ["log_return", "volatility_7", "log_range"]
CONTEXT = 5  # the exporter traces the recurrent layers step by step: a short window exports fast

CASES = {
    "lstm-point-2-layers": dict(cell="lstm", hidden_size=[8, 6], num_layers=2, dropout=0.2, scaling="minmax"),
    "gru-bidirectional-attention-context-quantiles": dict(
        cell="gru", bidirectional=True, hidden_size=6, quantiles=[0.1, 0.5, 0.9], head="attention", scaling="context"
    ),
    "lstm-bidirectional-median-at-last": dict(
        cell="lstm", bidirectional=True, hidden_size=5, num_layers=2, quantiles=[0.1, 0.5, 0.9], median_at_last=True
    ),
}


def tiny_model(seed: int = 0, **overrides) -> LSTMForecaster:
    """A randomly initialised model with a scaler fitted on random rows (the export never looks at the data)."""
    config = LSTMForecasterConfig(
        features=FEATURES, target="log_return", context_length=CONTEXT, horizon=3, **overrides
    )
    torch.manual_seed(seed)
    model = LSTMForecaster(config)
    rng = np.random.default_rng(seed)
    model.scaler = Scaler.fit(
        config.scaling, config.features, config.target, rng.normal(size=(50, len(FEATURES))), rng.normal(size=50) * 0.02
    )
    return model.eval()


@pytest.mark.parametrize("case", list(CASES))
def test_onnx_matches_torch_for_batch_1_and_64(case, tmp_path):
    model = tiny_model(**CASES[case])
    folder = export_onnx(model, tmp_path / "onnx")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.onnx", "scaler.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]  # no temp folder left beside it

    proto = onnx.load(folder / "model.onnx")
    onnx.checker.check_model(proto)
    assert {o.domain: o.version for o in proto.opset_import}[""] == OPSET
    assert model.config.cell.upper() in {node.op_type for node in proto.graph.node}  # ONNX's own LSTM/GRU op
    (graph_input,) = proto.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert graph_input.name == INPUT_NAME and dims[0].dim_param and [d.dim_value for d in dims[1:]] == [CONTEXT, 3]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["lstm_forecaster.config"]) == dataclasses.asdict(model.config)

    session = onnx_session(folder)
    rng = np.random.default_rng(1)
    for batch in (1, 64):
        windows = rng.standard_normal((batch, CONTEXT, len(FEATURES)), dtype=np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(windows)).numpy()
        (actual,) = session.run(None, {INPUT_NAME: windows})
        assert actual.dtype == np.float32 and actual.shape == (batch, 3, model.config.num_outputs)
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5)

    assert json.loads((folder / "config.json").read_text()) == dataclasses.asdict(model.config)
    assert Scaler.load(folder / "scaler.json") == model.scaler
    readme = (folder / "README.md").read_text()
    assert f"`{INPUT_NAME}`: float32, shape `(batch, {CONTEXT}, 3)`" in readme
    assert f"`forecast`: float32, shape `(batch, 3, {model.config.num_outputs})`" in readme


def test_cli_export_and_the_readme_contract_reproduce_predict(tmp_path, capsys):
    """From the exported folder alone (ONNX + scaler.json), the forecasts equal the PyTorch model's in price units."""
    out = tmp_path / "golden-onnx"
    assert main(["export", "--model", str(GOLDEN), "--format", "onnx", "--output", str(out)]) == 0
    assert f"wrote {out / 'model.onnx'}" in capsys.readouterr().out

    model = LSTMForecaster.from_pretrained(GOLDEN)
    df = load_ohlcv(sample_path()).iloc[2900:3100]
    samples = model.samples(df)
    origins = samples.origins()[-20:]
    scaler = Scaler.load(out / "scaler.json")  # the contract: scale with scaler.json, run, unscale, compound
    (scaled,) = onnx_session(out).run(None, {INPUT_NAME: scaler.scale_windows(samples.windows(origins))})
    prices = samples.base[origins, None, None] * np.exp(scaler.unscale_target(scaled))
    np.testing.assert_allclose(prices, model.forecast_origins(samples, origins), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "case, message",
    [
        ("format", "--format must be one of onnx. Got 'tflite'."),
        ("exists", "exists and is not empty; pass --overwrite"),
        ("no-model", "no model folder"),
        ("opset", "opset must be an integer from 18 to 23"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, message, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["export", "--model", str(GOLDEN), "--output", str(out)]
    if case == "format":
        argv += ["--format", "tflite"]
    elif case == "exists":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "no-model":
        argv[2] = str(tmp_path / "missing")
    elif case == "opset":
        argv += ["--opset", "9"]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    expected = ["out"] if case == "exists" else []
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    if case == "exists":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_failed_check_leaves_nothing_behind(tmp_path, monkeypatch):
    import lstm_forecaster.export as export

    def broken(*args, **kwargs):
        raise RuntimeError("the ONNX model differs from PyTorch")

    monkeypatch.setattr(export, "verify_onnx", broken)
    with pytest.raises(RuntimeError, match="differs"):
        export_onnx(tiny_model(), tmp_path / "onnx")
    assert list(tmp_path.iterdir()) == []
