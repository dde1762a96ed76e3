"""Publishing and versioning on the Hub: the real huggingface_hub client and the real CLI, over HTTP.

The Hub is tests/hub_server.py on 127.0.0.1 (fixtures in tests/conftest_hub.py); only HF_ENDPOINT
differs from a user's run against huggingface.co. CLI tests run `lstm-forecaster` in a subprocess with
HF_ENDPOINT / HF_TOKEN in its environment, as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest_hub import point_clients_at
from huggingface_hub import HfApi, ModelCard, hf_hub_download, metadata_load, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from lstm_forecaster import LSTMForecaster, __version__, load_ohlcv, sample_path
from lstm_forecaster.card import held_out_report, render_model_card
from lstm_forecaster.hub import check_model_folder, deploy_space, is_pickle, push_folder, versions
from lstm_forecaster.training import recipe_from_dict, train

ROOT = Path(__file__).resolve().parents[1]
ROWS = 300  # the last 300 daily candles of the bundled sample: enough for three splits of a tiny model
RECIPE = {
    "name": "tiny-quantile",
    "description": "A tiny quantile LSTM on daily log returns, for the Hub tests.",
    "model": {
        "features": ["log_return", "volatility_14"],
        "target": "log_return",
        "context_length": 16,
        "horizon": 2,
        "hidden_size": 8,
        "quantiles": [0.1, 0.5, 0.9],
    },
    "epochs": 1,
    "batch_size": 32,
    "loss": "pinball",
    "head_init": "baseline",
}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def short_csv(tmp_path_factory) -> Path:
    """The header and the last ROWS lines of the bundled sample, as the user's own CSV file."""
    lines = sample_path().read_text().splitlines()
    path = tmp_path_factory.mktemp("data") / "btc_short.csv"
    path.write_text("\n".join([lines[0], *lines[-ROWS:]]) + "\n")
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory, short_csv) -> dict[str, Path]:
    """Two trained model folders (seeds 0 and 1), written by the training code itself."""
    root = tmp_path_factory.mktemp("models")
    out = {}
    for version, seed in (("v1", 0), ("v2", 1)):
        recipe = recipe_from_dict({**RECIPE, "seed": seed})
        out[version] = train(recipe, root / version, data=str(short_csv), progress=False, cpu=True)
    return out


def _predict(model: LSTMForecaster, csv: Path) -> np.ndarray:
    return model.predict(load_ohlcv(csv)).to_numpy()


def _cli(*args: str, token: str | None) -> subprocess.CompletedProcess:
    """Run `lstm-forecaster ARGS` like a user: HF_ENDPOINT and HF_TOKEN (or none) in the environment.

    Every run also checks that the token never appears in what the command prints.
    """
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    if token is not None:
        env["HF_TOKEN"] = token
    exe = Path(sys.executable).with_name("lstm-forecaster")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "lstm_forecaster.cli"]
    result = subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    if token:
        assert token not in result.stdout and token not in result.stderr
    return result


def _main(capsys, *args: str) -> subprocess.CompletedProcess:
    """`cli.main(ARGS)` in this process (same code, no interpreter start-up): for the error matrix."""
    from lstm_forecaster.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


def _one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# ----- push, load, tags -------------------------------------------------------------------------------


