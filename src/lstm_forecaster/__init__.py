"""lstm-forecaster: LSTM/GRU forecasters for OHLCV market data, published and versioned on the Hugging Face Hub."""

__version__ = "0.2.2"

from .configuration import LSTMForecasterConfig  # noqa: E402
from .data import load_ohlcv, sample_path  # noqa: E402
from .modeling import LSTMForecaster  # noqa: E402
from .panel import panel_path  # noqa: E402
from .scaling import Scaler  # noqa: E402

__all__ = ["LSTMForecaster", "LSTMForecasterConfig", "Scaler", "load_ohlcv", "panel_path", "sample_path", "__version__"]
