"""Train a recipe into a complete model folder, honestly: chronological splits, test read once.

A *recipe* (`TrainingConfig`, a YAML file in `configs/`) holds the model's architecture (the
`model:` mapping, an `LSTMForecasterConfig`) and how to train it. `train` reads it top to bottom:

1. load the data and cut it chronologically into train / validation / test rows;
2. fit the scaler on the training rows only;
3. train with AdamW (or Adam), a warm-up + cosine learning-rate schedule, gradient clipping, a seeded
   shuffle, under Hugging Face Accelerate (CPU, one GPU with bf16 autocast, or several processes via
   `accelerate launch`);
4. after every epoch, estimate the validation loss, keep the best weights, stop early when it stops
   improving, and save a resumable checkpoint (safetensors + JSON, never a pickle); an ensemble
   (`model.ensemble` > 1) trains its members side by side, each on its own loss, clipped gradient
   and best epoch, so each is the network its seed would train alone;
5. restore the best weights and read the test split once: a rolling-origin backtest scored beside
   the naive baselines (`evaluation.evaluate_backtest`);
6. write the model folder (config, weights, scaler, training_args.json, metrics.json, plots, model
   card) to a temporary folder, then rename it into place.

Examples
--------
    lstm-forecaster train --config configs/default.yaml --output runs/default
    accelerate launch --multi_gpu --num_processes 2 scripts/train.py --cpu --config configs/default.yaml --output runs/ddp

    from lstm_forecaster.training import load_recipe, train
    folder = train(load_recipe("configs/default.yaml"), "runs/default")

Where the parts live: the recipe in `recipe`, data and splits in `training_data`, the loss and the
head's first weights in `objective`, checkpoints in `checkpoint`, the model folder in
`model_folder`, re-evaluating a saved model in `held_out`. Their names are re-exported here
(`__all__`), so `from lstm_forecaster.training import ...` works as before.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.utils.deterministic

from . import __version__
from .checkpoint import (
    CHECKPOINT_META,
    CHECKPOINT_STATE,
    check_resumable,
    checkpoint_dir,
    load_checkpoint,
    optimizer_state,
    prefixed_tensors,
    save_checkpoint,
)
from .configuration import LSTMForecasterConfig
from .guards import PROFILE_KEY, training_profile
from .held_out import (
    HeldOutEvaluation,
    evaluate_model,
    evaluate_panel,
    field_comparison,
    model_extras,
    recorded_data,
)
from .market import warn_single_asset
from .model_folder import (
    FORECAST_PLOT,
    METRICS,
    PERCENT_CHANGE_PLOT,
    TRAINING_ARGS,
    last_step_plot,
    read_training_args,
    write_evaluation,
    write_evaluation_folder,
    write_folder,
)
from .modeling import LSTMForecaster, combine_members
from .objective import compute_loss, fit_baseline, init_head_at_baseline, quantiles_of, volatility_weights
from .output_folder import claim_output
from .panel import (
    PanelSplit,
    samples_for,
)
from .recipe import (
    BUNDLED_PANEL,
    HEAD_INITS,
    LOSS_WEIGHTINGS,
    LOSSES,
    MIXED_PRECISIONS,
    OPTIMIZERS,
    SCHEDULES,
    SETUP_KEYS,
    TrainingConfig,
    load_recipe,
    model_config_from_dict,
    read_recipe_file,
    recipe_from_dict,
)
from .training_data import (
    Split,
    WindowBatches,
    chronological_split,
    data_record,
    fit_scaler,
    load_training_data,
    panel_split,
    select_rows,
    split_dates,
    split_ranges,
    split_samples,
    training_rows,
)

# Everything that lived here before the split stays importable from `lstm_forecaster.training`.
__all__ = [
    "BUNDLED_PANEL",
    "CHECKPOINT_META",
    "CHECKPOINT_STATE",
    "FORECAST_PLOT",
    "HEAD_INITS",
    "HeldOutEvaluation",
    "LOSSES",
    "LOSS_WEIGHTINGS",
    "METRICS",
    "MIXED_PRECISIONS",
    "OPTIMIZERS",
    "PERCENT_CHANGE_PLOT",
    "SCHEDULES",
    "Split",
    "TRAINING_ARGS",
    "TrainingConfig",
    "WindowBatches",
    "auto_member_threads",
    "checkpoint_dir",
    "chronological_split",
    "compute_loss",
    "ensemble_step",
    "estimate_loss",
    "estimate_losses",
    "evaluate_model",
    "field_comparison",
    "fit_baseline",
    "fit_scaler",
    "get_lr",
    "init_head_at_baseline",
    "last_step_plot",
    "load_checkpoint",
    "load_recipe",
    "load_training_data",
    "model_config_from_dict",
    "model_extras",
    "panel_split",
    "quantiles_of",
    "read_recipe_file",
    "read_training_args",
    "recipe_from_dict",
    "recorded_data",
    "save_checkpoint",
    "seed_members",
    "select_rows",
    "split_samples",
    "train",
    "train_command",
    "volatility_weights",
    "write_evaluation",
    "write_evaluation_folder",
]


# ----- schedule, validation loss, ensemble seeds ----------------------------------------------------


def get_lr(step: int, total_steps: int, recipe: TrainingConfig) -> float:
    """Learning rate at optimisation step `step`: linear warm-up, then constant or cosine decay."""
    if step < recipe.warmup_steps:
        return recipe.learning_rate * (step + 1) / (recipe.warmup_steps + 1)
    if recipe.lr_schedule == "constant":
        return recipe.learning_rate
    progress = min((step - recipe.warmup_steps) / max(total_steps - recipe.warmup_steps, 1), 1.0)
    min_lr = recipe.learning_rate * recipe.min_lr_ratio
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (recipe.learning_rate - min_lr)


def estimate_loss(
    model, batches: WindowBatches, origins: torch.Tensor, quantiles, accelerator, batch_size: int = 4096
) -> float:
    """Mean loss of the last-step forecast over `origins`, in eval mode (no dropout)."""
    return estimate_losses(model, batches, origins, quantiles, accelerator, batch_size)[0]


@torch.no_grad()
def estimate_losses(
    model, batches: WindowBatches, origins: torch.Tensor, quantiles, accelerator, batch_size: int = 4096
) -> tuple[float, list[float]]:
    """`estimate_loss` of a network and, from the same forward pass, of each member of an ensemble.

    Returns
    -------
    (float, list of float)
        The (combined) model's mean loss, and each member's (`[loss]` for a single network): the
        numbers `estimate_loss` gives the model and each of `model.networks`, bit for bit, at half
        the cost of an ensemble's validation.
    """
    was_training = model.training
    model.eval()
    ensemble = model.config.ensemble > 1
    total, count = 0.0, 0
    member_totals = [0.0] * len(model.networks)
    for start in range(0, len(origins), batch_size):
        chunk = origins[start : start + batch_size]
        x, y = batches(chunk)
        weights = batches.weights(chunk)
        with accelerator.autocast():
            prediction = model(x, members=True) if ensemble else model(x)
        if ensemble:
            for k, member_prediction in enumerate(prediction):
                member_totals[k] += compute_loss(member_prediction, y, quantiles, weights).item() * len(x)
            prediction = combine_members(prediction)
        total += compute_loss(prediction, y, quantiles, weights).item() * len(x)
        count += len(x)
    model.train(was_training)
    members = [t / count for t in member_totals] if ensemble else [total / count]
    return total / count, members


@torch.no_grad()
def seed_members(model: LSTMForecaster, seed: int) -> None:
    """Initialise member k of an ensemble from seed `seed + k`, as a single network seeded so would be.

    Member 0 therefore starts from the same weights as the recipe trained with `ensemble: 1`.
    """
    for k, member in enumerate(model.networks):
        torch.manual_seed(seed + k)
        for module in member.modules():  # in construction order: the draws of `LSTMForecaster(config)`
            if module is not member and hasattr(module, "reset_parameters"):
                module.reset_parameters()


# ----- training -------------------------------------------------------------------------------------


def train(
    recipe: TrainingConfig | str | Path,
    output_dir: str | Path,
    data=None,
    *,
    data_revision: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    cpu: bool = False,
    progress: bool | None = None,
    evaluate_split: str = "test",
    recipe_file: str | None = None,
    on_epoch=None,
    compare_baselines: bool = True,
    member_threads: int | None = None,
) -> Path:
    """Train a recipe and write a complete model folder.

    Parameters
    ----------
    recipe : TrainingConfig, str or Path
        The recipe, or the path of its YAML file.
    output_dir : str or Path
        Model folder to write. It is written to a temporary folder beside it, then renamed, so it
        is either complete or absent.
    data : str, Path or pd.DataFrame, optional
        OHLCV data overriding the recipe's `data` (a file, a Hub dataset id, or a DataFrame; a
        DataFrame from a Hub dataset keeps its `attrs["hub_dataset"]`).
    data_revision : str, optional
        Revision of a Hub dataset.
    resume : bool
        Continue from the checkpoint kept beside `output_dir` (`.NAME.checkpoint/`) up to
        `recipe.epochs`; the recipe must otherwise match the checkpoint's. Replaces `output_dir`.
    overwrite : bool
        Replace an existing `output_dir`.
    cpu : bool
        Train on the CPU even when a GPU is present.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    evaluate_split : str
        `test` (the default: the held-out split, read once), or `validation` to score the validation
        split instead, for choosing a recipe without looking at the test split.
    recipe_file : str, optional
        The recipe's file name, recorded in `training_args.json`.
    on_epoch : callable, optional
        Called on every process after each epoch with that epoch's `history` entry (`epoch`,
        `train_loss`, `val_loss`, ...); an exception it raises stops training and propagates (the
        tuner reports the validation loss to Optuna here and prunes a bad trial).
    compare_baselines : bool
        Set the evaluated split beside the field's baselines (`metrics.json`'s `comparison`, GARCH fits
        included); the tuner's trials and the walk-forward's refits, which score only their own figures,
        turn it off.
    member_threads : int, optional
        Run an ensemble's members' forward and backward passes in this many threads, one member per
        thread at a time (`ensemble_step`): the same numbers bit for bit. Used only where it can be: one
        CPU process, no mixed precision, no dropout; elsewhere the members run one after the other.
        Default: the cores this process may use over torch's threads (`auto_member_threads`), so one
        torch thread on 2 cores trains two members at once (1.97x per step, benchmarks/README.md).

    Returns
    -------
    Path
        `output_dir`.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    wall_start = time.perf_counter()
    if isinstance(recipe, (str, Path)):
        recipe_file = recipe_file or str(recipe)
        recipe = load_recipe(recipe)
    if member_threads is None:
        member_threads = auto_member_threads()
    if isinstance(member_threads, bool) or not isinstance(member_threads, int) or member_threads < 1:
        raise ValueError(f"member_threads must be a whole number of threads, 1 or more. Got {member_threads!r}.")
    if evaluate_split not in ("test", "validation"):
        raise ValueError(f"evaluate_split must be 'test' or 'validation'. Got {evaluate_split!r}.")
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output {output_dir} is a file; give a folder name")
    if output_dir.exists() and not (overwrite or resume):
        raise ValueError(f"--output {output_dir} exists; pass --overwrite to replace it, or choose another folder")
    state_dir = checkpoint_dir(output_dir)
    config = recipe.model

    accelerator = Accelerator(cpu=cpu, mixed_precision=_mixed_precision(recipe.mixed_precision, cpu))
    device = accelerator.device
    lock = claim_output(output_dir, replace=overwrite or resume) if accelerator.is_main_process else None
    # Deterministic kernels, without filling every new tensor with NaN first (that debugging aid
    # costs about 6 % of the CPU step time and does not change the results).
    deterministic = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    pool, threads_used = None, 1  # the members' threads (member_threads)
    try:
        # 1. data, chronological split
        df, source = load_training_data(recipe, data, data_revision)
        warn_single_asset(config.features, df)  # market features of one series: its own
        samples = samples_for(df, config)  # PanelSamples for a panel
        split = split_samples(df, samples, recipe)

        # 2. scaler on the training rows only
        index = samples.index
        scaler = fit_scaler(samples, split, config)

        # 3. model, optimizer, state
        set_seed(recipe.seed)
        model = LSTMForecaster(config)
        if config.ensemble > 1:
            seed_members(model, recipe.seed)
        model = model.to(device)
        model.scaler = scaler
        weights = None
        if recipe.loss_weighting == "inverse_volatility":
            weights = volatility_weights(samples, recipe.volatility_window, split.train)
        batches = WindowBatches(samples, scaler, device, weights)
        train_origins = torch.from_numpy(split.train).to(device)
        validation_origins = torch.from_numpy(split.validation).to(device)
        baseline_val = None
        if config.scaling == "context":
            fit_baseline(model, batches.targets(train_origins).double().cpu().numpy())
            baseline_val = estimate_loss(model, batches, validation_origins, quantiles_of(recipe, device), accelerator)
        elif recipe.head_init in ("baseline", "persistence"):
            zero = scaler.scale_target(np.zeros(config.horizon)) if recipe.head_init == "persistence" else None
            init_head_at_baseline(model, batches.targets(train_origins).double().cpu().numpy(), center=zero)
        optimizer_class = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
        optimizer = optimizer_class(model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
        shuffle = torch.Generator().manual_seed(recipe.seed)
        quantiles = quantiles_of(recipe, device)

        start_epoch, step, best_val, best_epoch, bad_epochs, history = 1, 0, math.inf, 0, 0, []
        best_state = copy.deepcopy(model.state_dict())
        if baseline_val is not None:
            best_val = baseline_val  # trained weights are kept only where they beat the baseline
        # An ensemble keeps each member's own best epoch (the baseline where it never beats it), so
        # every member is the network its seed would train alone.
        member_best, member_epochs = [best_val] * config.ensemble, [0] * config.ensemble
        resumed_from = None
        if resume:
            meta, tensors = load_checkpoint(state_dir)
            check_resumable(meta, recipe, source)
            model.load_state_dict(prefixed_tensors(tensors, "model."))
            best_state = prefixed_tensors(tensors, "best.")
            optimizer.load_state_dict(optimizer_state(meta["optimizer"], tensors))
            torch.set_rng_state(tensors["rng.torch"])
            shuffle.set_state(tensors["rng.shuffle"])
            start_epoch, step = meta["epoch"] + 1, meta["step"]
            best_val, best_epoch, bad_epochs, history = (
                meta["best_val_loss"],
                meta["best_epoch"],
                meta["bad_epochs"],
                meta["history"],
            )
            resumed_from = meta["epoch"]
            member_best = meta.get("member_best_val_loss", member_best)
            member_epochs = meta.get("member_best_epoch", member_epochs)
        model, optimizer = accelerator.prepare(model, optimizer)
        raw_model = accelerator.unwrap_model(model)

        world, rank = accelerator.num_processes, accelerator.process_index
        per_process = len(split.train) // world
        steps_per_epoch = math.ceil(per_process / recipe.batch_size)
        total_steps = recipe.epochs * steps_per_epoch
        show = accelerator.is_main_process and (sys.stderr.isatty() if progress is None else progress)
        bar = tqdm(total=total_steps, initial=step, disable=not show, desc=recipe.name, unit="step", dynamic_ncols=True)
        last_val = f"{history[-1]['val_loss']:.4f}" if history else "n/a"
        if member_threads > 1 and _members_can_run_in_threads(config, accelerator):
            from concurrent.futures import ThreadPoolExecutor

            threads_used = min(member_threads, config.ensemble)
            pool = ThreadPoolExecutor(threads_used, thread_name_prefix="member")

        # 4. the loop: an epoch of steps, then the validation loss, the best weights, a checkpoint
        stopped_early = bool(recipe.patience) and bad_epochs >= recipe.patience
        for epoch in range(start_epoch, recipe.epochs + 1):
            if stopped_early:
                break
            model.train()
            epoch_start = time.perf_counter()
            order = torch.randperm(len(split.train), generator=shuffle)[: per_process * world][rank::world].to(device)
            running = torch.zeros((), device=device)
            for start in range(0, per_process, recipe.batch_size):
                lr = get_lr(step, total_steps, recipe)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                origins = train_origins[order[start : start + recipe.batch_size]]
                x, y = batches(origins, all_steps=recipe.loss_on_all_steps)
                if pool is not None:
                    optimizer.zero_grad(set_to_none=True)
                    loss = ensemble_step(
                        raw_model, x, y, quantiles, batches.weights(origins), recipe.loss_on_all_steps, pool
                    )
                else:
                    with accelerator.autocast():
                        prediction = model(x, all_steps=recipe.loss_on_all_steps, members=True)
                    if config.ensemble > 1:
                        # Each member on its own loss: the gradient of the sum is each member's own.
                        losses = [compute_loss(p, y, quantiles, batches.weights(origins)) for p in prediction]
                        loss = torch.stack(losses).sum()
                    else:
                        loss = compute_loss(prediction, y, quantiles, batches.weights(origins))
                    optimizer.zero_grad(set_to_none=True)
                    accelerator.backward(loss)
                if recipe.grad_clip > 0 and config.ensemble > 1:
                    accelerator.unscale_gradients()
                    for network in raw_model.networks:  # each member clipped as if trained alone
                        torch.nn.utils.clip_grad_norm_(network.parameters(), recipe.grad_clip)
                elif recipe.grad_clip > 0:
                    accelerator.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                optimizer.step()
                if config.ensemble > 1:
                    loss = loss / config.ensemble  # the running loss: the members' mean
                running += loss.detach()
                step += 1
                bar.update(1)
                if show and step % 25 == 0:  # the running training loss of this epoch, every 25 steps
                    seen = start // recipe.batch_size + 1
                    bar.set_postfix(train=f"{running.item() / seen:.4f}", val=last_val, refresh=False)
            train_seconds = time.perf_counter() - epoch_start
            train_loss = running.item() / steps_per_epoch
            val_loss, member_losses = estimate_losses(raw_model, batches, validation_origins, quantiles, accelerator)
            if not math.isfinite(val_loss):
                raise FloatingPointError(f"the validation loss is {val_loss} at epoch {epoch}; lower learning_rate")
            if config.ensemble > 1:
                improved = False
                for k, (network, loss_k) in enumerate(zip(raw_model.networks, member_losses, strict=True)):
                    if loss_k < member_best[k]:
                        member_best[k], member_epochs[k], improved = loss_k, epoch, True
                        best_state.update(
                            {f"members.{k}.{n}": v.detach().clone() for n, v in network.state_dict().items()}
                        )
                if improved:
                    best_val, best_epoch, bad_epochs = min(best_val, val_loss), epoch, 0
                else:
                    bad_epochs += 1
            elif val_loss < best_val:
                best_val, best_epoch, bad_epochs = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in raw_model.state_dict().items()}
            else:
                bad_epochs += 1
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "lr": lr,
                    "train_seconds": train_seconds,
                    "windows": per_process * world,
                }
            )
            last_val = f"{val_loss:.4f}"
            bar.set_postfix(train=f"{train_loss:.4f}", val=last_val, best=f"{best_val:.4f}@{best_epoch}")
            if accelerator.is_main_process:
                meta = {
                    "recipe": recipe.to_dict(),
                    "data": source,
                    "epoch": epoch,
                    "step": step,
                    "best_val_loss": best_val,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "history": history,
                    **(
                        {"member_best_val_loss": member_best, "member_best_epoch": member_epochs}
                        if config.ensemble > 1
                        else {}
                    ),
                }
                save_checkpoint(state_dir, raw_model, optimizer, best_state, shuffle, meta)
            accelerator.wait_for_everyone()
            if on_epoch is not None:
                on_epoch(history[-1])
            if recipe.patience and bad_epochs >= recipe.patience:
                stopped_early = True
                break
        bar.close()
        epochs_run = history[-1]["epoch"] if history else 0
        kept = "baseline" if baseline_val is not None and best_epoch == 0 else "trained"

        # 5. the best weights, then the test split, read once
        raw_model.load_state_dict(best_state)
        if config.ensemble > 1:  # the members' best weights, combined: the ensemble's validation loss
            best_val = estimate_loss(raw_model, batches, validation_origins, quantiles, accelerator)
        model = raw_model.to("cpu").float().eval()
        model.scaler = scaler
        if not accelerator.is_main_process:
            accelerator.wait_for_everyone()
            return output_dir
        if isinstance(split, PanelSplit):
            frame, report, plotted = evaluate_panel(model, df, samples, split, evaluate_split)
            raw_frame = model.backtest(
                df,
                samples=samples,
                origins=split.test if evaluate_split == "test" else split.validation,
                calibrate=False,
            )
        else:
            first_origin = split.test[0] if evaluate_split == "test" else split.validation[0]
            frame = model.backtest(df, start=index[first_origin], samples=samples)
            raw_frame = model.backtest(df, start=index[first_origin], samples=samples, calibrate=False)
            if evaluate_split == "validation":
                frame = frame[frame["timestamp"] <= index[split.validation_last]].reset_index(drop=True)
                raw_frame = raw_frame[raw_frame["timestamp"] <= index[split.validation_last]].reset_index(drop=True)
            history_series = df["volume" if config.target == "volume" else "close"]
            from .evaluation import evaluate_backtest

            report = evaluate_backtest(frame, history_series, index[split.train_last], config.quantiles)
            plotted = (None, frame, history_series)
        report = {"split": evaluate_split, **report}
        report.update(model_extras(model, frame, raw_frame, kept if baseline_val is not None else None))
        if compare_baselines:
            report.update(
                field_comparison(
                    model, frame, df, split if isinstance(split, PanelSplit) else index[split.train_last], report
                )
            )

        # 6. the model folder, written whole then renamed
        training_args = {
            "recipe": recipe.name,
            "config": recipe_file,
            "data": data_record(df, source, samples, split),
            "splits": split_ranges(df, samples, split),
            **({"split_dates": split_dates(split)} if isinstance(split, PanelSplit) else {}),
            # What training saw, for the checks at predict time (guards.py).
            PROFILE_KEY: training_profile(training_rows(df, samples, split), config.horizon, config.target),
            "evaluated_split": evaluate_split,
            "seed": recipe.seed,
            "epochs": recipe.epochs,
            "epochs_run": epochs_run,
            "best_epoch": best_epoch,
            "best_val_loss": best_val,
            **({"member_best_epochs": member_epochs, "member_val_losses": member_best} if config.ensemble > 1 else {}),
            "stopped_early": stopped_early,
            **({"baseline_val_loss": baseline_val, "kept": kept} if baseline_val is not None else {}),
            "resumed_from_epoch": resumed_from,
            **{key: getattr(recipe, key) for key in SETUP_KEYS},
            "parameters": model.num_parameters(),
            "package_version": __version__,
            "torch_version": torch.__version__,
            "accelerate_version": _version("accelerate"),
            "python_version": platform.python_version(),
            "device": _describe_device(device),
            "num_processes": world,
            "mixed_precision": accelerator.mixed_precision,
            "torch_threads": torch.get_num_threads(),
            "member_threads": threads_used,
            "wall_seconds": round(time.perf_counter() - wall_start, 3),
            "recipe_config": recipe.to_dict(),
            "history": history,
        }
        write_folder(output_dir, model, plotted, report, training_args, recipe)
        accelerator.wait_for_everyone()
        return output_dir
    finally:
        if pool is not None:
            pool.shutdown()
        torch.use_deterministic_algorithms(deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = fill
        if lock is not None:
            lock.release()


def auto_member_threads() -> int:
    """Threads for an ensemble's members: the cores this process may use, over torch's intra-op threads."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, torch.get_num_threads()))


def _members_can_run_in_threads(config: LSTMForecasterConfig, accelerator) -> bool:
    """Whether `ensemble_step` gives the sequential step's numbers: an ensemble in one CPU process
    without mixed precision (no gradient scaler, no gradient all-reduce) and without dropout (the
    threads would draw its masks from the one generator in a varying order)."""
    return (
        config.ensemble > 1
        and accelerator.num_processes == 1
        and accelerator.device.type == "cpu"
        and accelerator.mixed_precision == "no"
        and not (config.dropout > 0 and config.num_layers > 1)
    )


def ensemble_step(model: LSTMForecaster, x, y, quantiles, weights, all_steps: bool, pool) -> torch.Tensor:
    """An ensemble's training forward and backward with member k's forward, loss and backward in a
    thread of `pool`; returns the members' losses summed, as the sequential step does.

    Each member's loss reaches its own parameters only, so the gradients are those of the summed loss
    bit for bit (`tests/test_ensemble.py`); PyTorch releases the GIL inside its kernels and runs
    concurrent backward passes on separate graphs.
    """

    def member_step(member: LSTMForecaster) -> torch.Tensor:
        loss = compute_loss(member(x, all_steps), y, quantiles, weights)
        loss.backward()
        return loss.detach()

    return torch.stack(list(pool.map(member_step, model.members))).sum()


def _mixed_precision(value: str, cpu: bool) -> str:
    if value != "auto":
        return value
    if not cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def _describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({platform.processor() or platform.machine()})"


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


# ----- the command line -----------------------------------------------------------------------------


def train_command(args: argparse.Namespace) -> int:
    """`lstm-forecaster train`: train a recipe, print the held-out metrics, optionally push to the Hub."""
    from .evaluation import metrics_table

    push_to = getattr(args, "push_to_hub", None)
    if push_to:
        from . import hub

        hub.check_push_access(push_to)  # a missing or refused token fails before training, not after
    recipe = load_recipe(args.config)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    if overrides:
        recipe = recipe_from_dict({**recipe.to_dict(), **overrides})
    folder = train(
        recipe,
        args.output,
        data=args.data,
        data_revision=args.data_revision,
        resume=args.resume,
        overwrite=args.overwrite,
        cpu=getattr(args, "cpu", False),
        recipe_file=args.config,
        member_threads=getattr(args, "member_threads", None),
    )
    from accelerate import PartialState

    if not PartialState().is_main_process:  # the other processes of a multi-process launch
        return 0
    report = json.loads((folder / METRICS).read_text())
    print(f"wrote {folder}")
    print(metrics_table(report), end="")
    if push_to:
        print(hub.describe_push(hub.push_folder(folder, repo_id=push_to, tag=args.tag, private=args.private)))
    return 0