def test_push_then_from_pretrained_is_bit_identical(hub_env, models, short_csv):
    repo_id = f"alice/{_name('btc')}"
    result = push_folder(models["v1"], repo_id, tag="v1.0")
    assert result.changed and result.tag == "v1.0" and len(result.oid) == 40

    api = HfApi()
    commits = api.list_repo_commits(repo_id)
    assert commits[0].commit_id == result.oid and commits[0].title == result.commit_message
    assert result.commit_message.startswith("tiny-quantile: test MASE ")
    assert "vs naive last value" in result.commit_message and "data 2023-06-06 to 2024-03-31" in result.commit_message

    # One commit holding the whole folder; the files other than the card are byte for byte the folder's.
    local = {p.name for p in models["v1"].iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "scaler.json",
        "README.md",
        "training_args.json",
        "metrics.json",
    } <= local
    assert set(api.list_repo_files(repo_id)) == local | {".gitattributes"}
    assert len(commits) == 2  # the repo's initial commit, then the push
    for name in local - {"README.md"}:
        assert Path(hf_hub_download(repo_id, name)).read_bytes() == (models["v1"] / name).read_bytes()

    loaded = LSTMForecaster.from_pretrained(repo_id)
    assert not loaded.training
    np.testing.assert_array_equal(
        _predict(loaded, short_csv), _predict(LSTMForecaster.from_pretrained(str(models["v1"])), short_csv)
    )
    for name, tensor in LSTMForecaster.from_pretrained(str(models["v1"])).state_dict().items():
        assert loaded.state_dict()[name].equal(tensor), name


