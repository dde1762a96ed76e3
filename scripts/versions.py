"""Commits and tags of a Hub model, newest first, with their test metrics beside naive: a thin entry point over `lstm-forecaster versions`.

Example:

    python scripts/versions.py user/btc-daily

Load any listed version with `LSTMForecaster.from_pretrained("user/btc-daily", revision="v1.0")` (a tag,
branch or commit).
"""

import sys

from lstm_forecaster.cli import main

if __name__ == "__main__":
    sys.exit(main(["versions", *sys.argv[1:]]))
