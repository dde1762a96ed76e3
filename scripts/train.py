"""Train a recipe into a complete model folder: a thin entry point over `lstm-forecaster train`.

Examples (from the repository root, after `make setup`):

    python scripts/train.py --config configs/default.yaml --output runs/default
    python scripts/train.py --config configs/crypto_price_forecaster.yaml --output runs/cpf_short --epochs 5
    python scripts/train.py --config configs/crypto_price_forecaster.yaml --output runs/cpf_short --epochs 8 --resume
    accelerate launch --multi_gpu --num_processes 2 scripts/train.py --cpu --config configs/default.yaml --output runs/default_ddp

The folder holds config.json, model.safetensors, scaler.json, training_args.json, metrics.json (the
test split, read once), forecast.png, percent_change.png and the model card README.md.
Bad input exits with code 2 and one line on stderr. `--help` lists every option.
"""

import sys

from lstm_forecaster.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
