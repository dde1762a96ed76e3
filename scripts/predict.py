"""Forecast after the last row of an OHLCV file, as CSV on stdout: a thin entry point over `lstm-forecaster predict`.

Examples (from the repository root, after training runs/default with scripts/train.py):

    python scripts/predict.py --model runs/default --data src/lstm_forecaster/data/BTC-USD.csv
    python scripts/predict.py --model runs/default --data src/lstm_forecaster/data/BTC-USD.csv --horizon 1

`--model` also takes a Hub repo id with `--revision` (a tag, branch or commit). `--help` lists every option.
"""

import sys

from lstm_forecaster.cli import main

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]]))
