"""The model card: the `README.md` of a model folder or Hub repo, rendered from `model_card.md`.

    render_model_card(source, *, repo_id=None, revision=None, template=None) -> str

`source` is a trained model folder (a path) or a dict holding the same content::

    {"config": <config.json as a dict, or an LSTMForecasterConfig>,
     "training_args": <training_args.json as a dict>,
     "metrics": <metrics.json as a dict>,
     "plots": ["forecast.png", ...]}          # PNG file names, relative to the repo root

`repo_id` and `revision` (a tag, branch or commit) go into the YAML metadata and the loading snippet;
without `repo_id` the snippet loads the folder itself. Nothing is invented: what the files do not hold
is left out of the card.

What the card reads (only `config` is required):

- `metrics.json`: an `evaluation.evaluate_backtest` report, at the top level or under the key `"test"`
  (`{"models": {"model": {"mae", "rmse", "mape", "mase"}, "naive_last": {...}, ...}, "direction", ...}`).
- `training_args.json`:

  - `"recipe"` (name) and/or `"config"` (recipe file);
  - `"data"`: `{"source", "sha256", "rows", "start", "end", "frequency"?, "hub_dataset"?: {"id",
    "revision", "sha"?, "split"?}}`; flat keys `data_source`, `data_sha256`, `hub_dataset` are accepted too;
  - `"splits"`: `{"train" | "validation" | "test": {"start", "end", "rows"}}`;
  - `"package_version"`, `"seed"`, `"epochs"` and any other scalar (or list of scalars): listed in the
    training-setup table.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .configuration import LSTMForecasterConfig
from .data import max_missing_steps
from .features import FEATURES, WINDOW_FEATURES

LIBRARY_NAME = "lstm-forecaster"
LICENSE = "mit"
PIPELINE_TAG = "time-series-forecasting"
BASE_TAGS = ["time-series", "forecasting", "crypto", "pytorch", "safetensors"]
CARD_NAME = "README.md"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_TARGETS = {
    "close": "the close price",
    "log_return": "the close price, through the log return from the last observed close (compounded back into a price)",
    "volume": "the traded volume",
}
_SCALINGS = {
    "minmax": "min-max scaling fitted on the training split only",
    "standard": "standardisation (mean, standard deviation) fitted on the training split only",
    "window": "per-window normalisation: each window divided by its first value, minus 1 (nothing fitted)",
    "context": (
        "scale-free context normalisation: each window from its own context only (returns over the context's "
        "EWMA volatility, prices relative to the last close, volume relative to its context mean; nothing "
        "fitted on any asset), around a built-in EWMA-volatility baseline"
    ),
}
_PLOT_CAPTIONS = {
    "forecast.png": "forecast vs actual on the held-out split",
    "percent_change.png": "predicted vs real percent change",
}
_COLUMNS = {name: f"the {name} of each candle" for name in ("open", "high", "low", "close", "volume")}
_STEPS = (
    (pd.Timedelta(days=7), "weekly", "week"),
    (pd.Timedelta(days=1), "daily", "day"),
    (pd.Timedelta(hours=4), "4-hourly", "4 hours"),
    (pd.Timedelta(hours=1), "hourly", "hour"),
    (pd.Timedelta(minutes=15), "15-minute", "15 minutes"),
    (pd.Timedelta(minutes=5), "5-minute", "5 minutes"),
    (pd.Timedelta(minutes=1), "1-minute", "minute"),
)


def model_card_template() -> str:
    """The Jinja template `model_card.md`: shipped in the package, or at the root of a source checkout."""
    from .modeling import _model_card_template

    return _model_card_template()


def render_model_card(
    source: str | Path | dict,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    local_path: str | None = None,
    template: str | None = None,
) -> str:
    """Render the model card (`README.md`) of a trained model.

    Parameters
    ----------
    source : str, Path or dict
        A model folder holding `config.json` (and normally `training_args.json`, `metrics.json`
        and PNG plots), or a dict with the keys `config`, `training_args`, `metrics`, `plots`.
    repo_id : str, optional
        Hub repo id the card will live in (`user/name`); used in the metadata and the snippet.
    revision : str, optional
        Tag, branch or commit the snippet loads.
    local_path : str, optional
        Folder the snippet loads when there is no `repo_id` (default: `training_args["output"]`, else
        the folder as given; pass the final path when rendering into a temporary folder).
    template : str, optional
        Jinja template text (default: `model_card.md`).

    Returns
    -------
    str
        Markdown with a YAML header that `huggingface_hub.ModelCard` parses.
    """
    import jinja2
    from huggingface_hub import ModelCard

    parts = _read_source(source)
    if local_path:
        parts["folder"] = str(local_path)
    elif parts["training_args"].get("output"):
        parts["folder"] = str(parts["training_args"]["output"])
    context = card_context(parts, repo_id=repo_id, revision=revision)
    data = card_data(parts, repo_id=repo_id)
    text = jinja2.Template(template or model_card_template(), keep_trailing_newline=True).render(
        card_data=data.to_yaml(), card=context, **data.to_dict()
    )
    text = re.sub(r"\n{3,}", "\n\n", text)
    ModelCard(text)  # raises ValueError on a malformed YAML header
    return text


def write_model_card(
    folder: str | Path, *, repo_id: str | None = None, revision: str | None = None, local_path: str | None = None
) -> Path:
    """Render the card of a model folder into its `README.md`; returns the path."""
    path = Path(folder) / CARD_NAME
    text = render_model_card(folder, repo_id=repo_id, revision=revision, local_path=local_path)
    path.write_text(text, encoding="utf-8")
    return path


# ----- reading what a folder holds -----------------------------------------------------------------


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object. Got {type(data).__name__}.")
    return data


def _read_source(source: str | Path | dict) -> dict:
    if isinstance(source, dict):
        parts = dict(source)
        if "config" not in parts:
            raise ValueError(f"a model card needs the model's config; got the keys {', '.join(sorted(parts))}")
    else:
        folder = Path(source)
        if not (folder / "config.json").is_file():
            raise ValueError(f"{folder} has no config.json: not a model folder")
        parts = {"config": _read_json(folder / "config.json")}
        for name in ("training_args", "metrics"):
            path = folder / f"{name}.json"
            if path.is_file():
                parts[name] = _read_json(path)
        parts["plots"] = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
        parts["folder"] = str(source)
    config = parts["config"]
    if isinstance(config, LSTMForecasterConfig):
        parts["config"] = config
    else:
        known = LSTMForecasterConfig.__dataclass_fields__
        parts["config"] = LSTMForecasterConfig(**{k: v for k, v in dict(config).items() if k in known})
    parts.setdefault("training_args", {})
    parts.setdefault("metrics", {})
    parts.setdefault("plots", [])
    return parts


def held_out_report(metrics: dict | None) -> dict | None:
    """The `evaluate_backtest` report in a `metrics.json`: at the top level or under `"test"`."""
    if not isinstance(metrics, dict):
        return None
    if isinstance(metrics.get("models"), dict):
        return metrics
    test = metrics.get("test")
    if isinstance(test, dict) and isinstance(test.get("models"), dict):
        return test
    return None


def headline_metrics(metrics: dict | None) -> dict[str, float | None] | None:
    """Held-out MAE, RMSE and MASE of the model and of the naive last-value forecast, from a `metrics.json`."""
    report = held_out_report(metrics)
    if report is None and isinstance(metrics, dict) and metrics.get("panel"):
        # A panel's errors are in each asset's own units: only the pooled, unit-free ratios head it.
        pooled = metrics.get("pooled") or {}
        return {
            "model_mae": None,
            "model_rmse": None,
            "model_mase": (pooled.get("mase") or {}).get("model"),
            "naive_mae": None,
            "naive_rmse": None,
            "naive_mase": (pooled.get("mase") or {}).get("naive_last"),
            "direction_accuracy": pooled.get("direction_accuracy"),
            "split": metrics.get("split", "test"),
        }
    if report is None:
        return None
    model = report["models"].get("model", {})
    naive = report["models"].get("naive_last", {})
    return {
        "model_mae": model.get("mae"),
        "model_rmse": model.get("rmse"),
        "model_mase": model.get("mase"),
        "naive_mae": naive.get("mae"),
        "naive_rmse": naive.get("rmse"),
        "naive_mase": naive.get("mase"),
        "direction_accuracy": report.get("direction", {}).get("model", {}).get("accuracy"),
        "split": report.get("split", "test"),
    }


def data_info(training_args: dict) -> dict:
    """Source, sha256, date range and Hub dataset of the training data, from `training_args.json`."""
    data = training_args.get("data")
    info = dict(data) if isinstance(data, dict) else {}
    if isinstance(data, str):
        info["source"] = data
    for flat, key in (("data_source", "source"), ("data_path", "source"), ("data_sha256", "sha256")):
        if flat in training_args and key not in info:
            info[key] = training_args[flat]
    hub = info.get("hub_dataset", training_args.get("hub_dataset"))
    info["hub_dataset"] = hub if isinstance(hub, dict) and hub.get("id") else None
    return info


def splits_info(training_args: dict) -> dict[str, dict]:
    """`{"train" | "validation" | "test": {"start", "end", "rows"}}` from `training_args.json`."""
    splits = training_args.get("splits")
    if not isinstance(splits, dict):
        return {}
    return {name: value for name, value in splits.items() if isinstance(value, dict)}


# ----- metadata --------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _dataset_label(parts: dict) -> tuple[str, str]:
    """(type, name) of the evaluation data for the model-index."""
    info = data_info(parts["training_args"])
    if info["hub_dataset"]:
        return info["hub_dataset"]["id"], info["hub_dataset"]["id"]
    source = info.get("source")
    name = Path(str(source)).name if source else "OHLCV candles"
    return "ohlcv", name


def card_data(parts: dict, *, repo_id: str | None = None):
    """The card's YAML metadata as a `huggingface_hub.ModelCardData`."""
    from huggingface_hub import EvalResult, ModelCardData

    config: LSTMForecasterConfig = parts["config"]
    info = data_info(parts["training_args"])
    tags = [*BASE_TAGS, config.cell]
    if config.quantiles:
        tags.append("probabilistic-forecasting")
    results = []
    report = held_out_report(parts["metrics"])
    metrics = parts["metrics"] if isinstance(parts["metrics"], dict) else {}
    panel = metrics if report is None and metrics.get("panel") else None
    if report is not None or panel is not None:
        split = (report or panel).get("split", "test")
        dataset_type, dataset_name = _dataset_label(parts)
        hub = info["hub_dataset"] or {}
        common = {
            "task_type": PIPELINE_TAG,
            "task_name": "Time series forecasting",
            "dataset_type": dataset_type,
            "dataset_name": f"{dataset_name} ({split} split)",
            "dataset_split": split,
            "dataset_revision": hub.get("sha") or hub.get("revision"),
        }

        def add(who: str, label: str, metric_type: str, value, metric_name: str) -> None:
            if _is_number(value):
                results.append(
                    EvalResult(
                        **common,
                        metric_type=metric_type,
                        metric_value=float(value),
                        metric_name=f"{metric_name}, {label}",
                        metric_config=None if who == "model" else who,
                    )
                )

        if panel is not None:  # a panel's per-asset errors are in each asset's units: pooled ratios only
            _panel_results(panel, add)
        else:
            _series_results(report, add)
        _comparison_results(metrics.get("comparison"), add)
    return ModelCardData(
        library_name=LIBRARY_NAME,
        license=LICENSE,
        pipeline_tag=PIPELINE_TAG,
        tags=tags,
        datasets=[info["hub_dataset"]["id"]] if info["hub_dataset"] else None,
        model_name=repo_id or _model_name(parts),
        eval_results=results or None,
    )


