"""The Space's figures: the forecast fan chart and the held-out backtest, as Plotly figures."""

from __future__ import annotations

import pandas as pd

from .configuration import quantile_column

HISTORY_ROWS = 40
"""Rows of recent history drawn before the forecast (at least 15 per forecast step)."""


def interval_bands(levels: list[float] | None) -> list[tuple[str, str, float]]:
    """Central intervals of the quantile levels, outermost first: (lower column, upper column, coverage %).

    Levels pair from the outside in: [0.1, 0.25, 0.5, 0.75, 0.9] gives (q0.1, q0.9, 80) and (q0.25, q0.75, 50).
    """
    levels = list(levels or [])
    bands = []
    for i in range(len(levels) // 2):
        lo, hi = levels[i], levels[-1 - i]
        bands.append((quantile_column(lo), quantile_column(hi), 100 * (hi - lo)))
    return bands


def naive_utc(index: pd.Index) -> pd.DatetimeIndex:
    """UTC timestamps without their zone, as Plotly draws them."""
    return pd.DatetimeIndex(index).tz_convert("UTC").tz_localize(None)


def forecast_figure(
    history: pd.Series,
    frame: pd.DataFrame,
    step: pd.Timedelta,
    units: str,
    bands: list[tuple[str, str, float]],
    title: str,
    history_rows: int = HISTORY_ROWS,
):
    """Fan chart: recent history, then the median forecast of steps 1..H in its interval bands (outermost first).

    Parameters
    ----------
    history : pd.Series
        The real values (close or volume) by UTC timestamp, oldest first.
    frame : pd.DataFrame
        (H, columns) `predict` output of one series: `forecast` and the `q{level}` columns.
    step : pd.Timedelta
        The data's spacing.
    units : str
        The y axis label.
    bands : list of (str, str, float)
        `interval_bands` of the model's levels.
    title : str
        The figure's title.
    """
    import plotly.graph_objects as go

    history = history.iloc[-max(history_rows, 15 * len(frame)) :]
    last = float(history.iloc[-1])
    # Every forecast line starts at the last real value, so the eye follows the move from it.
    x = naive_utc(pd.DatetimeIndex([history.index[-1], *frame.index]))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=naive_utc(history.index),
            y=history.to_numpy(),
            name=f"{units} (actual)",
            mode="lines",
            line={"color": "#1f2937", "width": 1.6},
        )
    )
    for k, (lo, hi, coverage) in enumerate(bands):
        add_band(
            fig,
            x,
            [last, *frame[lo]],
            [last, *frame[hi]],
            f"rgba(234, 88, 12, {0.16 + 0.16 * k:.2f})",
            f"{coverage:.0f} % interval ({lo}–{hi})",
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[last, *frame["forecast"]],
            name="forecast (median)" if bands else "forecast",
            mode="lines+markers",
            line={"color": "#ea580c", "width": 2.2},
            marker={"size": 7},
        )
    )
    # Room on the right, so the last forecast is not drawn on the plot's edge.
    fig.update_xaxes(range=[x[0] - (len(history) - 1) * step, x[-1] + max(2, len(frame) // 2) * step])
    return styled(fig, title, units)


def backtest_figure(frame: pd.DataFrame, history: pd.Series, step: int, units: str):
    """Plotly figure: actual values over the held-out period and the model's `step`-ahead forecasts."""
    import plotly.graph_objects as go

    rows = frame[frame["step"] == step].sort_values("timestamp")
    times = pd.DatetimeIndex(rows["timestamp"])
    shown = history[(history.index >= times.min()) & (history.index <= times.max())]
    levels = [c for c in frame.columns if isinstance(c, str) and c.startswith("q")]
    fig = go.Figure()
    if len(levels) >= 2:
        lo, hi = levels[0], levels[-1]
        add_band(fig, naive_utc(times), rows[lo], rows[hi], "rgba(234, 88, 12, 0.22)", f"interval {lo}–{hi}")
    fig.add_trace(
        go.Scatter(
            x=naive_utc(shown.index),
            y=shown.to_numpy(),
            name=f"{units} (actual)",
            mode="lines",
            line={"color": "#1f2937", "width": 1.4},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=naive_utc(times),
            y=rows["forecast"],
            name=f"forecast, {step} step{'s' if step > 1 else ''} ahead",
            mode="lines",
            line={"color": "#ea580c", "width": 1.4},
        )
    )
    return styled(fig, f"The model's {step}-step-ahead forecasts against the actual {units}", units)


def add_band(fig, x, lower, upper, fillcolor: str, name: str) -> None:
    """A shaded band between two lines: an invisible upper edge, then the lower edge filled up to it."""
    import plotly.graph_objects as go

    edge = {"mode": "lines", "line": {"width": 0}}
    fig.add_trace(go.Scatter(x=x, y=upper, showlegend=False, hoverinfo="skip", name=name, **edge))
    fig.add_trace(go.Scatter(x=x, y=lower, fill="tonexty", fillcolor=fillcolor, name=name, **edge))


def styled(fig, title: str, units: str):
    """The layout both plots share: title, axes in UTC time and `units`, legend above the plot."""
    fig.update_layout(
        title=title,
        xaxis_title="time (UTC)",
        yaxis_title=units,
        hovermode="x unified",
        template="plotly_white",
        height=460,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
    )
    return fig
