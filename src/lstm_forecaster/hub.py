"""Publishing and versioning on the Hugging Face Hub; loading by folder or repo id.

Examples (the token comes from `HF_TOKEN` or `hf auth login`; `HF_ENDPOINT` picks another Hub)::

    lstm-forecaster push runs/btc --repo-id user/btc-daily --tag v1.0
    lstm-forecaster versions user/btc-daily
    lstm-forecaster deploy-space --space-id user/btc-demo --model-id user/btc-daily --revision v1.0

A push is one commit of the model folder's allow-list (`repo_files.py`): `config.json`,
`model.safetensors`, `scaler.json`, `README.md` (re-rendered from `model_card.md` with the repo id and
tag, so its loading snippet is right), `training_args.json`, `metrics.json` and the PNG plots the
package writes, plus the files named with `--include`. Anything else (a `.env`, a notebook) and every
symlink are skipped and reported; pickles are refused by content. The repo mirrors what is pushed:
files of an older push that are no longer pushed are deleted in the same commit. An unchanged folder
makes no commit.

The Space contract (`deploy_space`): the uploaded Space holds the `space/` folder (`app.py`,
`requirements.txt`, `README.md` with the Space YAML header), the `lstm_forecaster` package source at
its root (so `import lstm_forecaster` works there without PyPI), and `space_config.json`::

    {"MODEL_ID": "user/btc-daily", "MODEL_REVISION": "v1.0"}   # MODEL_REVISION null: the default branch

next to `app.py`. The app reads the environment variables `MODEL_ID` / `MODEL_REVISION` first (Space
settings), then `space_config.json`. The README's `models:` metadata is set to the model id, which
links the Space from the model's page.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import __version__
from .card import CARD_NAME, data_info, headline_metrics, render_model_card, splits_info
from .modeling import LSTMForecaster
from .panel import PANEL_FILE
from .repo_files import (
    MODEL_REPO_FILES,
    FolderSelection,
    copy_selection,
    is_pickle,
    model_repo_file,
    select_files,
    space_file,
)

REQUIRED_FILES = MODEL_REPO_FILES
SPACE_CONFIG_NAME = "space_config.json"
SPACE_REQUIRED = ("app.py", "requirements.txt", "README.md")
__all__ = ["is_pickle"]  # re-exported: pickle detection lives in repo_files


class HubAuthError(ValueError):
    """No token, or a token the Hub refuses."""


@dataclass
class PushResult:
    """What `push_folder` did.

    Attributes:
        repo_id: The model repo.
        oid: The commit holding the folder (the existing head when nothing changed).
        commit_url: URL of that commit.
        commit_message: Its title.
        changed: False when the folder was already there and no commit was made.
        tag: The tag put on `oid`, if any.
        pr_url: The pull request, with `create_pr`.
        branch: The branch pushed to.
        skipped: `(path, reason)` of the folder's files that were not pushed (not in the allow-list,
            symlinks, hidden files).
    """

    repo_id: str
    oid: str
    commit_url: str
    commit_message: str
    changed: bool
    tag: str | None = None
    pr_url: str | None = None
    branch: str = "main"
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Version:
    """One commit of a model repo with its tags and its test metrics (None where absent)."""

    commit: str
    date: datetime | None
    title: str
    tags: list[str] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)
    metrics: dict | None = None


def load_model(model: str | Path, revision: str | None = None) -> LSTMForecaster:
    """Load a model from a local folder or a Hub repo id at a revision (tag, branch or commit)."""
    path = Path(model)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{model} is a file; give a model folder or a Hub repo id")
    if not path.exists() and (str(model).startswith((".", "/")) or str(model).count("/") != 1):
        raise ValueError(f"no model folder {model} (and it is not a Hub repo id user/name)")
    if path.is_dir() and not (path / "config.json").is_file():
        raise ValueError(f"{model} has no config.json: not an lstm-forecaster model folder")
    return LSTMForecaster.from_pretrained(str(model), revision=revision)


# ----- checks ------------------------------------------------------------------------------------


def _api(token: str | None = None, *, write: bool = False):
    """An `HfApi` with the token of `HF_TOKEN` or the login; `write` requires one. Fails at once when
    the Hub cannot be reached (no retries)."""
    from huggingface_hub import HfApi, get_token

    from .errors import require_hub

    token = token or get_token()
    if write and not token:
        raise HubAuthError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a write token)")
    require_hub()
    return HfApi(token=token)


def check_push_access(repo_id: str, token: str | None = None) -> str:
    """Fail early unless there is a token the Hub accepts; returns the token's user name.

    `lstm-forecaster train --push-to-hub` calls it before training.
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"a Hub repo id is user/name. Got {repo_id!r}.")
    return _api(token, write=True).whoami()["name"]