def _series_results(report: dict, add) -> None:
    """Model-index entries of a single-series model: errors beside the naive and quantile baselines."""
    names = {"mae": "MAE", "rmse": "RMSE", "mape": "MAPE (%)", "mase": "MASE vs naive last value"}
    for who, label in (("model", "model"), ("naive_last", "naive last value (baseline)")):
        row = report["models"].get(who, {})
        for key, metric_name in names.items():
            if not (who == "naive_last" and key == "mase"):  # 1 by definition
                add(who, label, key, row.get(key), metric_name)
    accuracy = report.get("direction", {}).get("model", {}).get("accuracy")
    add("model", "model", "accuracy", accuracy, "direction accuracy")
    for who, row in (report.get("quantile") or {}).items():
        label = "model" if who == "model" else f"{who.replace('_', ' ')} (baseline)"
        add(who, label, "pinball_loss", row.get("pinball"), "mean pinball loss")
        add(who, label, "coverage", row.get("coverage"), "interval coverage (lowest to highest level)")


def _panel_results(panel: dict, add) -> None:
    """Model-index entries of a panel model: its pooled, unit-free figures (geometric means over assets)."""
    pooled = panel.get("pooled") or {}
    assets = f"pooled over {pooled.get('assets', len(panel.get('symbols', [])))} assets"
    add("model", "model", "mase", (pooled.get("mase") or {}).get("model"), f"MASE vs naive last value, {assets}")
    add("model", "model", "accuracy", pooled.get("direction_accuracy"), f"direction accuracy, {assets}")
    for who, ratio in (pooled.get("pinball_ratio") or {}).items():
        # metric_config names the baseline the model's pinball loss is divided by
        add(who, "model", "pinball_loss_ratio", ratio, f"pinball loss over {who.replace('_', ' ')}'s, {assets}")
    for who, coverage in (pooled.get("coverage") or {}).items():
        label = "model" if who == "model" else f"{who.replace('_', ' ')} (baseline)"
        add(who, label, "coverage", coverage, f"interval coverage, {assets}")


