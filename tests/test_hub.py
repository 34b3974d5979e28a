"""Publishing versions on a Hub and reading them back, with the real huggingface_hub and datasets clients.

No machine here reaches the real Hub, so each test starts the local Hub-compatible server of
tests/hub_server.py on 127.0.0.1 and points the clients at it (HF_ENDPOINT, LFS uploads with
HF_HUB_DISABLE_XET=1, an HF_HOME in tmp_path).

Environment, and why it is done this way: huggingface_hub reads HF_ENDPOINT, HF_HUB_OFFLINE,
HF_HUB_DISABLE_XET, HF_HOME… into module constants when it is first imported, which in a pytest
run happens before any fixture (conftest even sets HF_HUB_OFFLINE=1). The fixture sets the
environment with monkeypatch and then re-derives *every* constant by executing a fresh copy of
``huggingface_hub/constants.py`` under that environment, patching the values that differ (and
the few modules that copied one at import), all undone after the test. No hand-kept list of
constants to go stale. ``datasets`` keeps many more import-time settings and caches, so
``load_dataset`` runs the way a user runs it: in a fresh interpreter with that environment.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from huggingface_hub import HfApi

from curation import hub
from curation.errors import CurationError
from hub_fixtures import (
    TRAIN_FILE,
    snapshot,
    stackexchange_rows,
    synthetic_rows,
    write_version,
)
from hub_server import HubServer, validate_card_metadata

COFFEE = "stackexchange/coffee.stackexchange.com/Posts.xml"

# huggingface_hub's own LFS PUT passes a file as `data=`, which httpx2 deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")


@dataclass
class LocalHub:
    server: HubServer
    token: str
    home: Path
    log: io.StringIO

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self):
        return self.server.state


def _refresh_hub_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make huggingface_hub see the current environment, as if it had been imported now."""
    import huggingface_hub.constants as live

    spec = importlib.util.spec_from_file_location("_curation_test_hf_constants", live.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    changed = {name: (getattr(live, name), value) for name, value in vars(fresh).items()
               if name.isupper() and getattr(live, name, object()) != value}
    for name, (_, value) in changed.items():
        monkeypatch.setattr(live, name, value)
    # Modules that did `from ..constants import X` hold their own copy.
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("huggingface_hub.") and module is not live and module is not None:
            for name, (old, value) in changed.items():
                if getattr(module, name, object()) is old:
                    monkeypatch.setattr(module, name, value)


@pytest.fixture
def local_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh local Hub with users alice (write + read-only tokens, org lima-org) and bob."""
    token = f"hf_{secrets.token_hex(16)}"
    server = HubServer(
        tokens={token: ("alice", "write"), "hf_readonly_alice_token": ("alice", "read"),
                "hf_bob_write_token": ("bob", "write")},
        orgs={"alice": ["lima-org"]},
    ).start()
    home = tmp_path / "hf-home"
    env = {
        "HF_ENDPOINT": server.url, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
        "HF_HOME": str(home), "HF_TOKEN": token, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DEBUG": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    for key in ("HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_DATASETS_CACHE", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _refresh_hub_constants(monkeypatch)
    # Everything huggingface_hub and curation log, at debug level, kept for the token checks.
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    for name in ("huggingface_hub", "curation"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "level", logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield LocalHub(server, token, home, log)
    finally:
        for name in ("huggingface_hub", "curation"):
            logging.getLogger(name).removeHandler(handler)
        from huggingface_hub.utils import close_session

        close_session()
        server.stop()


@pytest.fixture
def no_backoff_wait(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Skip huggingface_hub's retry sleeps (1 s, 2 s, 4 s…) and record them instead."""
    import huggingface_hub.utils._http as hf_http

    waits: list[float] = []
    monkeypatch.setattr(hf_http, "time", SimpleNamespace(sleep=waits.append))
    return waits


def load_with_datasets(repo_id: str, revisions: list[str], out: Path,
                       transcript: list[str] | None = None) -> dict[str, pl.DataFrame]:
    """``datasets.load_dataset(repo_id, revision=…)`` in a fresh interpreter, each split saved as parquet.

    The interpreter's stdout and stderr are appended to ``transcript`` when one is given.
    """
    code = (
        "import sys, datasets\n"
        "repo, out = sys.argv[1], sys.argv[2]\n"
        "for rev in sys.argv[3:]:\n"
        "    datasets.load_dataset(repo, revision=rev, split='train').to_parquet(f'{out}/{rev}.parquet')\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", code, repo_id, str(out), *revisions],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    if transcript is not None:
        transcript += [done.stdout, done.stderr]
    return {rev: pl.read_parquet(out / f"{rev}.parquet") for rev in revisions}


def rows_of(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / TRAIN_FILE)


def lfs_puts(local_hub: LocalHub, note: str | None = None) -> int:
    return local_hub.state.count("PUT", "/lfs/objects/", note)


# --------------------------------------------------------------------------- publish and read back


@pytest.fixture(params=["synthetic", "stackexchange"])
def two_versions(request, tmp_path: Path) -> tuple[Path, Path]:
    """v1 and v2 of one dataset with different rows: generated, or real coffee.stackexchange pairs."""
    if request.param == "synthetic":
        first, second = synthetic_rows(25, tag="first"), synthetic_rows(40, tag="second")
    else:
        posts = request.getfixturevalue("shared_data") / COFFEE
        first = stackexchange_rows(posts, site="coffee.stackexchange.com", limit=30)
        second = stackexchange_rows(posts, site="coffee.stackexchange.com", limit=45, skip=20)
    root = tmp_path / "datasets"
    # v1 has a figure v2 no longer has: v2's tagged tree must not keep it.
    return (write_version(root, first, name="coffee-lima", version="v1", figures=("length", "score")),
            write_version(root, second, name="coffee-lima", version="v2"))


def test_two_versions_pushed_tagged_and_loaded_back_by_tag(local_hub, two_versions, tmp_path):
    v1, v2 = two_versions
    before = {v1: snapshot(v1), v2: snapshot(v2)}

    first = hub.push(v1, "alice/coffee-lima")
    second = hub.push(v2, "alice/coffee-lima")

    assert (first.tag, second.tag, first.noop, second.noop) == ("v1", "v2", False, False)
    assert first.repo_url == f"{local_hub.url}/datasets/alice/coffee-lima"
    repo = local_hub.state.repo("alice/coffee-lima")
    assert repo.tags == {"v1": first.commit_sha, "v2": second.commit_sha}
    assert repo.branches["main"] == second.commit_sha
    # One commit per version, on top of the repo's initial commit, each naming version and recipe hash.
    history = repo.history(second.commit_sha)
    assert [c.sha for c in history[:2]] == [second.commit_sha, first.commit_sha] and len(history) == 3
    for commit, folder in ((history[0], v2), (history[1], v1)):
        manifest = json.loads((folder / "curation.json").read_text())
        assert manifest["version"] in commit.title and manifest["recipe_hash"] in commit.title
        assert manifest["content_hash"] in commit.message
        assert set(commit.files) == set(snapshot(folder)) | {".gitattributes"}
        # Parquet and PNG went through the LFS path; card and manifest are regular git files.
        assert commit.files[TRAIN_FILE].lfs_oid and commit.files["figures/length.png"].lfs_oid
        assert commit.files["README.md"].data is not None and commit.files["curation.json"].data is not None
    # Two parquet files and two figures: v2's length.png is the same object as v1's, so it is not re-sent.
    assert lfs_puts(local_hub, "stored") == 4
    assert "figures/score.png" in repo.commits[first.commit_sha].files

    # datasets.load_dataset("alice/coffee-lima", revision=tag) gives exactly the rows built, row for row.
    loaded = load_with_datasets("alice/coffee-lima", ["v1", "v2"], tmp_path / "loaded")
    for tag, folder in (("v1", v1), ("v2", v2)):
        expected = rows_of(folder)
        assert loaded[tag].schema == expected.schema
        assert loaded[tag].equals(expected), f"{tag} rows differ"
    assert not loaded["v1"].equals(loaded["v2"])

    # pull restores each version byte for byte (manifest included), so the content hash is the same.
    for tag, folder in (("v1", v1), ("v2", v2)):
        pulled = hub.pull("alice/coffee-lima", tag, tmp_path / "pulled" / tag)
        assert snapshot(pulled) == before[folder]
        assert hub.verify_version(pulled)["content_hash"] == json.loads((folder / "curation.json").read_text())["content_hash"]
    assert sorted(p.name for p in (tmp_path / "pulled").iterdir()) == ["v1", "v2"]  # no staging leftovers
    assert {v1: snapshot(v1), v2: snapshot(v2)} == before


def test_repushing_an_identical_version_is_a_noop(local_hub, tmp_path):
    rows = synthetic_rows(12, tag="same")
    original = write_version(tmp_path / "a", rows, name="demo", version="v1")
    rebuilt = write_version(tmp_path / "b", rows, name="demo", version="v1")  # same recipe, same inputs
    first = hub.push(original, "alice/demo")
    requests_before = len(local_hub.state.requests)

    again = hub.push(rebuilt, "alice/demo")

    assert again.noop and again.commit_sha == first.commit_sha and again.tag == "v1"
    sent = local_hub.state.requests[requests_before:]
    assert not [r for r in sent if r.method == "PUT" or "/commit/" in r.path or "/tag/" in r.path]
    assert len(local_hub.state.repo("alice/demo").commits) == 2


def test_different_content_under_an_existing_tag_is_refused(local_hub, tmp_path):
    published = write_version(tmp_path / "a", synthetic_rows(10, tag="one"), name="demo", version="v1")
    impostor = write_version(tmp_path / "b", synthetic_rows(11, tag="two"), name="demo", version="v1")
    first = hub.push(published, "alice/demo")
    puts = lfs_puts(local_hub)

    with pytest.raises(CurationError) as caught:
        hub.push(impostor, "alice/demo")

    message = str(caught.value)
    theirs = json.loads((published / "curation.json").read_text())["content_hash"]
    ours = json.loads((impostor / "curation.json").read_text())["content_hash"]
    assert "\n" not in message and "tag v1 already exists on alice/demo" in message
    assert theirs in message and ours in message and str(impostor / "curation.json") in message
    repo = local_hub.state.repo("alice/demo")
    assert repo.tags == {"v1": first.commit_sha} and repo.branches["main"] == first.commit_sha
    assert lfs_puts(local_hub) == puts


# --------------------------------------------------------------------------- the card


def test_card_metadata_passes_the_hub_validator(local_hub, tmp_path):
    folder = write_version(tmp_path, synthetic_rows(5, tag="card"), name="demo", version="v1")
    errors, warnings = validate_card_metadata((folder / "README.md").read_text(), "dataset")
    assert (errors, warnings) == ([], [])
    hub.push(folder, "alice/demo")
    assert local_hub.state.count("POST", "/api/validate-yaml") == 1
    assert [r.status for r in local_hub.state.requests if r.path == "/api/validate-yaml"] == [200]
    card = HfApi().dataset_info("alice/demo", revision="v1").card_data
    assert card.license == "cc-by-sa-4.0" and card.configs[0]["data_files"][0]["path"] == "data/train-*"


def test_a_card_the_hub_rejects_stops_the_push_before_any_upload(local_hub, tmp_path):
    folder = write_version(
        tmp_path, synthetic_rows(5, tag="bad"), name="demo", version="v1",
        card_metadata={"license": "not-a-license", "size_categories": ["lots"],
                       "configs": [{"data_files": "data/*"}]},
    )
    with pytest.raises(CurationError) as caught:
        hub.push(folder, "alice/demo")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{folder / 'README.md'}: ")
    for reason in ('"license" "not-a-license"', '"size_categories" "lots"', "config_name"):
        assert reason in message
    assert lfs_puts(local_hub) == 0 and local_hub.state.count("POST", "/commit/") == 0
    assert local_hub.state.repo("alice/demo").tags == {}


@pytest.mark.parametrize(
    ("front_matter", "expected"),
    [
        ("license: mit\nsize_categories: [n<1K]\ntask_categories: [text-generation]", None),
        ("license: [cc-by-sa-3.0, cc-by-nc-sa-3.0]\nlanguage: [en, ko]", None),
        ("license: [mit", "Invalid YAML"),
        ("- just\n- a list", "must be a YAML mapping"),
        ("task_categories: [chatting]", '"task_categories" "chatting"'),
        ("language: [English]", '"language" "English"'),
        ("size_categories: n<1K", None),
        ("size_categories: [1K-10K]", '"size_categories" "1K-10K"'),
        ("configs: default", '"configs" must be a non-empty list'),
        ("configs:\n- config_name: a\n  data_files: [{split: train}]", 'with "split" and "path"'),
        ("configs:\n- config_name: a\n- config_name: a", "must be unique"),
        ("configs:\n- {config_name: a, default: true}\n- {config_name: b, default: true}", 'only one config'),
    ],
)
def test_server_yaml_validator_checks_what_the_hub_checks(front_matter, expected):
    errors, _ = validate_card_metadata(f"---\n{front_matter}\n---\n# card\n", "dataset")
    if expected is None:
        assert errors == []
    else:
        assert any(expected in e for e in errors), errors


# --------------------------------------------------------------------------- failures


def test_a_wrong_token_gives_one_clear_line_and_a_retry_with_the_right_one_succeeds(local_hub, tmp_path, monkeypatch):
    folder = write_version(tmp_path, synthetic_rows(6, tag="auth"), name="demo", version="v1")
    before = snapshot(folder)
    wrong = "hf_" + "0" * 32
    monkeypatch.setenv("HF_TOKEN", wrong)

    with pytest.raises(CurationError) as caught:
        hub.push(folder, "alice/demo")

    message = str(caught.value)
    assert "\n" not in message and "authentication failed" in message and "HTTP 401" in message
    assert "HF_TOKEN" in message and local_hub.url in message
    assert wrong not in message and local_hub.token not in message
    assert snapshot(folder) == before and local_hub.state.repos == {}

    with pytest.raises(CurationError, match="the token passed in"):
        hub.push(folder, "alice/demo", token="hf_also_wrong")

    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    assert not hub.push(folder, "alice/demo").noop


def test_the_token_can_come_from_the_login_cache(local_hub, tmp_path, monkeypatch):
    folder = write_version(tmp_path, synthetic_rows(4, tag="cache"), name="demo", version="v1")
    monkeypatch.delenv("HF_TOKEN")
    cache = local_hub.home / "token"  # where `hf auth login` stores it under HF_HOME
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("hf_stale_cached_token")
    with pytest.raises(CurationError, match="rejected the token from the login cache"):
        hub.push(folder, "alice/demo")
    cache.write_text(local_hub.token)
    assert hub.push(folder, "alice/demo").tag == "v1"


@pytest.mark.parametrize(
    ("token_key", "repo_id", "expected"),
    [
        ("readonly", "alice/demo", "HTTP 403"),
        ("bob", "alice/demo", "HTTP 403"),
        ("none", "alice/demo", "no Hugging Face token"),
    ],
)
def test_push_without_write_rights_is_refused_clearly(local_hub, tmp_path, monkeypatch, token_key, repo_id, expected):
    folder = write_version(tmp_path, synthetic_rows(4, tag="rights"), name="demo", version="v1")
    token = {"readonly": "hf_readonly_alice_token", "bob": "hf_bob_write_token", "none": None}[token_key]
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(CurationError) as caught:
        hub.push(folder, repo_id, token=token)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert local_hub.state.repos == {}


def test_a_connection_dropped_once_during_the_lfs_put_is_retried(local_hub, tmp_path, no_backoff_wait):
    folder = write_version(tmp_path, synthetic_rows(30, tag="drop-once"), name="demo", version="v1")
    local_hub.state.drop_lfs_puts = 1

    result = hub.push(folder, "alice/demo")

    assert not result.noop and local_hub.state.repo("alice/demo").tags == {"v1": result.commit_sha}
    assert lfs_puts(local_hub, "dropped") == 1 and lfs_puts(local_hub, "stored") == 2
    assert no_backoff_wait  # the client backed off and tried again
    pulled = hub.pull("alice/demo", "v1", tmp_path / "pulled")
    assert snapshot(pulled) == snapshot(folder)


def test_a_connection_lost_during_upload_fails_cleanly_and_a_retry_completes(local_hub, tmp_path, no_backoff_wait):
    folder = write_version(tmp_path, synthetic_rows(30, tag="drop-all"), name="demo", version="v1")
    before = snapshot(folder)
    local_hub.state.drop_lfs_puts = 1_000  # every attempt, until the network comes back

    with pytest.raises(CurationError) as caught:
        hub.push(folder, "alice/demo")

    message = str(caught.value)
    assert "\n" not in message and "connection to " + local_hub.url + " failed while sending " in message
    assert "run the same push again" in message and local_hub.token not in message
    assert snapshot(folder) == before
    repo = local_hub.state.repo("alice/demo")
    assert repo.tags == {} and len(repo.commits) == 1  # nothing published

    local_hub.state.drop_lfs_puts = 0
    result = hub.push(folder, "alice/demo")
    assert not result.noop and repo.tags == {"v1": result.commit_sha}
    assert hub.verify_version(hub.pull("alice/demo", "v1", tmp_path / "pulled"))["content_hash"] == \
        json.loads((folder / "curation.json").read_text())["content_hash"]


@pytest.mark.parametrize("commit_landed", [False, True], ids=["before-commit", "after-commit"])
def test_an_interrupted_commit_is_completed_by_a_retry(local_hub, tmp_path, commit_landed):
    folder = write_version(tmp_path, synthetic_rows(20, tag="commit"), name="demo", version="v1")
    before = snapshot(folder)
    local_hub.state.drop_commits = 1
    local_hub.state.drop_commit_after_apply = commit_landed

    with pytest.raises(CurationError, match="connection to .* failed") as caught:
        hub.push(folder, "alice/demo")
    assert "\n" not in str(caught.value) and snapshot(folder) == before
    repo = local_hub.state.repo("alice/demo")
    assert repo.tags == {} and len(repo.commits) == (2 if commit_landed else 1)
    puts = lfs_puts(local_hub)

    result = hub.push(folder, "alice/demo")

    assert lfs_puts(local_hub) == puts  # uploaded objects are not sent again
    assert len(repo.commits) == 2  # and a commit that already landed is tagged, not repeated
    assert repo.tags == {"v1": result.commit_sha} == {"v1": repo.branches["main"]}


# --------------------------------------------------------------------------- pull


def test_pull_refuses_an_existing_folder_an_unknown_revision_and_tampered_data(local_hub, tmp_path):
    folder = write_version(tmp_path / "src", synthetic_rows(8, tag="pull"), name="demo", version="v1")
    hub.push(folder, "alice/demo")

    existing = tmp_path / "out" / "taken"
    existing.mkdir(parents=True)
    with pytest.raises(CurationError, match="already exists"):
        hub.pull("alice/demo", "v1", existing)
    assert list(existing.iterdir()) == []

    with pytest.raises(CurationError, match="revision not found") as caught:
        hub.pull("alice/demo", "v9", tmp_path / "out" / "v9")
    assert "alice/demo@v9" in str(caught.value)

    # Someone commits different rows under the same manifest on a branch: pull must catch it.
    api = HfApi()
    api.create_branch("alice/demo", branch="tampered", revision="v1", repo_type="dataset")
    other = write_version(tmp_path / "other", synthetic_rows(9, tag="evil"), name="demo", version="v1")
    api.upload_file(path_or_fileobj=str(other / TRAIN_FILE), path_in_repo=TRAIN_FILE, repo_id="alice/demo",
                    repo_type="dataset", revision="tampered", commit_message="swap rows")
    with pytest.raises(CurationError) as caught:
        hub.pull("alice/demo", "tampered", tmp_path / "out" / "tampered")
    assert f"alice/demo@tampered/{TRAIN_FILE}" in str(caught.value)
    assert "does not match the manifest" in str(caught.value)
    # Atomic: nothing half-downloaded is left behind.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["taken"]


def test_private_repo_on_a_branch(local_hub, tmp_path, monkeypatch):
    folder = write_version(tmp_path, synthetic_rows(7, tag="private"), name="demo", version="v1")
    local_hub.state.tree_page_size = 2  # listings come back in pages, as they do for big repos
    result = hub.push(folder, "lima-org/demo", private=True, branch="experiments")

    repo = local_hub.state.repo("lima-org/demo")
    assert repo.private and result.branch == "experiments"
    assert repo.branches["experiments"] == result.commit_sha == repo.tags["v1"]
    assert set(repo.commits[repo.branches["main"]].files) == {".gitattributes"}
    assert snapshot(hub.pull("lima-org/demo", "v1", tmp_path / "mine")) == snapshot(folder)
    assert local_hub.state.count("GET", "/tree/", note="more pages") >= 1

    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(CurationError, match="not found .* or it is private"):
        hub.pull("lima-org/demo", "v1", tmp_path / "anonymous")

    public = write_version(tmp_path / "pub", synthetic_rows(3, tag="public"), name="open", version="v1")
    hub.push(public, "alice/open", token=local_hub.token)
    with pytest.raises(CurationError, match="is public"):
        hub.push(public, "alice/open", private=True, token=local_hub.token)


# --------------------------------------------------------------------------- local checks before any network


def _corrupt(folder: Path, how: str) -> None:
    if how == "truncated-parquet":
        data = (folder / TRAIN_FILE).read_bytes()
        (folder / TRAIN_FILE).write_bytes(data[: len(data) // 2])
    elif how == "truncated-manifest":
        text = (folder / "curation.json").read_text()
        (folder / "curation.json").write_text(text[: len(text) // 2])
    elif how == "unlisted-data-file":
        (folder / "data" / "extra-00000-of-00001.parquet").write_bytes((folder / TRAIN_FILE).read_bytes())
    elif how == "no-card":
        (folder / "README.md").unlink()
    elif how == "bad-content-hash":
        manifest = json.loads((folder / "curation.json").read_text())
        manifest["content_hash"] = "sha256:" + "0" * 64
        (folder / "curation.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("how", "names", "expected"),
    [
        ("truncated-parquet", TRAIN_FILE, "does not match the manifest"),
        ("truncated-manifest", "curation.json", "not valid JSON"),
        ("unlisted-data-file", "data/extra-00000-of-00001.parquet", "not listed in the manifest"),
        ("no-card", "v1", "no README.md"),
        ("bad-content-hash", "curation.json", "does not match the files"),
    ],
)
def test_a_broken_version_folder_is_refused_before_contacting_the_hub(local_hub, tmp_path, how, names, expected):
    folder = write_version(tmp_path, synthetic_rows(5, tag="broken"), name="demo", version="v1")
    _corrupt(folder, how)
    with pytest.raises(CurationError) as caught:
        hub.push(folder, "alice/demo")
    message = str(caught.value)
    assert expected in message and names in message and "\n" not in message
    assert local_hub.state.requests == []


@pytest.mark.parametrize("repo_id", ["demo", "alice/", "alice/de mo", "a/b/c", "alice/--x"])
def test_a_malformed_repo_id_is_refused(local_hub, tmp_path, repo_id):
    folder = write_version(tmp_path, synthetic_rows(3, tag="id"), name="demo", version="v1")
    with pytest.raises(CurationError, match="OWNER/NAME"):
        hub.push(folder, repo_id)
    with pytest.raises(CurationError, match="OWNER/NAME"):
        hub.pull(repo_id, "v1", tmp_path / "out")


# --------------------------------------------------------------------------- the token never leaks


def test_the_token_never_appears_in_files_logs_or_errors(local_hub, tmp_path, monkeypatch, capfd, no_backoff_wait):
    root = tmp_path / "datasets"
    v1 = write_version(root, synthetic_rows(10, tag="leak"), name="demo", version="v1")
    clash = write_version(tmp_path / "clash", synthetic_rows(11, tag="clash"), name="demo", version="v1")
    v2 = write_version(root, synthetic_rows(12, tag="leak2"), name="demo", version="v2")
    wrong = "hf_" + "f" * 32
    errors: list[CurationError] = []

    def expect_failure(*args, **kwargs):
        with pytest.raises(CurationError) as caught:
            hub.push(*args, **kwargs)
        errors.append(caught.value)

    hub.push(v1, "alice/demo")
    hub.push(v1, "alice/demo")  # no-op
    expect_failure(clash, "alice/demo")
    expect_failure(v2, "alice/demo", token=wrong)
    local_hub.state.drop_lfs_puts = 1_000
    expect_failure(v2, "alice/demo")
    local_hub.state.drop_lfs_puts = 0
    local_hub.state.drop_commits = 1
    expect_failure(v2, "alice/demo")
    hub.push(v2, "alice/demo")
    hub.pull("alice/demo", "v2", tmp_path / "pulled")
    transcript: list[str] = []
    load_with_datasets("alice/demo", ["v1"], tmp_path / "loaded", transcript)
    monkeypatch.setenv("HF_TOKEN", wrong)
    with pytest.raises(CurationError) as caught:
        hub.pull("alice/demo", "v1", tmp_path / "never")
    errors.append(caught.value)

    assert len(errors) == 5
    captured = capfd.readouterr()
    produced = [
        *(f"{e}|{e!r}|{e.args}|{e.path}|{e.position}" for e in errors),
        local_hub.log.getvalue(), captured.out, captured.err, *transcript,
        *(" ".join(r.path for r in local_hub.state.requests),),
    ]
    assert local_hub.log.getvalue()  # debug logging really was captured
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any(p.name == "curation.json" for p in files)
    for secret in (local_hub.token, wrong):
        for text in produced:
            assert secret not in text
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
        assert secret.encode() not in local_hub.state.all_stored_text()