def select_model_files(folder: str | Path, include: list[str] | tuple[str, ...] = ()) -> FolderSelection:
    """The files of a model folder a push uploads (the allow-list plus `include`) and those it skips."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"no model folder {folder}")
    return select_files(folder, model_repo_file, include)


def check_model_folder(folder: str | Path, include: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Raise `ValueError` unless `folder` is a complete model without pickles; returns the files to push."""
    return _checked_selection(Path(folder), include).files


def _checked_selection(folder: Path, include: list[str] | tuple[str, ...]) -> FolderSelection:
    selection = select_model_files(folder, include)
    files = selection.files
    missing = [name for name in REQUIRED_FILES if name not in files]
    if missing:
        links = [name for name in missing if (folder / name).is_symlink()]
        if links:
            raise ValueError(
                f"{folder / links[0]} is a symlink: a push never follows links; copy the real files (cp -L) into the folder"
            )
        raise ValueError(
            f"{folder} is not a complete model folder: missing {', '.join(missing)} "
            f"(a model folder holds {', '.join(REQUIRED_FILES)} and the PNG plots; `lstm-forecaster train` writes them)"
        )
    if not any(name.endswith(".png") for name in files):
        raise ValueError(f"{folder} is not a complete model folder: no PNG plot")
    # The files must load: a config the package rejects or a scaler that disagrees is refused here.
    LSTMForecaster.from_pretrained(str(folder))
    return selection


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e


def default_commit_message(folder: str | Path) -> str:
    """`<recipe>: test MASE 0.9987 vs naive last value (MAE 1,234.56 vs 1,236.01), data 2014-09-17 to 2024-03-31`."""
    folder = Path(folder)
    args = _read_json(folder / "training_args.json")
    metrics = _read_json(folder / "metrics.json")
    recipe = args.get("recipe") or (Path(str(args["config"])).stem if args.get("config") else folder.resolve().name)
    parts = [str(recipe)]
    head = headline_metrics(metrics)
    if head and head["model_mase"] is not None:
        text = f"{head['split']} MASE {head['model_mase']:.4f} vs naive last value"
        if head["model_mae"] is not None and head["naive_mae"] is not None:
            text += f" (MAE {head['model_mae']:,.2f} vs {head['naive_mae']:,.2f})"
        parts.append(text)
    data = data_info(args)
    splits = splits_info(args)
    start = data.get("start") or splits.get("train", {}).get("start")
    end = data.get("end") or splits.get("test", {}).get("end")
    if start and end:
        parts.append(f"data {str(start)[:10]} to {str(end)[:10]}")
    return parts[0] + ": " + ", ".join(parts[1:]) if len(parts) > 1 else f"{parts[0]}: model folder"


# ----- push --------------------------------------------------------------------------------------


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file's bytes, as the Hub reports it for non-LFS files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _same_model_files(api, repo_id: str, head: str, staging: Path, files: list[str]) -> bool:
    """Whether `head` holds exactly these files with the same bytes, the README aside.

    The README names the tag it was pushed with; an untagged push of the same model is no change.
    """
    from huggingface_hub.hf_api import RepoFile

    remote = {f.path: f for f in api.list_repo_tree(repo_id, revision=head, recursive=True) if isinstance(f, RepoFile)}
    remote.pop(".gitattributes", None)
    if set(remote) != set(files):
        return False
    for name in files:
        if name == CARD_NAME:
            continue
        data = (staging / name).read_bytes()
        entry = remote[name]
        if entry.lfs is not None:
            if hashlib.sha256(data).hexdigest() != entry.lfs.sha256:
                return False
        elif git_blob_sha1(data) != entry.blob_id:
            return False
    return True