_FIELD_BASELINES = {"ewma": "EWMA(0.94) volatility", "garch": "GARCH(1,1)-t"}


def _comparison_results(comparison: Any, add) -> None:
    """Model-index entries of `metrics.json`'s comparison with the field's baselines: the model's pinball
    loss over EWMA(0.94)'s and GARCH(1,1)-t's, all steps (geometric mean over assets for a panel)."""
    if not isinstance(comparison, dict):
        return  # a metrics.json written before the comparison existed, or a model it skipped
    versus = (comparison.get("pooled") or {}).get("model_vs") or {}
    assets = comparison.get("assets") or []
    where = f"geometric mean over {len(assets)} assets" if len(assets) > 1 else "one series"
    for who, label in _FIELD_BASELINES.items():
        ratio = (versus.get(who) or {}).get("ratio_all")
        # metric_config names the baseline the model's pinball loss is divided by
        add(who, "model", "pinball_loss_ratio", ratio, f"pinball loss over {label}'s, log returns, all steps, {where}")


def _model_name(parts: dict) -> str:
    recipe = parts["training_args"].get("recipe")
    if recipe:
        return f"lstm-forecaster-{recipe}"
    folder = parts.get("folder")
    return Path(folder).resolve().name if folder else "lstm-forecaster"


# ----- the body ---------------------------------------------------------------------------------------


