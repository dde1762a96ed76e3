"""Turning the failures a user can cause into one readable line (CLI exit code 2)."""

from __future__ import annotations


def user_message(error: BaseException) -> str | None:
    """One line for an error caused by the user's input, or None for a bug (shown as a traceback)."""
    from huggingface_hub import errors as hub_errors

    if isinstance(error, hub_errors.GatedRepoError):
        return f"no access to that repository (gated or private): {_first_line(error)}"
    if isinstance(error, hub_errors.RepositoryNotFoundError):
        return "repository not found (or private without a valid token): " + _first_line(error)
    if isinstance(error, hub_errors.RevisionNotFoundError):
        return "revision not found: " + _first_line(error)
    if isinstance(error, hub_errors.EntryNotFoundError):
        return "file not found in the repository: " + _first_line(error)
    if isinstance(error, hub_errors.LocalEntryNotFoundError):
        return "cannot reach the Hub and no cached copy: " + _first_line(error)
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
