"""Held-out metrics of a trained model beside the naive baselines: a thin entry point over `lstm-forecaster evaluate`.

Examples (from the repository root, after training runs/default with scripts/train.py):

    python scripts/evaluate.py --model runs/default
    python scripts/evaluate.py --model runs/default --output runs/default_eval
    python scripts/evaluate.py --model runs/default --data src/lstm_forecaster/data/BTC-USD.csv

The test split is the one recorded in the model's training_args.json; without --data the data it was
trained on is read again. `--help` lists every option.
"""

import sys

from lstm_forecaster.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
