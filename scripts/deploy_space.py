"""Create or update a Gradio Space serving a Hub model: a thin entry point over `lstm-forecaster deploy-space`.

Examples (from the repository root; the token comes from HF_TOKEN or `hf auth login`):

    python scripts/deploy_space.py --space-id user/btc-demo --model-id user/btc-daily --revision v1.0
    python scripts/deploy_space.py --space-id user/btc-demo --model-id user/btc-daily --private

Uploads space/ (app.py, requirements.txt, README.md), the lstm_forecaster package source beside app.py
and space_config.json {"MODEL_ID", "MODEL_REVISION"}, which the app reads when the Space variables
MODEL_ID / MODEL_REVISION are not set.
"""

import sys

from lstm_forecaster.cli import main

if __name__ == "__main__":
    sys.exit(main(["deploy-space", *sys.argv[1:]]))
