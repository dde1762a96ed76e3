"""Issue 14's measurement: the default recipe against its variants (an ensemble of seeds, attention
pooling, the best tuned recipe), per asset and step, pinball loss over EWMA(0.94)'s and GARCH(1,1)-t's.

Each variant is the default recipe with a few keys changed (or a whole recipe file, such as the
`best.yaml` that `lstm-forecaster tune` writes). Each is trained once into `--output/NAME` (its
metrics.json scores the validation split, so training never reads the test split); a later call
reuses the folder when its recorded recipe is the same. `--split validation` scores the validation
points, for choosing; `--split test` scores the test points of the same folders, read once, for
docs/recipes.md. The figures per asset and step are `bars.py`'s (`bars.score_model`): exactly what
`predict` returns at each origin, calibration included, beside the baselines fitted on each asset's
training rows.

Examples
--------
    OMP_NUM_THREADS=1 lstm-forecaster tune --config configs/default.yaml --trials 8 --seed 0 --no-train --output runs/tuned
    OMP_NUM_THREADS=1 python benchmarks/variants.py --split validation --tuned runs/tuned/best.yaml --json runs/variants_validation.json
    # once, after choosing on validation:
    OMP_NUM_THREADS=1 python benchmarks/variants.py --split test --tuned runs/tuned/best.yaml --json benchmarks/results/variants_test.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bars  # noqa: E402

from lstm_forecaster.panel import is_panel  # noqa: E402
from lstm_forecaster.training import TrainingConfig, load_recipe, load_training_data, train  # noqa: E402

# name -> the `model:` keys set on the recipe file's (`default`: the recipe before issue 14)
VARIANTS = {
    "default": {"head": "last", "ensemble": 1},
    "ensemble5": {"head": "last", "ensemble": 5},
    "attention": {"head": "attention", "ensemble": 1},
    "attention_ensemble5": {"head": "attention", "ensemble": 5},  # attention over the same five seeds
}
# Issue 10 part 6: the recipe as it is (its `model:` keys unchanged), and with the market features added.
MARKET = ["market_return", "market_volatility"]


def variant_recipes(config: str, tuned: str | None) -> dict[str, TrainingConfig]:
    """The recipes compared: the default, its model changes (`VARIANTS`), and the tuned recipe file."""
    base = load_recipe(config)
    recipes = {
        name: dataclasses.replace(base, model=dataclasses.replace(base.model, **changes))
        for name, changes in VARIANTS.items()
    }
    recipes["recipe"] = base
    recipes["market"] = dataclasses.replace(
        base, model=dataclasses.replace(base.model, features=[*base.model.features, *MARKET])
    )
    if tuned:
        recipes["tuned"] = load_recipe(tuned)
    return recipes


def trained_folder(recipe: TrainingConfig, folder: Path, name: str) -> tuple[Path, float | None]:
    """`folder` trained from `recipe` (validation split scored), reused when it holds the same recipe."""
    args_file = folder / "training_args.json"
    if args_file.is_file() and _trains_alike(json.loads(args_file.read_text()).get("recipe_config"), recipe.to_dict()):
        return folder, None
    started = time.perf_counter()
    train(recipe, folder, overwrite=True, evaluate_split="validation", progress=False, recipe_file=name)
    return folder, round(time.perf_counter() - started, 1)


def _trains_alike(recorded: dict | None, recipe: dict) -> bool:
    """Whether a recorded recipe trains the same model as `recipe` (its description aside)."""
    return recorded is not None and {**recorded, "description": ""} == {**recipe, "description": ""}


def ratio_table(results: dict, steps: list[int]) -> str:
    """Markdown: one row per asset (and the geometric mean), pinball / EWMA per variant and step."""
    names = list(results)
    header = "| asset | " + " | ".join(f"{n} step {k}" for n in names for k in steps) + " |"
    lines = [header, "| --- |" + " ---: |" * (len(names) * len(steps))]
    symbols = list(next(iter(results.values()))["assets"])
    for symbol in symbols:
        cells = [f"{results[n]['assets'][symbol]['steps'][k - 1]['ratio_ewma']:.4f}" for n in names for k in steps]
        lines.append(f"| {symbol} | " + " | ".join(cells) + " |")
    cells = [f"**{results[n]['pooled'][k]['gmean_ratio_ewma']:.4f}**" for n in names for k in steps]
    lines.append("| **geometric mean** | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pooled_table(results: dict, horizon: int) -> str:
    """Markdown: one row per variant, the geometric mean over assets of pinball / EWMA at every step."""
    lines = [
        "| variant | "
        + " | ".join(f"step {k}" for k in range(1, horizon + 1))
        + " | mean of steps | worst asset-step |"
    ]
    lines.append("| --- |" + " ---: |" * (horizon + 2))
    for name, r in results.items():
        ratios = [r["pooled"][k]["gmean_ratio_ewma"] for k in range(1, horizon + 1)]
        worst = max(r["pooled"][k]["max_ratio_ewma"] for k in range(1, horizon + 1))
        cells = [f"{v:.4f}" for v in ratios] + [f"{sum(ratios) / horizon:.4f}", f"{worst:.4f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--tuned", help="a recipe file to compare too (the `best.yaml` of `lstm-forecaster tune`)")
    parser.add_argument("--only", nargs="+", help="variants to run (default: all)")
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--output", default="runs/variants", help="folder for the trained models")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    recipes = variant_recipes(args.config, args.tuned)
    if args.only:
        unknown = [n for n in args.only if n not in recipes]
        if unknown:
            print(f"--only {unknown[0]} is not a variant; variants: {', '.join(recipes)}", file=sys.stderr)
            return 2
        recipes = {n: recipes[n] for n in args.only}
    panel, _ = load_training_data(recipes["default"] if "default" in recipes else next(iter(recipes.values())))
    if not is_panel(panel):
        print("variants.py compares panel recipes; use bars.py for one series", file=sys.stderr)
        return 2
    symbols = list(dict.fromkeys(panel.index.get_level_values("symbol")))
    report = {"split": args.split, "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "variants": {}}
    for name, recipe in recipes.items():
        folder, seconds = trained_folder(recipe, Path(args.output) / name, name)
        scored = bars.score_model(folder, panel, symbols, args.split)
        training = json.loads((folder / "training_args.json").read_text())
        scored.update(
            recipe=recipe.to_dict()["model"],
            train_seconds=seconds if seconds is not None else training["wall_seconds"],
            best_epoch=training["best_epoch"],
            epochs_run=training["epochs_run"],
            best_val_loss=training["best_val_loss"],
            baseline_val_loss=training.get("baseline_val_loss"),
            member_val_losses=training.get("member_val_losses"),
            member_best_epochs=training.get("member_best_epochs"),
        )
        report["variants"][name] = scored
        pooled = {k: round(v, 4) for k, v in scored["pooled"][recipe.model.horizon].items() if "ewma" in k}
        print(f"{name}: kept {scored['kept']}, val loss {scored['best_val_loss']:.5f}, last step {pooled}", flush=True)
    horizon = max(r.model.horizon for r in recipes.values())
    print(f"\n{args.split} split: pinball / EWMA(0.94), per asset")
    print(ratio_table(report["variants"], sorted({1, horizon})))
    print(f"{args.split} split: pinball / EWMA(0.94), geometric mean over assets, every step")
    print(pooled_table(report["variants"], horizon))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
