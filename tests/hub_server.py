"""A small Hugging Face Hub-compatible HTTP server for tests.

The real ``huggingface_hub`` client (and ``datasets``) talk to it over HTTP when pointed at it with
``HF_ENDPOINT=http://127.0.0.1:PORT``. The protocol is described in ``/work/shared/HUB_PROTOCOL.md``.

Storage layout under ``storage_dir``::

    blobs/<sha256[:2]>/<sha256>                 content-addressed file contents
    repos/<models|datasets|spaces>/<ns>/<name>/
        repo.json                               metadata and refs (branches, tags, refs/pr/N)
        commits/<commit id>.json                one manifest per commit: path -> sha256, size, git sha1

Every upload is answered ``"uploadMode": "regular"`` in preupload, so file contents always arrive
base64-encoded in the ndjson commit body (no LFS, no Xet), whatever the client configuration.

Opt-in legacy LFS: a token whose entry has ``"lfs": True`` gets ``"uploadMode": "lfs"`` for non-empty
files, served by ``POST /{P}{repo}.git/info/lfs/objects/batch`` and a signed ``PUT /_lfs/upload/...``.
Only use such a token with a client that has Xet disabled (``huggingface_hub.constants.HF_HUB_DISABLE_XET
= True``), otherwise the client tries to upload through Xet and fails. This is what makes
``datasets.Dataset.push_to_hub`` work: it preuploads parquet shards from temporary files that it deletes
before the commit, which only works when the preupload actually uploads (i.e. in "lfs" mode).

Routing is done on ``scope["raw_path"]`` split on ``/`` and then percent-decoded segment by segment,
because the client percent-encodes revisions such as ``refs/pr/1`` into a single segment.

Usage::

    server = HubServer(tmp_path, {"hf_alice": {"user": "alice", "write": True}})
    server.start()          # listens on 127.0.0.1:<free port>
    ... server.url ...
    server.stop()

or standalone::

    python tests/hub_server.py --port 8765 --storage /tmp/x --token hf_alice:alice:write
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
SPACE_SDKS = ("gradio", "docker", "static", "streamlit")
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"
TREE_PAGE_SIZE = 1000
TREE_PAGE_SIZE_EXPANDED = 50
CHUNK_SIZE = 1024 * 1024
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_-])?$|^[A-Za-z0-9]$")
HEX40_RE = re.compile(r"^[0-9a-f]{40}$")
SHORT_SHA_RE = re.compile(r"^[0-9a-f]{7,39}$")
PR_REF_RE = re.compile(r"^refs/pr/(\d+)$")

DEFAULT_GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""


# --------------------------------------------------------------------------------------------- helpers


def now_iso() -> str:
    t = dt.datetime.now(dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json", headers=headers)


class HubError(Exception):
    """An error answered as ``{"error": msg}`` plus ``X-Error-Code`` / ``X-Error-Message`` headers."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        body: dict | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.body = body or {}
        self.headers = headers or {}

    def response(self) -> Response:
        headers = {"X-Error-Message": _header_safe(self.message), **self.headers}
        if self.code is not None:
            headers["X-Error-Code"] = self.code
        return _json_response({"error": self.message, **self.body}, self.status, headers)


def _header_safe(value: str) -> str:
    return value.encode("ascii", "replace").decode("ascii").replace("\r", " ").replace("\n", " ")


def repo_not_found(auth: Auth) -> HubError:
    return HubError(401 if auth.user is None else 404, "Repository not found", "RepoNotFound")


def revision_not_found(rev: str) -> HubError:
    return HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")


def entry_not_found(path: str, commit: str | None = None) -> HubError:
    headers = {"X-Repo-Commit": commit} if commit else {}
    return HubError(404, f"Entry not found: {path}", "EntryNotFound", headers=headers)


@dataclass
class Auth:
    user: str | None = None
    write: bool = False
    orgs: tuple[str, ...] = ()
    token: str | None = None
    lfs: bool = False  # answer "lfs" in preupload (only for clients with Xet disabled)

    def owns(self, namespace: str) -> bool:
        return self.user is not None and (namespace == self.user or namespace in self.orgs)


@dataclass
class Ctx:
    """One request, as seen by the dispatcher."""

    method: str
    segments: list[str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    base_url: str
    auth: Auth = field(default_factory=Auth)

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.q(name) or "").lower() in ("1", "true", "yes")

    def json(self) -> dict:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as e:
            raise HubError(400, f"Invalid JSON body: {e}") from e
        if not isinstance(data, dict):
            raise HubError(400, "JSON body must be an object")
        return data


# --------------------------------------------------------------------------------------------- storage


