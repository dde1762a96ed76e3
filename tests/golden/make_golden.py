"""Write the golden model folder `tests/golden/tiny-quantile/` once; `tests/test_golden.py` checks it.

The folder is a backward-compatibility artifact: a tiny quantile model (config.json, model.safetensors,
scaler.json) and `expected.json`, the forecasts it gave when it was written. A later version of the
package must load the committed folder and reproduce those forecasts (to the float32 bound that
`tests/test_golden.py` explains: the folder was recorded on another CPU). Never regenerate it to
make a failing test pass: a failure means saved models changed meaning.

    python tests/golden/make_golden.py            # refuses if the folder exists
    python tests/golden/make_golden.py --force    # rewrite it (a deliberate format change only)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from lstm_forecaster import LSTMForecaster, LSTMForecasterConfig, Scaler, load_ohlcv, sample_path
from lstm_forecaster.data import file_sha256

FOLDER = Path(__file__).parent / "tiny-quantile"
CONFIG = dict(
    features=["log_return", "log_range", "rsi_14", "volatility_7", "volume_ratio_14"],
    target="log_return",
    context_length=16,
    horizon=3,
    cell="lstm",
    hidden_size=6,
    quantiles=[0.1, 0.5, 0.9],
    scaling="standard",
)
TRAIN = (2000, 2600)  # rows of the bundled sample the scaler is fitted on and the SGD steps use
PREDICT = (2900, 3100)  # the slice whose forecasts are recorded
BACKTEST_START = 3080  # backtest origins from this row of the sample to the end of the slice
SEED, STEPS, LR = 20240331, 20, 0.05


def train(model: LSTMForecaster, df) -> None:
    """Fit the scaler on the training rows and take a few pinball-loss SGD steps, so weights are not the init."""
    config = model.config
    samples = model.samples(df)
    origins = samples.origins()
    model.scaler = Scaler.fit(
        config.scaling,
        config.features,
        config.target,
        samples.features,
        samples.targets[origins],
        fitted_on={"start": str(df.index[0]), "end": str(df.index[-1]), "rows": len(df)},
    )
    x = torch.from_numpy(model.scaler.scale_windows(samples.windows(origins)))
    y = torch.from_numpy(model.scaler.scale_target(samples.targets[origins]))
    levels = torch.tensor(config.quantiles)
    model.train()
    for _ in range(STEPS):
        error = y[..., None] - model(x)
        loss = torch.maximum(levels * error, (levels - 1) * error).mean()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= LR * p.grad
    model.eval()


def expected_outputs(model: LSTMForecaster, data) -> dict:
    """What `test_golden.py` compares: predict and a short backtest on the fixed slice, floats as JSON reprs."""
    df = data.iloc[PREDICT[0] : PREDICT[1]]
    forecast = model.predict(df)
    backtest = model.backtest(df, start=data.index[BACKTEST_START])
    return {
        "data": {"file": "BTC-USD.csv (bundled sample)", "sha256": file_sha256(sample_path()), "rows": list(PREDICT)},
        "predict": {
            "index": [str(t) for t in forecast.index],
            "columns": list(forecast.columns),
            "values": forecast.to_numpy().tolist(),
        },
        "backtest": {
            "start": str(data.index[BACKTEST_START]),
            "columns": list(backtest.columns),
            "origin": [str(t) for t in backtest["origin"]],
            "timestamp": [str(t) for t in backtest["timestamp"]],
            "step": backtest["step"].tolist(),
            "values": backtest.drop(columns=["origin", "timestamp", "step"]).to_numpy().tolist(),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite an existing golden folder")
    args = parser.parse_args()
    if FOLDER.exists() and not args.force:
        print(f"{FOLDER} exists; it is a committed artifact. Use --force only for a deliberate format change.")
        return 2
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    data = load_ohlcv(sample_path())
    model = LSTMForecaster(LSTMForecasterConfig(**CONFIG))
    train(model, data.iloc[TRAIN[0] : TRAIN[1]])
    with tempfile.TemporaryDirectory(dir=FOLDER.parent) as tmp:
        staging = Path(tmp) / FOLDER.name
        model.save_pretrained(staging)
        (staging / "README.md").unlink(missing_ok=True)  # the model card is not part of the loading contract
        # What is recorded is what a *loaded* model predicts.
        loaded = LSTMForecaster.from_pretrained(staging)
        expected = expected_outputs(loaded, data)
        assert np.array_equal(
            np.array(expected["predict"]["values"]), model.predict(data.iloc[PREDICT[0] : PREDICT[1]]).to_numpy()
        )
        (staging / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
        if FOLDER.exists():
            shutil.rmtree(FOLDER)
        staging.rename(FOLDER)
    sizes = {p.name: p.stat().st_size for p in sorted(FOLDER.iterdir())}
    print(f"wrote {FOLDER}: {sizes}; {model.num_parameters()} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
