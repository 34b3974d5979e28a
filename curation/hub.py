"""Publish a dataset version folder on the Hugging Face Hub as one tagged commit, and pull it back.

A version folder (docs/dataset-format.md) is already laid out like a Hub dataset repo, so
publishing is a single commit of its files on a branch (deleting files an older version had, so
the tagged tree is exactly the version), tagged with the manifest's ``version``. Tags are treated
as immutable: re-pushing the same content is a no-op, different content under an existing tag is
refused. A push never writes to the local folder, so a failed or interrupted push leaves it as it
was, and running it again completes it (LFS objects already uploaded are skipped, a commit that
landed without its tag is found on the branch and tagged).

Pulling pins the revision to a commit, downloads it into a temporary folder beside the target,
checks every data file against the manifest and renames the folder into place.

The token comes from the argument, ``HF_TOKEN`` or the login cache (huggingface_hub's own
resolution); it is only handed to huggingface_hub and is never written, logged, or put in an
error message. Which Hub is used follows huggingface_hub (``HF_ENDPOINT``) unless ``endpoint`` is given.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalTokenNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from curation import __version__
from curation import store
from curation.errors import CurationError

log = logging.getLogger(__name__)

MANIFEST = "curation.json"
CARD = "README.md"
DATA_DIR = "data"
REPO_TYPE = "dataset"

_MANIFEST_KEYS = ("name", "version", "recipe_hash", "content_hash", "files")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
# Exceptions from the HTTP stack that mean "the connection failed", whatever the client library.
_TRANSPORT_MODULES = {"httpx", "httpx2", "httpcore", "requests", "urllib3", "h11", "ssl", "socket"}
_PUSH_AGAIN = "The local version is untouched; run the same push again to complete it."
_CARD_REJECTED = f"the Hub rejected the {CARD} card metadata: "


@dataclass(frozen=True)
class PushResult:
    """Where a version went: the repo, the branch, the tag and the commit it names."""

    repo_id: str
    repo_url: str
    branch: str
    tag: str
    commit_sha: str
    noop: bool  # True when the tag already held this exact content and nothing was sent


# --------------------------------------------------------------------------- version folders


# One definition of the hashes, shared with the store that writes the manifest.
content_hash = store.content_hash
file_sha256 = store.sha256_file


def verify_version(folder: Path, *, shown_as: str | None = None) -> dict:
    """Check a version folder against its manifest and return the manifest.

    Checks the card and manifest exist, the manifest has the keys publishing relies on, every
    data file listed has the recorded hash, no unlisted data file is present, and the content
    hash matches the files. ``shown_as`` replaces the folder in error messages (e.g. ``repo@rev``).
    """
    where = shown_as or str(folder)
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        raise CurationError("not a dataset version folder (missing)", path=where)
    if not manifest_path.is_file():
        raise CurationError(f"no {MANIFEST} manifest: not a dataset version folder", path=where)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        position = f"line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else None
        raise CurationError(f"manifest is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})",
                            path=f"{where}/{MANIFEST}", position=position) from None
    if not isinstance(manifest, dict):
        raise CurationError("manifest must be a JSON object", path=f"{where}/{MANIFEST}")
    missing = [key for key in _MANIFEST_KEYS if key not in manifest]
    if missing:
        raise CurationError(f"manifest lacks {', '.join(missing)}", path=f"{where}/{MANIFEST}")
    files = manifest["files"]
    if not isinstance(files, dict) or not files or not all(
        isinstance(k, str) and isinstance(v, str) and not k.startswith("/") and ".." not in k.split("/")
        for k, v in files.items()
    ):
        raise CurationError('manifest "files" must map relative paths to sha256 hashes', path=f"{where}/{MANIFEST}")
    if not isinstance(manifest["version"], str) or not _TAG.fullmatch(manifest["version"]):
        raise CurationError(f'manifest "version" {manifest["version"]!r} is not a valid tag name (e.g. v1)',
                            path=f"{where}/{MANIFEST}")
    if not (folder / CARD).is_file():
        raise CurationError(f"no {CARD} dataset card", path=where)

    for relative, expected in sorted(files.items()):
        path = folder / relative
        if not path.is_file():
            raise CurationError("data file listed in the manifest is missing", path=f"{where}/{relative}")
        actual = file_sha256(path)
        if actual != expected:
            raise CurationError(f"content does not match the manifest (manifest {expected}, file {actual})",
                                path=f"{where}/{relative}")
    data_dir = folder / DATA_DIR
    present = {p.relative_to(folder).as_posix() for p in data_dir.rglob("*") if p.is_file()} if data_dir.is_dir() else set()
    unlisted = sorted(present - set(files))
    if unlisted:
        raise CurationError("data file not listed in the manifest", path=f"{where}/{unlisted[0]}")
    recomputed = content_hash(files)
    if recomputed != manifest["content_hash"]:
        raise CurationError(f"content_hash {manifest['content_hash']} does not match the files ({recomputed})",
                            path=f"{where}/{MANIFEST}")
    return manifest


def _local_files(folder: Path) -> list[str]:
    """Relative paths of the files to publish (hidden files and folders are not part of a version)."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


