"""Push a trained model folder to the Hugging Face Hub as one commit: a thin entry point over `lstm-forecaster push`.

Examples (from the repository root, after training runs/default with scripts/train.py; the token comes
from HF_TOKEN or `hf auth login`):

    python scripts/push.py runs/default --repo-id user/btc-daily --tag v1.0
    python scripts/push.py runs/default --repo-id user/btc-daily --tag v1.0 --move-tag
    python scripts/push.py runs/default --repo-id user/btc-daily --branch experiments --message "try seed 1"
    python scripts/push.py runs/default --repo-id user/btc-daily --create-pr

The commit holds config.json, model.safetensors, scaler.json, README.md (the model card, re-rendered
with the repo id and tag), training_args.json, metrics.json and the plots. An unchanged folder makes no
commit. Bad input (no token, an existing tag, a folder with a pickle) exits with code 2 and one line.
"""

import sys

from lstm_forecaster.cli import main

if __name__ == "__main__":
    sys.exit(main(["push", *sys.argv[1:]]))