def test_model_card_on_the_hub(hub_env, models, short_csv, capsys):
    repo_id = f"alice/{_name('card')}"
    push_folder(models["v1"], repo_id, tag="v1.0")
    readme = hf_hub_download(repo_id, "README.md", revision="v1.0")
    meta = metadata_load(readme)
    assert meta["library_name"] == "lstm-forecaster"
    assert meta["pipeline_tag"] == "time-series-forecasting"
    assert meta["license"] == "mit"
    assert {"time-series", "forecasting", "lstm"} <= set(meta["tags"])
    assert "datasets" not in meta  # a local CSV, not a Hub dataset

    card = ModelCard.load(readme)
    card.validate()  # the server's /api/validate-yaml, as on the Hub
    report = held_out_report(json.loads((models["v1"] / "metrics.json").read_text()))
    results = {(r.metric_type, r.metric_config): r.metric_value for r in card.data.eval_results}
    assert card.data.model_name == repo_id
    assert results[("mae", None)] == report["models"]["model"]["mae"]
    assert results[("mase", None)] == report["models"]["model"]["mase"]
    assert results[("mae", "naive_last")] == report["models"]["naive_last"]["mae"]
    assert results[("rmse", "naive_last")] == report["models"]["naive_last"]["rmse"]
    assert {r.dataset_split for r in card.data.eval_results} == {"test"}

    text = card.content
    for expected in (
        "2 days ahead",
        "`log_return`",
        "`volatility_14`",
        "| test | 2024-02-16 | 2024-03-31 |",
        "| naive_last |",
        "![forecast vs actual on the held-out split](forecast.png)",
        "not financial advice",
        "no news",
        "| tag | `v1.0` |",
        f"| lstm-forecaster version | {__version__} |",
        json.loads((models["v1"] / "training_args.json").read_text())["data"]["sha256"],
    ):
        assert expected in text, expected

    # The snippet in the card runs as written and loads this repo at this tag.
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert f'LSTMForecaster.from_pretrained("{repo_id}", revision="v1.0")' in snippet
    exec(compile(snippet, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    expected = LSTMForecaster.from_pretrained(str(models["v1"])).predict(load_ohlcv(sample_path()))
    assert str(expected) in printed


def test_tags_keep_their_version_after_newer_pushes(hub_env, models, short_csv, tmp_path):
    repo_id = f"alice/{_name('versions')}"
    first = push_folder(models["v1"], repo_id, tag="v1.0")
    second = push_folder(models["v2"], repo_id)
    assert second.changed and second.oid != first.oid

    v1 = _predict(LSTMForecaster.from_pretrained(str(models["v1"])), short_csv)
    v2 = _predict(LSTMForecaster.from_pretrained(str(models["v2"])), short_csv)
    assert not np.array_equal(v1, v2)
    np.testing.assert_array_equal(_predict(LSTMForecaster.from_pretrained(repo_id, revision="v1.0"), short_csv), v1)
    np.testing.assert_array_equal(_predict(LSTMForecaster.from_pretrained(repo_id), short_csv), v2)
    np.testing.assert_array_equal(_predict(LSTMForecaster.from_pretrained(repo_id, revision=first.oid), short_csv), v1)

    rows = versions(repo_id)
    assert [row.commit for row in rows[:2]] == [second.oid, first.oid]
    assert rows[0].branches == ["main"] and rows[1].tags == ["v1.0"]
    for row, folder in ((rows[0], models["v2"]), (rows[1], models["v1"])):
        report = held_out_report(json.loads((folder / "metrics.json").read_text()))
        assert row.metrics["model_mae"] == report["models"]["model"]["mae"]
        assert row.metrics["model_mase"] == report["models"]["model"]["mase"]
        assert row.metrics["naive_mae"] == report["models"]["naive_last"]["mae"]
    assert rows[-1].metrics is None  # the repo's initial commit has no metrics.json

    result = _cli("versions", repo_id, token=hub_env.tokens["alice"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["commit", "date"]
    assert lines[1].startswith(second.oid[:8]) and "main" in lines[1]
    assert lines[2].startswith(first.oid[:8]) and "tag:v1.0" in lines[2]
    naive_mae = held_out_report(json.loads((models["v1"] / "metrics.json").read_text()))["models"]["naive_last"]["mae"]
    assert f"{naive_mae:,.2f}" in lines[2]


def test_unchanged_push_makes_no_commit(hub_env, models):
    repo_id = f"alice/{_name('same')}"
    first = push_folder(models["v1"], repo_id, tag="v1.0")
    count = len(HfApi().list_repo_commits(repo_id))
    again = push_folder(models["v1"], repo_id)
    assert not again.changed and again.oid == first.oid
    result = _cli("push", str(models["v1"]), "--repo-id", repo_id, token=hub_env.tokens["alice"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no changes:")
    assert len(HfApi().list_repo_commits(repo_id)) == count


def test_existing_tag_is_an_error_unless_moved(hub_env, models):
    repo_id = f"alice/{_name('tag')}"
    first = push_folder(models["v1"], repo_id, tag="v1.0")
    line = _one_error_line(
        _cli("push", str(models["v2"]), "--repo-id", repo_id, "--tag", "v1.0", token=hub_env.tokens["alice"])
    )
    assert "tag 'v1.0' already exists" in line and "--move-tag" in line
    api = HfApi()
    assert len(api.list_repo_commits(repo_id)) == 2  # refused before pushing anything
    moved = push_folder(models["v2"], repo_id, tag="v1.0", move_tag=True)
    tags = {ref.name: ref.target_commit for ref in api.list_repo_refs(repo_id).tags}
    assert tags == {"v1.0": moved.oid} and moved.oid != first.oid


def test_branch_and_pull_request(hub_env, models):
    repo_id = f"alice/{_name('branch')}"
    main = push_folder(models["v1"], repo_id)
    dev = push_folder(models["v2"], repo_id, branch="dev", message="try seed 1")
    assert dev.branch == "dev" and dev.commit_message == "try seed 1"
    api = HfApi()
    assert api.repo_info(repo_id).sha == main.oid and api.repo_info(repo_id, revision="dev").sha == dev.oid
    pr = push_folder(models["v2"], repo_id, create_pr=True)
    assert pr.pr_url and pr.pr_url.endswith("/discussions/1")
    assert api.repo_info(repo_id).sha == main.oid
    with pytest.raises(ValueError, match="after the pull request is merged"):
        push_folder(models["v2"], repo_id, create_pr=True, tag="v2.0")


# ----- access, errors, safety ------------------------------------------------------------------------


def test_private_repo_refuses_other_and_wrong_tokens(hub_env, models, monkeypatch, tmp_path, short_csv, capsys):
    repo_id = f"alice/{_name('private')}"
    push_folder(models["v1"], repo_id, private=True)
    assert HfApi().model_info(repo_id).private is True
    expected = _predict(LSTMForecaster.from_pretrained(str(models["v1"])), short_csv)
    np.testing.assert_array_equal(_predict(LSTMForecaster.from_pretrained(repo_id), short_csv), expected)

    # Other users, each with an empty cache (a cached copy would otherwise be served).
    point_clients_at(monkeypatch, hub_env.url, hub_env.tokens["bob"], tmp_path / "bob")
    with pytest.raises(RepositoryNotFoundError):
        LSTMForecaster.from_pretrained(repo_id)
    point_clients_at(monkeypatch, hub_env.url, "hf_wrong_token", tmp_path / "wrong")
    with pytest.raises(HfHubHTTPError) as exc:
        LSTMForecaster.from_pretrained(repo_id)
    assert exc.value.response.status_code == 401

    result = _cli("predict", "--model", repo_id, "--data", str(short_csv), token="hf_wrong_token")
    assert "refused the token" in _one_error_line(result)
    for user, token in (("bob", hub_env.tokens["bob"]), ("anonymous", None)):
        point_clients_at(monkeypatch, hub_env.url, token, tmp_path / user)
        line = _one_error_line(_main(capsys, "predict", "--model", repo_id, "--data", str(short_csv)))
        assert f"model repository {repo_id} not found" in line and "private" in line


def test_missing_repo_revision_and_token_are_one_line_errors(hub_env, models, short_csv, monkeypatch, capsys):
    repo_id = f"alice/{_name('errors')}"
    push_folder(models["v1"], repo_id)
    missing = f"alice/{_name('nope')}"

    # As a user runs it: a separate process, only HF_ENDPOINT and HF_TOKEN set.
    line = _one_error_line(
        _cli(
            "predict", "--model", repo_id, "--revision", "v9.9", "--data", str(short_csv), token=hub_env.tokens["alice"]
        )
    )
    assert line == (
        f"error: revision 'v9.9' not found in model repository {repo_id}: give an existing tag, branch or commit "
        f"(`lstm-forecaster versions {repo_id}` lists them)"
    )
    # The rest of the matrix through the same `main`, in this process.
    line = _one_error_line(_main(capsys, "predict", "--model", missing, "--data", str(short_csv)))
    assert (
        line
        == f"error: model repository {missing} not found on the Hub (or it is private and the token cannot read it)"
    )
    assert "not found on the Hub" in _one_error_line(_main(capsys, "versions", missing))
    line = _one_error_line(
        _main(capsys, "deploy-space", "--space-id", "alice/s", "--model-id", repo_id, "--revision", "v7")
    )
    assert "revision 'v7' not found" in line
    for token, message in (
        (None, "no Hugging Face token: set HF_TOKEN or run `hf auth login`"),
        ("hf_wrong_token", "refused the token"),
        (hub_env.tokens["alice_read"], "no write access"),
    ):
        if token is None:
            monkeypatch.delenv("HF_TOKEN")
        else:
            monkeypatch.setenv("HF_TOKEN", token)
        # models["v2"]: a real change, so the push has something to write
        assert message in _one_error_line(_main(capsys, "push", str(models["v2"]), "--repo-id", repo_id))


def test_unreachable_hub_is_a_one_line_error(hub_env, monkeypatch, tmp_path, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    point_clients_at(monkeypatch, closed, hub_env.tokens["alice"], tmp_path / "home")
    line = _one_error_line(_main(capsys, "versions", "alice/anything"))
    assert line.startswith(f"error: cannot reach the Hub at {closed}")


def test_push_refuses_pickles_and_incomplete_folders(hub_env, models, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(models["v1"], folder)
    assert "model.safetensors" in check_model_folder(folder)

    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04\x95")
    with pytest.raises(ValueError, match=r"pickled files \(pytorch_model.bin\)"):
        push_folder(folder, f"alice/{_name('pickle')}", include=["pytorch_model.bin"])
    (folder / "pytorch_model.bin").unlink()
    (folder / "extra.json").write_bytes(b"\x80\x04\x95 a pickle whatever its name")
    with pytest.raises(ValueError, match=r"pickled files \(extra.json\)"):
        check_model_folder(folder, include=["extra.json"])
    (folder / "extra.json").unlink()
    # A safetensors header length of 640 bytes starts with the bytes of a pickle opcode: not a pickle.
    (folder / "extra.safetensors").write_bytes((640).to_bytes(8, "little") + b"{}")
    assert not is_pickle(folder / "extra.safetensors") and is_pickle(Path("weights.pt"))  # by name
    (folder / "extra.safetensors").unlink()
    (folder / "metrics.json").unlink()
    line = _one_error_line(_main(capsys, "push", str(folder), "--repo-id", f"alice/{_name('x')}"))
    assert "not a complete model folder: missing metrics.json" in line


def test_loading_refuses_pickled_weights_and_scaler(hub_env, models, tmp_path):
    api = HfApi()
    for name, keep, message in (
        ("weights", {"config.json", "scaler.json"}, "pytorch_model.bin, a pickle"),
        ("scaler", {"config.json", "model.safetensors"}, "scaler.pkl, a pickle"),
    ):
        repo_id = f"alice/{_name(name)}"
        folder = tmp_path / name
        folder.mkdir()
        for file in keep:
            shutil.copy(models["v1"] / file, folder / file)
        pickled = "pytorch_model.bin" if name == "weights" else "scaler.pkl"
        (folder / pickled).write_bytes(b"\x80\x04\x95\x00")  # never unpickled: refused by name
        api.create_repo(repo_id)
        api.upload_folder(repo_id=repo_id, folder_path=folder)
        with pytest.raises(ValueError, match=message):
            LSTMForecaster.from_pretrained(repo_id)


def test_token_never_appears_in_output_or_files(hub_env, models, tmp_path):
    token = hub_env.tokens["alice"]
    repo_id = f"alice/{_name('secret')}"
    # `_cli` checks stdout and stderr of every run (including the error runs of the other tests).
    assert _cli("push", str(models["v1"]), "--repo-id", repo_id, "--tag", "v1.0", token=token).returncode == 0
    snapshot = Path(snapshot_download(repo_id, cache_dir=tmp_path / "cache"))
    for path in [*snapshot.rglob("*"), *models["v1"].rglob("*")]:
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


# ----- data from the Hub, training that pushes, the Space ---------------------------------------------


def test_hub_dataset_trains_and_is_recorded(hub_env, short_csv, tmp_path):
    api = HfApi()
    dataset_id = f"alice/{_name('btc-daily')}"
    api.create_repo(dataset_id, repo_type="dataset")
    files = tmp_path / "dataset"
    (files / "data").mkdir(parents=True)
    shutil.copy(short_csv, files / "data" / "train.csv")
    api.upload_folder(repo_id=dataset_id, repo_type="dataset", folder_path=files)
    api.create_tag(dataset_id, tag="v1", repo_type="dataset")
    sha = api.dataset_info(dataset_id, revision="v1").sha

    df = load_ohlcv(dataset_id, revision="v1")
    pd.testing.assert_frame_equal(df, load_ohlcv(short_csv))
    assert df.attrs["hub_dataset"] == {"id": dataset_id, "revision": "v1", "sha": sha, "split": "train"}

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    model_id = f"alice/{_name('from-dataset')}"
    token = hub_env.tokens["alice"]
    result = _cli(
        "train", "--config", str(recipe), "--output", str(tmp_path / "run"), "--data", dataset_id,
        "--data-revision", "v1", "--push-to-hub", model_id, "--tag", "v1.0", token=token,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"pushed {model_id}@main" in result.stdout and "as v1.0" in result.stdout

    args = json.loads((tmp_path / "run" / "training_args.json").read_text())
    assert args["data"]["hub_dataset"] == {"id": dataset_id, "revision": "v1", "sha": sha, "split": "train"}
    card = ModelCard.load(hf_hub_download(model_id, "README.md", revision="v1.0"))
    assert card.data.datasets == [dataset_id]
    assert {(r.dataset_type, r.dataset_revision) for r in card.data.eval_results} == {(dataset_id, sha)}
    assert f'load_ohlcv("{dataset_id}", revision="v1")' in card.content
    assert f"Hub dataset `{dataset_id}` at commit `{sha}`" in card.content


def test_train_push_fails_before_training_without_a_token(hub_env, tmp_path, monkeypatch, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    monkeypatch.delenv("HF_TOKEN")
    result = _main(
        capsys, "train", "--config", str(recipe), "--output", str(tmp_path / "run"), "--push-to-hub", "alice/x"
    )
    assert "no Hugging Face token" in _one_error_line(result)
    assert not (tmp_path / "run").exists()


def test_deploy_space_uploads_the_app_configured_for_the_model(hub_env, models, tmp_path):
    model_id = f"alice/{_name('served')}"
    push_folder(models["v1"], model_id, tag="v1.0")
    space_id = f"alice/{_name('demo')}"
    token = hub_env.tokens["alice"]
    result = _cli("deploy-space", "--space-id", space_id, "--model-id", model_id, "--revision", "v1.0", token=token)
    assert result.returncode == 0, result.stderr
    assert f"deployed {space_id} serving {model_id}@v1.0" in result.stdout

    api = HfApi()
    assert api.space_info(space_id).sdk == "gradio"
    snapshot = Path(snapshot_download(space_id, repo_type="space", cache_dir=tmp_path / "cache"))
    files = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()}
    space = ROOT / "space"
    for name in ("app.py", "requirements.txt"):
        assert (snapshot / name).read_bytes() == (space / name).read_bytes()
    assert json.loads((snapshot / "space_config.json").read_text()) == {"MODEL_ID": model_id, "MODEL_REVISION": "v1.0"}
    readme = metadata_load(snapshot / "README.md")
    assert readme["sdk"] == "gradio" and readme["app_file"] == "app.py" and readme["models"] == [model_id]
    package = ROOT / "src" / "lstm_forecaster"
    sources = {f"lstm_forecaster/{p.relative_to(package).as_posix()}" for p in package.rglob("*.py")}
    assert sources <= files and "lstm_forecaster/model_card.md" in files
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in files)

    # The uploaded package imports from the Space's root, without the installed one.
    probe = subprocess.run(
        [sys.executable, "-c", "import lstm_forecaster, sys; print(lstm_forecaster.__file__)"],
        capture_output=True, text=True, cwd=snapshot, timeout=60, check=True,
        env={**os.environ, "PYTHONPATH": str(snapshot)},
    )  # fmt: skip
    assert Path(probe.stdout.strip()).parent == snapshot / "lstm_forecaster"

    again = deploy_space(space_id, model_id, "v1.0")
    assert not again.changed


def test_card_renders_from_a_folder_and_from_its_parts(models):
    folder = models["v1"]
    parts = {
        "config": json.loads((folder / "config.json").read_text()),
        "training_args": json.loads((folder / "training_args.json").read_text()),
        "metrics": json.loads((folder / "metrics.json").read_text()),
        "plots": ["forecast.png", "forecast_step2.png", "percent_change.png"],  # horizon 2: step 2 plotted too
    }
    from_parts = render_model_card(parts, repo_id="alice/m", revision="v3")
    assert from_parts == render_model_card(folder, repo_id="alice/m", revision="v3")
    context = parts["config"]["context_length"]  # the short-gap rule of `predict` (data.max_missing_steps)
    missing = max(1, context // 10)
    assert f"Those rows may miss at most {missing} step{'s' if missing != 1 else ''} in all" in from_parts
    assert "`short_gap` warning naming the missing dates" in from_parts
    # The folder's own card is the one training wrote through the same renderer.
    assert ModelCard.load(folder / "README.md").data.library_name == "lstm-forecaster"
    with pytest.raises(ValueError, match="no config.json"):
        render_model_card(folder.parent / "missing")


# ----- hostile folders: only the allow-list is published, symlinks never followed -------------------


def _remote_files(repo_id: str, repo_type: str = "model") -> set[str]:
    from huggingface_hub.hf_api import RepoFile

    tree = HfApi().list_repo_tree(repo_id, repo_type=repo_type, recursive=True)
    return {f.path for f in tree if isinstance(f, RepoFile)}


def _everything_uploaded(repo_id: str, tmp_path: Path, repo_type: str = "model") -> bytes:
    snapshot = Path(snapshot_download(repo_id, repo_type=repo_type, cache_dir=tmp_path / f"cache-{repo_id[-8:]}"))
    return b"".join(p.read_bytes() for p in sorted(snapshot.rglob("*")) if p.is_file())


def test_push_never_uploads_a_symlinked_secret_or_a_stray_env(hub_env, models, tmp_path):
    secret = tmp_path / "secrets.txt"
    secret.write_text("AWS_SECRET=the-secret-behind-a-link\n")
    folder = tmp_path / "runs" / "x"
    shutil.copytree(models["v1"], folder)
    (folder / "notes.txt").symlink_to(secret)
    (folder / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    (folder / ".env").write_text("HF_TOKEN=hf_a_stray_env_file\n")
    (folder / "scratch.ipynb").write_text("{}")
    shutil.copy(folder / "forecast.png", folder / "private_chart.png")
    repo_id = f"alice/{_name('hostile')}"
    result = push_folder(folder, repo_id)
    skipped = dict(result.skipped)
    assert skipped["notes.txt"] == "symlink, never followed" and skipped["linked_dir/"] == "symlink, never followed"
    assert skipped[".env"] == "hidden file" and "allow-list" in skipped["scratch.ipynb"]
    assert _remote_files(repo_id) - {".gitattributes"} == set(check_model_folder(folder))
    uploaded = _everything_uploaded(repo_id, tmp_path)
    assert b"the-secret-behind-a-link" not in uploaded and b"hf_a_stray_env_file" not in uploaded
    # The command line says what it skipped.
    token = hub_env.tokens["alice"]
    out = _cli("push", str(folder), "--repo-id", repo_id, "--tag", "v2", token=token)
    assert out.returncode == 0, out.stderr
    assert "private_chart.png" not in hf_hub_download(repo_id, "README.md", revision="v2", cache_dir=tmp_path / "c")
    assert "skipped 5 not uploaded: " in out.stdout and "notes.txt" in out.stdout and ".env (hidden file)" in out.stdout


def test_include_pushes_named_files_and_refuses_links_and_pickles(hub_env, models, tmp_path, capsys):
    import gzip
    import pickle

    folder = tmp_path / "model"
    shutil.copytree(models["v1"], folder)
    (folder / "notes.md").write_text("how I trained it\n")
    (folder / "extra").mkdir()
    (folder / "extra" / "a.csv").write_text("x\n1\n")
    repo_id = f"alice/{_name('include')}"
    token = hub_env.tokens["alice"]
    result = _cli(
        "push", str(folder), "--repo-id", repo_id, "--include", "notes.md", "--include", "extra/*.csv", token=token
    )
    assert result.returncode == 0, result.stderr
    assert {"notes.md", "extra/a.csv"} <= _remote_files(repo_id)

    line = _one_error_line(_main(capsys, "push", str(folder), "--repo-id", repo_id, "--include", "missing.txt"))
    assert "--include missing.txt matches no file" in line
    (folder / "link.md").symlink_to(folder / "notes.md")
    line = _one_error_line(_main(capsys, "push", str(folder), "--repo-id", repo_id, "--include", "link.md"))
    assert "a symlink" in line
    (folder / "link.md").unlink()
    line = _one_error_line(_main(capsys, "push", str(folder), "--repo-id", repo_id, "--include", "../secrets.txt"))
    assert "inside the folder" in line
    # Pickles by content: protocol 0 (no magic byte) under a harmless name, and gzip-compressed.
    (folder / "table.txt").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=0))
    with pytest.raises(ValueError, match=r"pickled files \(table.txt\)"):
        push_folder(folder, repo_id, include=["table.txt"])
    (folder / "table.txt").unlink()
    (folder / "model.pkl.gz").write_bytes(gzip.compress(pickle.dumps([1, 2, 3], protocol=1)))
    (folder / "data.gz").write_bytes(gzip.compress(pickle.dumps([1, 2, 3], protocol=0)))
    for name in ("model.pkl.gz", "data.gz"):
        with pytest.raises(ValueError, match=rf"pickled files \({name}\)"):
            push_folder(folder, repo_id, include=[name])


def test_deploy_space_stages_only_its_allow_list(hub_env, models, tmp_path):
    space = tmp_path / "space"
    shutil.copytree(ROOT / "space", space)
    secret = tmp_path / "secret.txt"
    secret.write_text("a-secret-behind-a-space-link\n")
    (space / "notes.txt").symlink_to(secret)
    (space / ".env").write_text("HF_TOKEN=hf_space_env_file\n")
    (space / "weights.bin").write_bytes(b"binary")
    model_id = f"alice/{_name('served')}"
    push_folder(models["v1"], model_id)
    space_id = f"alice/{_name('demo')}"
    result = deploy_space(space_id, model_id, space_dir=space)
    skipped = dict(result.skipped)
    assert skipped == {
        "space/.env": "hidden file",
        "space/notes.txt": "symlink, never followed",
        "space/weights.bin": "not in the allow-list; add it with --include",
    }
    files = _remote_files(space_id, "space")
    assert "app.py" in files and not {"notes.txt", ".env", "weights.bin"} & files
    assert {"lstm_forecaster/data/BTC-USD.csv", "lstm_forecaster/data/panel.parquet"} <= files  # the embedded data
    uploaded = _everything_uploaded(space_id, tmp_path, "space")
    assert b"a-secret-behind-a-space-link" not in uploaded and b"hf_space_env_file" not in uploaded
    (space / "prices.parquet").write_bytes(b"PAR1 not really")
    again = deploy_space(space_id, model_id, space_dir=space, include=["prices.parquet"])
    assert again.changed and "prices.parquet" in _remote_files(space_id, "space")
    with pytest.raises(ValueError, match=r"pickled files \(weights.bin\)"):  # .bin: a torch pickle's name
        deploy_space(space_id, model_id, space_dir=space, include=["weights.bin"])


def test_unreachable_hub_fails_at_once_or_loads_from_the_cache(hub_env, models, monkeypatch, tmp_path, capsys):
    repo_id = f"alice/{_name('cached')}"
    push_folder(models["v1"], repo_id)
    cached = LSTMForecaster.from_pretrained(repo_id)  # now in hub_env's cache
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    point_clients_at(monkeypatch, closed, hub_env.tokens["alice"], hub_env.hf_home)

    def no_retries(seconds):
        raise AssertionError(f"huggingface_hub retried (sleep {seconds}s) instead of failing at once")

    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", no_retries)
    offline = LSTMForecaster.from_pretrained(repo_id)  # from the cache, without a retry
    assert all(torch.equal(offline.state_dict()[k], v) for k, v in cached.state_dict().items())
    for args in (
        ("predict", "--model", "alice/not-cached", "--data", str(sample_path())),
        ("push", str(models["v1"]), "--repo-id", repo_id),
        ("deploy-space", "--space-id", "alice/space", "--model-id", repo_id),
        ("versions", repo_id),
    ):
        line = _one_error_line(_main(capsys, *args))
        assert line.startswith(f"error: cannot reach the Hub at {closed}"), (args, line)
    with pytest.raises(ValueError, match=rf"cannot reach the Hub at {closed} \(ConnectionRefusedError"):
        load_ohlcv("alice/some-dataset")