# --------------------------------------------------------------------------- push


def push(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    branch: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
) -> PushResult:
    """Publish a version folder to the dataset repo ``repo_id`` as one commit tagged with its version.

    Creates the repo if needed (``private`` only applies then; asking for a private push into an
    existing public repo is refused). ``branch`` defaults to ``main`` and is created from ``main``
    when missing. Raises CurationError (one line, never the token) on bad input or Hub failures.
    """
    folder = Path(folder)
    manifest = verify_version(folder)
    _check_repo_id(repo_id)
    token, token_source = _resolve_token(token, required=True)
    api = HfApi(endpoint=endpoint, token=token, library_name="curation", library_version=__version__)
    version, branch = manifest["version"], branch or "main"
    errors = _Translator(api.endpoint, repo_id, token, token_source, folder)

    with errors.around(f"creating or opening {repo_id}"):
        repo_url = str(api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True))
        if private and not api.dataset_info(repo_id).private:
            raise CurationError(f"{repo_id} already exists and is public: refusing a --private push into it",
                                path=str(folder))
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
    tags = {ref.name: ref.target_commit for ref in refs.tags}
    branches = {ref.name: ref.target_commit for ref in refs.branches}

    if version in tags:
        with errors.around(f"reading tag {version} of {repo_id}"):
            published = _remote_manifest(api, repo_id, tags[version])
        return _existing_tag(folder, repo_id, repo_url, branch, manifest, tags[version], published)

    with errors.around(f"preparing branch {branch} of {repo_id}"):
        if branch not in branches:
            api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE, exist_ok=True)
            branches[branch] = api.dataset_info(repo_id, revision=branch).sha
        head = branches[branch]
        remote_files = set(api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=head))

    local = _local_files(folder)
    operations: list = [
        CommitOperationDelete(path_in_repo=path)
        for path in sorted(remote_files - set(local) - {".gitattributes"})
    ]
    operations += [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path)) for path in local]
    title = f"{manifest['name']} {version} (recipe {manifest['recipe_hash']})"
    description = "\n".join([
        f"content_hash: {manifest['content_hash']}",
        f"splits: {json.dumps(manifest.get('splits', {}), sort_keys=True)}",
        f"created_by: {manifest.get('created_by', 'curation')}",
    ])
    with errors.around(f"uploading {version} to {repo_id}", retry=_PUSH_AGAIN):
        # Files the branch already holds are skipped, so a commit that landed before an
        # interruption comes back as the branch head instead of a second commit.
        info = api.create_commit(repo_id, operations, commit_message=title, commit_description=description,
                                 repo_type=REPO_TYPE, revision=branch, parent_commit=head)
    with errors.around(f"tagging {version} in {repo_id}", retry=_PUSH_AGAIN):
        try:
            api.create_tag(repo_id, tag=version, revision=info.oid, repo_type=REPO_TYPE,
                           tag_message=f"{manifest['name']} {version}: {manifest['content_hash']}")
        except HfHubHTTPError as exc:
            if exc.response is None or exc.response.status_code != 409:
                raise
            # Someone tagged the same version meanwhile: same content is fine, anything else is refused.
            refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
            sha = next(ref.target_commit for ref in refs.tags if ref.name == version)
            return _existing_tag(folder, repo_id, repo_url, branch, manifest, sha,
                                 _remote_manifest(api, repo_id, sha))
    log.info("published %s %s to %s at %s", manifest["name"], version, repo_id, info.oid)
    return PushResult(repo_id, repo_url, branch, version, info.oid, noop=False)


