"""The LSTM/GRU forecaster: network, forecasts in price units, safe save/load through the Hub mixin."""

import contextlib
import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from huggingface_hub import PyTorchModelHubMixin, constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
from torch import nn
from torch.nn import functional as F

from . import guards
from .configuration import LSTMForecasterConfig, read_config_file
from .data import (
    Samples,
    check_forecast_values,
    load_ohlcv,
    stamp_values,
    step_of,
    utc_timestamp,
)
from .errors import hub_unreachable_now
from .features import history_rows, warmup_rows
from .forecast_rows import ForecastRows
from .panel import PanelSamples, is_panel, samples_for
from .scaling import SCALER_NAME, Scaler, context_target_scale
from .weights import check_finite_weights, check_safetensors_file

SOFTPLUS_ONE = math.log(math.e - 1.0)
"""softplus(SOFTPLUS_ONE) == 1: the zero output of a gap factor keeps the baseline's gap."""
REPO_URL = "https://github.com/lstm-forecaster/lstm-forecaster"
PICKLED_WEIGHTS = ("pytorch_model.bin", "model.pt", "model.pth", "model.pkl")
PICKLED_SCALERS = ("scaler.pkl", "scaler.joblib", "scaler.pickle")


def _model_card_template() -> str:
    here = Path(__file__).resolve().parent
    for path in (here / "model_card.md", here.parents[1] / "model_card.md"):
        if path.is_file():
            return path.read_text()
    return "---\n{{ card_data }}\n---\n\n# LSTM forecaster\n"