class HubStore:
    """Blobs, repo metadata and commit manifests on disk. All access goes through ``self.lock``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "repos").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._commit_cache: dict[tuple[str, str], dict] = {}
        self._index_cache: dict[tuple[str, str], tuple[dict, dict]] = {}

    # blobs
    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def put_blob(self, data: bytes) -> dict:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{sha256}.{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return {"sha256": sha256, "size": len(data), "oid": git_blob_sha1(data)}

    def blob_entry(self, sha256: str) -> dict | None:
        path = self.blob_path(sha256)
        if not path.exists():
            return None
        data = path.read_bytes()
        return {"sha256": sha256, "size": len(data), "oid": git_blob_sha1(data)}

    # repos
    def repo_dir(self, repo_type: str, repo_id: str) -> Path:
        return self.root / "repos" / f"{repo_type}s" / repo_id

    def load_repo(self, repo_type: str, repo_id: str) -> dict | None:
        path = self.repo_dir(repo_type, repo_id) / "repo.json"
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def save_repo(self, meta: dict) -> None:
        d = self.repo_dir(meta["type"], meta["id"])
        (d / "commits").mkdir(parents=True, exist_ok=True)
        tmp = d / f".repo.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, d / "repo.json")

    def delete_repo(self, meta: dict) -> None:
        import shutil

        d = self.repo_dir(meta["type"], meta["id"])
        shutil.rmtree(d, ignore_errors=True)
        prefix = str(d)
        for key in [k for k in self._commit_cache if k[0] == prefix]:
            del self._commit_cache[key]

    # commits
    def load_commit(self, meta: dict, sha: str) -> dict | None:
        d = str(self.repo_dir(meta["type"], meta["id"]))
        key = (d, sha)
        if key not in self._commit_cache:
            path = Path(d) / "commits" / f"{sha}.json"
            if not path.exists():
                return None
            self._commit_cache[key] = json.loads(path.read_text())
        return self._commit_cache[key]

    def commit_exists(self, meta: dict, sha: str) -> bool:
        return (self.repo_dir(meta["type"], meta["id"]) / "commits" / f"{sha}.json").exists()

    def find_short_sha(self, meta: dict, prefix: str) -> str | None:
        d = self.repo_dir(meta["type"], meta["id"]) / "commits"
        matches = [p.stem for p in d.glob(f"{prefix}*.json")]
        return matches[0] if len(matches) == 1 else None

    def write_commit(
        self, meta: dict, parents: list[str], files: dict, title: str, message: str, author: str | None
    ) -> dict:
        date = now_iso()
        seed = json.dumps([parents, files, title, message, date, author, uuid.uuid4().hex], sort_keys=True)
        sha = hashlib.sha1(seed.encode()).hexdigest()
        commit = {
            "id": sha,
            "parents": parents,
            "title": title,
            "message": message,
            "date": date,
            "authors": [author] if author else [],
            "files": files,
        }
        d = self.repo_dir(meta["type"], meta["id"]) / "commits"
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{sha}.tmp"
        tmp.write_text(json.dumps(commit))
        os.replace(tmp, d / f"{sha}.json")
        self._commit_cache[(str(self.repo_dir(meta["type"], meta["id"])), sha)] = commit
        return commit

    def tree_index(self, meta: dict, commit: dict) -> tuple[dict[str, list[str]], dict[str, str]]:
        """(children of each directory, git-like oid of each directory) for a commit."""
        key = (str(self.repo_dir(meta["type"], meta["id"])), commit["id"])
        if key in self._index_cache:
            return self._index_cache[key]
        children: dict[str, set[str]] = {"": set()}
        for path in commit["files"]:
            parts = path.split("/")
            for i in range(1, len(parts) + 1):
                parent = "/".join(parts[: i - 1])
                children.setdefault(parent, set()).add("/".join(parts[:i]))
        dir_oids: dict[str, str] = {}
        # Process deepest directories first so children oids are known.
        for d in sorted(children, key=lambda p: p.count("/") + 1 if p else 0, reverse=True):
            lines = []
            for child in sorted(children[d]):
                name = child.rsplit("/", 1)[-1]
                oid = dir_oids[child] if child in children else commit["files"][child]["oid"]
                lines.append(f"{name} {oid}")
            dir_oids[d] = hashlib.sha1(("tree\n" + "\n".join(lines)).encode()).hexdigest()
        result = ({k: sorted(v) for k, v in children.items()}, dir_oids)
        self._index_cache[key] = result
        return result


# --------------------------------------------------------------------------------------------- the hub


class Hub:
    def __init__(self, storage_dir: Path, tokens: dict[str, dict]):
        self.store = HubStore(Path(storage_dir))
        self.tokens = dict(tokens)
        # (method, raw path with query, status) of the latest requests, for debugging and assertions.
        self.request_log: deque[tuple[str, str, int]] = deque(maxlen=10_000)
        self._lfs_secret = os.urandom(16)

    # ----------------------------------------------------------------------------- auth & lookups

    def authenticate(self, headers: dict[str, str]) -> Auth:
        value = headers.get("authorization")
        if not value:
            return Auth()
        scheme, _, token = value.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise HubError(401, INVALID_CREDENTIALS)
        info = self.tokens[token]
        return Auth(
            user=info["user"],
            write=bool(info.get("write", False)),
            orgs=tuple(info.get("orgs", ())),
            token=token,
            lfs=bool(info.get("lfs", False)),
        )

    def get_repo(self, ctx: Ctx, repo_type: str, repo_id: str, write: bool = False) -> dict:
        meta = self.store.load_repo(repo_type, repo_id)
        if meta is None:
            raise repo_not_found(ctx.auth)
        ns = repo_id.split("/")[0]
        if meta["private"] and not ctx.auth.owns(ns):
            raise repo_not_found(ctx.auth)
        if write:
            if ctx.auth.user is None:
                raise HubError(401, "You must be authenticated to write to this repo")
            if not ctx.auth.owns(ns) or not ctx.auth.write:
                raise HubError(403, "You don't have the rights to write to this repo")
        return meta

    def check_gated(self, ctx: Ctx, meta: dict) -> None:
        if meta.get("gated") and not ctx.auth.owns(meta["id"].split("/")[0]):
            status = 401 if ctx.auth.user is None else 403
            raise HubError(status, "Access to this repo is restricted (gated repo)", "GatedRepo")

    def resolve_rev(self, meta: dict, rev: str) -> str | None:
        """Branch, tag, refs/..., full or short sha -> commit id (or None)."""
        if rev in meta["branches"]:
            return meta["branches"][rev]
        if rev in meta["tags"]:
            return meta["tags"][rev]
        if rev.startswith("refs/heads/"):
            return meta["branches"].get(rev[len("refs/heads/") :])
        if rev.startswith("refs/tags/"):
            return meta["tags"].get(rev[len("refs/tags/") :])
        m = PR_REF_RE.match(rev)
        if m:
            return meta["prs"].get(m.group(1))
        if HEX40_RE.match(rev):
            return rev if self.store.commit_exists(meta, rev) else None
        if SHORT_SHA_RE.match(rev):
            return self.store.find_short_sha(meta, rev)
        return None

    def commit_at(self, meta: dict, rev: str) -> dict:
        sha = self.resolve_rev(meta, rev)
        commit = self.store.load_commit(meta, sha) if sha else None
        if commit is None:
            raise revision_not_found(rev)
        return commit

    def repo_url(self, ctx: Ctx, meta: dict) -> str:
        return f"{ctx.base_url}/{URL_PREFIX[meta['type']]}{meta['id']}"

    # ----------------------------------------------------------------------------- dispatch

    def dispatch(self, ctx: Ctx) -> Response:
        with self.store.lock:
            ctx.auth = self.authenticate(ctx.headers)
            return self._dispatch(ctx)

    def _dispatch(self, ctx: Ctx) -> Response:
        s, m = ctx.segments, ctx.method
        if s and s[0] == "api":
            if s[1:] == ["whoami-v2"] and m == "GET":
                return self.whoami(ctx)
            if s[1:] == ["repos", "create"] and m == "POST":
                return self.create_repo(ctx)
            if s[1:] == ["repos", "delete"] and m == "DELETE":
                return self.delete_repo(ctx)
            if s[1:] == ["repos", "move"] and m == "POST":
                return self.move_repo(ctx)
            if s[1:] == ["validate-yaml"] and m == "POST":
                return self.validate_yaml(ctx)
            if len(s) >= 4 and s[1] in API_TYPES:
                return self.repo_api(ctx, API_TYPES[s[1]], f"{s[2]}/{s[3]}", s[4:])
            if len(s) == 2 and s[1] in API_TYPES and m == "GET":
                return self.list_repos(ctx, API_TYPES[s[1]])
            raise HubError(404, "Not found")
        if len(s) == 4 and s[:2] == ["_lfs", "upload"] and m == "PUT":
            return self.lfs_put(ctx, s[2], s[3])
        # Non-API: /{P}{ns}/{name}.git/info/lfs/objects/batch
        if len(s) >= 6 and s[-4:] == ["info", "lfs", "objects", "batch"] and s[-5].endswith(".git") and m == "POST":
            head = s[:-4]
            repo_type = API_TYPES[head[0]] if len(head) == 3 and head[0] in ("datasets", "spaces") else "model"
            if len(head) == 2 or (len(head) == 3 and repo_type != "model"):
                return self.lfs_batch(ctx, repo_type, f"{head[-2]}/{head[-1][: -len('.git')]}")
        # Non-API: /{P}{ns}/{name}/resolve/{rev}/{path}
        repo_type = "model"
        rest = s
        if s and s[0] in ("datasets", "spaces") and len(s) >= 4 and s[3] == "resolve":
            repo_type, rest = API_TYPES[s[0]], s[1:]
        if len(rest) >= 5 and rest[2] == "resolve" and m in ("GET", "HEAD"):
            rev, path_segments = rest[3], rest[4:]
            if rev == "refs" and len(path_segments) >= 3 and path_segments[0] in ("pr", "heads", "tags", "convert"):
                rev = "/".join(["refs", *path_segments[:2]])
                path_segments = path_segments[2:]
            return self.resolve(ctx, repo_type, f"{rest[0]}/{rest[1]}", rev, "/".join(path_segments))
        raise HubError(404, "Not found")

    def repo_api(self, ctx: Ctx, repo_type: str, repo_id: str, rest: list[str]) -> Response:
        m = ctx.method
        head = rest[0] if rest else None
        if not rest and m == "GET":
            return self.repo_info(ctx, repo_type, repo_id, None)
        if head == "revision" and len(rest) == 2 and m == "GET":
            return self.repo_info(ctx, repo_type, repo_id, rest[1])
        if head == "tree" and len(rest) >= 2 and m == "GET":
            return self.tree(ctx, repo_type, repo_id, rest[1], "/".join(rest[2:]))
        if head == "paths-info" and len(rest) == 2 and m == "POST":
            return self.paths_info(ctx, repo_type, repo_id, rest[1])
        if head == "refs" and len(rest) == 1 and m == "GET":
            return self.refs(ctx, repo_type, repo_id)
        if head == "commits" and len(rest) == 2 and m == "GET":
            return self.commits(ctx, repo_type, repo_id, rest[1])
        if head == "preupload" and len(rest) == 2 and m == "POST":
            return self.preupload(ctx, repo_type, repo_id, rest[1])
        if head == "commit" and len(rest) == 2 and m == "POST":
            return self.commit(ctx, repo_type, repo_id, rest[1])
        if head == "tag" and len(rest) == 2 and m == "POST":
            return self.create_tag(ctx, repo_type, repo_id, rest[1])
        if head == "tag" and len(rest) == 2 and m == "DELETE":
            return self.delete_tag(ctx, repo_type, repo_id, rest[1])
        if head == "branch" and len(rest) == 2 and m == "POST":
            return self.create_branch(ctx, repo_type, repo_id, rest[1])
        if head == "branch" and len(rest) == 2 and m == "DELETE":
            return self.delete_branch(ctx, repo_type, repo_id, rest[1])
        if head == "settings" and len(rest) == 1 and m == "PUT":
            return self.settings(ctx, repo_type, repo_id)
        if head == "discussions" and len(rest) == 1 and m == "POST":
            return self.create_discussion(ctx, repo_type, repo_id)
        if head == "discussions" and len(rest) == 1 and m == "GET":
            return self.list_discussions(ctx, repo_type, repo_id)
        if head == "discussions" and len(rest) == 2 and m == "GET":
            return self.discussion_details(ctx, repo_type, repo_id, rest[1])
        if head == "runtime" and len(rest) == 1 and m == "GET" and repo_type == "space":
            self.get_repo(ctx, repo_type, repo_id)
            return _json_response(_space_runtime())
        if head == "auth-check" and len(rest) == 1 and m == "GET":
            meta = self.get_repo(ctx, repo_type, repo_id)
            self.check_gated(ctx, meta)
            return _json_response({})
        # Make sure a missing repo reads as RepoNotFound even on unsupported sub-routes.
        self.get_repo(ctx, repo_type, repo_id)
        raise HubError(404, f"Not implemented by the test hub: {m} {'/'.join(rest)}")

    # ----------------------------------------------------------------------------- account

    def whoami(self, ctx: Ctx) -> Response:
        if ctx.auth.user is None:
            raise HubError(401, INVALID_CREDENTIALS)
        role = "write" if ctx.auth.write else "read"
        return _json_response(
            {
                "type": "user",
                "id": hashlib.sha1(ctx.auth.user.encode()).hexdigest()[:24],
                "name": ctx.auth.user,
                "fullname": ctx.auth.user,
                "email": f"{ctx.auth.user}@example.com",
                "emailVerified": True,
                "isPro": False,
                "canPay": False,
                "orgs": [{"type": "org", "name": o, "roleInOrg": "admin"} for o in ctx.auth.orgs],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "test-token", "role": role, "createdAt": "2025-01-01T00:00:00.000Z"},
                },
            }
        )

    # ----------------------------------------------------------------------------- repos

    def create_repo(self, ctx: Ctx) -> Response:
        body = ctx.json()
        if ctx.auth.user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        name = body.get("name")
        namespace = body.get("organization") or ctx.auth.user
        repo_type = body.get("type") or "model"
        if repo_type not in URL_PREFIX:
            raise HubError(400, f"Invalid repo type: {repo_type}")
        if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name or "--" in name:
            raise HubError(400, f"Invalid repo name: {name!r}")
        if not ctx.auth.write:
            raise HubError(403, "You don't have the rights to create a repo (read-only token)")
        if not ctx.auth.owns(namespace):
            raise HubError(403, f"You don't have the rights to create a repo under the namespace {namespace!r}")
        repo_id = f"{namespace}/{name}"
        url = f"{ctx.base_url}/{URL_PREFIX[repo_type]}{repo_id}"
        if self.store.load_repo(repo_type, repo_id) is not None:
            raise HubError(409, f"You already created this {repo_type} repo", body={"url": url})
        sdk = body.get("sdk")
        if repo_type == "space" and sdk not in SPACE_SDKS:
            raise HubError(400, f"Invalid sdk for a space: {sdk!r}")
        visibility = body.get("visibility")
        private = visibility == "private" if visibility is not None else bool(body.get("private", False))
        meta = {
            "type": repo_type,
            "id": repo_id,
            "private": private,
            "gated": False,
            "sdk": sdk if repo_type == "space" else None,
            "createdAt": now_iso(),
            "branches": {},
            "tags": {},
            "prs": {},
            "discussions": [],
        }
        entry = self.store.put_blob(DEFAULT_GITATTRIBUTES)
        commit = self.store.write_commit(meta, [], {".gitattributes": entry}, "initial commit", "", ctx.auth.user)
        meta["branches"]["main"] = commit["id"]
        self.store.save_repo(meta)
        return _json_response({"url": url, "name": repo_id, "id": uuid.uuid4().hex[:24]})

    def _repo_from_body(self, ctx: Ctx, body: dict) -> tuple[str, str]:
        name = body.get("name")
        namespace = body.get("organization") or ctx.auth.user
        if not name or not namespace:
            raise HubError(400, "Missing name")
        return body.get("type") or "model", f"{namespace}/{name}"

    def delete_repo(self, ctx: Ctx) -> Response:
        repo_type, repo_id = self._repo_from_body(ctx, ctx.json())
        meta = self.get_repo(ctx, repo_type, repo_id, write=True)
        self.store.delete_repo(meta)
        return Response(status_code=200)

    def move_repo(self, ctx: Ctx) -> Response:
        body = ctx.json()
        repo_type = body.get("type") or "model"
        src, dst = body.get("fromRepo", ""), body.get("toRepo", "")
        meta = self.get_repo(ctx, repo_type, src, write=True)
        if not ctx.auth.owns(dst.split("/")[0]):
            raise HubError(403, "You don't have the rights to move a repo to this namespace")
        if self.store.load_repo(repo_type, dst) is not None:
            raise HubError(409, "A repo with this name already exists")
        old_dir = self.store.repo_dir(repo_type, src)
        new_dir = self.store.repo_dir(repo_type, dst)
        new_dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(old_dir, new_dir)
        meta["id"] = dst
        self.store.save_repo(meta)
        self.store._commit_cache.clear()
        self.store._index_cache.clear()
        return Response(status_code=200)

    def validate_yaml(self, ctx: Ctx) -> Response:
        body = ctx.json()
        content = body.get("content") or ""
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.DOTALL)
        if match:
            try:
                import yaml

                data = yaml.safe_load(match.group(1))
            except ImportError:  # pragma: no cover - PyYAML is a dependency of datasets
                data = {}
            except Exception as e:
                return _json_response({"errors": [{"message": f"Invalid YAML metadata: {e}"}]}, 400)
            if data is not None and not isinstance(data, dict):
                return _json_response({"errors": [{"message": "YAML metadata must be a mapping"}]}, 400)
        return _json_response({"errors": [], "warnings": []})

    def settings(self, ctx: Ctx, repo_type: str, repo_id: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id, write=True)
        body = ctx.json()
        if "gated" in body:
            if body["gated"] not in ("auto", "manual", False):
                raise HubError(400, f"Invalid gated value: {body['gated']!r}")
            meta["gated"] = body["gated"]
        if "visibility" in body:
            meta["private"] = body["visibility"] == "private"
        if "private" in body:
            meta["private"] = bool(body["private"])
        self.store.save_repo(meta)
        return _json_response({})

    def list_repos(self, ctx: Ctx, repo_type: str) -> Response:
        """``list_models`` / ``list_datasets`` / ``list_spaces`` with ``author``, ``search`` and ``limit``."""
        author, search = ctx.q("author"), (ctx.q("search") or "").lower()
        limit = int(ctx.q("limit") or 0)
        out = []
        for path in sorted((self.store.root / "repos" / f"{repo_type}s").glob("*/*/repo.json")):
            meta = json.loads(path.read_text())
            ns = meta["id"].split("/")[0]
            if (meta["private"] and not ctx.auth.owns(ns)) or (author and ns != author):
                continue
            if search and search not in meta["id"].lower():
                continue
            info = self._info_json(meta, self.store.load_commit(meta, meta["branches"]["main"]), blobs=False)
            if not ctx.flag("full"):
                info.pop("siblings")
            out.append(info)
            if limit and len(out) >= limit:
                break
        return _json_response(out)

    def repo_info(self, ctx: Ctx, repo_type: str, repo_id: str, rev: str | None) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id)
        commit = self.commit_at(meta, rev or "main")
        return _json_response(self._info_json(meta, commit, blobs=ctx.flag("blobs")))

    def _info_json(self, meta: dict, commit: dict, blobs: bool) -> dict:
        repo_type, repo_id = meta["type"], meta["id"]
        siblings = []
        for path, entry in sorted(commit["files"].items()):
            sib: dict[str, Any] = {"rfilename": path}
            if blobs:
                sib.update({"size": entry["size"], "blobId": entry["oid"]})
                if entry.get("lfs"):
                    sib["lfs"] = {"sha256": entry["sha256"], "size": entry["size"], "pointerSize": _pointer_size(entry)}
            siblings.append(sib)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit["id"],
            "private": meta["private"],
            "gated": meta.get("gated", False),
            "disabled": False,
            "lastModified": commit["date"],
            "createdAt": meta["createdAt"],
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(e["size"] for e in commit["files"].values()),
        }
        if repo_type == "model":
            info["modelId"] = repo_id
        if repo_type == "space":
            info["sdk"] = meta.get("sdk")
            info["runtime"] = _space_runtime()
        return info

    # ----------------------------------------------------------------------------- listings

    def _last_commit(self, meta: dict, commit: dict, path: str, is_dir: bool) -> dict:
        def oid_of(c: dict) -> str | None:
            if is_dir:
                children, dir_oids = self.store.tree_index(meta, c)
                return dir_oids.get(path)
            entry = c["files"].get(path)
            return entry["oid"] if entry else None

        current = commit
        target = oid_of(commit)
        while current["parents"]:
            parent = self.store.load_commit(meta, current["parents"][0])
            if parent is None or oid_of(parent) != target:
                break
            current = parent
        return {"id": current["id"], "title": current["title"], "date": current["date"]}

    def _entry(self, meta: dict, commit: dict, path: str, expand: bool) -> dict:
        children, dir_oids = self.store.tree_index(meta, commit)
        if path in commit["files"]:
            f = commit["files"][path]
            out: dict[str, Any] = {"type": "file", "oid": f["oid"], "size": f["size"], "path": path}
            if f.get("lfs"):
                out["lfs"] = {"oid": f["sha256"], "size": f["size"], "pointerSize": _pointer_size(f)}
            if expand:
                out["lastCommit"] = self._last_commit(meta, commit, path, is_dir=False)
                out["securityFileStatus"] = {
                    "status": "safe",
                    "avScan": {"virusFound": False},
                    "pickleImportScan": None,
                }
        else:
            out = {"type": "directory", "oid": dir_oids[path], "size": 0, "path": path}
            if expand:
                out["lastCommit"] = self._last_commit(meta, commit, path, is_dir=True)
        return out

    def tree(self, ctx: Ctx, repo_type: str, repo_id: str, rev: str, path: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id)
        commit = self.commit_at(meta, rev)
        path = path.strip("/")
        children, _ = self.store.tree_index(meta, commit)
        if path not in children:
            raise entry_not_found(path, commit["id"])
        recursive = ctx.flag("recursive")
        expand = ctx.flag("expand")
        if recursive:
            prefix = f"{path}/" if path else ""
            paths = sorted(
                [p for p in commit["files"] if p.startswith(prefix)]
                + [d for d in children if d and d.startswith(prefix)]
            )
        else:
            paths = children[path]
        page_size = TREE_PAGE_SIZE_EXPANDED if expand else TREE_PAGE_SIZE
        start = int(ctx.q("cursor") or 0)
        page = paths[start : start + page_size]
        headers = {}
        if start + page_size < len(paths):
            query = {k: v[-1] for k, v in ctx.query.items()}
            query["cursor"] = str(start + page_size)
            url = f"{ctx.base_url}/{'/'.join(quote(seg, safe='') for seg in ctx.segments)}?{urlencode(query)}"
            headers["Link"] = f'<{url}>; rel="next"'
        return _json_response([self._entry(meta, commit, p, expand) for p in page], headers=headers)

    def paths_info(self, ctx: Ctx, repo_type: str, repo_id: str, rev: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id)
        commit = self.commit_at(meta, rev)
        content_type = ctx.headers.get("content-type", "")
        if "json" in content_type:
            body = ctx.json()
            paths = body.get("paths") or []
            expand = bool(body.get("expand"))
        else:
            form = parse_qs(ctx.body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = (form.get("expand", ["false"])[-1]).lower() in ("1", "true")
        children, _ = self.store.tree_index(meta, commit)
        out = []
        for p in paths if isinstance(paths, list) else [paths]:
            p = str(p).strip("/")
            if p in commit["files"] or (p and p in children):
                out.append(self._entry(meta, commit, p, expand))
        return _json_response(out)

    def refs(self, ctx: Ctx, repo_type: str, repo_id: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id)
        data: dict[str, Any] = {
            "branches": [
                {"name": n, "ref": f"refs/heads/{n}", "targetCommit": c} for n, c in sorted(meta["branches"].items())
            ],
            "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": c} for n, c in sorted(meta["tags"].items())],
            "converts": [],
            "pullRequests": [],
        }
        if ctx.flag("include_prs"):
            data["pullRequests"] = [
                {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": c}
                for n, c in sorted(meta["prs"].items(), key=lambda kv: int(kv[0]))
            ]
        return _json_response(data)

    def commits(self, ctx: Ctx, repo_type: str, repo_id: str, rev: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id)
        commit: dict | None = self.commit_at(meta, rev)
        out = []
        while commit is not None:
            item = {
                "id": commit["id"],
                "title": commit["title"],
                "message": commit["message"],
                "date": commit["date"],
                "authors": [{"user": a, "avatar": ""} for a in commit["authors"]],
            }
            if "formatted" in ctx.query.get("expand[]", []):
                item["formatted"] = {"title": commit["title"], "message": commit["message"]}
            out.append(item)
            commit = self.store.load_commit(meta, commit["parents"][0]) if commit["parents"] else None
        return _json_response(out)

    # ----------------------------------------------------------------------------- upload

    def preupload(self, ctx: Ctx, repo_type: str, repo_id: str, rev: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id, write=True)
        sha = self.resolve_rev(meta, rev)
        commit = self.store.load_commit(meta, sha) if sha else None
        files = commit["files"] if commit else {}
        out = []
        for f in ctx.json().get("files", []):
            path = f.get("path")
            existing = files.get(path)
            lfs = ctx.auth.lfs and int(f.get("size") or 0) > 0
            oid = (existing["sha256"] if lfs else existing["oid"]) if existing else None
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return _json_response({"files": out, "commitOid": sha})

    def _target_for_commit(self, meta: dict, rev: str) -> tuple[str, str]:
        """(kind, name) of the ref a commit moves: ("branch", name) or ("pr", num)."""
        if rev in meta["branches"]:
            return "branch", rev
        if rev.startswith("refs/heads/") and rev[len("refs/heads/") :] in meta["branches"]:
            return "branch", rev[len("refs/heads/") :]
        m = PR_REF_RE.match(rev)
        if m and m.group(1) in meta["prs"]:
            return "pr", m.group(1)
        if self.resolve_rev(meta, rev) is not None:
            raise HubError(400, f"Invalid rev id: {rev} is not a branch, cannot commit to it")
        raise revision_not_found(rev)

    def commit(self, ctx: Ctx, repo_type: str, repo_id: str, rev: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id, write=True)
        try:
            lines = [json.loads(line) for line in ctx.body.splitlines() if line.strip()]
        except ValueError as e:
            raise HubError(400, f"Invalid ndjson body: {e}") from e
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first line of the commit payload must be the header")
        header = lines[0].get("value") or {}
        summary = (header.get("summary") or "").strip()
        if not summary:
            raise HubError(400, "Commit summary is required")
        description = header.get("description") or ""
        parent_commit = header.get("parentCommit")
        create_pr = ctx.flag("create_pr")

        kind, name = self._target_for_commit(meta, rev)
        if create_pr and kind != "branch":
            raise HubError(400, f"Pull requests can only be opened against a branch, not {rev!r}")
        head = meta["branches"][name] if kind == "branch" else meta["prs"][name]
        if parent_commit:
            parent_sha = self.resolve_rev(meta, parent_commit) if SHORT_SHA_RE.match(parent_commit) else None
            if parent_sha is None and HEX40_RE.match(parent_commit):
                parent_sha = parent_commit if self.store.commit_exists(meta, parent_commit) else None
            if create_pr:
                if parent_sha is None:
                    raise revision_not_found(parent_commit)
                head = parent_sha
            elif parent_sha != head:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
        parent = self.store.load_commit(meta, head)
        assert parent is not None
        files = copy.deepcopy(parent["files"])

        for line in lines[1:]:
            key, value = line.get("key"), line.get("value") or {}
            path = _check_path(value.get("path"))
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding for {path}")
                try:
                    data = base64.b64decode(value.get("content") or "", validate=True)
                except ValueError as e:
                    raise HubError(400, f"Invalid base64 content for {path}") from e
                files[path] = self.store.put_blob(data)
            elif key == "lfsFile":
                entry = self.store.blob_entry(str(value.get("oid", "")))
                if entry is None:
                    raise HubError(422, f"LFS object {value.get('oid')} for {path} is not on the server")
                files[path] = {**entry, "lfs": True}
            elif key == "deletedFile":
                if path not in files:
                    raise entry_not_found(f"{path}: A file with this name doesn't exist", head)
                del files[path]
            elif key == "deletedFolder":
                prefix = path.rstrip("/") + "/"
                doomed = [p for p in files if p.startswith(prefix)]
                if not doomed:
                    raise entry_not_found(f"{path}: A folder with this name doesn't exist", head)
                for p in doomed:
                    del files[p]
            else:
                raise HubError(400, f"Unknown commit operation: {key!r}")
        for p in files:  # a path cannot be both a file and a folder
            parts = p.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in files:
                    raise HubError(400, f"Path conflict: {'/'.join(parts[:i])!r} is a file, cannot create {p!r}")

        commit = self.store.write_commit(meta, [head], files, summary, description, ctx.auth.user)
        prefix = f"{ctx.base_url}/{URL_PREFIX[repo_type]}{repo_id}"
        pr_url = None
        if create_pr:
            num = self._new_discussion(meta, summary, description, ctx.auth.user, is_pr=True, base=name)
            meta["prs"][str(num)] = commit["id"]
            pr_url = f"{prefix}/discussions/{num}"
        elif kind == "branch":
            meta["branches"][name] = commit["id"]
        else:
            meta["prs"][name] = commit["id"]
        self.store.save_repo(meta)
        return _json_response(
            {
                "success": True,
                "commitOid": commit["id"],
                "commitUrl": f"{prefix}/commit/{commit['id']}",
                "commitMessage": summary,
                "hookOutput": "",
                "pullRequestUrl": pr_url,
            }
        )

    # ----------------------------------------------------------------------------- refs

    def create_tag(self, ctx: Ctx, repo_type: str, repo_id: str, rev: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id, write=True)
        body = ctx.json()
        tag = body.get("tag")
        if not isinstance(tag, str) or not tag or tag.startswith("refs/") or " " in tag:
            raise HubError(400, f"Invalid tag name: {tag!r}")
        commit = self.commit_at(meta, rev)
        if tag in meta["tags"]:
            raise HubError(409, f"Tag {tag} already exists")
        meta["tags"][tag] = commit["id"]
        self.store.save_repo(meta)
        return _json_response({})

    def delete_tag(self, ctx: Ctx, repo_type: str, repo_id: str, tag: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id, write=True)
        if tag.startswith("refs/tags/"):
            tag = tag[len("refs/tags/") :]
        if tag not in meta["tags"]:
            raise revision_not_found(tag)
        del meta["tags"][tag]
        self.store.save_repo(meta)
        return _json_response({})

    def create_branch(self, ctx: Ctx, repo_type: str, repo_id: str, branch: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id, write=True)
        if not branch or branch.startswith("refs/") or " " in branch or HEX40_RE.match(branch):
            raise HubError(400, f"Invalid branch name: {branch!r}")
        body = ctx.json()
        start = body.get("startingPoint") or "main"
        commit = self.commit_at(meta, start)
        if branch in meta["branches"]:
            raise HubError(409, f"Branch {branch} already exists")
        meta["branches"][branch] = commit["id"]
        self.store.save_repo(meta)
        return _json_response({})

    def delete_branch(self, ctx: Ctx, repo_type: str, repo_id: str, branch: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id, write=True)
        if branch.startswith("refs/heads/"):
            branch = branch[len("refs/heads/") :]
        if branch not in meta["branches"]:
            raise revision_not_found(branch)
        if branch == "main":
            raise HubError(403, "Cannot delete the default branch")
        del meta["branches"][branch]
        self.store.save_repo(meta)
        return _json_response({})

    # ----------------------------------------------------------------------------- discussions

    def _new_discussion(
        self, meta: dict, title: str, description: str, author: str | None, is_pr: bool, base: str = "main"
    ) -> int:
        num = len(meta["discussions"]) + 1
        meta["discussions"].append(
            {
                "num": num,
                "title": title,
                "description": description,
                "author": author,
                "isPullRequest": is_pr,
                "status": "open",
                "createdAt": now_iso(),
                "base": base,
            }
        )
        return num

    def _discussion_json(self, meta: dict, d: dict) -> dict:
        return {
            "num": d["num"],
            "title": d["title"],
            "status": d["status"],
            "isPullRequest": d["isPullRequest"],
            "createdAt": d["createdAt"],
            "author": {"name": d["author"] or "deleted"},
            "repo": {"name": meta["id"], "type": meta["type"]},
            "pinned": False,
            "numComments": 1,
            "topReactions": [],
        }

    def create_discussion(self, ctx: Ctx, repo_type: str, repo_id: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id)
        if ctx.auth.user is None:
            raise HubError(401, "You must be authenticated to open a discussion")
        body = ctx.json()
        title = (body.get("title") or "").strip()
        if not title:
            raise HubError(400, "A title is required")
        is_pr = bool(body.get("pullRequest"))
        num = self._new_discussion(meta, title, body.get("description") or "", ctx.auth.user, is_pr)
        if is_pr:
            meta["prs"][str(num)] = meta["branches"]["main"]
        self.store.save_repo(meta)
        return _json_response({"num": num, "url": f"{self.repo_url(ctx, meta)}/discussions/{num}"})

    def list_discussions(self, ctx: Ctx, repo_type: str, repo_id: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id)
        items = [self._discussion_json(meta, d) for d in reversed(meta["discussions"])]
        kind = ctx.q("type")
        if kind == "pull_request":
            items = [d for d in items if d["isPullRequest"]]
        elif kind == "discussion":
            items = [d for d in items if not d["isPullRequest"]]
        return _json_response({"discussions": items, "count": len(items), "start": 0, "numClosedDiscussions": 0})

    def discussion_details(self, ctx: Ctx, repo_type: str, repo_id: str, num: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id)
        for d in meta["discussions"]:
            if str(d["num"]) == num:
                out = self._discussion_json(meta, d)
                out.update({"events": [], "filesWithConflicts": [], "diff": ""})
                if d["isPullRequest"]:
                    out["changes"] = {"base": f"refs/heads/{d['base']}"}
                return _json_response(out)
        raise HubError(404, f"Discussion {num} not found")

    # ----------------------------------------------------------------------------- legacy LFS (opt-in)

    def _lfs_signature(self, oid: str, size: str) -> str:
        return hmac.new(self._lfs_secret, f"{oid}:{size}".encode(), hashlib.sha256).hexdigest()

    def lfs_batch(self, ctx: Ctx, repo_type: str, repo_id: str) -> Response:
        self.get_repo(ctx, repo_type, repo_id, write=True)
        body = ctx.json()
        if body.get("operation") != "upload":
            raise HubError(400, "Only the upload operation is supported")
        objects = []
        for obj in body.get("objects", []):
            oid, size = str(obj.get("oid", "")), int(obj.get("size", 0))
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not re.fullmatch(r"[0-9a-f]{64}", oid):
                item["error"] = {"code": 422, "message": f"Invalid oid {oid!r}"}
            elif self.store.blob_entry(oid) is None:
                sig = self._lfs_signature(oid, str(size))
                href = f"{ctx.base_url}/_lfs/upload/{oid}/{size}?sig={sig}"
                item["actions"] = {"upload": {"href": href}}
            objects.append(item)
        return _json_response({"transfer": "basic", "objects": objects}, headers={"Content-Type": LFS_CONTENT_TYPE})

    def lfs_put(self, ctx: Ctx, oid: str, size: str) -> Response:
        # Signed URL: the client sends no Authorization header here.
        if not hmac.compare_digest(ctx.q("sig") or "", self._lfs_signature(oid, size)):
            raise HubError(403, "Invalid signature")
        if hashlib.sha256(ctx.body).hexdigest() != oid or str(len(ctx.body)) != size:
            raise HubError(400, "Uploaded content does not match oid/size")
        self.store.put_blob(ctx.body)
        return Response(status_code=200)

    # ----------------------------------------------------------------------------- download

    def resolve(self, ctx: Ctx, repo_type: str, repo_id: str, rev: str, path: str) -> Response:
        meta = self.get_repo(ctx, repo_type, repo_id)
        commit = self.commit_at(meta, rev)
        entry = commit["files"].get(path)
        if entry is None:
            raise entry_not_found(path, commit["id"])
        self.check_gated(ctx, meta)
        size = entry["size"]
        headers = {
            "X-Repo-Commit": commit["id"],
            "ETag": f'"{entry["oid"]}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'inline; filename="{quote(path.rsplit("/", 1)[-1])}"',
        }
        start, end = 0, size - 1
        status = 200
        range_header = ctx.headers.get("range")
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed is None:
                raise HubError(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        if ctx.method == "HEAD":
            return Response(status_code=status, headers=headers)
        blob = self.store.blob_path(entry["sha256"])
        return StreamingResponse(_read_file(blob, start, length), status_code=status, headers=headers)


def _pointer_size(entry: dict) -> int:
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{entry['sha256']}\nsize {entry['size']}\n"
    return len(pointer)


def _check_path(path: Any) -> str:
    if not isinstance(path, str) or not path:
        raise HubError(400, "Missing path in commit operation")
    parts = path.rstrip("/").split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path.rstrip("/")


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix range: last N bytes
        n = int(m.group(2))
        if n == 0:
            return None
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    end = min(end, size - 1)
    if start >= size or start > end:
        return None
    return start, end


def _read_file(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        remaining = length
        while remaining > 0:
            chunk = f.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def _space_runtime() -> dict:
    return {
        "stage": "RUNNING",
        "hardware": {"current": "cpu-basic", "requested": "cpu-basic"},
        "storage": None,
        "gcTimeout": 172800,
        "replicas": {"current": 1, "requested": 1},
        "devMode": False,
        "domains": [],
    }


# --------------------------------------------------------------------------------------------- app


def create_app(storage_dir: Path, tokens: dict[str, dict]) -> FastAPI:
    """FastAPI app serving the Hub protocol. ``tokens``: token -> {"user": name, "write": bool[, "orgs": [...]]}."""
    hub = Hub(Path(storage_dir), tokens)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.hub = hub

    @app.api_route(
        "/{full_path:path}", methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
    )
    async def catch_all(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        raw_str = raw.decode("utf-8", "replace").split("?", 1)[0]
        segments = [unquote(s) for s in raw_str.split("/")[1:]]
        while segments and segments[-1] == "":
            segments.pop()
        ctx = Ctx(
            method=request.method,
            segments=segments,
            query=parse_qs(request.url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            base_url=str(request.base_url).rstrip("/"),
        )
        try:
            response = await run_in_threadpool(hub.dispatch, ctx)
        except HubError as e:
            response = e.response()
        except Exception as e:  # pragma: no cover - surfaces server bugs in test output
            import traceback

            traceback.print_exc()
            response = HubError(500, f"Internal error in test hub: {e!r}").response()
        query = f"?{request.url.query}" if request.url.query else ""
        hub.request_log.append((request.method, raw_str + query, response.status_code))
        return response

    return app


class HubServer:
    """Runs :func:`create_app` with uvicorn in a background thread on ``127.0.0.1``."""

    def __init__(self, storage_dir: Path, tokens: dict[str, dict], port: int = 0, log_level: str = "warning"):
        self.storage_dir = Path(storage_dir)
        self.tokens = dict(tokens)
        self.port = port
        self.log_level = log_level
        self.app = create_app(self.storage_dir, self.tokens)
        self.hub: Hub = self.app.state.hub
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> HubServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level=self.log_level, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="hub-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("Hub server thread died during startup")
            if self._server.started and _answers(self.url):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"Hub server did not answer on {self.url} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(url: str) -> bool:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1)
        conn.request("GET", "/api/whoami-v2")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


def _parse_token(spec: str) -> tuple[str, dict]:
    """``TOKEN:USER[:write|read][:org1,org2]``"""
    parts = spec.split(":")
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(f"--token expects TOKEN:USER[:write|read][:ORGS], got {spec!r}")
    info: dict[str, Any] = {"user": parts[1], "write": (parts[2] if len(parts) > 2 else "write") == "write"}
    if len(parts) > 3 and parts[3]:
        info["orgs"] = parts[3].split(",")
    return parts[0], info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Hub-compatible test server (127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--storage", type=Path, required=True)
    parser.add_argument("--token", action="append", default=[], type=_parse_token, metavar="TOKEN:USER[:write|read]")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    app = create_app(args.storage, dict(args.token))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