def _existing_tag(folder: Path, repo_id: str, repo_url: str, branch: str, manifest: dict, sha: str,
                  published: dict | None) -> PushResult:
    """No-op when the tag already holds this content; refuse anything else (versions are immutable)."""
    version = manifest["version"]
    theirs = (published or {}).get("content_hash")
    if theirs == manifest["content_hash"]:
        log.info("%s %s is already published at %s: nothing to do", repo_id, version, sha)
        return PushResult(repo_id, repo_url, branch, version, sha, noop=True)
    raise CurationError(
        f"tag {version} already exists on {repo_id} with different content "
        f"({theirs or f'no {MANIFEST}'} there, {manifest['content_hash']} here): a published version "
        "never changes, build it as a new version",
        path=str(folder / MANIFEST),
    )


def _remote_manifest(api: HfApi, repo_id: str, revision: str) -> dict | None:
    """The manifest stored at ``revision`` (None when there is none or it is not JSON)."""
    with tempfile.TemporaryDirectory(prefix="curation-manifest-") as scratch:
        try:
            path = api.hf_hub_download(repo_id, MANIFEST, repo_type=REPO_TYPE, revision=revision, cache_dir=scratch)
        except EntryNotFoundError:
            return None
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
    return loaded if isinstance(loaded, dict) else None


# --------------------------------------------------------------------------- pull


def pull(
    repo_id: str,
    revision: str,
    out: str | os.PathLike,
    *,
    token: str | None = None,
    endpoint: str | None = None,
) -> Path:
    """Download ``revision`` (tag, branch or commit) of ``repo_id`` into the new folder ``out``.

    The revision is pinned to its commit first, so the files all come from one snapshot. The
    download goes to a temporary folder beside ``out``, is checked against its manifest (every
    data file's hash and the content hash), and is renamed into place; ``out`` must not exist.
    """
    out = Path(out)
    _check_repo_id(repo_id)
    if out.exists():
        raise CurationError("already exists: pull never overwrites a folder", path=str(out))
    token, token_source = _resolve_token(token, required=False)
    api = HfApi(endpoint=endpoint, token=token, library_name="curation", library_version=__version__)
    errors = _Translator(api.endpoint, repo_id, token, token_source)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        with errors.around(f"downloading {repo_id}@{revision}",
                           retry="Nothing was written; run the same pull again."):
            sha = api.dataset_info(repo_id, revision=revision).sha
            api.snapshot_download(repo_id, repo_type=REPO_TYPE, revision=sha, local_dir=staging)
        # huggingface_hub's download bookkeeping and the repo's git attributes are not part of a version.
        shutil.rmtree(staging / ".cache", ignore_errors=True)
        (staging / ".gitattributes").unlink(missing_ok=True)
        verify_version(staging, shown_as=f"{repo_id}@{revision}")
        if out.exists():
            raise CurationError("appeared while pulling: pull never overwrites a folder", path=str(out))
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("pulled %s@%s (%s) into %s", repo_id, revision, sha, out)
    return out


# --------------------------------------------------------------------------- tokens and errors


def _check_repo_id(repo_id: str) -> None:
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or "--" in repo_id or ".." in repo_id:
        raise CurationError(f"{repo_id!r} is not a Hub repo id of the form OWNER/NAME")


def _resolve_token(token: str | None, *, required: bool) -> tuple[str | None, str]:
    """The token to use and where it came from (for messages), following huggingface_hub's order."""
    if token:
        return token, "the token passed in"
    found = get_token()
    from_env = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    source = "the token from HF_TOKEN" if from_env else "the token from the login cache"
    if found is None and required:
        raise CurationError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a write token is needed)")
    return found, source


