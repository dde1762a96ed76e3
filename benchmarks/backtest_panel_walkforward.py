"""The default model over the bundled panel's test period: frozen, and walking forward with monthly refits.

    python benchmarks/backtest_panel_walkforward.py                       # refits every 30 origin dates
    python benchmarks/backtest_panel_walkforward.py --model runs/default  # reuse a trained default

Trains `configs/default.yaml` once (train before 2022-07-01, validation to 2023-07-01: the recipe's
one clock) unless `--model` gives that folder, and backtests it frozen from the first test date
(2023-07-01) to the end of the bundled panel. Then walks forward over the same origin dates: at the
first date of every block of `--refit-every` dates the recipe is retrained on the rows up to that
date only (`lstm_forecaster.walkforward`), and forecasts its block. Both forecast frames are scored
beside the baselines (refitted at the same dates) and run through both trading rules at 0, 10 and
25 bps. Each run's report folder (report.json, report.md, plots) goes under `--output`; the
headline figures go to `benchmarks/results/backtest_panel_{frozen,refitN}_{rule}.json`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import common
import pandas as pd

from lstm_forecaster import LSTMForecaster, load_ohlcv, panel_path
from lstm_forecaster.backtest import backtest, score_backtest, series_of
from lstm_forecaster.strategy import STRATEGIES
from lstm_forecaster.training import load_recipe, train
from lstm_forecaster.walkforward import walk_forward

COSTS = [0.0, 10.0, 25.0]


def headline(result, start: str) -> dict:
    """The figures the closing note and docs/backtest.md quote: pooled accuracy, strategy totals per cost."""
    pooled = result.report["comparison"]["pooled"]
    out = {
        "n_origins": result.report["n_origins"],
        "first_origin": start,
        "pinball_vs_ewma": pooled["model_vs"]["ewma"]["ratio"],
        "pinball_vs_garch": pooled["model_vs"]["garch"]["ratio"],
        "dm_p_vs_ewma": pooled["model_vs"]["ewma"]["dm_p_value"],
        "coverage_80": pooled["forecasts"]["model"]["coverage_80"],
        "strategy": {},
    }
    for symbol, st in result.report.get("strategy", {}).items():
        out["strategy"][symbol] = {
            str(int(c["cost_bps"])): {
                who: {k: c["results"][who][k] for k in ("total_return", "sharpe", "max_drawdown", "turnover")}
                for who in c["results"]
            }
            for c in st["costs"]
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained default folder (default: train one)")
    parser.add_argument("--refit-every", type=int, default=30, help="origin dates per refit (default 30)")
    parser.add_argument("--start", default="2023-07-01", help="first origin (default: the recipe's test_start)")
    parser.add_argument("--output", default=None, help="report folders (default: a temp folder)")
    parser.add_argument("--resume", action="store_true", help="rescore the walk-forward frame saved in --output")
    parser.add_argument("--json", default=str(common.RESULTS / "backtest_panel_walkforward.json"), help="run metadata")
    args = parser.parse_args()
    meta, _ = common.start_run(args)
    recipe = load_recipe(common.ROOT / "configs" / "default.yaml")
    df = load_ohlcv(panel_path())
    out = Path(args.output or tempfile.mkdtemp(prefix="bt-panel-"))
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    with tempfile.TemporaryDirectory(prefix="bt-panel-train-") as work:
        folder = Path(args.model) if args.model else None
        if folder is None:
            t = time.perf_counter()
            folder = train(recipe, Path(work) / "default", progress=False)
            timings["train_seconds"] = time.perf_counter() - t
        model = LSTMForecaster.from_pretrained(folder)
        t = time.perf_counter()
        frozen = {s: backtest(model, df, start=args.start, strategy=s, cost_bps=COSTS) for s in STRATEGIES}
        timings["frozen_seconds"] = time.perf_counter() - t
    first = pd.Timestamp(frozen[STRATEGIES[0]].frame["origin"].min())  # the same origin dates, walking forward
    saved = out / f"refit{args.refit_every}-frame.parquet"  # the costly part, kept to rescore without refitting
    if args.resume and saved.exists():
        frame = pd.read_parquet(saved)
        extra = json.loads(saved.with_suffix(".json").read_text())
        blocks, refits, levels = [pd.Timestamp(b) for b in extra["blocks"]], extra["refits"], extra["levels"]
        timings["walk_forward_seconds"] = extra["seconds"]
    else:
        t = time.perf_counter()
        frame, blocks, refits, levels = walk_forward(
            recipe, df, series_of(df), first, None, args.refit_every, progress=True
        )
        timings["walk_forward_seconds"] = time.perf_counter() - t
        frame.to_parquet(saved)
        extra = {"blocks": [b.isoformat() for b in blocks], "refits": refits, "levels": levels}
        saved.with_suffix(".json").write_text(json.dumps({**extra, "seconds": timings["walk_forward_seconds"]}))
    walked = {
        s: score_backtest(frame, df, levels, blocks, refits, args.refit_every, strategy=s, cost_bps=COSTS)
        for s in STRATEGIES
    }
    summary = {}
    for run, results in (("frozen", frozen), (f"refit{args.refit_every}", walked)):
        for rule, result in results.items():
            result.save(out / f"{run}-{rule}", overwrite=True)
            summary[f"{run}_{rule}"] = headline(result, first.isoformat())
            common.write_json(common.RESULTS / f"backtest_panel_{run}_{rule}.json", summary[f"{run}_{rule}"])
            h = summary[f"{run}_{rule}"]
            print(
                f"{run} {rule}: {h['n_origins']} origins; pooled pinball vs EWMA step 1 {h['pinball_vs_ewma'][0]:.4f}, "
                f"step {len(h['pinball_vs_ewma'])} {h['pinball_vs_ewma'][-1]:.4f}; 80 % coverage "
                f"{h['coverage_80'][0]:.3f} / {h['coverage_80'][-1]:.3f}"
            )
    common.write_json(
        Path(args.json),
        {**meta, **timings, "refits": len(refits), "reports": str(out), "refit_ranges": refits},
    )
    print(json.dumps(timings), f"{len(refits)} refits; reports in {out}")


if __name__ == "__main__":
    main()
