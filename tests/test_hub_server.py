"""Exercise tests/hub_server.py through the real huggingface_hub and datasets clients only."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    HfFileSystem,
    create_branch,
    create_commit,
    create_repo,
    create_tag,
    file_exists,
    hf_hub_download,
    list_repo_commits,
    list_repo_refs,
    snapshot_download,
    upload_folder,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

try:  # tests/ on sys.path (no tests/__init__.py)
    from conftest_hub import point_clients_at
except ImportError:  # pragma: no cover - tests is a package
    from tests.conftest_hub import point_clients_at


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    files = {
        "config.json": b'{"hidden_size": 8}\n',
        "README.md": b"---\nlicense: mit\ntags:\n- test\n---\n# A model\n",
        "weights/model.bin": os.urandom(300_000),
        "weights/empty.txt": b"",
        "data/notes with space.txt": "h\u00e9llo w\u00f6rld\n".encode(),
    }
    return _write_tree(tmp_path / "upload", files)


def _read_all(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_push_then_download_round_trip(hub_env, folder):
    repo_id = f"alice/{_name('model')}"
    url = create_repo(repo_id)
    assert url == f"{hub_env.url}/{repo_id}" and url.repo_id == repo_id
    info = upload_folder(folder_path=folder, repo_id=repo_id, commit_message="add files")
    assert len(info.oid) == 40 and info.commit_url.startswith(hub_env.url)

    local = _read_all(folder)
    api = HfApi()
    assert set(api.list_repo_files(repo_id)) == set(local) | {".gitattributes"}
    for rel, data in local.items():
        assert Path(hf_hub_download(repo_id, rel)).read_bytes() == data

    snapshot = Path(snapshot_download(repo_id))
    assert snapshot.name == info.oid
    assert hub_env.cache_dir in snapshot.parents  # per-test cache
    downloaded = _read_all(snapshot)
    downloaded.pop(".gitattributes")
    assert downloaded == local

    model = api.model_info(repo_id, files_metadata=True)
    assert model.sha == info.oid
    sizes = {s.rfilename: s.size for s in model.siblings}
    assert sizes["weights/model.bin"] == 300_000
    tree = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True)}
    assert tree["weights/model.bin"].size == 300_000 and "weights" in tree
    assert [e.path for e in api.list_repo_tree(repo_id, path_in_repo="weights")] == [
        "weights/empty.txt",
        "weights/model.bin",
    ]

    # HfFileSystem: listing, info, ranged reads.
    fs = HfFileSystem()
    assert fs.cat(f"{repo_id}/config.json") == local["config.json"]
    with fs.open(f"{repo_id}/weights/model.bin", "rb", block_size=1000) as f:
        f.seek(1000)
        assert f.read(10) == local["weights/model.bin"][1000:1010]
    assert sorted(fs.ls(f"{repo_id}/weights", detail=False)) == [
        f"{repo_id}/weights/empty.txt",
        f"{repo_id}/weights/model.bin",
    ]

    # Deleting a folder, then a missing file.
    api.create_commit(repo_id, [CommitOperationDelete("weights/")], commit_message="rm weights")
    assert not file_exists(repo_id, "weights/model.bin")
    with pytest.raises(EntryNotFoundError):
        api.delete_file("weights/model.bin", repo_id)


def test_tag_then_push_keeps_old_bytes(hub_env, tmp_path):
    repo_id = f"alice/{_name('tagged')}"
    create_repo(repo_id)
    v1 = _write_tree(tmp_path / "v1", {"weights.bin": b"version-1" * 100})
    first = upload_folder(folder_path=v1, repo_id=repo_id)
    create_tag(repo_id, tag="v1.0", tag_message="first release")
    v2 = _write_tree(tmp_path / "v2", {"weights.bin": b"version-2" * 100})
    second = upload_folder(folder_path=v2, repo_id=repo_id)
    assert second.oid != first.oid

    assert Path(hf_hub_download(repo_id, "weights.bin", revision="v1.0")).read_bytes() == b"version-1" * 100
    assert Path(hf_hub_download(repo_id, "weights.bin")).read_bytes() == b"version-2" * 100
    assert Path(hf_hub_download(repo_id, "weights.bin", revision=first.oid)).read_bytes() == b"version-1" * 100

    refs = list_repo_refs(repo_id)
    assert {t.name: t.target_commit for t in refs.tags} == {"v1.0": first.oid}
    assert {b.name: b.target_commit for b in refs.branches} == {"main": second.oid}
    commits = list_repo_commits(repo_id)
    assert [c.commit_id for c in commits[:2]] == [second.oid, first.oid]
    assert commits[-1].title == "initial commit" and commits[0].authors == ["alice"]

    with pytest.raises(HfHubHTTPError) as exc:
        create_tag(repo_id, tag="v1.0")
    assert exc.value.response.status_code == 409
    create_tag(repo_id, tag="v1.0", exist_ok=True)
    HfApi().delete_tag(repo_id, tag="v1.0")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "weights.bin", revision="v1.0", force_download=True)


def test_unchanged_upload_makes_no_new_commit(hub_env, folder):
    repo_id = f"alice/{_name('noop')}"
    create_repo(repo_id)
    first = upload_folder(folder_path=folder, repo_id=repo_id)
    n_commits = len(list_repo_commits(repo_id))
    again = upload_folder(folder_path=folder, repo_id=repo_id)
    assert again.oid == first.oid
    api = HfApi()
    same_file = api.upload_file(path_or_fileobj=folder / "config.json", path_in_repo="config.json", repo_id=repo_id)
    assert same_file.oid == first.oid
    assert len(list_repo_commits(repo_id)) == n_commits

    (folder / "config.json").write_bytes(b'{"hidden_size": 16}\n')
    changed = upload_folder(folder_path=folder, repo_id=repo_id)
    assert changed.oid != first.oid
    assert len(list_repo_commits(repo_id)) == n_commits + 1


def test_private_repo_access(hub_env, monkeypatch, tmp_path):
    repo_id = f"alice/{_name('private')}"
    create_repo(repo_id, private=True)
    create_commit(repo_id, [CommitOperationAdd("secret.txt", b"top secret")], commit_message="secret")
    assert Path(hf_hub_download(repo_id, "secret.txt")).read_bytes() == b"top secret"
    assert HfApi().model_info(repo_id).private is True

    bob = HfApi(token=hub_env.tokens["bob"])
    with pytest.raises(RepositoryNotFoundError):
        bob.model_info(repo_id)
    assert not bob.repo_exists(repo_id)
    assert not bob.file_exists(repo_id, "secret.txt")
    with pytest.raises(RepositoryNotFoundError):
        bob.list_repo_files(repo_id)
    # Separate cache for bob: hf_hub_download would otherwise fall back to alice's cached copy.
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "secret.txt", token=hub_env.tokens["bob"], cache_dir=tmp_path / "bob_cache")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "secret.txt", token=False, cache_dir=tmp_path / "anon_cache")
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).model_info(repo_id)
    with pytest.raises((RepositoryNotFoundError, HfHubHTTPError)):
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)

    # The environment-wide token works the same way as an explicit one.
    point_clients_at(monkeypatch, hub_env.url, hub_env.tokens["bob"], tmp_path / "bob_home")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "secret.txt")

    # A read-only token for alice can read but not write, not even to her own repo.
    reader = HfApi(token=hub_env.tokens["alice_read"])
    assert reader.model_info(repo_id).sha
    with pytest.raises(HfHubHTTPError) as exc:
        reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert exc.value.response.status_code == 403

    # Making the repo public opens it to everyone; gating it closes the files again.
    alice = HfApi(token=hub_env.tokens["alice"])
    alice.update_repo_settings(repo_id, private=False)
    assert bob.model_info(repo_id).private is False
    assert Path(hf_hub_download(repo_id, "secret.txt", cache_dir=tmp_path / "bob_cache2")).read_bytes() == (
        b"top secret"
    )
    assert [m.id for m in bob.list_models(author="alice", search=repo_id.split("/")[1])] == [repo_id]
    alice.update_repo_settings(repo_id, gated="auto")
    with pytest.raises(GatedRepoError):
        hf_hub_download(repo_id, "secret.txt", cache_dir=tmp_path / "bob_cache3")
    assert Path(hf_hub_download(repo_id, "secret.txt", token=hub_env.tokens["alice"])).read_bytes()


def test_invalid_token_is_a_clear_error(hub_env):
    api = HfApi(token="hf_not_a_valid_token")
    with pytest.raises(HfHubHTTPError) as exc:
        api.whoami()
    assert exc.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as exc:
        api.model_info("alice/anything")
    assert not isinstance(exc.value, RepositoryNotFoundError)
    assert exc.value.response.status_code == 401
    assert "Invalid credentials" in str(exc.value)
    assert HfApi().whoami()["name"] == "alice"


def test_missing_repo_revision_and_file(hub_env):
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info(f"alice/{_name('missing')}")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"alice/{_name('missing')}", "config.json")
    assert not file_exists(f"alice/{_name('missing')}", "config.json")

    repo_id = f"alice/{_name('present')}"
    create_repo(repo_id)
    create_commit(repo_id, [CommitOperationAdd("config.json", b"{}")], commit_message="cfg")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "config.json", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        HfApi().model_info(repo_id, revision="no-such-branch")
    assert not HfApi().revision_exists(repo_id, "no-such-branch")
    assert HfApi().revision_exists(repo_id, "main")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "no-such-file.json")
    assert file_exists(repo_id, "config.json")
    assert not file_exists(repo_id, "no-such-file.json")
    assert not file_exists(repo_id, "config.json", revision="no-such-branch")


def test_create_repo_twice_and_namespaces(hub_env):
    repo_id = f"alice/{_name('twice')}"
    first = create_repo(repo_id)
    with pytest.raises(HfHubHTTPError) as exc:
        create_repo(repo_id)
    assert exc.value.response.status_code == 409
    assert create_repo(repo_id, exist_ok=True) == first
    # Bob cannot create in alice's namespace.
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi(token=hub_env.tokens["bob"]).create_repo(f"alice/{_name('not-bob')}")
    assert exc.value.response.status_code == 403
    # A bare name goes to the token's namespace.
    bare = _name("bare")
    assert HfApi(token=hub_env.tokens["bob"]).create_repo(bare).repo_id == f"bob/{bare}"
    HfApi(token=hub_env.tokens["bob"]).delete_repo(f"bob/{bare}")
    assert not HfApi().repo_exists(f"bob/{bare}")


def test_branches_and_pull_requests(hub_env):
    api = HfApi()
    repo_id = f"alice/{_name('branches')}"
    create_repo(repo_id)
    main = api.create_commit(repo_id, [CommitOperationAdd("a.txt", b"main")], commit_message="main")
    create_branch(repo_id, branch="dev")
    create_branch(repo_id, branch="dev", exist_ok=True)
    with pytest.raises(HfHubHTTPError):
        create_branch(repo_id, branch="dev")
    dev = api.create_commit(repo_id, [CommitOperationAdd("a.txt", b"dev")], commit_message="dev", revision="dev")
    assert Path(hf_hub_download(repo_id, "a.txt", revision="dev")).read_bytes() == b"dev"
    assert Path(hf_hub_download(repo_id, "a.txt")).read_bytes() == b"main"

    pr = create_commit(repo_id, [CommitOperationAdd("a.txt", b"from pr")], commit_message="A PR", create_pr=True)
    assert pr.pr_num == 1 and pr.pr_revision == "refs/pr/1"
    assert Path(hf_hub_download(repo_id, "a.txt", revision="refs/pr/1")).read_bytes() == b"from pr"
    assert Path(hf_hub_download(repo_id, "a.txt")).read_bytes() == b"main"
    refs = list_repo_refs(repo_id, include_pull_requests=True)
    assert {b.name for b in refs.branches} == {"main", "dev"}
    assert [p.ref for p in refs.pull_requests] == ["refs/pr/1"]
    assert api.get_discussion_details(repo_id, 1).git_reference == "refs/pr/1"

    # Stale parent commit -> 412; committing to a tag -> 400; to a missing branch -> RevisionNotFound.
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_commit(
            repo_id, [CommitOperationAdd("b.txt", b"b")], commit_message="stale", parent_commit=main.oid[:7] + "0" * 33
        )
    assert exc.value.response.status_code == 412
    api.create_tag(repo_id, tag="t1", revision=dev.oid)
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_commit(repo_id, [CommitOperationAdd("b.txt", b"b")], commit_message="x", revision="t1")
    assert exc.value.response.status_code == 400
    with pytest.raises(RevisionNotFoundError):
        api.create_commit(repo_id, [CommitOperationAdd("b.txt", b"b")], commit_message="x", revision="nope")
    api.delete_branch(repo_id, branch="dev")
    assert {b.name for b in list_repo_refs(repo_id).branches} == {"main"}


def test_upload_folder_create_pr(hub_env, folder):
    repo_id = f"alice/{_name('folder-pr')}"
    create_repo(repo_id)
    info = upload_folder(folder_path=folder, repo_id=repo_id, create_pr=True)
    assert info.pr_revision == "refs/pr/1"
    assert (
        Path(hf_hub_download(repo_id, "config.json", revision="refs/pr/1")).read_bytes()
        == (folder / "config.json").read_bytes()
    )
    assert not file_exists(repo_id, "config.json")


def test_gradio_space(hub_env, tmp_path):
    api = HfApi()
    repo_id = f"alice/{_name('space')}"
    url = create_repo(repo_id, repo_type="space", space_sdk="gradio")
    assert url == f"{hub_env.url}/spaces/{repo_id}"
    app = _write_tree(
        tmp_path / "space",
        {
            "app.py": b"import gradio as gr\n",
            "requirements.txt": b"torch\n",
            "README.md": b"---\ntitle: Demo\nsdk: gradio\napp_file: app.py\n---\n",
        },
    )
    info = upload_folder(folder_path=app, repo_id=repo_id, repo_type="space")
    assert info.commit_url.startswith(f"{hub_env.url}/spaces/{repo_id}/commit/")
    space = api.space_info(repo_id)
    assert space.sdk == "gradio" and space.sha == info.oid
    path = hf_hub_download(repo_id, "app.py", repo_type="space")
    assert Path(path).read_bytes() == b"import gradio as gr\n"
    assert api.get_space_runtime(repo_id).stage == "RUNNING"


def test_load_dataset_at_revision(hub_env, tmp_path):
    import datasets

    repo_id = f"alice/{_name('dataset')}"
    create_repo(repo_id, repo_type="dataset")
    v1 = _write_tree(tmp_path / "v1", {"data/train.csv": b"x,y\n1,2\n3,4\n"})
    upload_folder(folder_path=v1, repo_id=repo_id, repo_type="dataset")
    create_tag(repo_id, tag="v1", repo_type="dataset")
    v2 = _write_tree(tmp_path / "v2", {"data/train.csv": b"x,y\n5,6\n7,8\n9,10\n"})
    upload_folder(folder_path=v2, repo_id=repo_id, repo_type="dataset")

    old = datasets.load_dataset(repo_id, revision="v1", split="train")
    assert old.to_dict() == {"x": [1, 3], "y": [2, 4]}
    new = datasets.load_dataset(repo_id, revision="main", split="train")
    assert new.to_dict() == {"x": [5, 7, 9], "y": [6, 8, 10]}
    assert Path(hub_env.hf_home) in Path(new.cache_files[0]["filename"]).parents
    with pytest.raises(datasets.exceptions.DatasetNotFoundError):
        datasets.load_dataset(repo_id, revision="no-such-revision", split="train")


def test_dataset_push_to_hub_through_lfs(hub_env_lfs):
    import datasets

    repo_id = f"alice/{_name('pushed')}"
    data = {"x": list(range(50)), "y": [f"r{i}" for i in range(50)]}
    datasets.Dataset.from_dict(data).push_to_hub(repo_id)
    files = HfApi().list_repo_tree(repo_id, repo_type="dataset", recursive=True)
    parquet = [f for f in files if f.path.endswith(".parquet")]
    assert len(parquet) == 1 and parquet[0].lfs is not None
    assert datasets.load_dataset(repo_id, split="train").to_dict() == data
    log = hub_env_lfs.server.hub.request_log
    assert any(path.endswith("/info/lfs/objects/batch") for _, path, _ in log)