def _root_transport_error(exc: BaseException) -> BaseException | None:
    """The connection failure behind ``exc`` (walking causes), if there is one."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__.split(".")[0]
        if (module in _TRANSPORT_MODULES and not hasattr(current, "response")) or isinstance(current, ConnectionError):
            return current
        current = current.__cause__ or current.__context__
    return None


class _Translator:
    """Turns huggingface_hub / network failures into one-line CurationErrors without the token."""

    def __init__(self, endpoint: str, repo_id: str, token: str | None, token_source: str,
                 folder: Path | None = None):
        self.endpoint, self.repo_id, self.token, self.folder = endpoint, repo_id, token, folder
        self.who = token_source if token else "a request without a token"

    @contextlib.contextmanager
    def around(self, action: str, *, retry: str = "") -> Iterator[None]:
        """Translate failures inside the block; ``retry`` is the hint added to transient ones."""
        try:
            yield
        except CurationError:
            raise
        except (HfHubHTTPError, OfflineModeIsEnabled, LocalTokenNotFoundError, ValueError, OSError, RuntimeError) as exc:
            message = self._message(exc, action, retry)
            if message is None:
                raise
            card = message.startswith(_CARD_REJECTED) and self.folder is not None
            raise CurationError(self._clean(message), path=self.folder / CARD if card else None) from exc
        except Exception as exc:  # httpx / requests transport errors do not share a base class with the above
            if _root_transport_error(exc) is None:
                raise
            raise CurationError(self._clean(self._message(exc, action, retry) or str(exc))) from exc

    def _message(self, exc: BaseException, action: str, retry: str) -> str | None:
        hub = self.endpoint
        retry = f" {retry}" if retry else ""
        if isinstance(exc, OfflineModeIsEnabled):
            return f"{action}: offline mode is on (HF_HUB_OFFLINE=1), cannot reach {hub}"
        if isinstance(exc, LocalTokenNotFoundError):
            return f"{action}: no Hugging Face token: set HF_TOKEN or run `hf auth login`"
        if isinstance(exc, RevisionNotFoundError):
            return f"{action}: revision not found in {self.repo_id} at {hub}"
        if isinstance(exc, EntryNotFoundError):
            return f"{action}: file not found in {self.repo_id} at {hub}"
        if isinstance(exc, HfHubHTTPError) and exc.response is not None:
            status = exc.response.status_code
            server = _one_line(getattr(exc, "server_message", "") or "")
            detail = f"HTTP {status}" + (f": {server}" if server else "")
            if (status == 401 and not isinstance(exc, RepositoryNotFoundError)) or "Invalid credentials" in server:
                return (f"{action}: authentication failed at {hub}: the Hub rejected {self.who} ({detail}); "
                        "set a valid HF_TOKEN or run `hf auth login`")
            if isinstance(exc, RepositoryNotFoundError) or status == 404:
                return (f"{action}: dataset repo {self.repo_id} not found at {hub}, or it is private and "
                        f"{self.who} cannot see it ({detail})")
            if status == 403:
                return f"{action}: permission denied: {self.who} cannot write there ({detail})"
            if status == 412:
                return f"{action}: the branch moved while pushing (another push landed first) ({detail}).{retry}"
            return f"{action}: the Hub at {hub} answered {detail}.{retry}"
        if isinstance(exc, ValueError) and "Invalid metadata in README.md" in str(exc):
            reasons = "; ".join(line.lstrip("- ").strip() for line in str(exc).splitlines()[1:] if line.strip())
            return f"{_CARD_REJECTED}{reasons or _one_line(str(exc))}"
        transport = _root_transport_error(exc)
        if transport is not None:
            reason = _one_line(str(transport)).rstrip(".") or "no detail"
            uploading = re.search(r"Error while uploading '([^']+)'", str(exc))
            during = f" while sending {uploading.group(1)}" if uploading else ""
            return f"{action}: connection to {hub} failed{during} ({type(transport).__name__}: {reason}).{retry}"
        return None

    def _clean(self, message: str) -> str:
        message = _one_line(message)
        return message.replace(self.token, "<token>") if self.token else message


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
