"""The measured table of every recipe: the model beside the naive baselines on its own test split.

Reads the model folders written by `lstm-forecaster train` (their `metrics.json` and
`training_args.json`) and prints Markdown: one block of rows per recipe (model, naive last value,
drift, moving average) with MAE, RMSE, MAPE, MASE and direction accuracy, the Diebold-Mariano test
against naive, and the quantile table of quantile models.

Examples (from the repository root, after training the recipes into runs/ with the commands printed
in the table):

    python benchmarks/recipe_table.py runs/default runs/crypto_price_forecaster
    python benchmarks/recipe_table.py runs/*/ > docs/recipe_table.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    value = float(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.{digits}g}"


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f} %"


def recipe_rows(folder: Path) -> tuple[list[str], list[str], dict]:
    """Markdown rows of one model folder, its quantile rows, and a summary dict."""
    metrics = json.loads((folder / "metrics.json").read_text())
    args = json.loads((folder / "training_args.json").read_text())
    name = args.get("recipe", folder.name)
    test = args["splits"]["test"]
    period = f"{test['start'][:10]} to {test['end'][:10]} ({metrics['n_origins']} origins)"
    rows = []
    for who, label in (
        ("model", f"**{name}**"),
        ("naive_last", "naive last value"),
        ("drift", "drift"),
        ("moving_average", "moving average (20)"),
    ):
        m = metrics["models"][who]
        d = metrics["direction"].get(who)
        direction = "n/a (no move)" if d is None else f"{_pct(d['accuracy'])} (p {_fmt(d['p_value'], 2)})"
        mase = "n/a" if m["mase"] is None else f"{m['mase']:.3f}"
        rows.append(f"| {label} | {_fmt(m['mae'])} | {_fmt(m['rmse'])} | {_fmt(m['mape'], 3)} | {mase} | {direction} |")
    quantile_rows = []
    for who, q in (metrics.get("quantile") or {}).items():
        quantile_rows.append(
            f"| {name}: {who} | {_fmt(q['pinball'])} | {_pct(q['coverage'])} | {_pct(q['nominal_coverage'])} |"
        )
    summary = {
        "name": name,
        "config": args.get("config"),
        "period": period,
        "epochs": f"{args['epochs_run']} of {args['epochs']} (best {args['best_epoch']}{', stopped early' if args['stopped_early'] else ''})",
        "seconds": args.get("wall_seconds"),
        "threads": args.get("torch_threads"),
        "parameters": args.get("parameters"),
        "dm": metrics.get("diebold_mariano", {}),
    }
    return rows, quantile_rows, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="model folders written by lstm-forecaster train")
    args = parser.parse_args()
    out = [
        "| forecast | MAE | RMSE | MAPE (%) | MASE | direction accuracy (binomial p) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    quantiles, notes = [], []
    for folder in map(Path, args.folders):
        if not (folder / "metrics.json").is_file():
            sys.exit(f"{folder} has no metrics.json: not a trained model folder")
        rows, quantile_rows, s = recipe_rows(folder)
        out += rows
        quantiles += quantile_rows
        dm = s["dm"]
        notes.append(
            f"- **{s['name']}** (`{s['config']}`, {s['parameters']:,} parameters): test {s['period']}; "
            f"epochs {s['epochs']}; {s['seconds']:.0f} s with {s['threads']} torch thread(s); "
            f"Diebold-Mariano vs naive: statistic {_fmt(dm.get('statistic'), 3)}, p {_fmt(dm.get('p_value'), 2)}."
        )
    print("\n".join(out))
    if quantiles:
        print(
            "\n| quantile forecast | mean pinball loss | coverage of the lowest-to-highest level interval | nominal |"
        )
        print("| --- | ---: | ---: | ---: |")
        print("\n".join(quantiles))
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
