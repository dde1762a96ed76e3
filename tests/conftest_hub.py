"""Pytest plugin: a local Hub-compatible server and an environment pointing the real clients at it.

Enable it from ``tests/conftest.py`` with ``pytest_plugins = ["conftest_hub"]`` (``tests/`` on sys.path,
the default when ``tests/`` has no ``__init__.py``) or ``pytest_plugins = ["tests.conftest_hub"]``.

Fixtures
--------
``hub_server`` (session)
    Starts :class:`HubServer` on ``127.0.0.1:<free port>`` with storage in a tmp dir. Yields a
    :class:`HubHandle` with ``.url``, ``.tokens`` (``{"alice": ..., "bob": ..., "alice_read": ...}``:
    alice and bob can write in their own namespace, ``alice_read`` is read-only for alice),
    ``.token_table`` (token -> permissions, as given to the server), ``.storage_dir`` and ``.server``.

``hub_env`` (function)
    Points ``huggingface_hub`` and ``datasets`` at the server for one test: sets ``HF_ENDPOINT``,
    ``HF_TOKEN`` (alice's write token), ``HF_HUB_DISABLE_TELEMETRY=1``, and a fresh per-test
    ``HF_HOME`` / ``HF_HUB_CACHE`` / ``HF_DATASETS_CACHE`` / ``HF_XET_CACHE``. Because both libraries read
    these at import time, the cached module constants are monkeypatched as well (``constants.ENDPOINT``,
    ``HUGGINGFACE_CO_URL_TEMPLATE``, the module-level ``hf_api.api`` instance, ``datasets.config.*``).
    Yields the same :class:`HubHandle`, with ``.cache_dir`` / ``.hf_home`` set for this test.

``hub_env_lfs`` (function)
    ``hub_env`` with ``HF_TOKEN`` = ``tokens["alice_lfs"]`` (still user alice) and Xet disabled in the client
    (``constants.HF_HUB_DISABLE_XET = True``): the server then answers ``"lfs"`` in preupload and files go
    through the legacy LFS batch API. Needed by ``datasets.Dataset.push_to_hub`` (and anything else calling
    ``preupload_lfs_files`` on temporary files), which cannot work in the default "regular" mode.

``point_clients_at(monkeypatch, url, token, hf_home)`` is the helper behind ``hub_env``; call it again
inside a test to switch user (e.g. bob) with a separate cache.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

try:  # imported as ``tests.conftest_hub``
    from .hub_server import HubServer
except ImportError:  # imported as ``conftest_hub`` with tests/ on sys.path
    from hub_server import HubServer  # type: ignore[no-redef]

TOKENS = {
    "alice": "hf_test_alice_write",
    "bob": "hf_test_bob_write",
    "alice_read": "hf_test_alice_read",
    "alice_lfs": "hf_test_alice_lfs",
}
TOKEN_TABLE = {
    TOKENS["alice"]: {"user": "alice", "write": True},
    TOKENS["bob"]: {"user": "bob", "write": True},
    TOKENS["alice_read"]: {"user": "alice", "write": False},
    # Same user as "alice"; the server answers "lfs" in preupload for it (see ``hub_env_lfs``).
    TOKENS["alice_lfs"]: {"user": "alice", "write": True, "lfs": True},
}


@dataclass
class HubHandle:
    url: str
    tokens: dict[str, str]
    token_table: dict[str, dict]
    storage_dir: Path
    server: HubServer
    hf_home: Path | None = None
    cache_dir: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.url


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubHandle]:
    storage = tmp_path_factory.mktemp("hub_storage")
    server = HubServer(storage, TOKEN_TABLE)
    server.start()
    try:
        yield HubHandle(
            url=server.url,
            tokens=dict(TOKENS),
            token_table=dict(TOKEN_TABLE),
            storage_dir=storage,
            server=server,
        )
    finally:
        server.stop()


def point_clients_at(monkeypatch: pytest.MonkeyPatch, url: str, token: str | None, hf_home: Path) -> None:
    """Point huggingface_hub (and datasets, when imported) at ``url`` with a private cache in ``hf_home``."""
    from huggingface_hub import constants, hf_api
    from huggingface_hub.hf_file_system import HfFileSystem

    hub_cache = hf_home / "hub"
    datasets_cache = hf_home / "datasets"
    xet_cache = hf_home / "xet"
    for d in (hub_cache, datasets_cache, xet_cache):
        d.mkdir(parents=True, exist_ok=True)

    env = {
        "HF_ENDPOINT": url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hub_cache),
        "HF_DATASETS_CACHE": str(datasets_cache),
        "HF_XET_CACHE": str(xet_cache),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if token is None:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    else:
        monkeypatch.setenv("HF_TOKEN", token)
    for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(key, raising=False)

    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    patches = {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": frozenset(constants.HF_URL_HOSTS | {host}),
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hub_cache),
        "HUGGINGFACE_HUB_CACHE": str(hub_cache),
        "default_cache_path": str(hub_cache),
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(hf_home / "assets"),
        "default_assets_cache_path": str(hf_home / "assets"),
        "HF_XET_CACHE": str(xet_cache),
        "default_xet_cache_path": str(xet_cache),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_UPDATE_CHECK": True,
        "HF_HUB_OFFLINE": False,
        "CHECK_FOR_UPDATE_DONE_PATH": str(hf_home / ".check_for_update_done"),
        "CHECK_FOR_SKILL_UPDATE_DONE_PATH": str(hf_home / ".check_for_skill_update_done"),
        "AGENT_HARNESSES_PATH": str(hf_home / ".agent_harnesses.json"),
    }
    for name, value in patches.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    # `huggingface_hub.create_repo`, `upload_folder`, ... are bound methods of this module-level instance,
    # whose endpoint was fixed when huggingface_hub was imported.
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    if hasattr(hf_api.api, "_whoami_cache"):
        monkeypatch.setattr(hf_api.api, "_whoami_cache", {})
    for module_name, attr, value in (
        ("huggingface_hub.utils._cache_manager", "HF_HUB_CACHE", str(hub_cache)),
        ("huggingface_hub.utils._cache_assets", "HF_ASSETS_CACHE", str(hf_home / "assets")),
    ):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, attr):
            monkeypatch.setattr(module, attr, value)

    # datasets reads its config at import: patch it if it is already imported (if it is imported later,
    # during the test, it reads the environment set above).
    ds_config = sys.modules.get("datasets.config")
    if ds_config is not None:
        ds_patches = {
            "HF_ENDPOINT": url,
            "HUB_DATASETS_URL": url + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_CACHE_HOME": str(hf_home),
            "HF_DATASETS_CACHE": datasets_cache,
            "HF_MODULES_CACHE": hf_home / "modules",
            "DOWNLOADED_DATASETS_PATH": datasets_cache / "downloads",
            "EXTRACTED_DATASETS_PATH": datasets_cache / "downloads" / "extracted",
            "HF_HUB_OFFLINE": False,
            "HF_DATASETS_OFFLINE": False,
            "HF_UPDATE_DOWNLOAD_COUNTS": False,
        }
        for name, value in ds_patches.items():
            if hasattr(ds_config, name):
                monkeypatch.setattr(ds_config, name, value)

    # fsspec caches HfFileSystem instances (and their directory listings) per endpoint and token.
    HfFileSystem.clear_instance_cache()


@pytest.fixture
def hub_env(hub_server: HubHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubHandle]:
    hf_home = tmp_path / "hf_home"
    point_clients_at(monkeypatch, hub_server.url, hub_server.tokens["alice"], hf_home)
    yield replace(hub_server, hf_home=hf_home, cache_dir=hf_home / "hub")
    from huggingface_hub.hf_file_system import HfFileSystem

    HfFileSystem.clear_instance_cache()


@pytest.fixture
def hub_env_lfs(hub_env: HubHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubHandle]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice_lfs"])
    yield hub_env
