"""Hugging Face Space entry point: serve one lstm-forecaster model with the Gradio app.

Which model (first found wins):

1. the environment: `MODEL_ID` (Hub repo id or model folder) and `MODEL_REVISION` (tag, branch or
   commit; the Space's settings set these);
2. `space_config.json` beside this file, written by `lstm-forecaster deploy-space`:
   `{"MODEL_ID": "user/btc-daily", "MODEL_REVISION": "v1.0"}` (`MODEL_REVISION` null: the default
   branch); `MODEL_REVISION` in the environment overrides the file's revision;
3. the default model `runs/default` of the current directory, which `make run` trains.

Run it from the repository root (package installed with `make setup`):

    python space/app.py
    MODEL_ID=user/btc-daily MODEL_REVISION=v1.0 python space/app.py

On the Space, `deploy-space` uploads the `lstm_forecaster` package source beside this file, so the
import below needs no package index. `GRADIO_SERVER_NAME` / `GRADIO_SERVER_PORT` set where it listens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lstm_forecaster import guards
from lstm_forecaster.app import build_demo

SPACE_CONFIG = Path(__file__).resolve().parent / "space_config.json"


def space_model() -> tuple[str | None, str | None]:
    """(model id or folder, revision) from the environment, else `space_config.json`; (None, None) if neither."""
    model_id = os.environ.get("MODEL_ID") or None
    revision = os.environ.get("MODEL_REVISION") or None
    if model_id is None and SPACE_CONFIG.is_file():
        try:
            config = json.loads(SPACE_CONFIG.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{SPACE_CONFIG} is not valid JSON: {e}") from e
        if not isinstance(config, dict) or not config.get("MODEL_ID"):
            raise ValueError(f'{SPACE_CONFIG} must hold {{"MODEL_ID": "user/name", "MODEL_REVISION": null or "v1.0"}}')
        # The file's revision belongs to the file's model: it applies only with that model.
        model_id = config["MODEL_ID"]
        revision = revision or config.get("MODEL_REVISION") or None
    return model_id, revision


demo = build_demo(*space_model())

if __name__ == "__main__":
    # The MCP server serves the forecast as the tool `forecast` at /gradio_api/mcp/ (README: the Space's API).
    demo.launch(mcp_server=True, max_file_size=guards.MAX_UPLOAD_BYTES)