def describe_feature(name: str) -> str:
    """One line saying what a feature is, from the feature registry's docstrings."""
    if name in _COLUMNS:
        return _COLUMNS[name]
    if name in FEATURES:
        return _first_sentence(FEATURES[name].__doc__)
    match = re.match(r"^([a-z_]+?)_(\d+)$", name)
    if match and match.group(1) in WINDOW_FEATURES:
        doc = _first_sentence(WINDOW_FEATURES[match.group(1)].__doc__)
        if doc.endswith(")"):
            return f"{doc[:-1]}; n = {match.group(2)})"
        return f"{doc} (n = {match.group(2)})"
    return name


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    return text.split(". ")[0].rstrip(".") if text else ""


def _step_label(data: dict, splits: dict) -> tuple[str | None, str]:
    """("daily", "day") from the data's recorded frequency or its dates; (None, "step") when unknown."""
    frequency = data.get("frequency") or data.get("step")
    if frequency:
        try:
            step = pd.Timedelta(frequency)
        except (ValueError, TypeError):
            return str(frequency), "step"
    else:
        span = data if data.get("start") and data.get("rows") else splits.get("train", {})
        try:
            rows = int(span.get("rows") or 0)
            step = (pd.Timestamp(span["end"]) - pd.Timestamp(span["start"])) / (rows - 1) if rows > 1 else None
        except (KeyError, ValueError, TypeError):
            step = None
    if step is None:
        return None, "step"
    for size, adjective, noun in _STEPS:
        if abs(step / size - 1.0) < 0.02:
            return adjective, noun
    return f"every {step}", "step"