def _stage_folder(folder: Path, selection: FolderSelection, staging: Path, repo_id: str, tag: str | None) -> None:
    """Copy the files to push into `staging`, with the card re-rendered for `repo_id` and `tag`."""
    copy_selection(folder, selection, staging)
    # Rendered from what is pushed, so the card shows only the plots the repo will hold.
    card = render_model_card(staging, repo_id=repo_id, revision=tag, local_path=str(folder))
    (staging / CARD_NAME).write_text(card, encoding="utf-8")


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    tag: str | None = None,
    move_tag: bool = False,
    private: bool = False,
    message: str | None = None,
    branch: str | None = None,
    create_pr: bool = False,
    include: list[str] | tuple[str, ...] = (),
    token: str | None = None,
) -> PushResult:
    """Push a trained model folder to a Hub model repo as one commit, and tag it.

    Parameters
    ----------
    folder : str or Path
        A complete model folder (see `REQUIRED_FILES`), without pickles.
    repo_id : str
        `user/name`; created if missing (private with `private`, which applies at creation only).
    tag : str, optional
        Tag for the commit. A tag that exists is an error unless `move_tag`.
    message : str, optional
        Commit title (default: recipe, test MASE vs naive, data range).
    branch : str, optional
        Branch to push to (created from the default branch if missing); default `main`.
    create_pr : bool
        Open a pull request with the commit instead of pushing to the branch.
    include : list of str
        Further files to push, by name or glob pattern relative to `folder` (`notes.md`,
        `plots/*.png`); only the model repo's allow-list is pushed otherwise.
    token : str, optional
        Default: `HF_TOKEN` or the huggingface_hub login.

    Returns
    -------
    PushResult
        The commit (the existing head and `changed=False` when the folder was already there), and
        the files skipped.
    """
    folder = Path(folder)
    selection = _checked_selection(folder, include)
    if tag and create_pr:
        raise ValueError("--tag with --create-pr: tag the commit after the pull request is merged")
    api = _api(token, write=True)
    api.create_repo(repo_id, private=private, exist_ok=True)
    branch = branch or "main"
    refs = api.list_repo_refs(repo_id)
    tags = {ref.name: ref.target_commit for ref in refs.tags}
    if tag and tag in tags and not move_tag:
        raise ValueError(
            f"tag {tag!r} already exists in {repo_id} (commit {tags[tag][:8]}); "
            "choose another tag or move it with --move-tag"
        )
    branches = {ref.name: ref.target_commit for ref in refs.branches}
    if branch not in branches and branches:
        api.create_branch(repo_id, branch=branch, exist_ok=True)
        branches[branch] = api.repo_info(repo_id, revision=branch).sha
    head = branches.get(branch)
    title = message or default_commit_message(folder)
    with tempfile.TemporaryDirectory(prefix="lstm-forecaster-push-") as tmp:
        staging = Path(tmp)
        _stage_folder(folder, selection, staging, repo_id, tag)
        if head and not tag and not create_pr and _same_model_files(api, repo_id, head, staging, selection.files):
            return PushResult(
                repo_id=repo_id,
                oid=head,
                commit_url=f"{api.endpoint}/{repo_id}/commit/{head}",
                commit_message=api.list_repo_commits(repo_id, revision=head)[0].title,
                changed=False,
                branch=branch,
                skipped=selection.skipped,
            )
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=staging,
            commit_message=title,
            commit_description=f"Pushed with lstm-forecaster {__version__} from the folder {folder.resolve().name}.",
            revision=branch,
            create_pr=create_pr,
            delete_patterns=["*"],
        )
    changed = info.oid != head or bool(info.pr_url)
    if tag:
        if tag in tags:
            api.delete_tag(repo_id, tag=tag)
        api.create_tag(repo_id, tag=tag, revision=info.oid, tag_message=title)
    return PushResult(
        repo_id=repo_id,
        oid=info.oid,
        commit_url=info.commit_url,
        commit_message=title,
        changed=changed,
        tag=tag,
        pr_url=info.pr_url,
        branch=branch,
        skipped=selection.skipped,
    )


# ----- versions ----------------------------------------------------------------------------------


