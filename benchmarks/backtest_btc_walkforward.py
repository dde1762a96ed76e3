"""A frozen backtest and a walk-forward with refits every 90 origins, side by side, on the BTC-USD sample.

    python benchmarks/backtest_btc_walkforward.py
    python benchmarks/backtest_btc_walkforward.py --refit-every 30

Trains `configs/btc_daily_quantile.yaml` (the first, single-series default) once (its test split: the last 15 % of the sample) and backtests that
frozen model from the first test origin, then walks forward over the same origins, retraining the
recipe on the rows up to every block of `--refit-every` origins; the vol-target rule runs on both at
0/10/25 bps. Reports go to `benchmarks/results/backtest_btc_default_{frozen,refitN}.json`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import common

from lstm_forecaster import LSTMForecaster, load_ohlcv, sample_path
from lstm_forecaster.backtest import backtest
from lstm_forecaster.training import load_recipe, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refit-every", type=int, default=90, help="origins per refit (default 90)")
    parser.add_argument("--json", default=str(common.RESULTS / "backtest_btc_default.json"), help="run metadata")
    args = parser.parse_args()
    meta, _ = common.start_run(args)
    recipe = load_recipe(common.ROOT / "configs" / "btc_daily_quantile.yaml")
    df = load_ohlcv(sample_path())
    rule = {"strategy": "vol-target", "cost_bps": [0, 10, 25]}
    with tempfile.TemporaryDirectory(prefix="bt-walk-") as work:
        t = time.perf_counter()
        folder = train(recipe, Path(work) / "default", progress=False)
        trained = time.perf_counter() - t
        start = json.loads((folder / "training_args.json").read_text())["splits"]["test"]["first_origin"]
        frozen = backtest(LSTMForecaster.from_pretrained(folder), df, start=start, **rule)
    t = time.perf_counter()
    walked = backtest(None, df, start=start, refit_every=args.refit_every, recipe=recipe, progress=True, **rule)
    walk_seconds = time.perf_counter() - t
    runs = {"frozen": frozen, f"refit{args.refit_every}": walked}
    for name, result in runs.items():
        common.write_json(common.RESULTS / f"backtest_btc_default_{name}.json", result.report)
        pooled = result.report["comparison"]["pooled"]
        st = {c["cost_bps"]: c["results"] for c in result.report["strategy"]["series"]["costs"]}
        print(
            f"{name}: {result.report['n_origins']} origins from {start[:10]}; pinball vs EWMA "
            f"{pooled['model_vs']['ewma']['ratio'][0]:.4f} (DM p {pooled['model_vs']['ewma']['dm_p_value'][0]:.3f}), "
            f"80 % coverage {pooled['forecasts']['model']['coverage_80'][0]:.3f}; vol-target at 25 bps: model "
            f"{st[25.0]['model']['total_return']:.1%}, EWMA {st[25.0]['ewma']['total_return']:.1%}, "
            f"buy-and-hold {st[25.0]['buy-and-hold']['total_return']:.1%}"
        )
    common.write_json(Path(args.json), {**meta, "train_seconds": trained, "walk_forward_seconds": walk_seconds})
    print(f"trained once in {trained:.0f} s; walk-forward ({len(walked.report['refits'])} refits) {walk_seconds:.0f} s")


if __name__ == "__main__":
    main()
