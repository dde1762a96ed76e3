"""The first default recipe (configs/btc_daily_quantile.yaml) on pre-test folds only, with and without the pinned median.

    python benchmarks/default_folds.py --seeds 0 1

Folds: the validation split of the full series, and the test splits of the series cut at 70 % and
55 % of its rows: all before the real test split, which this script never reads. Prints one JSON line
per (variant, seed, fold): MASE vs naive, pinball loss relative to the constant-quantile and
rolling-volatility baselines, coverage of the 0.1-0.9 interval.
"""

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import torch

from lstm_forecaster.data import load_ohlcv, sample_path
from lstm_forecaster.training import load_recipe, train

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "btc_daily_quantile.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    index = load_ohlcv(sample_path()).index
    folds = {
        "validation": (None, "validation"),
        "cut70": (str(index[int(len(index) * 0.70) - 1].date()), "test"),
        "cut55": (str(index[int(len(index) * 0.55) - 1].date()), "test"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for pinned in (False, True):
            for seed in args.seeds:
                for fold, (end, split) in folds.items():
                    recipe = load_recipe(RECIPE)
                    model = dataclasses.replace(recipe.model, median_at_last=pinned)
                    recipe = dataclasses.replace(recipe, seed=seed, end=end, model=model)
                    out = train(recipe, Path(tmp) / f"{pinned}-{seed}-{fold}", progress=False, evaluate_split=split)
                    report = json.loads((out / "metrics.json").read_text())
                    q = report["quantile"]
                    row = {
                        "variant": "pinned" if pinned else "unpinned",
                        "seed": seed,
                        "fold": fold,
                        "mase": report["models"]["model"]["mase"],
                        "pinball_vs_constant_quantile": q["model"]["pinball"] / q["constant_quantile"]["pinball"],
                        "pinball_vs_rolling_volatility": q["model"]["pinball"] / q["rolling_volatility"]["pinball"],
                        "coverage": q["model"]["coverage"],
                    }
                    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