class AttentionPooling(nn.Module):
    """Additive attention over the steps of a window: `softmax_t(v . tanh(W h_t))`-weighted mean of `h_t`.

    Parameters
    ----------
    size : int
        Features of each step's recurrent output.
    """

    def __init__(self, size: int):
        super().__init__()
        self.project = nn.Linear(size, size)
        self.score = nn.Linear(size, 1, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, steps, size) outputs -> (batch, size) attention-weighted mean."""
        weights = torch.softmax(self.score(torch.tanh(self.project(hidden))), dim=1)
        return (weights * hidden).sum(dim=1)


def combine_members(stacked: torch.Tensor) -> torch.Tensor:
    """An ensemble's forecast: the mean over members (first axis) of each level, sorted along levels.

    The members' forecasts are linear in the target for every scaling at a given window, so the mean
    of scaled quantiles is the mean of the quantiles in target units. Means of non-crossing levels do
    not cross; sorting makes it hold to the last bit.
    """
    mean = stacked.mean(dim=0)
    return torch.sort(mean, dim=-1).values if mean.shape[-1] > 1 else mean


class LSTMForecaster(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="lstm-forecaster",
    tags=["time-series", "forecasting", "lstm", "crypto"],
    pipeline_tag="time-series-forecasting",
    license="mit",
    repo_url=REPO_URL,
    model_card_template=_model_card_template(),
):
    """Stacked LSTM/GRU mapping a window of scaled features to `horizon` forecasts.

    The fitted `Scaler` travels with the model (`scaler.json`), so `predict` takes raw OHLCV rows and
    returns forecasts in price (or volume) units.

    Parameters
    ----------
    config : LSTMForecasterConfig
        Architecture, features, target, horizon, quantiles and scaling.
    """

    def __init__(self, config: LSTMForecasterConfig):
        super().__init__()
        self.config = config
        self._scaler: Scaler | None = None
        if config.ensemble > 1:
            # An ensemble holds its members' networks (state_dict keys `members.K.*`) and nothing else.
            member = dataclasses.replace(config, ensemble=1)
            self.members = nn.ModuleList(LSTMForecaster(member) for _ in range(config.ensemble))
            return
        rnn_class = nn.LSTM if config.cell == "lstm" else nn.GRU
        directions = 2 if config.bidirectional else 1
        self.rnn = nn.ModuleList()
        size_in = len(config.features)
        for size in config.hidden_sizes:
            self.rnn.append(rnn_class(size_in, size, batch_first=True, bidirectional=config.bidirectional))
            size_in = size * directions
        self.dropout = nn.Dropout(config.dropout)
        self.pool = AttentionPooling(size_in) if config.head == "attention" else None
        self.head = nn.Linear(size_in, config.horizon * config.num_outputs)
        # The scaled zero return, where `median_at_last` pins the median; derived from the scaler.
        self.register_buffer("anchor", torch.zeros(config.horizon), persistent=False)
        if config.scaling == "context":
            # The standardized quantiles (or mean) of the training targets, per step: with a zero
            # head the model forecasts exactly sigma x sqrt(step) x baseline (see `_around_baseline`).
            self.register_buffer("baseline", torch.zeros(config.horizon, config.num_outputs))

    @property
    def networks(self) -> list["LSTMForecaster"]:
        """The member networks of an ensemble, or `[self]` for a single network."""
        return list(self.members) if self.config.ensemble > 1 else [self]

    @property
    def scaler(self) -> Scaler | None:
        """The fitted `Scaler` (saved as `scaler.json`), or None before training."""
        return self._scaler

    @scaler.setter
    def scaler(self, scaler: Scaler | None) -> None:
        self._scaler = scaler
        if self.config.ensemble > 1:
            for member in self.members:
                member.scaler = scaler
        elif scaler is not None and self.config.median_at_last and self.config.scaling != "context":
            zero = scaler.scale_target(np.zeros(self.config.horizon))
            self.anchor.copy_(torch.from_numpy(zero))

    def forward(self, x: torch.Tensor, all_steps: bool = False, members: bool = False) -> torch.Tensor:
        """Map scaled windows to scaled forecasts (an ensemble's: its members' combined, `combine_members`).

        Parameters
        ----------
        x : torch.Tensor
            (batch, context_length, features) scaled windows.
        all_steps : bool
            If True, apply the head at every time step of a one-directional network.
        members : bool
            For an ensemble: every member's forecasts, stacked on a first axis, not combined (training
            fits each member on its own loss).

        Returns
        -------
        torch.Tensor
            (batch, horizon, outputs), or (batch, context_length, horizon, outputs) with `all_steps`;
            outputs is 1, or the number of quantile levels (increasing along the last axis). With
            `members`, a first axis of `config.ensemble` members.
        """
        if self.config.ensemble > 1:
            stacked = torch.stack([member(x, all_steps) for member in self.members])
            return stacked if members else combine_members(stacked)
        hidden = x
        last = None
        for i, layer in enumerate(self.rnn):
            if i:
                hidden = self.dropout(hidden)
            hidden, state = layer(hidden)
            last = state[0] if isinstance(state, tuple) else state
        if all_steps:
            if self.config.bidirectional:
                raise ValueError("all_steps needs a one-directional network (bidirectional=False)")
            if self.pool is not None:
                raise ValueError("all_steps applies the head at every step; it needs head 'last', not 'attention'")
            out = self.head(hidden)
        elif self.pool is not None:
            out = self.head(self.pool(hidden))
        else:
            # Final state of each direction: forward at the last step, backward at the first.
            out = self.head(torch.cat(list(last), dim=-1))
        out = out.unflatten(-1, (self.config.horizon, self.config.num_outputs))
        if self.config.scaling == "context":
            return self._around_baseline(out)
        if self.config.median_at_last:
            # The median sits at the zero return; level j below it is the sum of the positive gaps
            # j..m-1 under it, level j above it the sum of the gaps m+1..j over it (output m unused).
            m = self.config.median_index
            anchor = self.anchor.view(*([1] * (out.dim() - 2)), -1, 1).to(out.dtype)
            below = -torch.flip(torch.cumsum(torch.flip(F.softplus(out[..., :m]), [-1]), dim=-1), [-1])
            above = torch.cumsum(F.softplus(out[..., m + 1 :]), dim=-1)
            out = anchor + torch.cat([below, torch.zeros_like(out[..., m : m + 1]), above], dim=-1)
        elif self.config.num_outputs > 1:
            # Non-crossing quantiles: the lowest level, then positive increments.
            out = torch.cat([out[..., :1], out[..., :1] + torch.cumsum(F.softplus(out[..., 1:]), dim=-1)], dim=-1)
        return out

    def _around_baseline(self, out: torch.Tensor) -> torch.Tensor:
        """Standardized forecasts of `context` scaling: the network's output is a residual.

        The anchor level m (the median, else the lowest level) is `baseline[:, m]` plus output m (or
        exactly the baseline with `median_at_last`, whose baseline median is 0); each gap between
        consecutive levels is the baseline's gap times softplus(output + log(e - 1)), which is 1
        at output 0. So a zero output forecasts exactly the baseline quantiles, and the levels never
        cross.
        """
        baseline = self.baseline.to(out.dtype)
        if self.config.num_outputs == 1:
            return baseline + out
        m = self.config.median_index if self.config.median_index is not None else 0
        factors = F.softplus(torch.cat([out[..., :m], out[..., m + 1 :]], dim=-1) + SOFTPLUS_ONE)
        gaps = (baseline[:, 1:] - baseline[:, :-1]) * factors
        center = baseline[:, m : m + 1]
        if not self.config.median_at_last:
            center = center + out[..., m : m + 1]
        center = center.expand(*out.shape[:-1], 1)
        below = -torch.flip(torch.cumsum(torch.flip(gaps[..., :m], [-1]), dim=-1), [-1])
        above = torch.cumsum(gaps[..., m:], dim=-1)
        return torch.cat([center + below, center, center + above], dim=-1)

    # ----- forecasting -----------------------------------------------------------------------------

    def _require_scaler(self) -> Scaler:
        if self.scaler is None:
            raise ValueError(
                "this model has no fitted scaler: train it (lstm-forecaster train) or load a trained one "
                "with LSTMForecaster.from_pretrained"
            )
        return self.scaler

    def samples(
        self, df: pd.DataFrame, need_targets: bool = True, check_last: int | None = None
    ) -> Samples | PanelSamples:
        """Features, targets and bases of `df` for this model's config (`PanelSamples` for a panel;
        `need_targets` False keeps every series long enough for one window; `check_last`: see `Samples`)."""
        return samples_for(df, self.config, need_targets, check_last)

    @torch.no_grad()
    def target_origins(self, samples: Samples, origins: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """The network's forecasts at the given origin rows, in target units (log returns, prices or
        volume), before any calibration.

        Returns
        -------
        np.ndarray
            float64 array (len(origins), horizon, outputs).
        """
        scaler = self._require_scaler()
        origins = np.asarray(origins, dtype=np.int64)
        was_training = self.training
        if was_training:
            self.eval()
        device = next(self.parameters()).device
        context = self.config.scaling == "context"
        chunks = []
        try:
            for start in range(0, len(origins), batch_size):
                batch = origins[start : start + batch_size]
                if context:
                    windows, sigma = scaler.context_windows(samples.windows(batch), samples.base_windows(batch))
                    scale = context_target_scale(sigma, self.config.horizon)
                else:
                    windows, scale = scaler.scale_windows(samples.windows(batch)), None
                y = self(torch.from_numpy(windows).to(device)).float().cpu().numpy()
                chunks.append(scaler.unscale_target(y, samples.window_base(batch), scale))
        finally:
            if was_training:
                self.train()
        if not chunks:
            return np.empty((0, self.config.horizon, self.config.num_outputs))
        return np.concatenate(chunks)

    def forecast_origins(
        self, samples: Samples, origins: np.ndarray, batch_size: int = 4096, calibrate: bool | None = None
    ) -> np.ndarray:
        """Forecasts at the given origin rows, in price (or volume) units.

        Parameters
        ----------
        samples : Samples
            The series.
        origins : np.ndarray
            Origin rows of `samples`.
        calibrate : bool, optional
            Recalibrate the quantiles from the errors of the origins before each one
            (`calibration.calibrate_quantiles`); default: the config's `calibration`. Each origin's
            forecast reads only rows up to it, so it equals `predict` on the rows up to it.

        Returns
        -------
        np.ndarray
            float64 array (len(origins), horizon, outputs).
        """
        origins = np.asarray(origins, dtype=np.int64)
        c = self.config
        calibrate = c.calibrates if calibrate is None else bool(calibrate) and c.calibrates
        # A PanelSamples: calibrate each series on its own errors.
        series = samples.series if calibrate and isinstance(samples, PanelSamples) else None
        if calibrate and series is not None and len(origins):
            values = np.empty((len(origins), c.horizon, c.num_outputs))
            codes = samples.series_codes[origins]
            for code in np.unique(codes):
                picked = codes == code
                local = origins[picked] - samples.starts[code]
                values[picked] = self.forecast_origins(series[code], local, batch_size, calibrate=True)
            return values
        if calibrate and len(origins):
            from .calibration import calibrate_quantiles

            first = max(int(origins.min()) - c.calibration_window - c.horizon + 1, c.context_length - 1)
            needed = np.arange(first, int(origins.max()) + 1)
            raw = self.target_origins(samples, needed, batch_size)
            values, _ = calibrate_quantiles(
                raw, samples.targets[needed], c.quantiles, origins - first, c.calibration_window, c.median_index
            )
        else:
            values = self.target_origins(samples, origins, batch_size)
        if c.target == "log_return":
            values = samples.base[origins, None, None] * np.exp(values)
        if c.median_at_last:
            values[..., c.median_index] = samples.base[origins, None]  # exactly, not to 1e-10
        return values

    def rows_read(self, calibrate: bool | None = None) -> int | None:
        """Rows at the end of a series that a forecast from its last row reads, or None for all of them.

        The features' look-back (`features.history_rows`) plus the feature rows it reads and checks
        (`context_length`, plus, when it calibrates, the windows of the `calibration_window + horizon`
        origins before it whose errors it reads).
        None when a feature is a recursion over the whole history (`ema_N`, `rsi_N`, `macd_hist`).
        `predict` computes features over these rows only: the same numbers as over the whole series.
        """
        history = history_rows(self.config.features)
        return None if history is None else history + self._rows_forecast_reads(calibrate)

    def _check_horizon(self, horizon: int | None) -> int:
        if horizon is None:
            return self.config.horizon
        if (
            isinstance(horizon, bool)
            or not isinstance(horizon, (int, np.integer))
            or not 1 <= horizon <= self.config.horizon
        ):
            raise ValueError(
                f"horizon must be an integer from 1 to the model's horizon {self.config.horizon}. Got {horizon!r}."
            )
        return int(horizon)

    def predict(
        self, df, horizon: int | None = None, drop_incomplete: bool = False, calibrate: bool | None = None
    ) -> pd.DataFrame:
        """Forecast the steps after the last row of `df`.

        Parameters
        ----------
        df : pd.DataFrame, str, Path or list
            Raw OHLCV rows (anything `load_ohlcv` reads, a panel of several series included), at
            least `context_length` plus the features' warm-up rows per series.
        horizon : int, optional
            Steps to forecast, 1 to `config.horizon` (default: all).
        drop_incomplete : bool
            Drop a last candle whose volume says it is still forming (see `guards`).
        calibrate : bool, optional
            Recalibrate the intervals from the model's errors on the last `config.calibration_window`
            origins of `df` whose outcomes are known (default: the config's `calibration`, on for
            new log-return quantile models). False: the network's quantiles as they are.

        Returns
        -------
        pd.DataFrame
            Indexed by the future timestamps (spaced at the data's own frequency); column `forecast`
            in price (or volume) units and, for quantile models, one column `q{level}` per level.
            For quantile models `forecast` is the median (0.5 level) or, without one, the mean of levels.
            For a panel, indexed by `(symbol, timestamp)`: every series forecast from its own last
            row, all in one batched forward pass, each in its own units (series shorter than one
            window are dropped with a warning).
            `attrs["warnings"]`: the `guards` warnings, a list of `{"code", "message", "symbol"}`.

        Raises
        ------
        ValueError
            For bad input, and for a forecast `guards.after_forecast` refuses (a price that is not
            positive, a move beyond any in the training data).
        """
        rows, warnings = guards.check_rows(self, ForecastRows.of(df), drop_incomplete)
        values, central, index, lasts = self._forecast(rows, self._check_horizon(horizon), calibrate, True)
        table = np.column_stack([central, values]) if self.config.quantiles else values
        columns = self._columns(bool(self.config.quantiles))
        horizon = len(values) // len(lasts)
        guards.refuse_forecast(
            self,
            table,
            lasts,
            np.full(len(lasts), horizon),
            lambda i: _describe(index, i, horizon),
            columns,
        )
        frame = pd.DataFrame(table, index=index, columns=columns)
        frame.attrs["warnings"] = list(warnings)
        return frame

    def predict_quantiles(
        self, df, horizon: int | None = None, calibrate: bool | None = None
    ) -> tuple[pd.DataFrame, pd.Series]:
        """Forecast quantiles and the central forecast after the last row of `df`.

        Returns
        -------
        (pd.DataFrame, pd.Series)
            The per-output columns (`q{level}` for quantile models, else `forecast`), indexed by the
            future timestamps, and the central forecast: the 0.5 level, else the mean of the outputs.
        """
        values, central, index, _ = self._forecast(ForecastRows.of(df), self._check_horizon(horizon), calibrate)
        quantiles = pd.DataFrame(values, index=index, columns=self._columns(False))
        return quantiles, pd.Series(central, index=index, name="forecast")

    def _columns(self, central: bool) -> pd.Index:
        """The output columns (`forecast` first when `central`), built once: a string Index is slow to make."""
        cache = self.__dict__.setdefault("_column_cache", {})
        key = (central, tuple(self.config.output_names))
        if key not in cache:
            cache[key] = pd.Index(["forecast", *key[1]] if central else list(key[1]))
        return cache[key]

    def _forecast(
        self, rows: ForecastRows, horizon: int, calibrate: bool | None, spacing_checked: bool = False
    ) -> tuple[np.ndarray, np.ndarray, pd.Index, np.ndarray]:
        """(values (rows, outputs), central (rows,), index, lasts (series,)) of the forecast after the last
        row of each series of `rows`; features are computed over `rows_read` rows only. `lasts`: each
        series' last value of the forecast quantity, for `guards.refuse_forecast` (NaN: not checked).

        The spacing of the rows each forecast reads is checked once (`guards.forecast_spacing`): here,
        unless `spacing_checked` (`predict`, whose `guards.check_rows` checked it, leaving out the
        series of a panel it refuses). Short gaps are read as consecutive rows; the future timestamps
        follow the last row at the data's step.
        """
        c = self.config
        last_rows = self.rows_read(calibrate)
        checked = self._rows_forecast_reads(calibrate)
        if not spacing_checked:
            gapped, _ = guards.forecast_spacing(self, rows)
            if gapped:
                symbol, error = next(iter(gapped.items()))
                raise ValueError(f"{symbol}: {error}" if rows.panel else error)
        if rows.panel:
            samples = PanelSamples.for_forecast(rows, c, last_rows, checked)
            last = samples.last_origins()
            values = self.forecast_origins(samples, last, calibrate=calibrate)[:, :horizon].reshape(-1, c.num_outputs)
            steps = samples.steps[:, None] * np.arange(1, horizon + 1)
            index = _panel_index(samples.symbols, (samples.stamps[last][:, None] + steps).reshape(-1), horizon)
            lasts = samples.base[last]
        else:
            end = int(rows.ends[0])
            stamps = rows.stamps[:end]
            step = step_of(stamps)
            needed = warmup_rows(c.features) + c.context_length
            quantity = "volume" if c.target == "volume" else "close"
            if last_rows is None or end < needed or quantity not in rows.columns:
                samples = Samples(
                    rows.to_frame(), c.features, c.target, c.context_length, c.horizon, checked, last_rows
                )
            else:
                first = max(end - last_rows, 0)
                arrays = {name: values[first:end] for name, values in rows.arrays.items()}
                samples = Samples.from_arrays(
                    arrays, stamps[first:], c.features, c.target, c.context_length, c.horizon, checked
                )
            values = self.forecast_origins(samples, np.array([len(samples) - 1]), calibrate=calibrate)[0, :horizon]
            future = stamps[-1] + step.to_timedelta64() * np.arange(1, horizon + 1)
            index = pd.DatetimeIndex(future, name="timestamp").tz_localize("UTC")
            lasts = np.array([samples.base[-1]])  # one series, named or not: its move is checked
        median = c.median_index
        central = values[:, median] if median is not None else values.mean(axis=1)
        check_forecast_values(values, central, c.target)
        return values, central, index, lasts

    def backtest(
        self,
        df,
        start=None,
        samples: Samples | PanelSamples | None = None,
        origins: np.ndarray | None = None,
        calibrate: bool | None = None,
    ) -> pd.DataFrame:
        """Forecast from every origin at or after `start` whose targets are all known.

        Parameters
        ----------
        df : pd.DataFrame
            OHLCV rows from `load_ohlcv` (one series or a panel).
        start : timestamp-like, optional
            First origin (default: the first full window); for a panel, in every series.
        samples : Samples or PanelSamples, optional
            `df`'s samples, when already built.
        origins : np.ndarray, optional
            Exactly these origin rows of `samples` instead of `start` (e.g. a split's origins).
        calibrate : bool, optional
            As in `predict`: each origin's forecast is exactly what `predict` returns on the rows up
            to that origin, calibration included (default: the config's `calibration`).

        Returns
        -------
        pd.DataFrame
            One row per (origin, step): `origin`, `step`, `timestamp`, `base` (real value at the
            origin), `actual`, `forecast` and the `q{level}` columns of quantile models; for a
            panel, a first column `symbol`.
        """
        if samples is None:
            df = load_ohlcv(df)
            samples = self.samples(df, check_last=self._rows_read_from(df, start, calibrate))
        panel = isinstance(samples, PanelSamples)
        if origins is None:
            if panel:
                origins = samples.origins()
                if start is not None:
                    origins = origins[samples.index[origins] >= utc_timestamp(start)]
            else:
                first = 0 if start is None else int(samples.index.searchsorted(utc_timestamp(start)))
                origins = samples.origins(first)
        origins = np.asarray(origins, dtype=np.int64)
        values = self.forecast_origins(samples, origins, calibrate=calibrate)
        horizon = self.config.horizon
        steps = np.tile(np.arange(1, horizon + 1), len(origins))
        rows = np.repeat(origins, horizon)
        frame = pd.DataFrame(
            {
                **({"symbol": samples.symbol_of(rows)} if panel else {}),
                "origin": samples.index[rows],
                "step": steps,
                "timestamp": samples.index[rows + steps],
                "base": samples.base[rows],
                "actual": samples.base[rows + steps],
            }
        )
        flat = values.reshape(-1, self.config.num_outputs)
        median = self.config.median_index
        if self.config.quantiles:
            frame["forecast"] = flat[:, median] if median is not None else flat.mean(axis=1)
            for j, name in enumerate(self.config.output_names):
                frame[name] = flat[:, j]
        else:
            frame["forecast"] = flat[:, 0]
        return frame

    def _rows_forecast_reads(self, calibrate: bool | None) -> int:
        """Feature rows a forecast from the last row reads: its window, and with calibration the windows of
        the origins whose errors calibrate it. Only these are checked for finite features."""
        c = self.config
        calibrating = c.calibrates if calibrate is None else bool(calibrate) and c.calibrates
        return c.context_length + (c.calibration_window + c.horizon if calibrating else 0)

    def _rows_read_from(self, df: pd.DataFrame, start, calibrate: bool | None) -> int | None:
        """Feature rows a backtest of one series from `start` reads (None: every row, also for a panel).

        Only these are checked for finite features: a zero volume years before `start` blocks nothing.
        """
        if start is None or is_panel(df):
            return None
        stamps = df.index[warmup_rows(self.config.features) :]
        before = self._rows_forecast_reads(calibrate) - 1  # the rows before an origin that its forecast reads
        return len(stamps) - max(int(stamps.searchsorted(utc_timestamp(start))) - before, 0)

    # ----- saving and loading ----------------------------------------------------------------------

    def _save_pretrained(self, save_directory: Path) -> None:
        scaler = self._require_scaler()
        super()._save_pretrained(save_directory)
        scaler.save(Path(save_directory) / SCALER_NAME)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "LSTMForecaster":
        """Load a model folder or Hub repo; `config.json` is checked (size, JSON, keys, limits) first.

        When the Hub cannot be reached, a repo loads from the local cache at once (no retries).
        """
        if not os.path.isdir(pretrained_model_name_or_path) and hub_unreachable_now():
            kwargs["local_files_only"] = True
        if kwargs.get("config") is None:
            kwargs["config"] = _read_config(str(pretrained_model_name_or_path), kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir,
        force_download: bool,
        local_files_only: bool,
        token,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs,
    ) -> "LSTMForecaster":
        config = model_kwargs.pop("config", None)
        if isinstance(config, dict):
            config = LSTMForecasterConfig(
                **{k: v for k, v in config.items() if k in LSTMForecasterConfig.__dataclass_fields__}
            )
        if config is None:
            if not os.path.isdir(model_id):
                # The mixin swallows the download error of config.json: raise the real one (missing
                # repo, revision or token) before concluding the file is absent.
                with contextlib.suppress(EntryNotFoundError):
                    hf_hub_download(
                        model_id, constants.CONFIG_NAME, revision=revision, cache_dir=cache_dir, token=token
                    )
            raise ValueError(f"{model_id} has no config.json: not an lstm-forecaster model")

        def fetch(filename: str) -> str | None:
            if os.path.isdir(model_id):
                path = os.path.join(model_id, filename)
                return path if os.path.isfile(path) else None
            try:
                return hf_hub_download(
                    repo_id=model_id,
                    filename=filename,
                    revision=revision,
                    cache_dir=cache_dir,
                    force_download=force_download,
                    token=token,
                    local_files_only=local_files_only,
                )
            except EntryNotFoundError:
                return None

        def require(filename: str, pickles: tuple[str, ...], what: str) -> str:
            path = fetch(filename)
            if path is not None:
                return path
            # Only the file's presence is checked: a pickle is never opened.
            pickled = next((name for name in pickles if fetch(name)), None)
            if pickled:
                raise ValueError(
                    f"{model_id} holds its {what} as {pickled}, a pickle; loading it could run arbitrary code, "
                    f"so it is refused. Only {filename} is accepted."
                )
            raise ValueError(f"{model_id} has no {filename}")

        weights = require(constants.SAFETENSORS_SINGLE_FILE, PICKLED_WEIGHTS, "weights")
        scaler_file = require(SCALER_NAME, PICKLED_SCALERS, "scaler")
        scaler = Scaler.load(scaler_file)
        scaler.check_matches(config.features, config.target, config.scaling)
        model = cls(config)
        check_safetensors_file(weights, model)
        model = cls._load_as_safetensor(model, weights, map_location, strict)
        check_finite_weights(model, weights)
        model.scaler = scaler
        model.training_profile = guards.load_profile(fetch("training_args.json"))  # None for old folders
        model.eval()
        return model

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _describe(index: pd.Index, i: int, horizon: int) -> tuple[str | None, np.ndarray]:
    """(symbol, future timestamps) of series `i` of a forecast's index, for `guards.refuse_forecast`."""
    if isinstance(index, pd.MultiIndex):
        rows = slice(i * horizon, (i + 1) * horizon)
        return str(index.get_level_values(0)[rows][0]), stamp_values(index.get_level_values(1)[rows])
    return None, stamp_values(index)


def _panel_index(symbols: list[str], stamps: np.ndarray, horizon: int) -> pd.MultiIndex:
    """The `(symbol, timestamp)` index of a panel forecast, built from codes: `horizon` rows per symbol
    (`symbols` distinct), `stamps` naive UTC; the same index as `pd.MultiIndex.from_arrays` (sorted levels)."""
    order = sorted(range(len(symbols)), key=symbols.__getitem__)
    rank = np.empty(len(symbols), dtype=np.int64)
    rank[order] = np.arange(len(symbols))
    times, inverse = np.unique(stamps, return_inverse=True)
    return pd.MultiIndex(
        levels=[pd.Index([symbols[i] for i in order]), pd.DatetimeIndex(times).tz_localize("UTC")],
        codes=[np.repeat(rank, horizon), inverse.reshape(-1)],
        names=["symbol", "timestamp"],
        verify_integrity=False,
    )


def _read_config(model_id: str, kwargs: dict) -> LSTMForecasterConfig | None:
    """The checked config of a folder or Hub repo (`read_config_file`); None when it has no config.json."""
    if os.path.isdir(model_id):
        path = os.path.join(model_id, constants.CONFIG_NAME)
        return read_config_file(path) if os.path.isfile(path) else None
    download = ("revision", "cache_dir", "force_download", "token", "local_files_only")
    try:
        path = hf_hub_download(model_id, constants.CONFIG_NAME, **{k: kwargs[k] for k in download if k in kwargs})
    except LocalEntryNotFoundError:
        raise  # offline or unreachable, and not cached: not a sign the repo has no config.json
    except EntryNotFoundError:
        return None
    return read_config_file(path)