def _metrics_at(api, repo_id: str, commit: str) -> dict | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = hf_hub_download(repo_id, "metrics.json", revision=commit, token=api.token, endpoint=api.endpoint)
    except EntryNotFoundError:
        return None
    try:
        return headline_metrics(json.loads(Path(path).read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def versions(repo_id: str, *, token: str | None = None) -> list[Version]:
    """Commits of a model repo, newest first, with their tags and the test metrics of their `metrics.json`.

    Lists the default branch's history plus any tagged or branch-head commit outside it.
    """
    api = _api(token)
    refs = api.list_repo_refs(repo_id)
    by_commit: dict[str, Version] = {}
    heads = [ref.name for ref in refs.branches]
    default = "main" if "main" in heads else (heads[0] if heads else None)
    revisions = ([default] if default else []) + [r.target_commit for r in (*refs.tags, *refs.branches)]
    for revision in revisions:
        if revision in by_commit:
            continue
        for commit in api.list_repo_commits(repo_id, revision=revision):
            if commit.commit_id in by_commit:
                break
            by_commit[commit.commit_id] = Version(commit.commit_id, commit.created_at, commit.title)
    for ref in refs.tags:
        if ref.target_commit in by_commit:
            by_commit[ref.target_commit].tags.append(ref.name)
    for ref in refs.branches:
        if ref.target_commit in by_commit:
            by_commit[ref.target_commit].branches.append(ref.name)
    rows = sorted(by_commit.values(), key=lambda v: (v.date is not None, v.date), reverse=True)
    for row in rows:
        row.metrics = _metrics_at(api, repo_id, row.commit)
    return rows


def format_versions(rows: list[Version]) -> str:
    """A plain-text table of `versions`: commit, date, refs, test MAE and MASE of the model beside naive."""

    def number(value, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    header = ("commit", "date (UTC)", "refs", "MAE model", "MAE naive", "MASE model", "MASE naive", "message")
    table = [header]
    for row in rows:
        m = row.metrics or {}
        table.append(
            (
                row.commit[:8],
                row.date.strftime("%Y-%m-%d %H:%M") if row.date else "n/a",
                ", ".join([*row.branches, *(f"tag:{t}" for t in row.tags)]) or "-",
                number(m.get("model_mae"), ",.2f"),
                number(m.get("naive_mae"), ",.2f"),
                number(m.get("model_mase"), ".4f"),
                number(m.get("naive_mase"), ".4f"),
                row.title,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in table)


# ----- Space -------------------------------------------------------------------------------------


def default_space_dir() -> Path:
    """`space/` of the current directory, else of the source checkout this package runs from."""
    here = Path("space")
    if (here / "app.py").is_file():
        return here
    return Path(__file__).resolve().parents[2] / "space"


def package_dir() -> Path:
    """The `lstm_forecaster` package source."""
    return Path(__file__).resolve().parent


def _space_file(rel: str) -> bool:
    return space_file(rel) and rel != SPACE_CONFIG_NAME and rel.split("/")[0] not in ("flagged", "lstm_forecaster")


def _package_file(rel: str) -> bool:
    """The package source a Space runs: its source and text files, and the embedded data (the panel)."""
    return space_file(rel) or rel == f"data/{PANEL_FILE}"


def _copy_tree(source: Path, target: Path, include: list[str] | tuple[str, ...] = (), allowed=_space_file) -> list:
    """Copy the Space allow-list of `source` (plus `include`) into `target`; returns what was skipped."""
    selection = select_files(source, allowed, include)
    copy_selection(source, selection, target)
    return [(f"{source.name}/{path}", reason) for path, reason in selection.skipped]


def stage_space(
    staging: Path,
    model_id: str,
    revision: str | None,
    space_dir: str | Path | None = None,
    include: list[str] | tuple[str, ...] = (),
) -> list[tuple[str, str]]:
    """Lay out a Space in `staging`: `space/`, the package source and `space_config.json`.

    Only the Space allow-list is staged (`repo_files.SPACE_SUFFIXES`, plus `include`, relative to
    `space_dir`); symlinks are never followed. Returns `(path, reason)` of what was skipped.
    """
    from huggingface_hub import SpaceCard

    space_dir = Path(space_dir) if space_dir else default_space_dir()
    missing = [name for name in SPACE_REQUIRED if not (space_dir / name).is_file()]
    if missing:
        raise ValueError(
            f"{space_dir} is not a Space folder: missing {', '.join(missing)} (expected {', '.join(SPACE_REQUIRED)})"
        )
    links = [name for name in SPACE_REQUIRED if (space_dir / name).is_symlink()]
    if links:
        raise ValueError(f"{space_dir / links[0]} is a symlink: deploy-space never follows links; copy the real file")
    skipped = _copy_tree(space_dir, staging, include)
    package = staging / "lstm_forecaster"
    if package.exists():
        shutil.rmtree(package)
    skipped += _copy_tree(package_dir(), package, allowed=_package_file)
    if not (package / "model_card.md").is_file():
        from .card import model_card_template

        (package / "model_card.md").write_text(model_card_template(), encoding="utf-8")
    config = {"MODEL_ID": model_id, "MODEL_REVISION": revision}
    (staging / SPACE_CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    card = SpaceCard.load(staging / "README.md")
    if card.data.get("sdk") != "gradio":
        raise ValueError(
            f"{space_dir / 'README.md'} must declare `sdk: gradio` in its YAML header. Got {card.data.get('sdk')!r}."
        )
    card.data.models = [model_id]
    card.save(staging / "README.md")
    return [item for item in skipped if not item[0].endswith(("__pycache__/", ".pyc"))]


@dataclass
class DeployResult:
    """The Space commit made by `deploy_space`."""

    space_id: str
    url: str
    oid: str
    commit_url: str
    changed: bool
    model_id: str
    revision: str | None
    skipped: list[tuple[str, str]] = field(default_factory=list)


def deploy_space(
    space_id: str,
    model_id: str,
    revision: str | None = None,
    *,
    private: bool = False,
    space_dir: str | Path | None = None,
    include: list[str] | tuple[str, ...] = (),
    token: str | None = None,
) -> DeployResult:
    """Create (or update) a Gradio Space serving `model_id` at `revision`, in one commit.

    The model must exist at that revision (checked first). See the module docstring for what the
    Space holds and how the app finds its model.
    """
    api = _api(token, write=True)
    api.model_info(model_id, revision=revision)
    url = api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    try:
        head = api.space_info(space_id).sha
    except Exception:  # noqa: BLE001 - an empty new Space has no head yet
        head = None
    with tempfile.TemporaryDirectory(prefix="lstm-forecaster-space-") as tmp:
        staging = Path(tmp)
        skipped = stage_space(staging, model_id, revision, space_dir, include)
        info = api.upload_folder(
            repo_id=space_id,
            repo_type="space",
            folder_path=staging,
            commit_message=f"Serve {model_id}"
            + (f"@{revision}" if revision else "")
            + f" (lstm-forecaster {__version__})",
            delete_patterns=["*"],
        )
    return DeployResult(
        space_id=space_id,
        url=str(url),
        oid=info.oid,
        commit_url=info.commit_url,
        changed=info.oid != head,
        model_id=model_id,
        revision=revision,
        skipped=skipped,
    )


# ----- command line ------------------------------------------------------------------------------


def push_command(args: argparse.Namespace) -> int:
    """`lstm-forecaster push FOLDER --repo-id ID [--tag T] [--move-tag] [--private] [--message M] [--branch B] [--create-pr]`."""
    result = push_folder(
        args.folder,
        args.repo_id,
        tag=args.tag,
        move_tag=args.move_tag,
        private=args.private,
        message=args.message,
        branch=args.branch,
        create_pr=args.create_pr,
        include=args.include or (),
    )
    print(describe_push(result))
    return 0


def describe_push(result: PushResult) -> str:
    """The lines `push` prints."""
    if result.pr_url:
        lines = [
            f"opened a pull request on {result.repo_id}: {result.pr_url}",
            f"commit {result.oid}: {result.commit_message}",
        ]
    elif result.changed:
        lines = [f"pushed {result.repo_id}@{result.branch}: commit {result.oid}", f"  {result.commit_message}"]
    else:
        lines = [
            f"no changes: {result.repo_id}@{result.branch} already holds this folder (commit {result.oid}); no new commit"
        ]
    if result.tag:
        lines.append(f"tagged {result.oid[:8]} as {result.tag}")
    lines.append(result.commit_url)
    skipped = FolderSelection(skipped=result.skipped).describe_skipped()
    if skipped:
        lines.append(skipped)
    return "\n".join(lines)


def versions_command(args: argparse.Namespace) -> int:
    """`lstm-forecaster versions REPO_ID`: tags and commits, newest first, with test metrics."""
    rows = versions(args.repo_id)
    print(format_versions(rows))
    return 0


def deploy_space_command(args: argparse.Namespace) -> int:
    """`lstm-forecaster deploy-space --space-id ID --model-id ID [--revision R] [--private] [--space-dir DIR]`."""
    result = deploy_space(
        args.space_id,
        args.model_id,
        args.revision,
        private=args.private,
        space_dir=getattr(args, "space_dir", None),
        include=getattr(args, "include", None) or (),
    )
    state = "deployed" if result.changed else "no changes: already deployed"
    print(f"{state} {result.space_id} serving {result.model_id}" + (f"@{result.revision}" if result.revision else ""))
    print(f"commit {result.oid}")
    print(result.url)
    skipped = FolderSelection(skipped=result.skipped).describe_skipped()
    if skipped:
        print(skipped)
    return 0
