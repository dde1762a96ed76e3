"""Turning the failures a user can cause into one readable line (CLI exit code 2).

Also the prompt check that the Hub can be reached at all (`hub_unreachable`): huggingface_hub
retries a refused connection for tens of seconds; one TCP connection with a short timeout answers
in milliseconds, so commands fail at once or fall back to the local cache.
"""

from __future__ import annotations

import os
import re
import socket
from urllib.parse import unquote, urlparse

HUB_CONNECT_TIMEOUT_S = 3.0

# A Hub API or file URL: .../api/{models|datasets|spaces}/ns/name[/revision/REV] or .../[datasets/|spaces/]ns/name/resolve/REV/...
_API_URL = re.compile(
    r"/api/(models|datasets|spaces)/([^/\s]+/[^/\s?]+)(?:/(?:revision|tree|commits|refs|preupload|commit)/([^/\s?]+))?"
)
_FILE_URL = re.compile(r"https?://[^/\s]+/(?:(datasets|spaces)/)?([^/\s]+/[^/\s]+)/resolve/([^/\s]+)/")


def _hub_target(error: BaseException) -> tuple[str | None, str | None, str | None]:
    """(repo kind, repo id, revision) named by the URL in a huggingface_hub error, when there is one."""
    text = str(error)
    match = _API_URL.search(text)
    if match:
        kind, repo, revision = match.groups()
        return kind.rstrip("s"), repo.rstrip("."), unquote(revision.rstrip(".")) if revision else None
    match = _FILE_URL.search(text)
    if match:
        kind, repo, revision = match.groups()
        return (kind or "models").rstrip("s"), repo, unquote(revision)
    return None, None, None


def _is_network_error(error: BaseException) -> bool:
    """A connection or timeout error of the HTTP client under huggingface_hub (httpx, or its fork httpx2)."""
    return any(
        cls.__name__ == "TransportError" and cls.__module__.split(".")[0] in ("httpx", "httpx2")
        for cls in type(error).__mro__
    )


def user_message(error: BaseException) -> str | None:
    """One line for an error caused by the user's input, or None for a bug (shown as a traceback)."""
    from huggingface_hub import errors as hub_errors

    kind, repo, revision = _hub_target(error)
    where = f"{kind} repository {repo}" if repo else "that repository"
    if isinstance(error, hub_errors.GatedRepoError):
        return f"no access to {where} (gated or private): {_first_line(error)}"
    if isinstance(error, hub_errors.RepositoryNotFoundError):
        return f"{where} not found on the Hub (or it is private and the token cannot read it)"
    if isinstance(error, hub_errors.RevisionNotFoundError):
        named = f"revision {revision!r}" if revision else "that revision"
        return f"{named} not found in {where}: give an existing tag, branch or commit (`lstm-forecaster versions {repo or 'REPO_ID'}` lists them)"
    if isinstance(error, hub_errors.LocalEntryNotFoundError):  # a subclass of EntryNotFoundError
        from huggingface_hub import constants

        return f"cannot reach the Hub at {constants.ENDPOINT} and no cached copy of the file (or HF_HUB_OFFLINE is set)"
    if isinstance(error, hub_errors.EntryNotFoundError):
        match = _FILE_URL.search(str(error))
        if match:
            path = unquote(str(error)[match.end() :].split()[0].rstrip(".'\""))
            return f"file {path} not found in {where} at revision {revision!r}"
        return "file not found in the repository: " + _first_line(error)
    if _is_network_error(error):
        from huggingface_hub import constants

        return f"cannot reach the Hub at {constants.ENDPOINT} ({type(error).__name__}: {_first_line(error)})"
    if isinstance(error, hub_errors.HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status == 401:
            return "the Hub refused the token (missing or invalid): set HF_TOKEN or run `hf auth login`"
        if status == 403:
            return "the token has no write access to that repository"
        return f"Hub error{f' {status}' if status else ''}: {_first_line(error)}"
    if isinstance(error, FileNotFoundError):
        return f"no such file: {error.filename or _first_line(error)}"
    if isinstance(error, (ValueError, KeyError, OSError)):
        return _first_line(error)
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def hub_unreachable(endpoint: str | None = None, timeout: float = HUB_CONNECT_TIMEOUT_S) -> str | None:
    """Why the Hub at `endpoint` (default: `HF_ENDPOINT`) cannot be reached, or None when it answers.

    One TCP connection, no retries. Behind a proxy (`HTTPS_PROXY`, ...) the Hub is not probed
    directly: None.
    """
    from huggingface_hub import constants

    if any(
        os.environ.get(name)
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
    ):
        return None
    url = urlparse(endpoint or constants.ENDPOINT)
    if not url.hostname:
        return f"HF_ENDPOINT {endpoint or constants.ENDPOINT!r} is not a URL"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return None
    except OSError as e:
        return f"{type(e).__name__}: {e.strerror or e}"


def require_hub() -> None:
    """Raise `ValueError` at once when the Hub cannot be reached (unless HF_HUB_OFFLINE is set)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return
    reason = hub_unreachable()
    if reason:
        raise ValueError(f"cannot reach the Hub at {constants.ENDPOINT} ({reason})")


def hub_unreachable_now() -> bool:
    """Whether the Hub cannot be reached right now (False when HF_HUB_OFFLINE is set: nothing is tried)."""
    from huggingface_hub import constants

    return not constants.HF_HUB_OFFLINE and hub_unreachable() is not None