def _date(value: Any) -> str:
    if not value:
        return "n/a"
    stamp = pd.Timestamp(value)
    if stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M") + (" UTC" if stamp.tz is not None else "")


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


_RUN_KEYS = ("device", "num_processes", "mixed_precision", "torch_threads", "wall_seconds")


def _is_run_key(key: str) -> bool:
    return key in _RUN_KEYS or key.endswith("_version")


def _plain_rows(training_args: dict, keep) -> list[tuple[str, str]]:
    skip = {"data", "splits", "hub_dataset", "data_source", "data_path", "data_sha256", "package_version", "parameters"}
    rows = []
    for key, value in training_args.items():
        if key in skip or not keep(key) or value is None or isinstance(value, dict):
            continue
        if isinstance(value, (list, tuple)) and not all(isinstance(v, (str, int, float, bool)) for v in value):
            continue
        rows.append((key.replace("_", " "), _fmt(value)))
    return rows


def _training_rows(training_args: dict, config: LSTMForecasterConfig) -> list[tuple[str, str]]:
    rows = [
        ("cell", f"{config.cell.upper()}{' (bidirectional)' if config.bidirectional else ''}"),
        ("layers, hidden sizes", f"{config.num_layers}, {_fmt(config.hidden_sizes)}"),
        ("dropout between layers", _fmt(config.dropout)),
        ("context length (rows in)", str(config.context_length)),
        ("horizon (steps out)", str(config.horizon)),
        ("outputs", f"quantiles {_fmt(config.quantiles)}" if config.quantiles else "one point forecast per step"),
        ("scaling", _SCALINGS[config.scaling]),
    ]
    if config.ensemble > 1:
        rows.append(
            ("ensemble", f"{config.ensemble} members (seeds seed to seed + {config.ensemble - 1}), quantiles averaged")
        )
    return rows + _plain_rows(training_args, lambda key: not _is_run_key(key))


def _snippet(model_id: str, revision: str | None, hub: dict | None) -> str:
    load = f'LSTMForecaster.from_pretrained("{model_id}"' + (f', revision="{revision}")' if revision else ")")
    if hub:
        revision = hub.get("revision") or hub.get("sha")
        data = f'load_ohlcv("{hub["id"]}"' + (f', revision="{revision}")' if revision else ")")
        data += "  # the training data, from the Hub"
    else:
        data = "load_ohlcv(sample_path())  # bundled BTC-USD daily sample; or a CSV/Parquet file of OHLCV candles"
    return "\n".join(
        [
            "from lstm_forecaster import LSTMForecaster, load_ohlcv, sample_path",
            "",
            f"model = {load}",
            f"df = {data}",
            "forecast = model.predict(df)  # future timestamps, forecasts in price units",
            "print(forecast)",
        ]
    )


def _sample_sha256() -> str:
    from .data import file_sha256, sample_path

    return file_sha256(sample_path())


def _calibration_rows(metrics, config: LSTMForecasterConfig) -> dict | None:
    """Steps 1 and H (every step up to 3) of `metrics.json`'s calibration report, as table rows."""
    report = metrics.get("calibration") if isinstance(metrics, dict) else None
    if not report:
        return None
    steps = report["by_step"]
    shown = steps if len(steps) <= 3 else [steps[0], steps[-1]]
    rows = []
    for s in shown:
        rows.append(
            (
                s["step"],
                _fmt(s["n"]),
                f"{s['coverage_before']:.1%} -> {s['coverage_after']:.1%}",
                f"{s['coverage_50_before']:.1%} -> {s['coverage_50_after']:.1%}"
                if "coverage_50_before" in s
                else "n/a",
                f"{s['pinball_before']:.5f} -> {s['pinball_after']:.5f}",
            )
        )
    return {"window": report["window"], "nominal": f"{100 * report['nominal_coverage']:.0f} %", "rows": rows}


def card_context(parts: dict, *, repo_id: str | None = None, revision: str | None = None) -> dict:
    """Everything the template's body shows, as plain strings, lists and dicts."""
    from .evaluation import metrics_table
    from .modeling import LSTMForecaster

    config: LSTMForecasterConfig = parts["config"]
    args = parts["training_args"]
    data = data_info(args)
    splits = splits_info(args)
    adjective, noun = _step_label(data, splits)
    hub = data["hub_dataset"]
    report = held_out_report(parts["metrics"])
    panel = parts["metrics"] if isinstance(parts["metrics"], dict) and parts["metrics"].get("panel") else None
    headline = headline_metrics(parts["metrics"])
    source = data.get("source")
    if hub:
        data_name = f"the Hub dataset `{hub['id']}`"
    elif data.get("kind") == "sample" or (data.get("sha256") and data["sha256"] == _sample_sha256()):
        data_name = "the bundled BTC-USD daily sample (Yahoo Finance)"
    elif data.get("kind") == "dataframe":
        data_name = "an in-memory DataFrame"
    else:
        data_name = f"`{Path(str(source)).name}`" if source else None
    cell = f"{'bidirectional ' if config.bidirectional else ''}{config.cell.upper()}"
    steps = f"{config.horizon} {noun}{'s' if config.horizon > 1 else ''}"
    kind = f"quantile forecasts ({_fmt(config.quantiles)})" if config.quantiles else "point forecasts"
    members = f"An ensemble of {config.ensemble} {config.num_layers}-layer {cell}s" if config.ensemble > 1 else None
    summary = (
        (members or f"A {config.num_layers}-layer {cell}") + f" that forecasts {_TARGETS[config.target].split(',')[0]} "
        f"{steps} ahead from the last {config.context_length} {adjective + ' ' if adjective else ''}candles, "
        f"as {kind} in price units"
        + (f", trained on {data_name}" if data_name else "")
        + f" with lstm-forecaster {args.get('package_version') or config.package_version}."
    )
    split_rows = []
    if data.get("start") or data.get("end"):
        split_rows.append(("all data", _date(data.get("start")), _date(data.get("end")), _fmt(data.get("rows", "n/a"))))
    for name in ("train", "validation", "test"):
        if name in splits:
            s = splits[name]
            split_rows.append((name, _date(s.get("start")), _date(s.get("end")), _fmt(s.get("rows", "n/a"))))
    tag = revision if revision and not _SHA.match(revision) else None
    model_id = repo_id or parts.get("folder") or "path/to/this/folder"
    recipe = args.get("recipe_config") if isinstance(args.get("recipe_config"), dict) else {}
    return {
        "title": repo_id or _model_name(parts),
        "summary": summary,
        "description": args.get("description") or recipe.get("description") or None,
        "target": _TARGETS[config.target],
        "horizon": config.horizon,
        "horizon_text": steps,
        "frequency": adjective,
        "context_length": config.context_length,
        "max_missing_steps": max_missing_steps(config.context_length),
        "quantiles": config.quantiles,
        "median_at_last": config.median_at_last,
        "features": [(name, describe_feature(name)) for name in config.features],
        "scaling": _SCALINGS[config.scaling],
        "num_parameters": LSTMForecaster(config).num_parameters(),
        "data_source": data_name if not hub else None,
        "data_sha256": data.get("sha256"),
        "hub_dataset": hub,
        "splits": split_rows,
        "training": _training_rows(args, config),
        "run": _plain_rows(args, _is_run_key),
        "metrics_table": metrics_table(report or panel) if (report or panel) else None,
        "evaluated_split": (report or panel).get("split", "test") if (report or panel) else None,
        "headline": headline,
        "plots": [
            (name, _PLOT_CAPTIONS.get(Path(name).name, Path(name).stem.replace("_", " "))) for name in parts["plots"]
        ],
        "calibration": _calibration_rows(parts["metrics"], config),
        "kept": parts["metrics"].get("kept") if isinstance(parts["metrics"], dict) else None,
        "snippet": _snippet(model_id, revision, hub),
        "model_id": model_id,
        "repo_id": repo_id,
        "revision": revision,
        "tag": tag,
        "package_version": args.get("package_version") or config.package_version,
        "card_package_version": __version__,
        "asset": data_name,
    }
